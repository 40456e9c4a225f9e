// Package policy is the sequential decision rule of a Faultline detector
// and its measurement: at each horizon in order (minutes after the deploy
// started), flag the deployment when that horizon's P(faulty) reaches its
// threshold. The same type decides in the detector, is measured by
// evaluation and is written by training (train.json, bundles). Training
// chooses the thresholds of all looks jointly for one operating target of
// the policy as a whole (Choose, Target) and fits a calibrator per horizon
// (FitPlatt) so that reported probabilities mean what they say. Standard
// library only (plus internal/metrics, itself standard library only).
package policy

import (
	"fmt"
	"math"
	"sort"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// Policy is the sequential decision rule of a detector: at each horizon in
// order (minutes after the deploy started), flag the deployment when the
// horizon's model gives P(faulty) >= its threshold; otherwise look again at
// the next horizon.
//
// Thresholds are on the scale of the models' own probabilities (the sigmoid
// of the LightGBM raw score), so that a reader that knows nothing of
// calibration decides exactly as training chose. Calibration, when present,
// maps horizon i's model probability to a calibrated one (Calibrate): a
// strictly increasing map, so deciding on calibrated probabilities against
// calibrated thresholds (CalibratedThreshold) flags the same deploys; it
// changes what a probability means, never a decision.
type Policy struct {
	Horizons   []int     `json:"horizons"`
	Thresholds []float64 `json:"thresholds"`
	// Calibration has one calibrator per horizon, or none (probabilities
	// are reported as the models give them).
	Calibration []Platt `json:"calibration,omitempty"`
	// FleetEventShare, when > 0, is the share of the environment's other
	// services elevated in one minute of a look's window
	// (fleet_elevated_max_frac, features.FleetEvent) from which the look
	// does not flag: during a fleet-wide event the deployment's errors
	// cannot be told from the environment's, and the labeling functions,
	// which abstain there, taught the models nothing about it. Such a
	// look is skipped as one without a score (its probability NaN to
	// Decide), wherever the policy is applied: threshold choice,
	// evaluation, the detector. 0 (policies written before it): no look is
	// skipped. Training sets it from train.fleet_event_share.
	FleetEventShare float64 `json:"fleet_event_share,omitempty"`
}

// Validate checks that horizons increase, thresholds are probabilities and
// calibrators, when present, are one per horizon and increasing.
func (p Policy) Validate() error {
	if len(p.Horizons) == 0 || len(p.Horizons) != len(p.Thresholds) {
		return fmt.Errorf("policy: %d horizons and %d thresholds", len(p.Horizons), len(p.Thresholds))
	}
	if len(p.Calibration) != 0 && len(p.Calibration) != len(p.Horizons) {
		return fmt.Errorf("policy: %d calibrators for %d horizons", len(p.Calibration), len(p.Horizons))
	}
	for i, c := range p.Calibration {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("policy: calibrator at %d min: %w", p.Horizons[i], err)
		}
	}
	if s := p.FleetEventShare; !(s >= 0 && s <= 1) {
		return fmt.Errorf("policy: fleet_event_share %v is not in [0, 1]", s)
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

// Calibrate returns the calibrated probability of the model probability
// prob at Horizons[i]: prob itself when the policy has no calibration.
func (p Policy) Calibrate(i int, prob float64) float64 {
	if i < 0 || i >= len(p.Calibration) {
		return prob
	}
	return p.Calibration[i].Apply(prob)
}

// CalibratedThreshold returns Thresholds[i] on the calibrated scale: a
// calibrated probability reaches it exactly when the model probability
// reaches Thresholds[i] (up to float64 rounding).
func (p Policy) CalibratedThreshold(i int) float64 {
	return p.Calibrate(i, p.Thresholds[i])
}

// FromThresholds returns the policy that looks at every horizon of
// thresholds (minutes → threshold) in ascending order: the sequential
// policy of per-horizon models when nothing names another.
func FromThresholds(thresholds map[int]float64) Policy {
	p := Policy{Horizons: make([]int, 0, len(thresholds))}
	for h := range thresholds {
		p.Horizons = append(p.Horizons, h)
	}
	sort.Ints(p.Horizons)
	for _, h := range p.Horizons {
		p.Thresholds = append(p.Thresholds, thresholds[h])
	}
	return p
}

// DecideByHorizon is Decide with the probabilities given by horizon (a
// horizon absent from probs, or NaN, has no score).
func (p Policy) DecideByHorizon(probs map[int]float64) (flagged bool, atHorizon int) {
	v := make([]float64, len(p.Horizons))
	for i, h := range p.Horizons {
		x, ok := probs[h]
		if !ok {
			x = math.NaN()
		}
		v[i] = x
	}
	return p.Decide(v)
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
	LooksAtHealthy int           `json:"looks_at_healthy"`
	FalseAlarmRate metrics.Float `json:"false_alarm_rate"`
}

// Report measures a policy on labelled deployments.
type Report struct {
	Deploys   int           `json:"deploys"`
	Positives int           `json:"positives"`
	Flagged   int           `json:"flagged"`
	TP        int           `json:"tp"`
	FP        int           `json:"fp"`
	FN        int           `json:"fn"`
	TN        int           `json:"tn"`
	Precision metrics.Float `json:"precision"`
	Recall    metrics.Float `json:"recall"`
	// MeanTimeToDetection is the mean horizon (minutes) at which true
	// positives were flagged; MedianTimeToDetection likewise.
	MeanTimeToDetection   metrics.Float `json:"mean_time_to_detection_min"`
	MedianTimeToDetection metrics.Float `json:"median_time_to_detection_min"`
	// PerDeployFalseAlarmRate is the share of healthy deployments flagged at
	// any look (FP / healthy deployments): what an operator experiences.
	PerDeployFalseAlarmRate metrics.Float `json:"per_deploy_false_alarm_rate"`
	// PerLookFalseAlarmRate is false alarms per look at a healthy deployment
	// over all looks: with several looks per deployment it is lower than the
	// per-deploy rate, which is why both are reported.
	PerLookFalseAlarmRate metrics.Float `json:"per_look_false_alarm_rate"`
	// LooksPerHealthyDeploy is the mean number of looks at a healthy deployment.
	LooksPerHealthyDeploy metrics.Float  `json:"looks_per_healthy_deploy"`
	ByHorizon             []HorizonLooks `json:"by_horizon"`
}

// Evaluate applies p to every deployment: probs[d][i] is deployment
// d's P(faulty) at p.Horizons[i] (NaN when unavailable) and y[d] its label
// (>= 0.5 faulty). Deployments with a NaN label are skipped.
func Evaluate(p Policy, probs [][]float64, y []float64) Report {
	r := Report{ByHorizon: make([]HorizonLooks, len(p.Horizons))}
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
	r.Precision = metrics.Float(metrics.Ratio(r.TP, r.TP+r.FP))
	r.Recall = metrics.Float(metrics.Ratio(r.TP, r.TP+r.FN))
	r.MeanTimeToDetection, r.MedianTimeToDetection = metrics.Float(math.NaN()), metrics.Float(math.NaN())
	if len(ttd) > 0 {
		s := 0.0
		for _, v := range ttd {
			s += v
		}
		r.MeanTimeToDetection = metrics.Float(s / float64(len(ttd)))
		sort.Float64s(ttd)
		if n := len(ttd); n%2 == 1 {
			r.MedianTimeToDetection = metrics.Float(ttd[n/2])
		} else {
			r.MedianTimeToDetection = metrics.Float((ttd[n/2-1] + ttd[n/2]) / 2)
		}
	}
	r.PerDeployFalseAlarmRate = metrics.Float(metrics.Ratio(r.FP, healthy))
	r.PerLookFalseAlarmRate = metrics.Float(metrics.Ratio(r.FP, healthyLooks))
	r.LooksPerHealthyDeploy = metrics.Float(metrics.Ratio(healthyLooks, healthy))
	for i := range r.ByHorizon {
		hl := &r.ByHorizon[i]
		hl.FalseAlarmRate = metrics.Float(metrics.Ratio(hl.FalseAlarms, hl.LooksAtHealthy))
	}
	return r
}
