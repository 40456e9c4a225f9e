package models

import (
	"fmt"
	"math"
	"sort"
	"strconv"
)

// AUC returns the area under the ROC curve of scores against binary labels
// (y >= 0.5 is positive), with tied scores counted half. NaN when one class
// is absent.
func AUC(scores, y []float64) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var pos, neg float64
	for _, v := range y {
		if v >= 0.5 {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	// sum of positive ranks with average ranks for ties
	var rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if y[idx[k]] >= 0.5 {
				rankSum += avg
			}
		}
		i = j
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// LogLoss returns the weighted mean log-loss of probabilities p against
// targets y in [0, 1]; w may be nil.
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

// Confusion counts binary decisions.
type Confusion struct {
	TP, FP, TN, FN int
}

// Precision is TP/(TP+FP), NaN when nothing was flagged.
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN), NaN without positives.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// FalsePositiveRate is FP/(FP+TN), NaN without negatives.
func (c Confusion) FalsePositiveRate() float64 { return ratio(c.FP, c.FP+c.TN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// ThresholdChoice is the outcome of ChooseThreshold.
type ThresholdChoice struct {
	Threshold float64 `json:"threshold"`
	Precision Metric  `json:"precision"`
	Recall    Metric  `json:"recall"`
	Flagged   int     `json:"flagged"`
	// Reached tells whether the target precision was reached; when not, the
	// threshold maximising precision (then recall) among thresholds flagging
	// at least MinFlagged rows was taken instead, or 1 (flag nothing) when
	// nothing could be flagged.
	Reached bool    `json:"target_reached"`
	Target  float64 `json:"target_precision"`
	// Fallback names the rule used when the target was not reached.
	Fallback string `json:"fallback,omitempty"`
}

// ChooseThreshold picks the decision threshold t (flag when p >= t) that
// maximises recall subject to precision >= target on (p, y), y >= 0.5
// positive. Among thresholds with the same recall the highest is taken (fewest
// flags). When the target cannot be reached by any threshold that flags at
// least minFlagged rows, it falls back to the threshold with the best
// precision among those flagging at least minFlagged rows ("max_precision"),
// or to 1 — flag nothing — when there are no positives ("none").
func ChooseThreshold(p, y []float64, target float64, minFlagged int) ThresholdChoice {
	minFlagged = max(1, minFlagged)
	idx := make([]int, 0, len(p))
	for i, v := range p {
		if !math.IsNaN(v) {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
	totalPos := 0
	for _, i := range idx {
		if y[i] >= 0.5 {
			totalPos++
		}
	}
	out := ThresholdChoice{Threshold: 1, Target: target, Precision: Metric(math.NaN()), Recall: 0}
	if totalPos == 0 {
		out.Fallback = "none"
		return out
	}
	type cand struct {
		t         float64
		tp, flags int
	}
	var cands []cand
	tp := 0
	for k := 0; k < len(idx); {
		j := k
		for j < len(idx) && p[idx[j]] == p[idx[k]] {
			if y[idx[j]] >= 0.5 {
				tp++
			}
			j++
		}
		cands = append(cands, cand{t: p[idx[k]], tp: tp, flags: j})
		k = j
	}
	bestK := -1
	for k, c := range cands {
		if c.flags < minFlagged {
			continue
		}
		prec := float64(c.tp) / float64(c.flags)
		if prec >= target && (bestK < 0 || c.tp > cands[bestK].tp) {
			bestK = k
		}
	}
	if bestK >= 0 {
		c := cands[bestK]
		return ThresholdChoice{Threshold: c.t, Precision: Metric(float64(c.tp) / float64(c.flags)), Recall: Metric(float64(c.tp) / float64(totalPos)),
			Flagged: c.flags, Reached: true, Target: target}
	}
	bestK = -1
	bestPrec := -1.0
	for k, c := range cands {
		if c.flags < minFlagged {
			continue
		}
		prec := float64(c.tp) / float64(c.flags)
		if prec > bestPrec {
			bestK, bestPrec = k, prec
		}
	}
	if bestK < 0 {
		out.Fallback = "none"
		return out
	}
	c := cands[bestK]
	return ThresholdChoice{Threshold: c.t, Precision: Metric(bestPrec), Recall: Metric(float64(c.tp) / float64(totalPos)),
		Flagged: c.flags, Target: target, Fallback: "max_precision"}
}

// Metric is a float64 that is written to JSON as null when it is NaN or
// infinite (undefined, e.g. precision with nothing flagged), and read back
// from null as NaN.
type Metric float64

// MarshalJSON implements json.Marshaler.
func (m Metric) MarshalJSON() ([]byte, error) {
	f := float64(m)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *Metric) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = Metric(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("metric: %w", err)
	}
	*m = Metric(f)
	return nil
}

func sortStrings(s []string) { sort.Strings(s) }
