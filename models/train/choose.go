package train

import (
	"fmt"
	"math"

	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/policy"
)

// CalibrationBins is the number of equal-width bins of the reliability
// diagrams recorded in train.json.
const CalibrationBins = 10

// choosePolicy completes info's policy: a calibrator per horizon fitted on
// the validation probabilities (valid; policy.FitCalibration, recorded
// with its reliability diagrams in the horizon's calibration), and the
// thresholds of all looks chosen together for Config.Target on the choice
// data (pool: the validation split, and with Config.PolicyFolds the
// training split out of fold; recorded as policy_choice, and per horizon
// what that look alone flags there).
//
// The deployments of abstained count in the choice as
// Config.AbstainedSpread says, the labelled ones the label model cannot
// tell apart as Config.TiedSpread says (choiceTargets).
func choosePolicy(cfg Config, info *workdir.Train, valid, pool *validation, labels labelSet, abstained map[string]bool) error {
	info.Policy.Calibration = nil
	vy := valid.targets(labels)
	for i := range info.Horizons {
		c, rep := policy.FitCalibration(valid.column(i), vy, CalibrationBins)
		info.Policy.Calibration = append(info.Policy.Calibration, c)
		info.Horizons[i].Calibration = &rep
	}
	// By the expected counts first (unless the bound is asked for); when no
	// policy meets the target that way, the bound's choice: the highest
	// expected precision alone would be a handful of flags wherever the
	// labels are unsure throughout.
	v := pool
	y := choiceTargets(cfg, v, labels, abstained, info.Policy.Calibration)
	var choice policy.Choice
	var err error
	if cfg.TargetEstimate == TargetEstimateExpected {
		choice, err = policy.ChooseExpected(info.Policy.Horizons, v.probs, y, cfg.Target.Policy(), cfg.MinFlagged)
	}
	if err == nil && (cfg.TargetEstimate == TargetEstimateBound || choice.Fallback != "") {
		choice, err = policy.ChooseAt(info.Policy.Horizons, v.probs, y, cfg.Target.Policy(), cfg.MinFlagged, cfg.TargetConfidence)
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	info.Policy.Thresholds = choice.Thresholds
	info.Choice = &choice
	for i := range info.Horizons {
		info.Horizons[i].Threshold = policy.LookAlone(v.column(i), y, choice.Thresholds[i], choice)
	}
	return nil
}

// column returns the validation probabilities of horizon index i.
func (v *validation) column(i int) []float64 {
	out := make([]float64, len(v.probs))
	for d, p := range v.probs {
		out[d] = p[i]
	}
	return out
}

// choiceTargets returns the targets of v's deployments in the threshold
// choice: their labels, those of the deployments in abstained mixed with
// policy.SpreadAbstained's at Config.AbstainedSpread, and those of the
// other deployments mixed with policy.SpreadTied's at Config.TiedSpread.
// A deployment's score is the highest of its looks' calibrated
// probabilities (cal, one per horizon; NaN where it has none).
func choiceTargets(cfg Config, v *validation, labels labelSet, abstained map[string]bool, cal []policy.Platt) []float64 {
	y := v.targets(labels)
	if cfg.AbstainedSpread == 0 && cfg.TiedSpread == 0 {
		return y
	}
	score := make([]float64, len(v.ids))
	abs := make([]bool, len(v.ids))
	for d, id := range v.ids {
		abs[d] = abstained[id]
		score[d] = math.NaN()
		for i, p := range v.probs[d] {
			if math.IsNaN(p) {
				continue
			}
			if c := cal[i].Apply(p); math.IsNaN(score[d]) || c > score[d] {
				score[d] = c
			}
		}
	}
	// Both spreads read the labels, not each other's output.
	var absSpread, tiedSpread []float64
	if cfg.AbstainedSpread > 0 && len(abstained) > 0 {
		absSpread = policy.SpreadAbstained(score, y, abs)
	}
	if cfg.TiedSpread > 0 {
		tiedSpread = policy.SpreadTied(score, y, abs)
	}
	for d := range y {
		switch {
		case abs[d] && absSpread != nil:
			y[d] = (1-cfg.AbstainedSpread)*y[d] + cfg.AbstainedSpread*absSpread[d]
		case !abs[d] && tiedSpread != nil:
			y[d] = (1-cfg.TiedSpread)*y[d] + cfg.TiedSpread*tiedSpread[d]
		}
	}
	return y
}
