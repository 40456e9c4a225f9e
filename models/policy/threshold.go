package policy

import (
	"math"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// ThresholdChoice describes one look of a chosen policy (train.json, per
// horizon): its threshold and what that look alone does on the choice data
// — precision and recall of flagging every deployment whose probability at
// this horizon reaches the threshold, whatever the other looks do. Reached,
// Target and Fallback repeat the policy's Choice (Met, the target precision
// when the target is a precision, Fallback) for per-horizon tables: the
// target belongs to the policy as a whole, not to a look.
type ThresholdChoice struct {
	Threshold float64       `json:"threshold"`
	Precision metrics.Float `json:"precision"`
	Recall    metrics.Float `json:"recall"`
	Flagged   int           `json:"flagged"`
	Reached   bool          `json:"target_reached"`
	Target    float64       `json:"target_precision,omitempty"`
	Fallback  string        `json:"fallback,omitempty"`
}

// LookAlone returns the threshold t of one look with the precision, recall
// and number flagged of p >= t against y (y >= 0.5 positive; NaN p or y
// skipped), and the policy-wide fields of ThresholdChoice taken from c.
func LookAlone(p, y []float64, t float64, c Choice) ThresholdChoice {
	tp, flagged, pos := 0, 0, 0
	for i, v := range p {
		if math.IsNaN(y[i]) {
			continue
		}
		isPos := y[i] >= 0.5
		if isPos {
			pos++
		}
		if !math.IsNaN(v) && v >= t {
			flagged++
			if isPos {
				tp++
			}
		}
	}
	out := ThresholdChoice{Threshold: t, Flagged: flagged, Precision: metrics.Float(metrics.Ratio(tp, flagged)),
		Recall: metrics.Float(metrics.Ratio(tp, pos)), Reached: c.Met, Fallback: c.Fallback}
	if c.Target.Kind() == TargetPrecision {
		out.Target = c.Target.Precision
	}
	return out
}
