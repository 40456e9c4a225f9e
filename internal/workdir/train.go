package workdir

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/models/policy"
)

// Train is models/SOURCE/train.json: what the train stage did for one label
// source. The trainer's parameters and the stage's configuration are kept
// as the JSON the train stage wrote (package models/train owns their
// types); every other field is typed.
type Train struct {
	LabelSource   string `json:"label_source"`
	SchemaVersion string `json:"feature_schema_version"`
	SchemaHash    string `json:"feature_schema_hash,omitempty"`
	TrainedAt     string `json:"trained_at"`
	// Params are the GBDT parameters (models.Params).
	Params json.RawMessage `json:"params"`
	// Config is the "train" configuration section (train.Config).
	Config   json.RawMessage `json:"config"`
	Split    SplitInfo       `json:"split"`
	Horizons []HorizonInfo   `json:"horizons"`
	// Policy is the sequential policy: Horizons[i]'s model at
	// Policy.Horizons[i] with threshold Policy.Thresholds[i] (on the model's
	// probability) and calibrator Policy.Calibration[i].
	Policy policy.Policy `json:"policy"`
	// Choice records how the thresholds were chosen: the operating target
	// of the policy as a whole, whether validation met it, the rule used
	// when it did not. Absent from train.json files written before targets
	// applied to the whole policy.
	Choice *policy.Choice `json:"policy_choice,omitempty"`
	// ChoiceData says which deployments the thresholds were chosen on
	// (Choice's figures are on them). Absent from train.json files written
	// before the training split could take part: the validation split
	// alone.
	ChoiceData *ChoiceData `json:"policy_choice_data,omitempty"`
	// Annotated counts, per split ("train", "valid"), the deployments whose
	// target was their human annotation instead of the weak label
	// (train.annotations: use); absent when there were none.
	Annotated map[string]int `json:"annotations_used,omitempty"`
	// LoneRevised lists, by function, the lone faulty votes whose targets
	// training revised because the annotations of the training and
	// validation splits contradict the label model (LoneRevision); absent
	// when none.
	LoneRevised map[string]LoneRevised `json:"lone_revised,omitempty"`
	// ToAnnotate counts the rows of annotate.csv (weak labels only).
	ToAnnotate  int               `json:"to_annotate,omitempty"`
	PolicyValid policy.Report     `json:"policy_valid"`
	Inputs      map[string]string `json:"inputs_sha256"` // work-directory file → SHA-256
}

// ChoiceData describes the deployments the policy's thresholds were chosen
// on: the labelled deployments of each split taking part, the training
// split's scored out of fold, each of Folds blocks of time by a model
// trained without it (Folds 0: the training split takes no part), leaving
// out those that started within WarmupMinutes of the history's first
// deployment.
type ChoiceData struct {
	Deployments   map[string]int `json:"deployments"`
	Folds         int            `json:"folds,omitempty"`
	WarmupMinutes int            `json:"warmup_minutes,omitempty"`
}

// Describe says in words which deployments d is, for reports.
func (d *ChoiceData) Describe() string {
	if d == nil || d.Folds == 0 {
		return "validation split"
	}
	return fmt.Sprintf("training split after the first %s of history, out of %d folds (%d deploys), and validation split (%d deploys)",
		time.Duration(d.WarmupMinutes)*time.Minute, d.Folds, d.Deployments[SplitTrain], d.Deployments[SplitValid])
}

// HorizonInfo describes the model of one horizon in train.json.
type HorizonInfo struct {
	Horizon          int            `json:"horizon"`
	ModelFile        string         `json:"model_file"`
	ModelSHA256      string         `json:"model_sha256"`
	Features         []string       `json:"features"`
	ExcludedFeatures []string       `json:"excluded_features"`
	Rows             map[string]int `json:"rows"`
	Positives        map[string]int `json:"positives"`
	ClassWeights     [2]float64     `json:"class_weights"` // negative, positive
	// HealthySampleRate and TrainedRows are set when the training split
	// had more rows than train.max_train_rows: the share of its rows
	// labelled healthy that were kept (each weighing 1/rate) and the rows
	// the model was trained on. Absent otherwise: every row was used.
	HealthySampleRate float64 `json:"healthy_sample_rate,omitempty"`
	TrainedRows       int     `json:"trained_rows,omitempty"`
	Trees             int     `json:"trees"`
	InitScore         float64 `json:"init_score"`
	// TrainSeconds is the wall time of training. It is not written to
	// train.json, so that the same inputs give byte-identical files; run
	// records keep timings.
	TrainSeconds float64       `json:"-"`
	ValidAUC     metrics.Float `json:"valid_auc"`
	ValidLogLoss metrics.Float `json:"valid_logloss"`
	// Threshold is this look's threshold in the policy and what it flags
	// alone on validation.
	Threshold policy.ThresholdChoice `json:"threshold"`
	// Calibration describes the horizon's calibrator (Policy.Calibration)
	// on validation, with reliability diagrams; absent from older files.
	Calibration    *policy.CalibrationReport `json:"calibration,omitempty"`
	LogRegValidAUC metrics.Float             `json:"logreg_valid_auc"`
	TopFeatures    []string                  `json:"top_features"`
}

// SplitInfo describes the time split in train.json.
type SplitInfo struct {
	Counts        map[string]int `json:"counts"`
	TrainFraction float64        `json:"train_fraction"`
	ValidFraction float64        `json:"valid_fraction"`
	// ValidFrom and TestFrom are the start times (RFC 3339) of the first validation and test deployments.
	ValidFrom string `json:"valid_from"`
	TestFrom  string `json:"test_from"`
}

// Thresholds returns the policy's threshold by horizon.
func (t *Train) Thresholds() map[int]float64 {
	out := make(map[int]float64, len(t.Policy.Horizons))
	for i, h := range t.Policy.Horizons {
		out[h] = t.Policy.Thresholds[i]
	}
	return out
}

// WriteTrain writes train.json at path, atomically.
func WriteTrain(path string, t *Train) error {
	return writeJSON(path, t)
}

// ReadTrain reads train.json at path (ParseTrain). A missing file gives an
// error wrapping fs.ErrNotExist.
func ReadTrain(path string) (*Train, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read train info: %w", err)
	}
	t, err := ParseTrain(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseTrain decodes the contents of a train.json, for readers that keep or
// hash the bytes; the caller names the file in errors. The policy must be
// valid (policy.Policy.Validate), the horizon models must be those of the
// policy, in its order, and a policy choice must hold the policy's
// thresholds and a valid target.
func ParseTrain(data []byte) (*Train, error) {
	var t Train
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, err
	}
	if err := t.Policy.Validate(); err != nil {
		return nil, err
	}
	if len(t.Horizons) != len(t.Policy.Horizons) {
		return nil, fmt.Errorf("%d horizon models for a policy of %d horizons", len(t.Horizons), len(t.Policy.Horizons))
	}
	for i, h := range t.Horizons {
		if h.Horizon != t.Policy.Horizons[i] {
			return nil, fmt.Errorf("horizon model %d is for %d minutes, the policy's horizon %d is %d minutes", i+1, h.Horizon, i+1, t.Policy.Horizons[i])
		}
	}
	if c := t.Choice; c != nil {
		if err := c.Target.Validate(); err != nil {
			return nil, fmt.Errorf("policy_choice: %w", err)
		}
		if !slices.Equal(c.Thresholds, t.Policy.Thresholds) {
			return nil, fmt.Errorf("policy_choice: thresholds %v, the policy's are %v", c.Thresholds, t.Policy.Thresholds)
		}
	}
	return &t, nil
}
