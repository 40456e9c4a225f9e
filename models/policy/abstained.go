package policy

import (
	"cmp"
	"math"
	"slices"
)

// SpreadAbstained returns the choice targets y with the rows where
// abstained[d] holds given new targets: the faults the label model
// expects among those rows, placed where the models score faults.
//
// On a deployment on which every labeling function abstained, the weak
// label is the label model's share of faults among all such deployments
// (π, the mean of their y), the same for each: evidence about them as a
// group, not about one. The models rank them among the rest, and where
// they score an abstained deployment among the labelled faults, counting
// it as 1 − π of a false alarm brakes the choice at the first of them,
// however the ones above it fared. SpreadAbstained keeps the group's
// total — π·N expected faults among its N rows — and spreads it by the
// scores: it assumes the abstained faults score as the labelled faults do
// (the targets of the other rows, each weighing its y, give that
// distribution), so that of the π·N expected faults, the share F(s) of
// the labelled faults' weight scoring ≥ s scores ≥ s too. Walking the
// abstained rows from the highest score down, the k-th row's target is
// the rise of E_k = min(E_{k−1} + 1, max(E_{k−1}, π·N·F(s_k))) over
// E_{k−1} (E_0 = 0): each in [0, 1], E_k never more than k. Rows tied on
// score share their rise equally; the share of the weight scoring below
// every abstained row, which has no row to go to, is spread evenly over
// the group (up to 1 each), so that its sum stays π·N; and the rises are
// made non-increasing down the ranking (pool adjacent violators, which
// keeps the sum and the bounds).
//
// score[d] is the deployment's score (NaN: none, kept at its y). The
// assumption fails where the abstained faults are the hard ones — fewer
// errors, later onsets — and score lower than the labelled faults: then
// the top abstained rows get more than their due (docs/models.md,
// "Abstained deployments in the choice", gives the measurement).
func SpreadAbstained(score, y []float64, abstained []bool) []float64 {
	out := slices.Clone(y)
	var lab, abs []int
	var total, wsum float64 // π·N, and the labelled weight
	for d := range y {
		if math.IsNaN(score[d]) {
			continue
		}
		if abstained[d] {
			abs = append(abs, d)
			total += y[d]
		} else {
			lab = append(lab, d)
			wsum += y[d]
		}
	}
	if len(abs) == 0 || wsum <= 0 || total <= 0 {
		return out
	}
	byScore := func(a, b int) int {
		if c := cmp.Compare(score[b], score[a]); c != 0 { // higher first
			return c
		}
		return a - b
	}
	slices.SortFunc(lab, byScore)
	slices.SortFunc(abs, byScore)
	// F(s): the labelled weight scoring ≥ s, over the whole. rise[k] is
	// the k-th abstained row's rise of E.
	rise := make([]float64, len(abs))
	li, above, e := 0, 0.0, 0.0
	for i := 0; i < len(abs); {
		s := score[abs[i]]
		j := i
		for j < len(abs) && score[abs[j]] == s {
			j++
		}
		for li < len(lab) && score[lab[li]] >= s {
			above += y[lab[li]]
			li++
		}
		n := float64(j - i)
		next := math.Min(e+n, math.Max(e, total*above/wsum))
		for k := i; k < j; k++ {
			rise[k] = (next - e) / n
		}
		e = next
		i = j
	}
	// The labelled weight scoring below every abstained row has no row to
	// go to: spread evenly, as the prior would.
	for rest := total - e; rest > 1e-12; {
		var free []int
		for k, q := range rise {
			if q < 1 {
				free = append(free, k)
			}
		}
		if len(free) == 0 {
			break
		}
		add := rest / float64(len(free))
		for _, k := range free {
			inc := math.Min(add, 1-rise[k])
			rise[k] += inc
			rest -= inc
		}
	}
	// A higher score never counts less: the rises made non-increasing
	// down the ranking (pool adjacent violators, which keeps their sum and
	// their bounds).
	for k, q := range nonIncreasing(rise) {
		out[abs[k]] = q
	}
	return out
}

// nonIncreasing returns the least-squares non-increasing fit of x (pool
// adjacent violators): every run that rises is replaced by its mean.
func nonIncreasing(x []float64) []float64 {
	type block struct {
		sum float64
		n   int
	}
	var bs []block
	for _, v := range x {
		bs = append(bs, block{v, 1})
		for len(bs) > 1 {
			a, b := bs[len(bs)-2], bs[len(bs)-1]
			if a.sum/float64(a.n) >= b.sum/float64(b.n) {
				break
			}
			bs = append(bs[:len(bs)-2], block{a.sum + b.sum, a.n + b.n})
		}
	}
	out := make([]float64, 0, len(x))
	for _, b := range bs {
		for range b.n {
			out = append(out, b.sum/float64(b.n))
		}
	}
	return out
}
