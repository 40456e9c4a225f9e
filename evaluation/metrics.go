package evaluation

import (
	"math"
	"sort"

	"github.com/faultline-dev/faultline/internal/metrics"
)

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
func Coverage(detectedAt []int, horizons []int) []metrics.Estimate {
	out := make([]metrics.Estimate, len(horizons))
	for i, h := range horizons {
		k := 0
		for _, m := range detectedAt {
			if m == h {
				k++
			}
		}
		out[i] = metrics.Proportion(k, len(detectedAt))
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
