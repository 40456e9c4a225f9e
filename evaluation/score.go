package evaluation

import (
	"fmt"
	"math"
	"sort"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
)

// buildReferences returns the references available for the held-out deploys,
// the headline reference first: gold annotations where they exist and weak
// labels otherwise (gold_or_weak), or whichever of the two exists alone;
// then gold, weak and truth separately.
func buildReferences(in *Inputs, ids []string, gold map[string]bool, truth []history.Truth) []*Reference {
	count := func(r *Reference) *Reference {
		for _, id := range ids {
			if y, ok := r.labels[id]; ok {
				r.Deploys++
				if y {
					r.Faulty++
				}
			}
		}
		return r
	}
	g := &Reference{Name: RefGold, Description: "human annotations (majority per deploy, latest on ties)", labels: map[string]bool{}}
	for id, y := range gold {
		g.labels[id] = y
	}
	count(g)
	var w *Reference
	if in.Labels != nil {
		w = &Reference{Name: RefWeak, Description: "weak labels (label model; deploys where every function abstained are left out)", labels: map[string]bool{}}
		for id, l := range in.Labels {
			if l.Label == 0 || l.Label == 1 {
				w.labels[id] = l.Label == 1
			}
		}
		count(w)
	}
	var out []*Reference
	switch {
	case g.Deploys > 0 && w != nil:
		gw := &Reference{Name: RefGoldOrWeak, Description: "human annotations where they exist, weak labels otherwise", labels: map[string]bool{}}
		for id, y := range w.labels {
			gw.labels[id] = y
		}
		for id, y := range g.labels {
			gw.labels[id] = y
		}
		count(gw)
		for _, id := range ids {
			if _, ok := g.labels[id]; ok {
				gw.FromGold++
			} else if _, ok := w.labels[id]; ok {
				gw.FromWeak++
			}
		}
		out = append(out, gw, g, w)
	case g.Deploys > 0:
		out = append(out, g)
	case w != nil:
		// Kept when it labels none of the deploys too: labels.parquet
		// exists, every function abstained on them. The report then says
		// so (a note) instead of failing.
		out = append(out, w)
	}
	if len(truth) > 0 {
		t := &Reference{Name: RefTruth, Description: "simulator ground truth", labels: map[string]bool{}}
		for _, tr := range truth {
			t.labels[tr.DeploymentID] = tr.Faulty
		}
		count(t)
		out = append(out, t)
	}
	return out
}

// Result holds the metrics of one contender against one reference, at one
// horizon (Scope "hH") or for the sequential policy (Scope "policy").
type Result struct {
	Contender string            `json:"contender"`
	Reference string            `json:"reference"`
	Scope     string            `json:"scope"`
	Horizon   int               `json:"horizon,omitempty"`
	Confusion metrics.Confusion `json:"confusion"`
	Precision metrics.Estimate  `json:"precision"`
	Recall    metrics.Estimate  `json:"recall"`
	// FalseAlarmRate is FP/(FP+TN).
	FalseAlarmRate metrics.Estimate `json:"false_alarm_rate"`
	// PRAUC is the average precision of the horizon's scores; null for the policy.
	PRAUC Float `json:"pr_auc"`
	// Coverage is, per horizon, the share of detected faulty deploys first caught there.
	Coverage map[string]metrics.Estimate `json:"coverage,omitempty"`
	// MTTD is the mean detection minute of detected faulty deploys.
	MTTD Float `json:"mttd_min"`
	// TTDRatio is MTTD over the baseline's detection minute.
	TTDRatio Float `json:"ttd_ratio"`
	// Detections counts detected faulty deploys by first-detection minute.
	Detections map[string]int `json:"detections"`
	curve      []PRPoint
}

// Float is a float64 written to JSON rounded to 6 decimals, null when NaN.
type Float float64

// MarshalJSON implements json.Marshaler: metrics.Float of the rounded value.
func (f Float) MarshalJSON() ([]byte, error) {
	return metrics.Float(metrics.Round6(float64(f))).MarshalJSON()
}

// score computes one Result; h == 0 means the sequential policy.
func score(c *Contender, r *Reference, ids []string, h, baselineMinutes int, horizons []int) Result {
	res := Result{Contender: c.Name, Reference: r.Name, Scope: "policy", Horizon: h, Detections: map[string]int{}}
	if h > 0 {
		res.Scope = fmt.Sprintf("h%d", h)
	}
	var scores []float64
	var ys []bool
	var ttd []int
	for _, id := range ids {
		y, ok := r.labels[id]
		if !ok {
			continue
		}
		d := c.decisions[id]
		var flagged bool
		at := -1
		if h == 0 {
			flagged, at = d.DetectedAt >= 0, d.DetectedAt
		} else {
			flagged = d.Flag[h]
			if flagged {
				at = h
			}
			scores = append(scores, d.P[h])
			ys = append(ys, y)
		}
		res.Confusion.Add(flagged, y)
		if flagged && y {
			ttd = append(ttd, at)
			res.Detections[fmt.Sprint(at)]++
		}
	}
	res.Precision = res.Confusion.PrecisionEstimate()
	res.Recall = res.Confusion.RecallEstimate()
	res.FalseAlarmRate = res.Confusion.FalsePositiveRateEstimate()
	res.PRAUC = Float(math.NaN())
	if h > 0 {
		res.curve = PRCurve(scores, ys)
		res.PRAUC = Float(AveragePrecision(scores, ys))
	} else {
		hs := append([]int(nil), horizons...)
		sort.Ints(hs)
		cov := Coverage(ttd, hs)
		res.Coverage = map[string]metrics.Estimate{}
		for i, hh := range hs {
			res.Coverage[fmt.Sprint(hh)] = cov[i]
		}
	}
	mttd := MeanTimeToDetection(ttd)
	res.MTTD = Float(mttd)
	res.TTDRatio = Float(TTDRatio(mttd, baselineMinutes))
	return res
}
