package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/policy"
)

// RunOptions are the inputs of Run.
type RunOptions struct {
	Workdir  string
	Labels   string // overrides Config.Labels when not empty
	Progress progress.Func
	Now      func() time.Time // for trained_at; nil means time.Now
	// Warmup is how long after the history's first deployment a
	// deployment's features can be complete (features.Config.WarmupMinutes).
	// Training deployments that started earlier take no part in the
	// thresholds' choice (Config.PolicyFolds): their checks abstain for want
	// of history, and they would speak for deployments that have it.
	Warmup time.Duration
}

// Run trains one model per horizon from the work directory's files and
// writes split.parquet, models/SOURCE/model_hH.txt and
// models/SOURCE/train.json. It returns what it wrote to train.json.
func Run(ctx context.Context, cfg Config, opt RunOptions) (*workdir.Train, error) {
	if opt.Labels != "" {
		cfg.Labels = opt.Labels
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	in := newInputs(opt.Workdir)
	split, err := in.splitDeploys(cfg)
	if err != nil {
		return nil, err
	}
	var annotated func(id string) bool
	if cfg.Annotations == AnnotationsUse {
		// The held-out split's annotations are the evaluation's.
		annotated = func(id string) bool { s := split.of[id]; return s == workdir.SplitTrain || s == workdir.SplitValid }
	}
	labels, sources, err := readLabels(in.dir, cfg.Labels, cfg.EnsembleHorizon, cfg.Abstained == AbstainedPrior, annotated)
	if err != nil {
		return nil, err
	}
	if cfg.Labels == LabelsWeak {
		if err := in.hash(workdir.LabelsFile); err != nil {
			return nil, err
		}
	}
	info, err := newTrain(cfg, in, split, now())
	if err != nil {
		return nil, err
	}
	for _, id := range sources.gold {
		if info.Annotated == nil {
			info.Annotated = map[string]int{}
		}
		info.Annotated[split.of[id]]++
	}
	if len(sources.revised) > 0 {
		info.LoneRevised = sources.revised
	}
	outDir := filepath.Join(in.dir, workdir.ModelDir(cfg.Labels))
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	folds := assignFolds(split, cfg.PolicyFolds, opt.Warmup)
	isValid := func(id string) bool { return split.of[id] == workdir.SplitValid }
	valid := newValidation(split, labels, len(cfg.Horizons), isValid)
	pool := valid
	if folds != nil {
		pool = newValidation(split, labels, len(cfg.Horizons), func(id string) bool {
			_, inFold := folds[id]
			return inFold || isValid(id)
		})
	}
	if err := trainHorizons(ctx, cfg, in, split, labels, folds, outDir, info, valid, pool, progress.Or(opt.Progress)); err != nil {
		return nil, err
	}
	info.ChoiceData = pool.describe(split, cfg.PolicyFolds, opt.Warmup)
	if err := choosePolicy(cfg, info, valid, pool, labels, sources.abstained); err != nil {
		return nil, err
	}
	info.PolicyValid = policy.Evaluate(info.Policy, valid.probs, choiceTargets(cfg, valid, labels, sources.abstained, info.Policy.Calibration))
	if cfg.Labels == LabelsWeak {
		n, err := writeAnnotate(filepath.Join(outDir, workdir.AnnotateFile), split.deploys, valid, sources, cfg.Horizons)
		if err != nil {
			return nil, err
		}
		info.ToAnnotate = n
	}
	if err := workdir.WriteTrain(filepath.Join(outDir, workdir.TrainFile), info); err != nil {
		return nil, err
	}
	return info, nil
}

// newTrain starts train.json: everything but the horizons' models and the
// policy's thresholds, calibration and validation. It reads extract.json.
func newTrain(cfg Config, in *inputs, split *timeSplit, now time.Time) (*workdir.Train, error) {
	schema, schemaHash, err := in.schema()
	if err != nil {
		return nil, err
	}
	params, err := json.Marshal(cfg.GBDT)
	if err != nil {
		return nil, fmt.Errorf("train: encode train.json: %w", err)
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("train: encode train.json: %w", err)
	}
	return &workdir.Train{
		LabelSource: cfg.Labels, SchemaVersion: schema, SchemaHash: schemaHash, TrainedAt: now.UTC().Format(time.RFC3339),
		Params: params, Config: config, Split: split.info, Inputs: in.hashes,
		Policy: policy.Policy{Horizons: slices.Clone(cfg.Horizons), FleetEventShare: cfg.FleetEventShare},
	}, nil
}

// trainHorizons trains and exports the model of every horizon in turn,
// adding it to info, its validation probabilities to valid and to pool,
// and with folds its out-of-fold probabilities to pool.
func trainHorizons(ctx context.Context, cfg Config, in *inputs, split *timeSplit, labels labelSet, folds map[string]int, outDir string,
	info *workdir.Train, valid, pool *validation, prog progress.Func) error {
	for hi, h := range cfg.Horizons {
		prog("train", int64(hi), int64(len(cfg.Horizons)))
		name := workdir.FeaturesFile(h)
		ft, err := workdir.ReadFeatures(in.path(name))
		if err != nil {
			return err
		}
		if err := in.hash(name); err != nil {
			return err
		}
		hinfo, vp, oof, err := trainHorizon(ctx, cfg, h, ft, split.of, labels, folds, outDir)
		if err != nil {
			return fmt.Errorf("train %d-minute model: %w", h, err)
		}
		// The policy skips this look during a fleet event: so does its choice.
		skips := skipsLook(ft, info.Policy.FleetEventShare)
		for i, id := range ft.IDs {
			if skips(i) {
				delete(vp, id)
				delete(oof, id)
			}
		}
		valid.set(hi, vp)
		if pool != valid {
			pool.set(hi, vp)
			pool.set(hi, oof)
		}
		info.Horizons = append(info.Horizons, *hinfo)
	}
	prog("train", int64(len(cfg.Horizons)), int64(len(cfg.Horizons)))
	return nil
}

// validation holds the probabilities of labelled deployments at every
// horizon, for choosing and measuring the policy: the validation split's
// from the models, and the training split's that have a fold, when it is
// part of the thresholds' choice data, out of fold.
type validation struct {
	ids   []string       // labelled deployments, by start time
	row   map[string]int // deployment → index of ids
	probs [][]float64    // probs[d][i]: P(faulty) at horizon i, NaN without a row
}

// newValidation holds the labelled deployments for which include holds.
func newValidation(split *timeSplit, labels labelSet, horizons int, include func(id string) bool) *validation {
	v := &validation{ids: []string{}}
	for _, r := range split.rows {
		if include(r.DeploymentID) {
			if _, ok := labels[r.DeploymentID]; ok {
				v.ids = append(v.ids, r.DeploymentID)
			}
		}
	}
	v.row = make(map[string]int, len(v.ids))
	v.probs = make([][]float64, len(v.ids))
	for i, id := range v.ids {
		v.row[id] = i
		v.probs[i] = make([]float64, horizons)
		for k := range v.probs[i] {
			v.probs[i][k] = math.NaN()
		}
	}
	return v
}

// set records the validation probabilities of horizon index hi.
func (v *validation) set(hi int, p map[string]float64) {
	for id, x := range p {
		if r, ok := v.row[id]; ok {
			v.probs[r][hi] = x
		}
	}
}

// describe says what v holds for train.json: how many labelled
// deployments of each split, and the folds and warm-up when it holds
// training deployments (scored out of fold).
func (v *validation) describe(split *timeSplit, folds int, warmup time.Duration) *workdir.ChoiceData {
	d := &workdir.ChoiceData{Deployments: map[string]int{}}
	for _, id := range v.ids {
		d.Deployments[split.of[id]]++
	}
	if d.Deployments[workdir.SplitTrain] > 0 {
		d.Folds, d.WarmupMinutes = folds, int(warmup/time.Minute)
	}
	return d
}

// targets returns the label of each deployment.
func (v *validation) targets(labels labelSet) []float64 {
	y := make([]float64, len(v.ids))
	for i, id := range v.ids {
		y[i] = labels[id]
	}
	return y
}
