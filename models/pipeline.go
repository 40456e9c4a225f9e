package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/progress"
)

// Label sources.
const (
	// LabelsWeak trains on labels.parquet: p_faulty as a soft target; rows
	// with label -1 (every labeling function abstained) per Config.Abstained.
	LabelsWeak = "weak"
	// LabelsEnsemble trains on the 60-minute statistical ensemble
	// (features_h60 ensemble_faulty), inconclusive rows dropped.
	LabelsEnsemble = "ensemble"
)

// Values of Config.Abstained.
const (
	// AbstainedPrior trains on all-abstain deployments with their p_faulty.
	AbstainedPrior = "prior"
	// AbstainedDrop leaves all-abstain deployments out of training and validation.
	AbstainedDrop = "drop"
)

// ensembleHorizon is the horizon whose features carry the ensemble label.
const ensembleHorizon = 60

// ensembleColumns are the columns the ensemble label is computed from; they
// are not features of the model trained on that label at its own horizon.
var ensembleColumns = []string{"ensemble_faulty", "impact_pass", "temporal_pass", "persistence_pass", "inconclusive", "checks_passed"}

// Config is the "train" section of the configuration file.
type Config struct {
	// Horizons are the model horizons in minutes (default [10, 20, 60]).
	Horizons []int `yaml:"horizons" json:"horizons"`
	// Labels is the default label source: weak or ensemble (default weak).
	Labels string `yaml:"labels" json:"labels"`
	// TrainFraction and ValidFraction split deployments by start time: the
	// oldest TrainFraction train, the next ValidFraction validate, the newest
	// rest test (defaults 0.70 and 0.15).
	TrainFraction float64 `yaml:"train_fraction" json:"train_fraction"`
	ValidFraction float64 `yaml:"valid_fraction" json:"valid_fraction"`
	// TargetPrecision is the validation precision each horizon's threshold
	// aims for, in the order of Horizons (default [0.9, 0.8, 0.7]: the
	// earliest look must be the surest).
	TargetPrecision []float64 `yaml:"target_precision" json:"target_precision"`
	// MinFlagged is the least number of validation deployments a threshold
	// must flag to count (default 3): a threshold flagging one lucky
	// deployment is not evidence.
	MinFlagged int `yaml:"min_flagged" json:"min_flagged"`
	// ClassWeight is "balanced" (positives and negatives weigh the same in
	// total, factors computed on the training split only) or "none" (default balanced).
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
	// ExcludeFeatures are feature columns never used (default none).
	ExcludeFeatures []string `yaml:"exclude_features" json:"exclude_features"`
	// GBDT are the trainer settings.
	GBDT Params `yaml:"gbdt" json:"gbdt"`
	// LogReg are the baseline's settings; its validation metrics are reported beside the GBDT's.
	LogReg LogRegParams `yaml:"logreg" json:"logreg"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Horizons:        []int{10, 20, 60},
		Labels:          LabelsWeak,
		TrainFraction:   0.70,
		ValidFraction:   0.15,
		TargetPrecision: []float64{0.9, 0.8, 0.7},
		MinFlagged:      3,
		ClassWeight:     "balanced",
		MaxClassWeight:  50,
		Abstained:       AbstainedPrior,
		GBDT:            DefaultParams(),
		LogReg:          DefaultLogRegParams(),
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if len(c.Horizons) == 0 {
		return errors.New("train: no horizons")
	}
	for i, h := range c.Horizons {
		if h <= 0 || i > 0 && h <= c.Horizons[i-1] {
			return fmt.Errorf("train: horizons must be positive and increasing, got %v", c.Horizons)
		}
	}
	if len(c.TargetPrecision) != len(c.Horizons) {
		return fmt.Errorf("train: %d target precisions for %d horizons", len(c.TargetPrecision), len(c.Horizons))
	}
	for _, t := range c.TargetPrecision {
		if !(t > 0 && t <= 1) {
			return fmt.Errorf("train: target precision %v outside (0, 1]", t)
		}
	}
	if c.Labels != LabelsWeak && c.Labels != LabelsEnsemble {
		return fmt.Errorf("train: labels must be %s or %s, got %q", LabelsWeak, LabelsEnsemble, c.Labels)
	}
	if !(c.TrainFraction > 0 && c.ValidFraction > 0 && c.TrainFraction+c.ValidFraction < 1) {
		return fmt.Errorf("train: fractions train %v and valid %v must be positive and leave room for test", c.TrainFraction, c.ValidFraction)
	}
	if c.Abstained != AbstainedPrior && c.Abstained != AbstainedDrop {
		return fmt.Errorf("train: abstained must be %s or %s, got %q", AbstainedPrior, AbstainedDrop, c.Abstained)
	}
	if c.ClassWeight != "balanced" && c.ClassWeight != "none" {
		return fmt.Errorf("train: class_weight must be balanced or none, got %q", c.ClassWeight)
	}
	if c.MaxClassWeight < 1 {
		return fmt.Errorf("train: max_class_weight must be ≥ 1, got %v", c.MaxClassWeight)
	}
	return c.GBDT.validate()
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
	Trees            int            `json:"trees"`
	InitScore        float64        `json:"init_score"`
	// TrainSeconds is the wall time of training. It is not written to
	// train.json, so that the same inputs give byte-identical files; run
	// records keep timings.
	TrainSeconds   float64         `json:"-"`
	ValidAUC       Metric          `json:"valid_auc"`
	ValidLogLoss   Metric          `json:"valid_logloss"`
	Threshold      ThresholdChoice `json:"threshold"`
	LogRegValidAUC Metric          `json:"logreg_valid_auc"`
	TopFeatures    []string        `json:"top_features"`
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

// TrainInfo is models/SOURCE/train.json.
type TrainInfo struct {
	LabelSource   string            `json:"label_source"`
	SchemaVersion string            `json:"feature_schema_version"`
	SchemaHash    string            `json:"feature_schema_hash,omitempty"`
	TrainedAt     string            `json:"trained_at"`
	Params        Params            `json:"params"`
	Config        Config            `json:"config"`
	Split         SplitInfo         `json:"split"`
	Horizons      []HorizonInfo     `json:"horizons"`
	Policy        Policy            `json:"policy"`
	PolicyValid   PolicyReport      `json:"policy_valid"`
	Inputs        map[string]string `json:"inputs_sha256"`
}

// ReadTrainInfo reads a train.json.
func ReadTrainInfo(path string) (*TrainInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read train info: %w", err)
	}
	var ti TrainInfo
	if err := json.Unmarshal(data, &ti); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := ti.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(ti.Horizons) != len(ti.Policy.Horizons) {
		return nil, fmt.Errorf("%s: %d horizon models for a policy of %d horizons", path, len(ti.Horizons), len(ti.Policy.Horizons))
	}
	return &ti, nil
}

// ModelDir is the folder of a label source's models in a work directory.
func ModelDir(workdir, source string) string { return filepath.Join(workdir, "models", source) }

// ModelFile is the file name of a horizon's model.
func ModelFile(h int) string { return "model_h" + strconv.Itoa(h) + ".txt" }

// FeaturesFile is the file name of a horizon's features.
func FeaturesFile(h int) string { return "features_h" + strconv.Itoa(h) + ".parquet" }

// MakeSplit assigns deployments to train, valid and test by start time
// (ties broken by id; deployments starting at the same millisecond never
// straddle two splits). It depends only on deploys.parquet's contents.
func MakeSplit(ids []string, startedAtMs []int64, trainFrac, validFrac float64) []SplitRow {
	n := len(ids)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		ia, ib := order[a], order[b]
		if startedAtMs[ia] != startedAtMs[ib] {
			return startedAtMs[ia] < startedAtMs[ib]
		}
		return ids[ia] < ids[ib]
	})
	cut := func(k int) int { // move k forward past equal timestamps
		for k > 0 && k < n && startedAtMs[order[k]] == startedAtMs[order[k-1]] {
			k++
		}
		return k
	}
	c1 := cut(int(math.Floor(float64(n) * trainFrac)))
	c2 := max(c1, cut(int(math.Floor(float64(n)*(trainFrac+validFrac)))))
	out := make([]SplitRow, n)
	for k, i := range order {
		s := SplitTrain
		if k >= c2 {
			s = SplitTest
		} else if k >= c1 {
			s = SplitValid
		}
		out[k] = SplitRow{DeploymentID: ids[i], Split: s}
	}
	return out
}

// RunOptions are the inputs of Run.
type RunOptions struct {
	Workdir  string
	Labels   string // overrides Config.Labels when not empty
	Progress progress.Func
	Now      func() time.Time // for trained_at; nil means time.Now
}

// labelSet holds targets per deployment: y in [0, 1] (soft for weak labels) and the hard label.
type labelSet map[string]float64

// Run trains one model per horizon from the work directory's files and
// writes split.parquet, models/SOURCE/model_hH.txt and models/SOURCE/train.json.
func Run(ctx context.Context, cfg Config, opt RunOptions) (*TrainInfo, error) {
	if opt.Labels != "" {
		cfg.Labels = opt.Labels
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	prog := progress.Or(opt.Progress)
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	wd := opt.Workdir
	inputs := map[string]string{}
	hashInput := func(name string) error {
		s, err := fileSHA256(filepath.Join(wd, name))
		if err != nil {
			return err
		}
		inputs[name] = s
		return nil
	}
	deploys, err := readDeploys(filepath.Join(wd, "deploys.parquet"))
	if err != nil {
		return nil, err
	}
	if err := hashInput("deploys.parquet"); err != nil {
		return nil, err
	}
	ids := make([]string, len(deploys))
	ts := make([]int64, len(deploys))
	startOf := make(map[string]int64, len(deploys))
	for i, d := range deploys {
		ids[i], ts[i] = d.id, d.startedAt
		startOf[d.id] = d.startedAt
	}
	split := MakeSplit(ids, ts, cfg.TrainFraction, cfg.ValidFraction)
	splitOf := make(map[string]string, len(split))
	si := SplitInfo{Counts: map[string]int{}, TrainFraction: cfg.TrainFraction, ValidFraction: cfg.ValidFraction}
	for _, r := range split {
		splitOf[r.DeploymentID] = r.Split
		si.Counts[r.Split]++
		t := time.UnixMilli(startOf[r.DeploymentID]).UTC().Format(time.RFC3339)
		if r.Split == SplitValid && si.ValidFrom == "" {
			si.ValidFrom = t
		}
		if r.Split == SplitTest && si.TestFrom == "" {
			si.TestFrom = t
		}
	}
	if si.Counts[SplitTrain] == 0 || si.Counts[SplitValid] == 0 {
		return nil, fmt.Errorf("train: %d deployments are too few to split into train/valid/test", len(deploys))
	}
	if err := writeSplit(filepath.Join(wd, "split.parquet"), split); err != nil {
		return nil, err
	}

	// labels
	var labels labelSet
	switch cfg.Labels {
	case LabelsWeak:
		wl, err := readWeakLabels(filepath.Join(wd, "labels.parquet"))
		if err != nil {
			return nil, err
		}
		if err := hashInput("labels.parquet"); err != nil {
			return nil, err
		}
		labels = labelSet{}
		for id, l := range wl {
			if (l.label != -1 || cfg.Abstained == AbstainedPrior) && !math.IsNaN(l.pFaulty) {
				labels[id] = l.pFaulty
			}
		}
	case LabelsEnsemble:
		ft, err := ReadFeatureTable(filepath.Join(wd, FeaturesFile(ensembleHorizon)))
		if err != nil {
			return nil, err
		}
		ens := ft.column("ensemble_faulty")
		if ens == nil {
			return nil, fmt.Errorf("%s: no column ensemble_faulty", FeaturesFile(ensembleHorizon))
		}
		inc := ft.column("inconclusive")
		labels = labelSet{}
		for i, id := range ft.IDs {
			if math.IsNaN(ens[i]) || inc != nil && inc[i] == 1 {
				continue
			}
			labels[id] = ens[i]
		}
	}

	schema, schemaHash := "unknown", ""
	if data, err := os.ReadFile(filepath.Join(wd, "extract.json")); err == nil {
		inputs["extract.json"] = sha256Hex(data)
		var ex map[string]any
		if json.Unmarshal(data, &ex) == nil {
			if v, ok := ex["schema_version"].(string); ok && v != "" {
				schema = v
			}
			schemaHash, _ = ex["schema_hash"].(string)
		}
	}

	outDir := ModelDir(wd, cfg.Labels)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	info := &TrainInfo{
		LabelSource: cfg.Labels, SchemaVersion: schema, SchemaHash: schemaHash, TrainedAt: now().UTC().Format(time.RFC3339),
		Params: cfg.GBDT, Config: cfg, Split: si, Inputs: inputs,
		Policy: Policy{Horizons: slices.Clone(cfg.Horizons)},
	}
	// validation probabilities per deployment and horizon, for the policy
	validIDs := []string{}
	for _, r := range split {
		if r.Split == SplitValid {
			if _, ok := labels[r.DeploymentID]; ok {
				validIDs = append(validIDs, r.DeploymentID)
			}
		}
	}
	validRow := make(map[string]int, len(validIDs))
	validProbs := make([][]float64, len(validIDs))
	for i, id := range validIDs {
		validRow[id] = i
		validProbs[i] = make([]float64, len(cfg.Horizons))
		for k := range validProbs[i] {
			validProbs[i][k] = math.NaN()
		}
	}
	for hi, h := range cfg.Horizons {
		prog("train", int64(hi), int64(len(cfg.Horizons)))
		name := FeaturesFile(h)
		ft, err := ReadFeatureTable(filepath.Join(wd, name))
		if err != nil {
			return nil, err
		}
		if err := hashInput(name); err != nil {
			return nil, err
		}
		hinfo, vp, err := trainHorizon(ctx, cfg, h, cfg.TargetPrecision[hi], ft, splitOf, labels, outDir)
		if err != nil {
			return nil, fmt.Errorf("train %d-minute model: %w", h, err)
		}
		for id, p := range vp {
			if r, ok := validRow[id]; ok {
				validProbs[r][hi] = p
			}
		}
		info.Horizons = append(info.Horizons, *hinfo)
		info.Policy.Thresholds = append(info.Policy.Thresholds, hinfo.Threshold.Threshold)
	}
	prog("train", int64(len(cfg.Horizons)), int64(len(cfg.Horizons)))
	vy := make([]float64, len(validIDs))
	for i, id := range validIDs {
		vy[i] = labels[id]
	}
	info.PolicyValid = EvaluatePolicy(info.Policy, validProbs, vy)
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("train: encode train.json: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(outDir, "train.json"), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	return info, nil
}

// trainHorizon trains, exports and thresholds one horizon's model. It
// returns the validation probabilities by deployment.
func trainHorizon(ctx context.Context, cfg Config, h int, target float64, ft *FeatureTable,
	splitOf map[string]string, labels labelSet, outDir string) (*HorizonInfo, map[string]float64, error) {
	exclude := map[string]bool{}
	for _, n := range cfg.ExcludeFeatures {
		exclude[n] = true
	}
	if cfg.Labels == LabelsEnsemble && h == ensembleHorizon {
		for _, n := range ensembleColumns {
			exclude[n] = true
		}
	}
	info := &HorizonInfo{Horizon: h, ModelFile: ModelFile(h), Rows: map[string]int{}, Positives: map[string]int{}}
	var cols []int
	for f, n := range ft.Names {
		if exclude[n] {
			info.ExcludedFeatures = append(info.ExcludedFeatures, n)
			continue
		}
		cols = append(cols, f)
		info.Features = append(info.Features, n)
	}
	if len(cols) == 0 {
		return nil, nil, errors.New("no feature columns left")
	}
	parts := map[string]*Data{SplitTrain: {Cols: make([][]float64, len(cols))}, SplitValid: {Cols: make([][]float64, len(cols))}}
	var validIDs []string
	for i, id := range ft.IDs {
		s, ok := splitOf[id]
		if !ok {
			return nil, nil, fmt.Errorf("%s: row %d: deployment %q is not in deploys.parquet", FeaturesFile(h), i+1, id)
		}
		y, labelled := labels[id]
		if !labelled {
			continue
		}
		info.Rows[s]++
		if y >= 0.5 {
			info.Positives[s]++
		}
		d := parts[s]
		if d == nil { // test rows are not read here
			continue
		}
		for k, f := range cols {
			d.Cols[k] = append(d.Cols[k], ft.Cols[f][i])
		}
		d.Y = append(d.Y, y)
		if s == SplitValid {
			validIDs = append(validIDs, id)
		}
	}
	tr, va := parts[SplitTrain], parts[SplitValid]
	if len(tr.Y) == 0 {
		return nil, nil, errors.New("no labelled training deployments")
	}
	// class weights from the training split only
	var pos, neg float64
	for _, y := range tr.Y {
		pos += y
		neg += 1 - y
	}
	wNeg, wPos := 1.0, 1.0
	if cfg.ClassWeight == "balanced" && pos > 0 && neg > 0 {
		total := pos + neg
		wPos, wNeg = total/(2*pos), total/(2*neg)
		if r := wPos / wNeg; r > cfg.MaxClassWeight {
			wPos = wNeg * cfg.MaxClassWeight
		} else if 1/r > cfg.MaxClassWeight {
			wNeg = wPos * cfg.MaxClassWeight
		}
	}
	info.ClassWeights = [2]float64{wNeg, wPos}
	weigh := func(d *Data) {
		d.W = make([]float64, len(d.Y))
		for i, y := range d.Y {
			d.W[i] = y*wPos + (1-y)*wNeg
		}
	}
	weigh(tr)
	weigh(va)
	var valid *Data
	if len(va.Y) > 0 {
		valid = va
	}
	t0 := time.Now()
	m, res, err := Train(ctx, cfg.GBDT, info.Features, tr, valid)
	if err != nil {
		return nil, nil, err
	}
	info.TrainSeconds = time.Since(t0).Seconds()
	info.Trees = len(m.Trees)
	info.InitScore = res.InitScore
	path := filepath.Join(outDir, info.ModelFile)
	if err := m.WriteLightGBMFile(path); err != nil {
		return nil, nil, err
	}
	if info.ModelSHA256, err = fileSHA256(path); err != nil {
		return nil, nil, err
	}
	imp := m.SplitImportance()
	order := make([]int, len(imp))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return imp[order[a]] > imp[order[b]] })
	for _, f := range order[:min(10, len(order))] {
		if imp[f] > 0 {
			info.TopFeatures = append(info.TopFeatures, info.Features[f])
		}
	}
	vp := map[string]float64{}
	info.ValidAUC, info.ValidLogLoss, info.LogRegValidAUC = Metric(math.NaN()), Metric(math.NaN()), Metric(math.NaN())
	info.Threshold = ThresholdChoice{Threshold: 1, Target: target, Precision: Metric(math.NaN()), Fallback: "none"}
	if valid != nil {
		p, err := m.PredictCols(va.Cols)
		if err != nil {
			return nil, nil, err
		}
		for i, id := range validIDs {
			vp[id] = p[i]
		}
		hard := make([]float64, len(va.Y))
		for i, y := range va.Y {
			if y >= 0.5 {
				hard[i] = 1
			}
		}
		info.ValidAUC = Metric(AUC(p, hard))
		info.ValidLogLoss = Metric(LogLoss(p, va.Y, nil))
		info.Threshold = ChooseThreshold(p, hard, target, cfg.MinFlagged)
		if lr, err := TrainLogReg(ctx, cfg.LogReg, info.Features, tr); err == nil {
			if lp, err := lr.PredictCols(va.Cols); err == nil {
				info.LogRegValidAUC = Metric(AUC(lp, hard))
			}
		}
	}
	return info, vp, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash input: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
