package train

import (
	"errors"
	"fmt"
	"slices"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/models"
	"github.com/faultline-dev/faultline/models/policy"
)

// Label sources.
const (
	// LabelsWeak trains on labels.parquet: p_faulty as a soft target; rows
	// with label -1 (every labeling function abstained) per Config.Abstained.
	LabelsWeak = "weak"
	// LabelsEnsemble trains on the statistical ensemble's verdict at
	// Config.EnsembleHorizon (ensemble_faulty of features_h60.parquet by
	// default), inconclusive rows dropped.
	LabelsEnsemble = "ensemble"
)

// Values of Config.TargetEstimate.
const (
	// TargetEstimateExpected judges the target on the labels' expected
	// counts (policy.ChooseExpected).
	TargetEstimateExpected = "expected"
	// TargetEstimateBound judges it on hard labels by the Wilson bound at
	// target_confidence (policy.ChooseAt).
	TargetEstimateBound = "bound"
)

// Values of Config.Abstained.
const (
	// AbstainedPrior trains on all-abstain deployments with their p_faulty.
	AbstainedPrior = "prior"
	// AbstainedDrop leaves all-abstain deployments out of training and validation.
	AbstainedDrop = "drop"
)

// Values of Config.Annotations.
const (
	// AnnotationsUse takes a deployment's human annotation (the gold column
	// of labels.parquet) as its target wherever there is one.
	AnnotationsUse = "use"
	// AnnotationsIgnore trains and chooses on the weak labels alone.
	AnnotationsIgnore = "ignore"
)

// ensembleColumns are the features the ensemble verdict is computed from;
// they are not features of the model trained on that verdict at its own
// horizon.
var ensembleColumns = []int{features.EnsembleFaulty, features.ImpactPass, features.TemporalPass, features.PersistencePass, features.Inconclusive, features.ChecksPassed}

// Config is the "train" section of the configuration file.
type Config struct {
	// Horizons are the model horizons in minutes (default [10, 20, 60]).
	Horizons []int `yaml:"horizons" json:"horizons"`
	// Labels is the default label source: weak or ensemble (default weak).
	Labels string `yaml:"labels" json:"labels"`
	// EnsembleHorizon is the horizon in minutes whose features carry the
	// statistical ensemble's verdict (ensemble_faulty), the target of the
	// ensemble label source (default 60). At that horizon the columns the
	// verdict is computed from are not features of the ensemble model. It is
	// not a key of the train section: the caller sets it from
	// features.ensemble_horizon, the one setting of the ensemble horizon.
	// train.json records it.
	EnsembleHorizon int `yaml:"-" json:"ensemble_horizon"`
	// TrainFraction and ValidFraction split deployments by start time: the
	// oldest TrainFraction train, the next ValidFraction validate, the newest
	// rest test (defaults 0.70 and 0.15).
	TrainFraction float64 `yaml:"train_fraction" json:"train_fraction"`
	ValidFraction float64 `yaml:"valid_fraction" json:"valid_fraction"`
	// Target is the one operating target of the sequential policy as a
	// whole (a deployment is flagged if any look flags it): precision or
	// false alarms per healthy deployment, exactly one of them (default
	// precision 0.95). The thresholds of all looks are chosen together on
	// validation to meet it as TargetEstimate says.
	Target Target `yaml:"target" json:"target"`
	// TargetConfidence, with TargetEstimate "bound", is how meeting
	// Target is judged on validation when the thresholds are chosen, and
	// what "met" means in train.json and the report: the level of the
	// Wilson interval whose bound must reach the target (precision: the
	// lower bound ≥ target; false alarms: the upper bound ≤ target), or 0
	// to judge the point estimate. 0 or in [0.5, 1) (default 0.95).
	TargetConfidence float64 `yaml:"target_confidence" json:"target_confidence"`
	// TargetEstimate is how the validation labels count when the target
	// is judged: "expected" (default) counts each validation deployment as
	// the label model's probability that it is faulty — a flag on a
	// deployment labelled faulty at p 0.6 is 0.6 of a true flag and 0.4 of
	// a false one — and judges the point estimate (policy.ChooseExpected);
	// when no policy meets the target that way, the choice is "bound"'s.
	// "bound" counts the labels as hard (p ≥ 0.5 faulty) and judges the
	// Wilson bound at TargetConfidence, falling back to the most precise
	// policy by that bound (policy.ChooseAt).
	TargetEstimate string `yaml:"target_estimate" json:"target_estimate"`
	// TargetPrecision is the retired per-look target: setting it is an
	// error that names Target's keys. It is never written.
	TargetPrecision retiredKey `yaml:"target_precision,omitempty" json:"-"`
	// PolicyFolds is how many blocks of time the training split is cut
	// into to take part in the thresholds' choice: for each block, a model
	// trained as the horizon's own (same settings and number of trees) on
	// the rest of the training split scores it, and the thresholds are
	// chosen on those out-of-fold probabilities together with the
	// validation split's. Training deployments within the features'
	// warm-up (RunOptions.Warmup: the first 7 days of the history with the
	// default features settings) are not scored: their checks abstain for
	// want of history. The choice then rests on more deployments than the
	// validation split alone holds, at the cost of PolicyFolds more
	// trainings per horizon. 0 chooses on the validation split alone
	// (default: docs/models.md, "Choice data", gives the measurement);
	// otherwise at least 2 and at most 20.
	PolicyFolds int `yaml:"policy_folds" json:"policy_folds"`
	// MinFlagged is the least number of faulty deployments of the choice
	// data (see PolicyFolds) a policy must flag to be chosen (default 3): a
	// policy flagging one lucky deployment is not evidence.
	MinFlagged int `yaml:"min_flagged" json:"min_flagged"`
	// FleetEventShare: a look of the policy does not flag a deployment
	// while at least this share of its environment's other services was
	// elevated in one minute of the look's window (a fleet-wide event;
	// features.FleetEvent on fleet_elevated_max_frac). The look is
	// skipped — in the threshold choice, the evaluation and the detector
	// alike (recorded as the policy's fleet_event_share) — and a verdict
	// whose latest look was skipped is inconclusive. Default 0.1, the
	// labeling functions' max_fleet_share: they abstain there, so the
	// models learn nothing about such windows, yet score them high, and a
	// few flagged outage deployments counted as false alarms braked the
	// choice (docs/models.md, "Fleet events"). 0 turns it off.
	FleetEventShare float64 `yaml:"fleet_event_share" json:"fleet_event_share"`
	// ClassWeight is "none" (every row weighs 1: the models estimate
	// P(faulty) of the data, and rank best where the policy operates, among
	// the few highest scores) or "balanced" (positives and negatives weigh
	// the same in total, factors computed on the training split only; it
	// spends the model on the balanced-accuracy region and multiplies the
	// noise of rare weak positives by up to max_class_weight). Default none
	// (docs/models.md, "Class imbalance", gives the measurement).
	ClassWeight string `yaml:"class_weight" json:"class_weight"`
	// MaxClassWeight caps the balanced weight ratio between the classes (default 50).
	MaxClassWeight float64 `yaml:"max_class_weight" json:"max_class_weight"`
	// Abstained says what weak-label training does with deployments on which
	// every labeling function abstained (label -1): "prior" keeps them with
	// their p_faulty — the label model's class balance, so they count as
	// healthy in validation — and "drop" leaves them out (default prior).
	// Dropping them trains the model on a different population from the one
	// it scores: the detectors then flag many of those deployments (quiet,
	// low-traffic ones), and thresholds never see them.
	Abstained string `yaml:"abstained" json:"abstained"`
	// AbstainedSpread is how far the threshold choice (and policy_valid)
	// trusts the models' scores on the deployments on which every labeling
	// function abstained, with Abstained "prior". Their weak label is the
	// label model's share of faults among all of them, each alike; 0 counts
	// them so. policy.SpreadAbstained places the same number of faults
	// where the models score the labelled faults; 1 counts them so, and a
	// weight in between counts each deployment at that mix of the two
	// (default 0.5: docs/models.md, "Abstained deployments in the choice").
	AbstainedSpread float64 `yaml:"abstained_spread" json:"abstained_spread"`
	// TiedSpread is how far the threshold choice (and policy_valid)
	// trusts the models' scores among labelled deployments the label
	// model cannot tell apart: those with the same p_faulty (the same
	// votes), strictly between 0 and 1, in groups of at least
	// policy.MinTiedGroup on the choice data. 0 counts each at its label;
	// 1 at policy.SpreadTied's target, which keeps the group's expected
	// faults and places them by the scores' odds; a weight in between
	// counts each at that mix of the two (default 0.5: docs/models.md,
	// "Tied labels in the choice").
	TiedSpread float64 `yaml:"tied_spread" json:"tied_spread"`
	// Annotations says whether weak-label training takes human annotations
	// (labels.parquet's gold column, the majority verdict of the
	// annotations as evaluation reads them) as targets: "use" puts a
	// deployment's annotation (1 faulty, 0 healthy) in place of its
	// p_faulty — in training, in the calibration and in the threshold
	// choice, also where every labeling function abstained — and "ignore"
	// trains on the weak labels alone (default use). With "use", where the
	// annotations of one function's lone faulty votes contradict the label
	// model's p_faulty over them (workdir.LoneRevision), its unannotated
	// lone votes take the revised target (train.json lone_revised). Only
	// the training and validation splits are read: the held-out split's
	// annotations stay the evaluation's. Ensemble labels ignore it.
	Annotations string `yaml:"annotations" json:"annotations"`
	// ExcludeFeatures are feature columns never used (default none).
	ExcludeFeatures []string `yaml:"exclude_features" json:"exclude_features"`
	// Monotone names the features P(faulty) may only rise with: the GBDT
	// is trained with a non-decreasing monotone constraint on each of them
	// that a model reads (default DefaultMonotone(): the fault signals,
	// whose higher values are more evidence of a fault by definition;
	// [] trains without constraints). Names must be schema features.
	Monotone []string `yaml:"monotone" json:"monotone"`
	// MonotoneDecreasing names the features P(faulty) may only fall with
	// (a non-increasing constraint; default DefaultMonotoneDecreasing():
	// the before/after checks' p-values, whose lower values are more
	// evidence of a fault; [] for none). A feature cannot be in both lists.
	MonotoneDecreasing []string `yaml:"monotone_decreasing" json:"monotone_decreasing"`
	// MaxTrainRows bounds the rows each model trains on (default 200000;
	// 0: no bound). When the training split has more labelled rows, every
	// row labelled faulty is kept and those labelled healthy are sampled,
	// each kept one weighing the inverse of the rate, so that the split
	// shrinks to about this many rows (train.json records the rate). The
	// validation split is never sampled. Below the bound nothing changes;
	// above it, training time stops growing with the history
	// (docs/models.md, "Training rows").
	MaxTrainRows int `yaml:"max_train_rows" json:"max_train_rows"`
	// GBDT are the trainer settings.
	GBDT models.Params `yaml:"gbdt" json:"gbdt"`
	// LogReg are the baseline's settings; its validation metrics are reported beside the GBDT's.
	LogReg models.LogRegParams `yaml:"logreg" json:"logreg"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Horizons:           []int{10, 20, 60},
		Labels:             LabelsWeak,
		EnsembleHorizon:    60,
		TrainFraction:      0.70,
		ValidFraction:      0.15,
		Target:             Target{Precision: 0.95},
		TargetConfidence:   policy.DefaultConfidence,
		TargetEstimate:     TargetEstimateExpected,
		PolicyFolds:        0,
		MinFlagged:         3,
		FleetEventShare:    0.1,
		ClassWeight:        "none",
		MaxClassWeight:     50,
		Abstained:          AbstainedPrior,
		AbstainedSpread:    0.5,
		TiedSpread:         0.5,
		Annotations:        AnnotationsUse,
		Monotone:           DefaultMonotone(),
		MonotoneDecreasing: DefaultMonotoneDecreasing(),
		MaxTrainRows:       200000,
		GBDT:               models.DefaultParams(),
		LogReg:             models.DefaultLogRegParams(),
	}
}

// Validate checks the configuration. It reports every invalid setting, as
// *config.FieldError values (joined) whose paths start with "train.".
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, a ...any) { errs = append(errs, config.Errorf("train."+path, format, a...)) }
	if len(c.Horizons) == 0 {
		bad("horizons", "at least one horizon is needed")
	}
	for i, h := range c.Horizons {
		if h <= 0 || i > 0 && h <= c.Horizons[i-1] {
			bad(fmt.Sprintf("horizons[%d]", i), "horizons must be positive and increasing, got %v", c.Horizons)
			break
		}
	}
	errs = append(errs, c.validateTarget()...)
	if policy.ValidateConfidence(c.TargetConfidence) != nil {
		bad("target_confidence", "%v is not 0 (point estimate) or in [0.5, 1)", c.TargetConfidence)
	}
	if c.Labels != LabelsWeak && c.Labels != LabelsEnsemble {
		bad("labels", "must be %s or %s, got %q", LabelsWeak, LabelsEnsemble, c.Labels)
	}
	if c.EnsembleHorizon <= 0 {
		bad("ensemble_horizon", "must be positive, got %d", c.EnsembleHorizon)
	}
	if !(c.TrainFraction > 0 && c.TrainFraction < 1) {
		bad("train_fraction", "%v is not in (0, 1)", c.TrainFraction)
	}
	if !(c.ValidFraction > 0 && c.ValidFraction < 1) {
		bad("valid_fraction", "%v is not in (0, 1)", c.ValidFraction)
	} else if !(c.TrainFraction+c.ValidFraction < 1) {
		bad("valid_fraction", "train %v + valid %v must leave room for test (sum below 1)", c.TrainFraction, c.ValidFraction)
	}
	if c.MaxTrainRows < 0 {
		bad("max_train_rows", "must be ≥ 0 (0: no bound), got %d", c.MaxTrainRows)
	}
	if c.PolicyFolds != 0 && (c.PolicyFolds < 2 || c.PolicyFolds > 20) {
		bad("policy_folds", "must be 0 (validation split alone) or from 2 to 20, got %d", c.PolicyFolds)
	}
	if c.MinFlagged < 0 {
		bad("min_flagged", "must be ≥ 0, got %d", c.MinFlagged)
	}
	if !(c.FleetEventShare >= 0 && c.FleetEventShare <= 1) {
		bad("fleet_event_share", "%v is not in [0, 1] (0: off)", c.FleetEventShare)
	}
	if c.TargetEstimate != TargetEstimateExpected && c.TargetEstimate != TargetEstimateBound {
		bad("target_estimate", "must be %s or %s, got %q", TargetEstimateExpected, TargetEstimateBound, c.TargetEstimate)
	}
	if c.Abstained != AbstainedPrior && c.Abstained != AbstainedDrop {
		bad("abstained", "must be %s or %s, got %q", AbstainedPrior, AbstainedDrop, c.Abstained)
	}
	if !(c.AbstainedSpread >= 0 && c.AbstainedSpread <= 1) {
		bad("abstained_spread", "must be in [0, 1], got %v", c.AbstainedSpread)
	}
	if !(c.TiedSpread >= 0 && c.TiedSpread <= 1) {
		bad("tied_spread", "must be in [0, 1], got %v", c.TiedSpread)
	}
	if c.Annotations != AnnotationsUse && c.Annotations != AnnotationsIgnore {
		bad("annotations", "must be %s or %s, got %q", AnnotationsUse, AnnotationsIgnore, c.Annotations)
	}
	if c.ClassWeight != "balanced" && c.ClassWeight != "none" {
		bad("class_weight", "must be balanced or none, got %q", c.ClassWeight)
	}
	if !(c.MaxClassWeight >= 1) {
		bad("max_class_weight", "must be ≥ 1, got %v", c.MaxClassWeight)
	}
	if !(c.LogReg.Lambda >= 0) {
		bad("logreg.lambda", "must be ≥ 0, got %v", c.LogReg.Lambda)
	}
	if c.LogReg.MaxIter < 1 {
		bad("logreg.max_iter", "must be ≥ 1, got %d", c.LogReg.MaxIter)
	}
	errs = append(errs, validateMonotone(c.Monotone, c.MonotoneDecreasing)...)
	errs = append(errs, config.Nest("train.gbdt", c.GBDT.Validate()))
	return errors.Join(errs...)
}

// CheckFeatures checks the training settings against the feature settings
// they will read: every model horizon must be a feature horizon
// (features_hH.parquet is written for those only).
func (c Config) CheckFeatures(f features.Config) error {
	var errs []error
	for i, h := range c.Horizons {
		if !slices.Contains(f.Horizons, h) {
			errs = append(errs, &config.FieldError{Path: fmt.Sprintf("train.horizons[%d]", i), Also: []string{"features.horizons"},
				Msg: fmt.Sprintf("%d is not one of features.horizons %v: a model horizon needs the features of that horizon", h, f.SortedHorizons())})
		}
	}
	return errors.Join(errs...)
}
