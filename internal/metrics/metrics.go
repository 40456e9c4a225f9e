// Package metrics holds the small statistics every stage reports or tests
// with: the area under the ROC curve and the rank-sum test that shares its
// ranks, upper tail probabilities of the binomial, Poisson and normal
// distributions, log-loss, confusion counts with Wilson score intervals, the
// logistic function, and the JSON rule for undefined values (NaN or infinite
// floats are written as null). It uses the standard library only, so the
// serving path (package detector) can import it.
package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
)

// Sigmoid is the logistic function mapping a raw score (log-odds) to a
// probability.
func Sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// AUC returns the area under the ROC curve of scores against binary labels
// (y >= 0.5 is positive): the probability that a random positive scores
// above a random negative, tied scores counting one half. NaN when one class
// is absent.
func AUC(scores, y []float64) float64 {
	return auc(scores, func(i int) bool { return y[i] >= 0.5 })
}

// AUCLabels is AUC with labels given as booleans (true is positive).
func AUCLabels(scores []float64, truth []bool) float64 {
	return auc(scores, func(i int) bool { return truth[i] })
}

func auc(scores []float64, positive func(i int) bool) float64 {
	r := rankSum(scores, positive)
	if r.pos == 0 || r.neg == 0 {
		return math.NaN()
	}
	return r.u() / (r.pos * r.neg)
}

// ranks is the rank sum of the positives among scores, ranked in ascending
// order, tied scores sharing their mean rank; ties is Σ(t³ − t) over the
// groups of t tied scores (the variance correction of the rank-sum test).
type ranks struct {
	sum, pos, neg, ties float64
}

// u is the Mann–Whitney U of the positives: the number of (positive,
// negative) pairs in which the positive scores higher, ties counting one half.
func (r ranks) u() float64 { return r.sum - r.pos*(r.pos+1)/2 }

func rankSum(scores []float64, positive func(i int) bool) ranks {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var r ranks
	for i := range scores {
		if positive(i) {
			r.pos++
		} else {
			r.neg++
		}
	}
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if positive(idx[k]) {
				r.sum += avg
			}
		}
		if t := float64(j - i); t > 1 {
			r.ties += t*t*t - t
		}
		i = j
	}
	return r
}

// RankSumGreaterP returns the one-sided p-value of the Wilcoxon–Mann–Whitney
// rank-sum test that the values of x tend to be larger than those of y
// (H0: both are draws from one distribution), by the normal approximation
// with tie correction and continuity correction. It assumes the values are
// independent draws, and the approximation wants about ten of each; NaN
// when x or y is empty or NaN is among them, 1 when every value is tied.
func RankSumGreaterP(x, y []float64) float64 {
	if len(x) == 0 || len(y) == 0 {
		return math.NaN()
	}
	scores := slices.Concat(x, y)
	if slices.ContainsFunc(scores, math.IsNaN) {
		return math.NaN()
	}
	r := rankSum(scores, func(i int) bool { return i < len(x) })
	n := r.pos + r.neg
	variance := r.pos * r.neg / 12 * ((n + 1) - r.ties/(n*(n-1)))
	if !(variance > 0) {
		return 1
	}
	return NormalUpper((r.u() - r.pos*r.neg/2 - 0.5) / math.Sqrt(variance))
}

// LogLoss returns the weighted mean log-loss of probabilities p against
// targets y in [0, 1]; w may be nil (equal weights). Probabilities are
// clamped to [1e-15, 1-1e-15]. NaN when the weights sum to 0.
func LogLoss(p, y, w []float64) float64 {
	var s, sw float64
	for i, pi := range p {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		pi = min(max(pi, 1e-15), 1-1e-15)
		s -= wi * (y[i]*math.Log(pi) + (1-y[i])*math.Log(1-pi))
		sw += wi
	}
	if sw == 0 {
		return math.NaN()
	}
	return s / sw
}

// Ratio returns a/b, NaN when b is 0 (an undefined rate).
func Ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// Confusion counts binary decisions against a reference.
type Confusion struct {
	TP int `json:"tp"`
	FP int `json:"fp"`
	TN int `json:"tn"`
	FN int `json:"fn"`
}

// Add counts one decision (flagged) against its reference (positive).
func (c *Confusion) Add(flagged, positive bool) {
	switch {
	case flagged && positive:
		c.TP++
	case flagged:
		c.FP++
	case positive:
		c.FN++
	default:
		c.TN++
	}
}

// N is the number of decisions counted.
func (c Confusion) N() int { return c.TP + c.FP + c.TN + c.FN }

// Precision is TP/(TP+FP): the share of flagged that are positive; NaN when
// nothing was flagged.
func (c Confusion) Precision() float64 { return Ratio(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN): the share of positives flagged; NaN without
// positives.
func (c Confusion) Recall() float64 { return Ratio(c.TP, c.TP+c.FN) }

// FalsePositiveRate is FP/(FP+TN): the share of negatives flagged (the false
// alarm rate); NaN without negatives.
func (c Confusion) FalsePositiveRate() float64 { return Ratio(c.FP, c.FP+c.TN) }

// Accuracy is the share of correct decisions; NaN when empty.
func (c Confusion) Accuracy() float64 { return Ratio(c.TP+c.TN, c.N()) }

// F1 is the harmonic mean of precision and recall; NaN when there is
// neither a positive nor a flag.
func (c Confusion) F1() float64 { return Ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// PrecisionEstimate is Precision with its Wilson interval.
func (c Confusion) PrecisionEstimate() Estimate { return Proportion(c.TP, c.TP+c.FP) }

// RecallEstimate is Recall with its Wilson interval.
func (c Confusion) RecallEstimate() Estimate { return Proportion(c.TP, c.TP+c.FN) }

// FalsePositiveRateEstimate is FalsePositiveRate with its Wilson interval.
func (c Confusion) FalsePositiveRateEstimate() Estimate { return Proportion(c.FP, c.FP+c.TN) }

// wilsonZ is the standard-normal quantile of a two-sided 95% interval.
const wilsonZ = 1.959963984540054

// Interval is a closed interval [Lo, Hi].
type Interval struct {
	Lo float64
	Hi float64
}

// Wilson returns the Wilson score 95% interval of a proportion of k successes
// in n trials. With n = 0 the interval is [0, 1].
func Wilson(k, n int) Interval {
	if n <= 0 {
		return Interval{0, 1}
	}
	z2 := wilsonZ * wilsonZ
	fn := float64(n)
	p := float64(k) / fn
	den := 1 + z2/fn
	center := (p + z2/(2*fn)) / den
	half := wilsonZ * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn)) / den
	return Interval{Lo: math.Max(0, center-half), Hi: math.Min(1, center+half)}
}

// Estimate is a proportion K/N with its Wilson 95% interval. It is undefined
// (Value NaN, JSON null) when N is 0.
type Estimate struct {
	K     int
	N     int
	Value float64
	Lo    float64
	Hi    float64
}

// Proportion returns the estimate k/n with its Wilson interval.
func Proportion(k, n int) Estimate {
	if n <= 0 {
		return Estimate{K: k, N: n, Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	}
	iv := Wilson(k, n)
	return Estimate{K: k, N: n, Value: float64(k) / float64(n), Lo: iv.Lo, Hi: iv.Hi}
}

// Defined reports whether the estimate has a denominator.
func (e Estimate) Defined() bool { return e.N > 0 }

// Percent formats the estimate as a percentage with its interval and
// counts, "78.0% [64.8–87.2] (39/50)", or "n/a (0/0)" when undefined: the
// one format of the evaluation report and its command.
func (e Estimate) Percent() string {
	if !e.Defined() {
		return fmt.Sprintf("n/a (%d/%d)", e.K, e.N)
	}
	return fmt.Sprintf("%.1f%% [%.1f–%.1f] (%d/%d)", 100*e.Value, 100*e.Lo, 100*e.Hi, e.K, e.N)
}

// Decimal formats the estimate as a fraction with digits decimals, its
// interval and counts, "0.93 [0.91, 0.96] (372/398)", or "– (0/0)" when
// undefined: the one format of the quality tables, predict --truth and the
// promotion gate.
func (e Estimate) Decimal(digits int) string {
	if !e.Defined() {
		return fmt.Sprintf("– (%d/%d)", e.K, e.N)
	}
	return fmt.Sprintf("%.*f [%.*f, %.*f] (%d/%d)", digits, e.Value, digits, e.Lo, digits, e.Hi, e.K, e.N)
}

// MarshalJSON writes {"value","lo","hi","k","n"}, values rounded to 6
// decimals (Round6), with null value and interval when undefined.
func (e Estimate) MarshalJSON() ([]byte, error) {
	type est struct {
		Value *float64 `json:"value"`
		Lo    *float64 `json:"lo"`
		Hi    *float64 `json:"hi"`
		K     int      `json:"k"`
		N     int      `json:"n"`
	}
	out := est{K: e.K, N: e.N}
	if e.Defined() {
		v, lo, hi := Round6(e.Value), Round6(e.Lo), Round6(e.Hi)
		out.Value, out.Lo, out.Hi = &v, &lo, &hi
	}
	return json.Marshal(out)
}

// Round6 rounds to 6 decimals so that JSON output is stable across
// platforms' last-bit differences.
func Round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// Defined reports whether x is a number JSON can carry: not NaN and not
// infinite. Undefined values are written as null.
func Defined(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// OrNull returns a pointer to x, or nil when x is not Defined: for struct
// fields (*float64) that encoding/json writes as null.
func OrNull(x float64) *float64 {
	if !Defined(x) {
		return nil
	}
	return &x
}

// Float is a float64 that is written to JSON as null when it is NaN or
// infinite (undefined, e.g. precision with nothing flagged), otherwise as
// the shortest decimal that reads back exactly, and read back from null as
// NaN.
type Float float64

// MarshalJSON implements json.Marshaler.
func (m Float) MarshalJSON() ([]byte, error) {
	f := float64(m)
	if !Defined(f) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = Float(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("metric: %w", err)
	}
	*m = Float(f)
	return nil
}
