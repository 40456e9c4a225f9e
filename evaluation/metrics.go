package evaluation

import (
	"encoding/json"
	"math"
	"sort"
)

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

// MarshalJSON writes {"value","lo","hi","k","n"}, with null value and
// interval when undefined.
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
		v, lo, hi := round6(e.Value), round6(e.Lo), round6(e.Hi)
		out.Value, out.Lo, out.Hi = &v, &lo, &hi
	}
	return json.Marshal(out)
}

// round6 rounds to 6 decimals so that JSON output is stable across
// platforms' last-bit differences.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// Confusion counts binary decisions against a reference.
type Confusion struct {
	TP int `json:"tp"`
	FP int `json:"fp"`
	TN int `json:"tn"`
	FN int `json:"fn"`
}

// Add counts one decision (flagged) against its reference (faulty).
func (c *Confusion) Add(flagged, faulty bool) {
	switch {
	case flagged && faulty:
		c.TP++
	case flagged && !faulty:
		c.FP++
	case !flagged && faulty:
		c.FN++
	default:
		c.TN++
	}
}

// N is the number of decisions counted.
func (c Confusion) N() int { return c.TP + c.FP + c.TN + c.FN }

// Precision is TP / (TP + FP): the share of flagged deploys that are faulty.
func (c Confusion) Precision() Estimate { return Proportion(c.TP, c.TP+c.FP) }

// Recall is TP / (TP + FN): the share of faulty deploys that are flagged.
func (c Confusion) Recall() Estimate { return Proportion(c.TP, c.TP+c.FN) }

// FalseAlarmRate is FP / (FP + TN): the share of healthy deploys flagged.
func (c Confusion) FalseAlarmRate() Estimate { return Proportion(c.FP, c.FP+c.TN) }

// PRPoint is one point of a precision-recall curve: flagging every deploy
// whose score is at least Threshold.
type PRPoint struct {
	Threshold float64 `json:"threshold"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// PRCurve returns the precision-recall curve of scores against labels, one
// point per distinct score, from the highest threshold down. NaN scores are
// never flagged (they still count as positives when faulty). Nil when there
// are no positives.
func PRCurve(scores []float64, faulty []bool) []PRPoint {
	type sl struct {
		s float64
		y bool
	}
	var rows []sl
	pos := 0
	for i, s := range scores {
		if faulty[i] {
			pos++
		}
		if !math.IsNaN(s) {
			rows = append(rows, sl{s, faulty[i]})
		}
	}
	if pos == 0 {
		return nil
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].s > rows[j].s })
	var out []PRPoint
	tp, fp := 0, 0
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].s == rows[i].s {
			if rows[j].y {
				tp++
			} else {
				fp++
			}
			j++
		}
		out = append(out, PRPoint{
			Threshold: rows[i].s,
			Precision: float64(tp) / float64(tp+fp),
			Recall:    float64(tp) / float64(pos),
		})
		i = j
	}
	return out
}

// AveragePrecision is the step-wise area under the precision-recall curve:
// the sum over distinct thresholds of (R_k − R_{k−1})·P_k, tied scores taken
// together. NaN when there are no positives.
func AveragePrecision(scores []float64, faulty []bool) float64 {
	curve := PRCurve(scores, faulty)
	if curve == nil {
		return math.NaN()
	}
	ap, prevR := 0.0, 0.0
	for _, p := range curve {
		ap += (p.Recall - prevR) * p.Precision
		prevR = p.Recall
	}
	return ap
}

// Coverage returns, for each horizon, the share of detections whose first
// detection minute equals that horizon. detectedAt holds the first detection
// minute of each detected faulty deploy. Minutes matching no horizon are
// counted in the denominator only. Undefined estimates when detectedAt is
// empty.
func Coverage(detectedAt []int, horizons []int) []Estimate {
	out := make([]Estimate, len(horizons))
	for i, h := range horizons {
		k := 0
		for _, m := range detectedAt {
			if m == h {
				k++
			}
		}
		out[i] = Proportion(k, len(detectedAt))
	}
	return out
}

// MeanTimeToDetection is the mean of the detection minutes; NaN when empty.
func MeanTimeToDetection(detectedAt []int) float64 {
	if len(detectedAt) == 0 {
		return math.NaN()
	}
	s := 0
	for _, m := range detectedAt {
		s += m
	}
	return float64(s) / float64(len(detectedAt))
}

// TTDRatio is the mean time to detection divided by the baseline's
// (which decides at baselineMinutes for every deploy it flags); NaN when
// undefined.
func TTDRatio(mttd float64, baselineMinutes int) float64 {
	if baselineMinutes <= 0 || math.IsNaN(mttd) {
		return math.NaN()
	}
	return mttd / float64(baselineMinutes)
}
