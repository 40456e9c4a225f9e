package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// Objective is what Choose maximises among the policies that meet the
// target, in order.
const Objective = "most faulty deployments flagged (recall); then least total time to detection; then fewest false alarms"

// Fallbacks of a Choice that does not meet its target.
const (
	// FallbackMaxPrecision: no policy meets the target; the one whose
	// precision has the highest Wilson 95% lower bound was taken (then, as
	// in Objective, the most recall, the least time to detection, the fewest
	// false alarms).
	FallbackMaxPrecision = "max_precision_bound"
	// FallbackPointEstimate: the validation split is too small for any
	// policy to meet the target at its confidence, even one flagging every
	// faulty deployment and nothing else (at precision 0.95 and 95 %
	// confidence that takes about 73 faulty deployments); the policy that
	// meets it at the point estimate and flags the most faulty deployments
	// (then, as in Objective, the least time to detection, the fewest false
	// alarms) was taken, because it flags more of them than the policy with
	// the highest Wilson lower bound, which on such a split stops at the
	// first flag the labels call healthy.
	FallbackPointEstimate = "point_estimate"
	// FallbackNone: no policy flags min_flagged faulty validation
	// deployments; every threshold is 1 (flag nothing).
	FallbackNone = "none"
	// FallbackMaxExpectedPrecision (ChooseExpected): no policy meets the
	// target by the expected counts; the one with the highest expected
	// precision (then, as in Objective, the most recall, the least time to
	// detection, the fewest false alarms) was taken.
	FallbackMaxExpectedPrecision = "max_expected_precision"
)

// EstimateExpected marks a Choice judged on the labels' expected counts.
const EstimateExpected = "expected"

// MaxGrid bounds the threshold vectors Choose considers: the product over
// horizons of (candidate thresholds + 1). With three horizons that is about
// 100 candidates each.
const MaxGrid = 1 << 20

// DefaultConfidence is the confidence Choose judges a target at: the
// target is met when the Wilson 95% interval of the achieved figure lies
// on its side, as Target.Assess judges it.
const DefaultConfidence = 0.95

// ValidateConfidence checks a confidence for ChooseAt: 0 (the point
// estimate) or in [0.5, 1).
func ValidateConfidence(c float64) error {
	if c == 0 || c >= 0.5 && c < 1 {
		return nil
	}
	return fmt.Errorf("confidence %v: must be 0 (point estimate) or in [0.5, 1)", c)
}

// Choice is the outcome of Choose: the thresholds of every look, chosen
// together, and how the policy they make does on the data it was chosen on.
type Choice struct {
	Target    Target `json:"target"`
	Objective string `json:"objective"`
	// MinFlagged is the least number of faulty deployments a policy had to
	// flag to be considered.
	MinFlagged int       `json:"min_flagged"`
	Thresholds []float64 `json:"thresholds"`
	// Confidence is the level of the Wilson interval the target was judged
	// by (0: the point estimate). Met tells whether the policy meets the
	// target at that confidence (verdict Met, as Target.Assess judges it at
	// 0.95); Verdict is that verdict. The Rates below are always Wilson 95%.
	Confidence float64 `json:"confidence"`
	Met        bool    `json:"target_met"`
	Verdict    string  `json:"verdict"`
	// Fallback names the rule used when the target was not met.
	Fallback string `json:"fallback,omitempty"`
	// Estimate is EstimateExpected when the target was judged on the
	// labels' expected counts (ChooseExpected), empty when on the hard
	// counts at Confidence (ChooseAt). ExpectedPrecision and
	// ExpectedFalseAlarms are then the chosen policy's figures by that
	// estimate.
	Estimate            string        `json:"estimate,omitempty"`
	ExpectedPrecision   metrics.Float `json:"expected_precision,omitempty"`
	ExpectedFalseAlarms metrics.Float `json:"expected_false_alarms_per_healthy,omitempty"`
	// The chosen policy on the choice data: precision TP/(TP+FP), false
	// alarms per healthy deployment FP/(FP+TN), recall TP/(TP+FN), each with
	// its Wilson 95% interval, and the mean time to detection.
	Precision             Rate          `json:"precision"`
	FalseAlarmsPerHealthy Rate          `json:"false_alarms_per_healthy"`
	Recall                Rate          `json:"recall"`
	MeanTimeToDetection   metrics.Float `json:"mean_time_to_detection_min"`
	// Candidates is the number of candidate thresholds per horizon besides
	// 1 (the look flags nothing); Searched the number of policies compared.
	Candidates []int `json:"candidates"`
	Searched   int   `json:"policies_searched"`
}

// UnmarshalJSON reads a Choice; one recorded before Confidence existed
// (no "confidence" key) was judged at DefaultConfidence.
func (c *Choice) UnmarshalJSON(b []byte) error {
	type plain Choice
	p := struct {
		*plain
		Confidence *float64 `json:"confidence"`
	}{plain: (*plain)(c)}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	c.Confidence = DefaultConfidence
	if p.Confidence != nil {
		c.Confidence = *p.Confidence
	}
	return nil
}

// AssessAt is Target.Assess with the verdict judged on the Wilson interval
// at confidence (0: the point estimate) instead of 95%, as ChooseAt judges
// it; Achieved keeps its Wilson 95% interval. An invalid confidence gives
// Undecided.
func AssessAt(t Target, tp, fp, healthy int, confidence float64) Assessment {
	a := t.Assess(tp, fp, healthy)
	if ValidateConfidence(confidence) != nil {
		a.Verdict = Undecided
		return a
	}
	a.Verdict = verdictAt(t, tp, fp, healthy, confidenceZ(confidence))
	return a
}

// Assessment returns the chosen policy's result against its target.
func (c Choice) Assessment() Assessment {
	a := Assessment{Target: c.Target, Verdict: c.Verdict, Achieved: c.Precision}
	if c.Target.Kind() == TargetFalseAlarmsPerHealthy {
		a.Achieved = c.FalseAlarmsPerHealthy
	}
	return a
}

// Choose is ChooseAt at DefaultConfidence.
func Choose(horizons []int, probs [][]float64, y []float64, target Target, minFlagged int) (Choice, error) {
	return ChooseAt(horizons, probs, y, target, minFlagged, DefaultConfidence)
}

// ChooseAt picks the thresholds of all of a policy's looks together, so that
// the policy as a whole — a deployment is flagged at the first look whose
// probability reaches its threshold — meets target on labelled data:
// probs[d][i] is deployment d's probability at horizons[i] (NaN without a
// score), y[d] its label (>= 0.5 faulty; NaN skipped). Meeting the target is
// judged on the Wilson interval at confidence (AssessAt): a precision target
// is met when the interval's lower bound reaches it, a false-alarm target
// when its upper bound stays within it, so that a few lucky flags do not
// pass; confidence 0 judges the point estimate. Among the policies that
// flag at least minFlagged faulty deployments and meet the target it takes
// the best by Objective. When none meets it, it takes the one whose
// precision has the highest Wilson lower bound at that confidence
// (FallbackMaxPrecision) — except on a split too small for even a policy
// flagging exactly the faulty deployments to meet the target: there it
// takes the best by Objective among those that meet the target at the
// point estimate, when that flags more faulty deployments than the highest
// bound (FallbackPointEstimate).
// When none flags minFlagged faulty deployments, thresholds of 1
// (FallbackNone).
//
// The search is exhaustive over a grid: each look is either off (threshold
// 1) or at the probability of one of its faulty deployments. No other
// threshold can do better: lowering a threshold to the next faulty
// deployment's probability below adds that deployment, and any point in
// between only adds healthy ones. When the grid would exceed MaxGrid
// vectors, the largest candidate lists are thinned to evenly spaced ranks.
// Every vector is counted in O(horizons) from cumulative counts of
// deployments by the first candidate each look would flag them at.
func ChooseAt(horizons []int, probs [][]float64, y []float64, target Target, minFlagged int, confidence float64) (Choice, error) {
	if err := checkChoose(horizons, probs, y, target); err != nil {
		return Choice{}, err
	}
	if err := ValidateConfidence(confidence); err != nil {
		return Choice{}, fmt.Errorf("choose thresholds: %w", err)
	}
	z := confidenceZ(confidence)
	minFlagged = max(1, minFlagged)
	nh := len(horizons)
	cand := candidates(nh, probs, y)
	g := newGrid(cand, probs, y)
	// The point estimate matters only on a split too small for even a
	// policy flagging exactly its faulty deployments to meet the target.
	uncertifiable := z > 0 && verdictAt(target, g.nPos, 0, g.nNeg, z) != Met
	bestMet, bestPoint, bestFallback, searched := g.search(cand, horizons, target, minFlagged, z, uncertifiable)

	out := Choice{Target: target, Confidence: confidence, Objective: Objective, MinFlagged: minFlagged, Searched: searched, Thresholds: make([]float64, nh)}
	chosen := bestMet
	switch {
	case bestMet.present:
	case bestPoint.present && bestPoint.tp > bestFallback.tp:
		chosen, out.Fallback = bestPoint, FallbackPointEstimate
	case bestFallback.present:
		chosen, out.Fallback = bestFallback, FallbackMaxPrecision
	default:
		out.Fallback = FallbackNone
	}
	r, err := out.complete(cand, chosen, horizons, probs, y)
	if err != nil {
		return Choice{}, err
	}
	out.Verdict = verdictAt(target, r.TP, r.FP, r.FP+r.TN, z)
	out.Met = out.Verdict == Met && out.Fallback == ""
	return out, nil
}

// checkChoose checks the arguments common to ChooseAt and ChooseExpected.
func checkChoose(horizons []int, probs [][]float64, y []float64, target Target) error {
	if err := target.Validate(); err != nil {
		return err
	}
	if len(horizons) == 0 {
		return errors.New("choose thresholds: no horizons")
	}
	if len(probs) != len(y) {
		return fmt.Errorf("choose thresholds: %d probability rows for %d labels", len(probs), len(y))
	}
	return nil
}

// complete sets out's candidates per look, its thresholds from chosen
// (every threshold 1 when nothing was chosen) and the rates of the policy
// they make on probs and y, and returns that policy's report; an error
// when the report disagrees with the search's counts.
func (out *Choice) complete(cand [][]float64, chosen choiceScore, horizons []int, probs [][]float64, y []float64) (Report, error) {
	for i := range cand {
		out.Candidates = append(out.Candidates, len(cand[i])-1)
	}
	for i := range out.Thresholds {
		out.Thresholds[i] = 1
		if chosen.present {
			out.Thresholds[i] = cand[i][chosen.c[i]]
		}
	}
	r := Evaluate(Policy{Horizons: horizons, Thresholds: out.Thresholds}, probs, y)
	if chosen.present && (r.TP != chosen.tp || r.FP != chosen.fp) {
		return r, fmt.Errorf("choose thresholds: the search counted %d true and %d false flags, the policy flags %d and %d", chosen.tp, chosen.fp, r.TP, r.FP)
	}
	out.Precision = NewRate(r.TP, r.TP+r.FP)
	out.FalseAlarmsPerHealthy = NewRate(r.FP, r.FP+r.TN)
	out.Recall = NewRate(r.TP, r.TP+r.FN)
	out.MeanTimeToDetection = r.MeanTimeToDetection
	return r, nil
}

// probAt is deployment d's probability at look i, NaN without a score.
func probAt(probs [][]float64, d, i int) float64 {
	if i < len(probs[d]) {
		return probs[d][i]
	}
	return math.NaN()
}

// candidates returns the candidate thresholds of each of the nh looks,
// descending: cand[i][0] = 1 is "off", then the distinct probabilities
// below 1 of the faulty deployments at that look, thinned to MaxGrid.
func candidates(nh int, probs [][]float64, y []float64) [][]float64 {
	cand := make([][]float64, nh)
	for i := range cand {
		var s []float64
		for d := range probs {
			if v := probAt(probs, d, i); y[d] >= 0.5 && !math.IsNaN(v) && v < 1 {
				s = append(s, v)
			}
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(s)))
		cand[i] = append([]float64{1}, distinct(s)...)
	}
	thinToGrid(cand)
	return cand
}

// grid counts the labelled deployments over every vector of candidate
// indexes, flattened with strides: dims[i] = len(cand[i]) + 1, where index
// len(cand[i]) means "never flagged here". After newGrid, pos[m] and neg[m]
// count the faulty and healthy deployments whose first flagging candidate
// is at index ≥ m on every look, i.e. those a policy with indices m−1
// leaves unflagged; nPos and nNeg are the totals.
type grid struct {
	dims, strides []int
	pos, neg      []int32
	nPos, nNeg    int
	// With expected counts (newGridExpected): epos and eneg sum y and 1−y
	// of the same deployments as pos and neg count, every labelled one
	// included; nEPos and nENeg are the totals.
	epos, eneg   []float64
	nEPos, nENeg float64
}

func newGrid(cand [][]float64, probs [][]float64, y []float64) *grid {
	return buildGrid(cand, probs, y, false)
}

// newGridExpected is newGrid with the expected counts too.
func newGridExpected(cand [][]float64, probs [][]float64, y []float64) *grid {
	return buildGrid(cand, probs, y, true)
}

func buildGrid(cand [][]float64, probs [][]float64, y []float64, expected bool) *grid {
	nh := len(cand)
	g := &grid{dims: make([]int, nh), strides: make([]int, nh)}
	total := 1
	for i := range cand {
		g.dims[i], g.strides[i] = len(cand[i])+1, total
		total *= g.dims[i]
	}
	g.pos, g.neg = make([]int32, total), make([]int32, total)
	if expected {
		g.epos, g.eneg = make([]float64, total), make([]float64, total)
	}
	for d := range probs {
		if math.IsNaN(y[d]) {
			continue
		}
		flat := 0
		for i := range cand {
			flat += firstFlagging(cand[i], probAt(probs, d, i)) * g.strides[i]
		}
		if expected {
			p := min(1, max(0, y[d]))
			g.epos[flat] += p
			g.eneg[flat] += 1 - p
			g.nEPos += p
			g.nENeg += 1 - p
		}
		if y[d] >= 0.5 {
			g.pos[flat]++
			g.nPos++
		} else {
			g.neg[flat]++
			g.nNeg++
		}
	}
	// Suffix sums along every axis.
	for i := range cand {
		for f := total - 1; f >= 0; f-- {
			if (f/g.strides[i])%g.dims[i] < g.dims[i]-1 {
				g.pos[f] += g.pos[f+g.strides[i]]
				g.neg[f] += g.neg[f+g.strides[i]]
				if expected {
					g.epos[f] += g.epos[f+g.strides[i]]
					g.eneg[f] += g.eneg[f+g.strides[i]]
				}
			}
		}
	}
	return g
}

// choiceScore is one threshold vector's result in the search: its
// candidate indexes c, true and false flags, total time to detection over
// the true flags and, for the fallback, its precision's Wilson lower bound.
type choiceScore struct {
	c       []int
	tp, fp  int
	ttd     int64
	lb      float64
	present bool
	// etp, efp: expected true and false flags (searchExpected only).
	etp, efp float64
}

// better reports whether a is better than b by Objective.
func (a choiceScore) better(b choiceScore) bool {
	if a.tp != b.tp {
		return a.tp > b.tp
	}
	if a.ttd != b.ttd {
		return a.ttd < b.ttd
	}
	return a.fp < b.fp
}

// search visits every vector of candidate indexes and returns, among those
// that flag minFlagged faulty deployments, the best by Objective that meets
// target at the Wilson interval of half-width z, with withPoint the best
// by Objective of the others that meet it at the point estimate, the best
// of the others by
// precision lower bound at z then Objective, and the number of vectors
// visited.
func (g *grid) search(cand [][]float64, horizons []int, target Target, minFlagged int, z float64, withPoint bool) (bestMet, bestPoint, bestFallback choiceScore, searched int) {
	searched = g.visit(cand, horizons, func(c []int, s choiceScore) {
		if s.tp < minFlagged {
			return
		}
		if verdictAt(target, s.tp, s.fp, g.nNeg, z) == Met {
			if !bestMet.present || s.better(bestMet) {
				s.c = append([]int(nil), c...)
				bestMet = s
			}
			return
		}
		if withPoint && verdictAt(target, s.tp, s.fp, g.nNeg, 0) == Met && (!bestPoint.present || s.better(bestPoint)) {
			bp := s
			bp.c = append([]int(nil), c...)
			bestPoint = bp
		}
		s.lb = precisionLowerBoundZ(s.tp, s.fp, z)
		if !bestFallback.present || s.lb > bestFallback.lb || s.lb == bestFallback.lb && s.better(bestFallback) {
			s.c = append([]int(nil), c...)
			bestFallback = s
		}
	})
	return bestMet, bestPoint, bestFallback, searched
}

// visit calls f with every vector of candidate indexes (f must copy c to
// keep it) and its score: true and false flags, total time to detection of
// the true ones, and with expected counts the expected true and false
// flags. It returns the number of vectors visited.
func (g *grid) visit(cand [][]float64, horizons []int, f func(c []int, s choiceScore)) int {
	nh := len(cand)
	c := make([]int, nh) // candidate index per look
	for searched := 1; ; searched++ {
		flat, prev := 0, g.nPos
		var ttd int64
		for i := range cand {
			flat += (c[i] + 1) * g.strides[i]
			// positives unflagged by looks 0..i: later looks at index 0 of S (all)
			u := int(g.pos[flat])
			ttd += int64(horizons[i]) * int64(prev-u)
			prev = u
		}
		s := choiceScore{tp: g.nPos - int(g.pos[flat]), fp: g.nNeg - int(g.neg[flat]), ttd: ttd, present: true}
		if g.epos != nil {
			s.etp, s.efp = g.nEPos-g.epos[flat], g.nENeg-g.eneg[flat]
		}
		f(c, s)
		i := 0
		for ; i < nh; i++ {
			c[i]++
			if c[i] < len(cand[i]) {
				break
			}
			c[i] = 0
		}
		if i == nh {
			return searched
		}
	}
}

// distinct drops repeated values of a sorted slice.
func distinct(s []float64) []float64 {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// firstFlagging returns the index of the first (highest) threshold of the
// descending cand that p reaches, len(cand) when none (or p is NaN).
func firstFlagging(cand []float64, p float64) int {
	if math.IsNaN(p) {
		return len(cand)
	}
	return sort.Search(len(cand), func(j int) bool { return cand[j] <= p })
}

// thinToGrid shortens the longest candidate lists (keeping cand[i][0], the
// "off" threshold, and evenly spaced ranks of the rest, the lowest
// included) until the grid of (len+1) per look fits MaxGrid.
func thinToGrid(cand [][]float64) {
	size := func() float64 {
		s := 1.0
		for _, c := range cand {
			s *= float64(len(c) + 1)
		}
		return s
	}
	for size() > MaxGrid {
		longest := 0
		for i := range cand {
			if len(cand[i]) > len(cand[longest]) {
				longest = i
			}
		}
		rest := cand[longest][1:]
		m := min(len(rest)-1, len(rest)*9/10)
		if m <= 0 {
			cand[longest] = cand[longest][:1]
			continue
		}
		kept := []float64{1}
		for j := 0; j < m; j++ {
			idx := 0
			if m > 1 {
				idx = int(math.Round(float64(j) * float64(len(rest)-1) / float64(m-1)))
			} else {
				idx = len(rest) - 1
			}
			kept = append(kept, rest[idx])
		}
		cand[longest] = kept
	}
}

// confidenceZ is the standard normal quantile of a two-sided interval at
// confidence c (0 for c = 0, the point estimate).
func confidenceZ(c float64) float64 {
	if c == DefaultConfidence {
		return wilson95Z
	}
	return math.Sqrt2 * math.Erfinv(c)
}

// wilson95Z is the z of metrics.Wilson, so that DefaultConfidence judges
// exactly as Target.Assess.
const wilson95Z = 1.959963984540054

// wilsonZ returns the Wilson score interval of k successes in n > 0 trials
// at normal quantile z (z = 0: the point k/n).
func wilsonZ(k, n int, z float64) (lo, hi float64) {
	fn := float64(n)
	p := float64(k) / fn
	z2 := z * z
	den := 1 + z2/fn
	center := (p + z2/(2*fn)) / den
	half := z * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn)) / den
	return math.Max(0, center-half), math.Min(1, center+half)
}

// verdictAt judges a policy that flagged tp faulty and fp healthy
// deployments out of healthy healthy ones against t, as Target.Assess does
// but on the Wilson interval at normal quantile z: Met when the interval
// lies on the target's side (precision: lower bound ≥ target; false alarms:
// upper bound ≤ target), Missed when on the wrong side, else Undecided.
func verdictAt(t Target, tp, fp, healthy int, z float64) string {
	if z == wilson95Z {
		return t.Assess(tp, fp, healthy).Verdict
	}
	if t.Kind() == TargetFalseAlarmsPerHealthy {
		if healthy == 0 {
			return Undecided
		}
		lo, hi := wilsonZ(fp, healthy, z)
		switch {
		case hi <= t.FalseAlarmsPerHealthy:
			return Met
		case lo > t.FalseAlarmsPerHealthy:
			return Missed
		}
		return Undecided
	}
	if tp+fp == 0 {
		return Undecided
	}
	lo, hi := wilsonZ(tp, tp+fp, z)
	switch {
	case lo >= t.Precision:
		return Met
	case hi < t.Precision:
		return Missed
	}
	return Undecided
}

// precisionLowerBoundZ is the lower end of the Wilson interval at z of
// tp/(tp+fp), the ordering of Choose's fallback.
func precisionLowerBoundZ(tp, fp int, z float64) float64 {
	if z == wilson95Z {
		return precisionLowerBound(tp, fp)
	}
	if tp+fp == 0 {
		return math.Inf(-1)
	}
	lo, _ := wilsonZ(tp, tp+fp, z)
	return lo
}

// ChooseExpected picks the thresholds of all of a policy's looks together,
// as ChooseAt does, but judges the target on the labels' expected counts:
// y[d] is the probability that deployment d is faulty (a label model's
// posterior; NaN skipped), and a flagged deployment counts y[d] expected
// true flags and 1 − y[d] expected false ones. Expected precision is
// ΣTP/(ΣTP + ΣFP); expected false alarms per healthy deployment ΣFP over
// the expected healthy deployments. The target is judged on that point
// estimate. Among the policies that flag at least minFlagged deployments
// with y ≥ 0.5 and meet it, the one with the most expected true flags
// (then the least total time to detection of the deployments with
// y ≥ 0.5, then the fewest expected false flags); when none meets it, the
// one with the highest expected precision (FallbackMaxExpectedPrecision);
// when none flags minFlagged, thresholds of 1 (FallbackNone).
//
// Why: weak labels err both ways, and a hard count judged by its Wilson
// bound takes every label at face value. A deployment the label model is
// unsure of (one rollback vote, against positive evidence of health) is
// half a fault here, not a whole one; and a validation split that cannot
// certify the target by a bound is not pushed to the first flag its labels
// call healthy. The Rates of the Choice are still the hard counts with
// their Wilson 95% intervals, and Verdict judges the expected figure.
//
// The candidates and the grid are ChooseAt's: each look off or at the
// probability of one of its deployments with y ≥ 0.5.
func ChooseExpected(horizons []int, probs [][]float64, y []float64, target Target, minFlagged int) (Choice, error) {
	if err := checkChoose(horizons, probs, y, target); err != nil {
		return Choice{}, err
	}
	minFlagged = max(1, minFlagged)
	nh := len(horizons)
	cand := candidates(nh, probs, y)
	g := newGridExpected(cand, probs, y)
	best, fallback, searched := g.searchExpected(cand, horizons, target, minFlagged)

	out := Choice{Target: target, Confidence: 0, Objective: ObjectiveExpected, MinFlagged: minFlagged, Searched: searched,
		Thresholds: make([]float64, nh), Estimate: EstimateExpected}
	chosen := best
	switch {
	case best.present:
	case fallback.present:
		chosen, out.Fallback = fallback, FallbackMaxExpectedPrecision
	default:
		out.Fallback = FallbackNone
	}
	if _, err := out.complete(cand, chosen, horizons, probs, y); err != nil {
		return Choice{}, err
	}
	out.ExpectedPrecision, out.ExpectedFalseAlarms = metrics.Float(math.NaN()), metrics.Float(math.NaN())
	out.Verdict = Undecided
	if chosen.present {
		out.ExpectedPrecision = metrics.Float(expectedPrecision(chosen.etp, chosen.efp))
		out.ExpectedFalseAlarms = metrics.Float(expectedRate(chosen.efp, g.nENeg))
		out.Verdict = Missed
		if expectedMeets(target, chosen.etp, chosen.efp, g.nENeg) {
			out.Verdict = Met
		}
	}
	out.Met = out.Verdict == Met && out.Fallback == ""
	return out, nil
}

// ObjectiveExpected is what ChooseExpected maximises among the policies
// that meet the target, in order.
const ObjectiveExpected = "most expected faulty deployments flagged; then least total time to detection; then fewest expected false alarms"

func expectedPrecision(tp, fp float64) float64 {
	if tp+fp <= 0 {
		return math.NaN()
	}
	return tp / (tp + fp)
}

func expectedRate(fp, healthy float64) float64 {
	if healthy <= 0 {
		return math.NaN()
	}
	return fp / healthy
}

// expectedMeets judges target on expected counts (point estimate). The
// comparison allows for float rounding of sums of posteriors.
func expectedMeets(t Target, tp, fp, healthy float64) bool {
	const eps = 1e-9
	if t.Kind() == TargetFalseAlarmsPerHealthy {
		return healthy > 0 && fp/healthy <= t.FalseAlarmsPerHealthy+eps
	}
	return tp+fp > 0 && tp/(tp+fp) >= t.Precision-eps
}

// searchExpected visits every vector of candidate indexes and returns,
// among those that flag minFlagged deployments with y ≥ 0.5, the best by
// ObjectiveExpected that meets target by the expected counts, the one with
// the highest expected precision of the others (then by ObjectiveExpected),
// and the number of vectors visited.
func (g *grid) searchExpected(cand [][]float64, horizons []int, target Target, minFlagged int) (best, fallback choiceScore, searched int) {
	searched = g.visit(cand, horizons, func(c []int, s choiceScore) {
		if s.tp < minFlagged {
			return
		}
		if expectedMeets(target, s.etp, s.efp, g.nENeg) {
			if !best.present || s.betterExpected(best) {
				s.c = append([]int(nil), c...)
				best = s
			}
			return
		}
		s.lb = expectedPrecision(s.etp, s.efp)
		if !fallback.present || s.lb > fallback.lb || s.lb == fallback.lb && s.betterExpected(fallback) {
			s.c = append([]int(nil), c...)
			fallback = s
		}
	})
	return best, fallback, searched
}

// betterExpected reports whether a is better than b by ObjectiveExpected.
func (a choiceScore) betterExpected(b choiceScore) bool {
	const eps = 1e-9
	if math.Abs(a.etp-b.etp) > eps {
		return a.etp > b.etp
	}
	if a.ttd != b.ttd {
		return a.ttd < b.ttd
	}
	return a.efp < b.efp-eps
}
