package models

import (
	"fmt"
	"math"
	"sort"
)

// Policy is the sequential decision rule of a detector: at each horizon in
// order (minutes after the deploy started), flag the deployment when the
// horizon's model gives P(faulty) >= its threshold; otherwise look again at
// the next horizon.
type Policy struct {
	Horizons   []int     `json:"horizons"`
	Thresholds []float64 `json:"thresholds"`
}

// Validate checks that horizons increase and thresholds are probabilities.
func (p Policy) Validate() error {
	if len(p.Horizons) == 0 || len(p.Horizons) != len(p.Thresholds) {
		return fmt.Errorf("policy: %d horizons and %d thresholds", len(p.Horizons), len(p.Thresholds))
	}
	for i, h := range p.Horizons {
		if h <= 0 || i > 0 && h <= p.Horizons[i-1] {
			return fmt.Errorf("policy: horizons must be positive and increasing, got %v", p.Horizons)
		}
		if t := p.Thresholds[i]; !(t >= 0 && t <= 1) {
			return fmt.Errorf("policy: threshold %v at %d min outside [0, 1]", t, h)
		}
	}
	return nil
}

// Decide applies the policy to the probabilities of one deployment, p[i]
// belonging to Horizons[i] (NaN when that horizon's model could not score
// it, e.g. fewer than H minutes of data). It returns whether the deployment
// is flagged and the horizon of the first look that flagged it (0 if none).
func (p Policy) Decide(probs []float64) (flagged bool, atHorizon int) {
	for i, h := range p.Horizons {
		if i >= len(probs) {
			break
		}
		v := probs[i]
		if math.IsNaN(v) {
			continue
		}
		if v >= p.Thresholds[i] {
			return true, h
		}
	}
	return false, 0
}

// HorizonLooks counts the policy's looks at one horizon.
type HorizonLooks struct {
	Horizon int `json:"horizon"`
	// Looks is the number of deployments looked at (score available, not flagged earlier).
	Looks int `json:"looks"`
	// Flags is the number of those looks that flagged; TrueFlags and FalseAlarms split them by label.
	Flags       int `json:"flags"`
	TrueFlags   int `json:"true_flags"`
	FalseAlarms int `json:"false_alarms"`
	// LooksAtHealthy is the number of looks at healthy deployments; FalseAlarmRate = FalseAlarms / LooksAtHealthy.
	LooksAtHealthy int    `json:"looks_at_healthy"`
	FalseAlarmRate Metric `json:"false_alarm_rate"`
}

// PolicyReport measures a policy on labelled deployments.
type PolicyReport struct {
	Deploys   int    `json:"deploys"`
	Positives int    `json:"positives"`
	Flagged   int    `json:"flagged"`
	TP        int    `json:"tp"`
	FP        int    `json:"fp"`
	FN        int    `json:"fn"`
	TN        int    `json:"tn"`
	Precision Metric `json:"precision"`
	Recall    Metric `json:"recall"`
	// MeanTimeToDetection is the mean horizon (minutes) at which true
	// positives were flagged; MedianTimeToDetection likewise.
	MeanTimeToDetection   Metric `json:"mean_time_to_detection_min"`
	MedianTimeToDetection Metric `json:"median_time_to_detection_min"`
	// PerDeployFalseAlarmRate is the share of healthy deployments flagged at
	// any look (FP / healthy deployments): what an operator experiences.
	PerDeployFalseAlarmRate Metric `json:"per_deploy_false_alarm_rate"`
	// PerLookFalseAlarmRate is false alarms per look at a healthy deployment
	// over all looks: with several looks per deployment it is lower than the
	// per-deploy rate, which is why both are reported.
	PerLookFalseAlarmRate Metric `json:"per_look_false_alarm_rate"`
	// LooksPerHealthyDeploy is the mean number of looks at a healthy deployment.
	LooksPerHealthyDeploy Metric         `json:"looks_per_healthy_deploy"`
	ByHorizon             []HorizonLooks `json:"by_horizon"`
}

// EvaluatePolicy applies p to every deployment: probs[d][i] is deployment
// d's P(faulty) at p.Horizons[i] (NaN when unavailable) and y[d] its label
// (>= 0.5 faulty). Deployments with a NaN label are skipped.
func EvaluatePolicy(p Policy, probs [][]float64, y []float64) PolicyReport {
	r := PolicyReport{ByHorizon: make([]HorizonLooks, len(p.Horizons))}
	for i, h := range p.Horizons {
		r.ByHorizon[i].Horizon = h
	}
	var ttd []float64
	healthy, healthyLooks := 0, 0
	for d, pr := range probs {
		if math.IsNaN(y[d]) {
			continue
		}
		pos := y[d] >= 0.5
		r.Deploys++
		if pos {
			r.Positives++
		} else {
			healthy++
		}
		flagged := false
		for i := range p.Horizons {
			if i >= len(pr) || math.IsNaN(pr[i]) {
				continue
			}
			hl := &r.ByHorizon[i]
			hl.Looks++
			if !pos {
				hl.LooksAtHealthy++
				healthyLooks++
			}
			if pr[i] >= p.Thresholds[i] {
				flagged = true
				hl.Flags++
				if pos {
					hl.TrueFlags++
					ttd = append(ttd, float64(p.Horizons[i]))
				} else {
					hl.FalseAlarms++
				}
				break
			}
		}
		switch {
		case flagged && pos:
			r.TP++
		case flagged:
			r.FP++
		case pos:
			r.FN++
		default:
			r.TN++
		}
	}
	r.Flagged = r.TP + r.FP
	r.Precision = Metric(ratio(r.TP, r.TP+r.FP))
	r.Recall = Metric(ratio(r.TP, r.TP+r.FN))
	r.MeanTimeToDetection, r.MedianTimeToDetection = Metric(math.NaN()), Metric(math.NaN())
	if len(ttd) > 0 {
		s := 0.0
		for _, v := range ttd {
			s += v
		}
		r.MeanTimeToDetection = Metric(s / float64(len(ttd)))
		sort.Float64s(ttd)
		if n := len(ttd); n%2 == 1 {
			r.MedianTimeToDetection = Metric(ttd[n/2])
		} else {
			r.MedianTimeToDetection = Metric((ttd[n/2-1] + ttd[n/2]) / 2)
		}
	}
	r.PerDeployFalseAlarmRate = Metric(ratio(r.FP, healthy))
	r.PerLookFalseAlarmRate = Metric(ratio(r.FP, healthyLooks))
	r.LooksPerHealthyDeploy = Metric(ratio(healthyLooks, healthy))
	for i := range r.ByHorizon {
		hl := &r.ByHorizon[i]
		hl.FalseAlarmRate = Metric(ratio(hl.FalseAlarms, hl.LooksAtHealthy))
	}
	return r
}
