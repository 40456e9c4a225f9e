package policy

import (
	"math"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// MinTiedGroup is the least number of rows sharing one target that
// SpreadTied spreads: below it, where the group's faults sit is a guess
// from a handful of scores.
const MinTiedGroup = 10

// SpreadTied returns the choice targets y with every group of at least
// MinTiedGroup rows that share one target strictly between 0 and 1 (and
// are not skipped) given new targets: the group's expected faults, placed
// by the models' scores.
//
// The label model gives one probability to every deployment with the same
// votes: of the N deployments on which only before_after_shift voted, it
// expects a share y_g to be faults, and says nothing of which ones. Counted
// at y_g each, a group the label model puts at 0.92 caps the expected
// precision of any policy that flags mostly its members at 0.92, however
// cleanly the models separate them: a precision target of 0.95 is then
// out of reach, and the choice stops at the first few flags. SpreadTied
// keeps the group's total, y_g·N expected faults, and gives each member
// the odds of its own score times one factor common to the group (found
// by bisection so that the targets still sum to y_g·N): within a group
// of identical votes, a higher score means likelier a fault, by as much
// as the calibrated score says. The totals per group, and with them what
// the label model says of each vote pattern, do not change; only which
// members hold the faults.
//
// score[d] is the deployment's calibrated score in [0, 1] (NaN: none;
// such rows, and rows with skip[d], keep their y and join no group).
// The assumption fails where the scores within a group are noise — the
// models see nothing the votes did not — and then the top of the ranking
// gets more of the group's faults than it holds; groups smaller than
// MinTiedGroup are left alone for that reason (docs/models.md, "Tied
// labels in the choice", gives the measurement).
func SpreadTied(score, y []float64, skip []bool) []float64 {
	out := append([]float64(nil), y...)
	groups := map[float64][]int{}
	for d, v := range y {
		if skip[d] || math.IsNaN(score[d]) || !(v > 0 && v < 1) {
			continue
		}
		groups[v] = append(groups[v], d)
	}
	for v, g := range groups {
		if len(g) < MinTiedGroup {
			continue
		}
		z := make([]float64, len(g))
		for i, d := range g {
			z[i] = logit(math.Min(math.Max(score[d], 1e-6), 1-1e-6))
		}
		total := v * float64(len(g))
		sum := func(k float64) float64 {
			s := 0.0
			for _, zi := range z {
				s += metrics.Sigmoid(zi + k)
			}
			return s
		}
		// sum is increasing in k, from 0 to len(g); total is inside.
		lo, hi := -80.0, 80.0
		for range 200 {
			mid := (lo + hi) / 2
			if sum(mid) < total {
				lo = mid
			} else {
				hi = mid
			}
			if hi-lo < 1e-12 {
				break
			}
		}
		k := (lo + hi) / 2
		for i, d := range g {
			out[d] = metrics.Sigmoid(z[i] + k)
		}
	}
	return out
}
