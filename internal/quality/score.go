package quality

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
)

// Prediction is the production policy's decision on one deployment.
type Prediction struct {
	DeploymentID string
	// Flagged is true when the policy's verdict is faulty.
	Flagged bool
	// DetectedAt is the minute after the start at which the policy flagged
	// the deployment (its first flagging horizon); 0 when not flagged.
	DetectedAt int
}

// Floors are the minimum quality a regime must show against truth.
type Floors struct {
	// Precision is the least share of flagged deploys that are faulty (default 0.90).
	Precision float64 `json:"precision"`
	// Recall is the least share of faults at least MinSeverity severe that
	// are flagged (default 0.70).
	Recall float64 `json:"recall"`
	// MinSeverity is the severity from which faults count toward the
	// recall floor (default 1.5: milder faults are reported without a floor).
	MinSeverity float64 `json:"min_severity"`
}

// DefaultFloors are the floors of the detection-trust issue: precision ≥
// 0.90 and recall ≥ 0.70 on faults of severity ≥ 1.5×.
func DefaultFloors() Floors { return Floors{Precision: 0.90, Recall: 0.70, MinSeverity: 1.5} }

// TTDMinutes is the denominator of the time-to-detection ratio: the
// 60-minute statistical ensemble decides at 60 minutes.
const TTDMinutes = 60

// Band is a range [Lo, Hi) of fault severity.
type Band struct {
	Name   string
	Lo, Hi float64
}

// Bands are the severity bands recall is reported in.
var Bands = []Band{{"< 1.5×", 0, 1.5}, {"1.5–3×", 1.5, 3}, {"≥ 3×", 3, math.Inf(1)}}

// Counts are the raw tallies of a scope; they add up across seeds and
// regimes, and every figure of a Score derives from them.
type Counts struct {
	Deployments int               `json:"deployments"`
	Confusion   metrics.Confusion `json:"confusion"`
	// FlooredFaults and FlooredFlagged count the faults of severity ≥
	// Floors.MinSeverity, and those flagged.
	FlooredFaults  int `json:"floored_faults"`
	FlooredFlagged int `json:"floored_flagged"`
	// BandFaults and BandFlagged count faults and flagged faults per Bands entry.
	BandFaults  []int `json:"band_faults"`
	BandFlagged []int `json:"band_flagged"`
	// ConfHealthy and ConfAlarms count, per confounder, the healthy
	// deployments that have it and those of them flagged.
	ConfHealthy map[string]int `json:"confounder_healthy"`
	ConfAlarms  map[string]int `json:"confounder_alarms"`
	// TTDSum and TTDSumSq are the sum and sum of squares of the detection
	// minutes of the flagged faults (Confusion.TP of them).
	TTDSum   float64 `json:"ttd_sum"`
	TTDSumSq float64 `json:"ttd_sum_sq"`
}

func newCounts() Counts {
	return Counts{BandFaults: make([]int, len(Bands)), BandFlagged: make([]int, len(Bands)),
		ConfHealthy: map[string]int{}, ConfAlarms: map[string]int{}}
}

// Add adds o's tallies to c.
func (c *Counts) Add(o Counts) {
	if c.BandFaults == nil {
		*c = newCounts()
	}
	c.Deployments += o.Deployments
	c.Confusion.TP += o.Confusion.TP
	c.Confusion.FP += o.Confusion.FP
	c.Confusion.TN += o.Confusion.TN
	c.Confusion.FN += o.Confusion.FN
	c.FlooredFaults += o.FlooredFaults
	c.FlooredFlagged += o.FlooredFlagged
	for i := range o.BandFaults {
		c.BandFaults[i] += o.BandFaults[i]
		c.BandFlagged[i] += o.BandFlagged[i]
	}
	for k, v := range o.ConfHealthy {
		c.ConfHealthy[k] += v
	}
	for k, v := range o.ConfAlarms {
		c.ConfAlarms[k] += v
	}
	c.TTDSum += o.TTDSum
	c.TTDSumSq += o.TTDSumSq
}

// Tally scores preds against truth, counting only the deployments for which
// include returns true (nil: all). minSeverity is Floors.MinSeverity. A
// prediction without truth is an error: truth covers every simulated deploy.
func Tally(preds []Prediction, truth map[string]history.Truth, include func(id string) bool, minSeverity float64) (Counts, error) {
	c := newCounts()
	for _, p := range preds {
		if include != nil && !include(p.DeploymentID) {
			continue
		}
		t, ok := truth[p.DeploymentID]
		if !ok {
			return c, fmt.Errorf("deployment %s has no ground truth", p.DeploymentID)
		}
		c.Deployments++
		c.Confusion.Add(p.Flagged, t.Faulty)
		if t.Faulty {
			if t.Severity >= minSeverity {
				c.FlooredFaults++
				if p.Flagged {
					c.FlooredFlagged++
				}
			}
			for i, b := range Bands {
				if t.Severity >= b.Lo && t.Severity < b.Hi {
					c.BandFaults[i]++
					if p.Flagged {
						c.BandFlagged[i]++
					}
				}
			}
			if p.Flagged {
				m := float64(p.DetectedAt)
				c.TTDSum += m
				c.TTDSumSq += m * m
			}
			continue
		}
		if t.Confounders == "" {
			continue
		}
		for _, k := range strings.Split(t.Confounders, ",") {
			c.ConfHealthy[k]++
			if p.Flagged {
				c.ConfAlarms[k]++
			}
		}
	}
	return c, nil
}

// Mean is a mean with a normal-approximation 95% interval (±1.96 standard
// errors); NaN when N is 0.
type Mean struct {
	Value, Lo, Hi float64
	N             int
}

// MarshalJSON writes {"value","lo","hi","n"} with null when undefined.
func (m Mean) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Value metrics.Float `json:"value"`
		Lo    metrics.Float `json:"lo"`
		Hi    metrics.Float `json:"hi"`
		N     int           `json:"n"`
	}{metrics.Float(metrics.Round6(m.Value)), metrics.Float(metrics.Round6(m.Lo)), metrics.Float(metrics.Round6(m.Hi)), m.N})
}

// Score is what the benchmark reports for one scope of one or more fleets.
type Score struct {
	Counts
	Precision metrics.Estimate `json:"precision"`
	Recall    metrics.Estimate `json:"recall"`
	// RecallFloored is the recall on faults of severity ≥ Floors.MinSeverity.
	RecallFloored metrics.Estimate `json:"recall_floored"`
	// FalseAlarms is the share of healthy deployments flagged.
	FalseAlarms metrics.Estimate `json:"false_alarms"`
	// TTDRatio is the mean detection minute of the flagged faults over TTDMinutes.
	TTDRatio Mean `json:"ttd_ratio"`
	// BandRecall is the recall per Bands entry.
	BandRecall []metrics.Estimate `json:"band_recall"`
	// ConfounderAlarms is, per confounder, the share of the healthy
	// deployments with it that were flagged.
	ConfounderAlarms map[string]metrics.Estimate `json:"confounder_false_alarms"`
}

// Score derives the figures of c.
func (c Counts) Score() Score {
	if c.BandFaults == nil {
		c = newCounts()
	}
	s := Score{Counts: c,
		Precision:        c.Confusion.PrecisionEstimate(),
		Recall:           c.Confusion.RecallEstimate(),
		RecallFloored:    metrics.Proportion(c.FlooredFlagged, c.FlooredFaults),
		FalseAlarms:      c.Confusion.FalsePositiveRateEstimate(),
		ConfounderAlarms: map[string]metrics.Estimate{},
	}
	for i := range Bands {
		s.BandRecall = append(s.BandRecall, metrics.Proportion(c.BandFlagged[i], c.BandFaults[i]))
	}
	for k, n := range c.ConfHealthy {
		s.ConfounderAlarms[k] = metrics.Proportion(c.ConfAlarms[k], n)
	}
	n := c.Confusion.TP
	s.TTDRatio = Mean{Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), N: n}
	if n > 0 {
		mean := c.TTDSum / float64(n)
		half := 0.0
		if n > 1 {
			v := math.Max(0, (c.TTDSumSq-float64(n)*mean*mean)/float64(n-1))
			half = 1.959963984540054 * math.Sqrt(v/float64(n))
		}
		s.TTDRatio = Mean{Value: mean / TTDMinutes, Lo: math.Max(0, mean-half) / TTDMinutes, Hi: (mean + half) / TTDMinutes, N: n}
	}
	return s
}

// Meets reports whether s meets each floor: the point estimates of
// precision and of recall on faults of severity ≥ f.MinSeverity against
// f.Precision and f.Recall. An undefined estimate does not meet its floor.
func (s Score) Meets(f Floors) (precision, recall bool) {
	return s.Precision.Defined() && s.Precision.Value >= f.Precision,
		s.RecallFloored.Defined() && s.RecallFloored.Value >= f.Recall
}

// confounders returns the confounders of any of the scores, sorted.
func confounders(scores ...Score) []string {
	set := map[string]bool{}
	for _, s := range scores {
		for k := range s.ConfHealthy {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
