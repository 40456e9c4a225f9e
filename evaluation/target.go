package evaluation

import (
	"fmt"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/models/policy"
)

// TargetReport states a contender's operating target — the one target of
// its sequential policy as a whole, set at training (train.target) — and
// whether the policy meets it: on the validation split its thresholds were
// chosen on, and on the held-out deploys against every reference.
type TargetReport struct {
	Contender string        `json:"contender"`
	Target    policy.Target `json:"target"`
	// Statement reads the target, e.g. "precision ≥ 0.95".
	Statement string `json:"statement"`
	Objective string `json:"objective"`
	// Thresholds are the policy's, on the model's probability, by horizon;
	// CalibratedThresholds the same on the calibrated scale.
	Thresholds           map[string]float64 `json:"thresholds"`
	CalibratedThresholds map[string]float64 `json:"calibrated_thresholds,omitempty"`
	// Fallback names the rule training used when validation did not meet
	// the target (policy.FallbackMaxPrecision, policy.FallbackNone, ...).
	Fallback string `json:"fallback,omitempty"`
	// Estimate is policy.EstimateExpected when training judged the target
	// on the validation labels' expected counts (the validation check's
	// verdict is then that estimate's); empty when by the Wilson bound.
	// The held-out checks are judged by the Wilson 95% bound either way.
	Estimate string `json:"estimate,omitempty"`
	// ExpectedPrecision is the chosen policy's expected precision on
	// validation, with Estimate expected.
	ExpectedPrecision Float `json:"expected_precision,omitempty"`
	// Checks are validation first, then each reference.
	Checks []TargetCheck `json:"checks"`
}

// TargetCheck is the policy's result on one set of labelled deploys.
type TargetCheck struct {
	// Data is "validation" or a reference name.
	Data        string `json:"data"`
	Description string `json:"description"`
	// Precision, FalseAlarmsPerHealthy (FP/(FP+TN)) and Recall with their
	// Wilson 95% intervals.
	Precision             metrics.Estimate `json:"precision"`
	FalseAlarmsPerHealthy metrics.Estimate `json:"false_alarms_per_healthy"`
	Recall                metrics.Estimate `json:"recall"`
	// Verdict is policy.Met, policy.Missed or policy.Undecided by
	// policy.Target.Assess: met when the whole interval of the target's
	// figure is on its side, missed when it is all on the wrong side.
	Verdict string `json:"verdict"`
}

// Achieved returns the figure the target constrains.
func (c TargetCheck) Achieved(t policy.Target) metrics.Estimate {
	if t.Kind() == policy.TargetFalseAlarmsPerHealthy {
		return c.FalseAlarmsPerHealthy
	}
	return c.Precision
}

// DataCheckValidation is TargetCheck.Data for the validation split.
const DataCheckValidation = "validation"

// targetReports states the operating target of every model contender whose
// train.json records one.
func (rep *Report) targetReports(sets []*ModelSet) []TargetReport {
	var out []TargetReport
	for _, ms := range sets {
		if ms.Info == nil || ms.Info.Choice == nil {
			continue
		}
		ch, pol := ms.Info.Choice, ms.Info.Policy
		tr := TargetReport{Contender: ms.Name, Target: ch.Target, Statement: ch.Target.String(), Objective: ch.Objective,
			Fallback: ch.Fallback, Thresholds: map[string]float64{}, Estimate: ch.Estimate}
		conf := ch.Confidence
		if ch.Estimate == policy.EstimateExpected {
			tr.ExpectedPrecision = Float(ch.ExpectedPrecision)
			conf = policy.DefaultConfidence
		}
		for i, h := range pol.Horizons {
			tr.Thresholds[fmt.Sprint(h)] = metrics.Round6(pol.Thresholds[i])
			if len(pol.Calibration) > 0 {
				if tr.CalibratedThresholds == nil {
					tr.CalibratedThresholds = map[string]float64{}
				}
				tr.CalibratedThresholds[fmt.Sprint(h)] = metrics.Round6(pol.CalibratedThreshold(i))
			}
		}
		tr.Checks = append(tr.Checks, TargetCheck{
			Data:                  DataCheckValidation,
			Description:           fmt.Sprintf("%s, %s labels: where the thresholds were chosen", ms.Info.ChoiceData.Describe(), ms.Info.LabelSource),
			Precision:             ch.Precision.Estimate(),
			FalseAlarmsPerHealthy: ch.FalseAlarmsPerHealthy.Estimate(),
			Recall:                ch.Recall.Estimate(),
			Verdict:               ch.Verdict,
		})
		for _, ref := range rep.refs {
			r, ok := rep.Result(ms.Name, ref.Name, "policy")
			if !ok {
				continue
			}
			c := r.Confusion
			tr.Checks = append(tr.Checks, TargetCheck{
				Data:                  ref.Name,
				Description:           fmt.Sprintf("held-out deploys (%s), %s", rep.Split, ref.Description),
				Precision:             r.Precision,
				FalseAlarmsPerHealthy: r.FalseAlarmRate,
				Recall:                r.Recall,
				Verdict:               policy.AssessAt(ch.Target, c.TP, c.FP, c.FP+c.TN, conf).Verdict,
			})
		}
		out = append(out, tr)
	}
	return out
}

// ModelCalibration is the calibrator of one contender's model at one
// horizon, as fitted and measured on the validation split by training
// (train.json): its Platt parameters and the reliability of the model's
// and the calibrated probabilities.
type ModelCalibration struct {
	Contender string        `json:"contender"`
	Horizon   int           `json:"horizon"`
	Platt     *policy.Platt `json:"platt,omitempty"`
	policy.CalibrationReport
}

// modelCalibrations lists the calibrators recorded in the contenders'
// train.json.
func modelCalibrations(sets []*ModelSet) []ModelCalibration {
	var out []ModelCalibration
	for _, ms := range sets {
		if ms.Info == nil {
			continue
		}
		for i, h := range ms.Info.Horizons {
			if h.Calibration == nil {
				continue
			}
			mc := ModelCalibration{Contender: ms.Name, Horizon: h.Horizon, CalibrationReport: rounded(*h.Calibration)}
			if i < len(ms.Info.Policy.Calibration) {
				p := ms.Info.Policy.Calibration[i]
				mc.Platt = &p
			}
			out = append(out, mc)
		}
	}
	return out
}

// rounded returns r with its figures rounded to 6 decimals, as every number
// of metrics.json (the Platt parameters are kept exact: they are the model).
func rounded(r policy.CalibrationReport) policy.CalibrationReport {
	r6 := func(f metrics.Float) metrics.Float { return metrics.Float(metrics.Round6(float64(f))) }
	r.BrierModel, r.BrierCalibrated = r6(r.BrierModel), r6(r.BrierCalibrated)
	r.LogLossModel, r.LogLossCalibrated = r6(r.LogLossModel), r6(r.LogLossCalibrated)
	r.ECEModel, r.ECECalibrated = r6(r.ECEModel), r6(r.ECECalibrated)
	for _, bins := range []*[]policy.ReliabilityBin{&r.ReliabilityModel, &r.ReliabilityCalibrated} {
		out := make([]policy.ReliabilityBin, len(*bins))
		for i, b := range *bins {
			b.MeanP = r6(b.MeanP)
			out[i] = b
		}
		*bins = out
	}
	return r
}
