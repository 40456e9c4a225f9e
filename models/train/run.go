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
	labels, err := readLabels(in.dir, cfg.Labels, cfg.EnsembleHorizon, cfg.Abstained == AbstainedPrior)
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
	outDir := filepath.Join(in.dir, workdir.ModelDir(cfg.Labels))
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	valid := newValidation(split, labels, len(cfg.Horizons))
	if err := trainHorizons(ctx, cfg, in, split, labels, outDir, info, valid, progress.Or(opt.Progress)); err != nil {
		return nil, err
	}
	y := valid.targets(labels)
	if err := choosePolicy(cfg, info, valid, y); err != nil {
		return nil, err
	}
	info.PolicyValid = policy.Evaluate(info.Policy, valid.probs, y)
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
		Policy: policy.Policy{Horizons: slices.Clone(cfg.Horizons)},
	}, nil
}

// trainHorizons trains and exports the model of every horizon in turn,
// adding it to info and its validation probabilities to valid.
func trainHorizons(ctx context.Context, cfg Config, in *inputs, split *timeSplit, labels labelSet, outDir string,
	info *workdir.Train, valid *validation, prog progress.Func) error {
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
		hinfo, vp, err := trainHorizon(ctx, cfg, h, ft, split.of, labels, outDir)
		if err != nil {
			return fmt.Errorf("train %d-minute model: %w", h, err)
		}
		valid.set(hi, vp)
		info.Horizons = append(info.Horizons, *hinfo)
	}
	prog("train", int64(len(cfg.Horizons)), int64(len(cfg.Horizons)))
	return nil
}

// validation holds the validation probabilities of every labelled
// validation deployment at every horizon, for measuring the policy.
type validation struct {
	ids   []string       // labelled validation deployments, by start time
	row   map[string]int // deployment → index of ids
	probs [][]float64    // probs[d][i]: P(faulty) at horizon i, NaN without a row
}

func newValidation(split *timeSplit, labels labelSet, horizons int) *validation {
	v := &validation{ids: []string{}}
	for _, r := range split.rows {
		if r.Split == workdir.SplitValid {
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

// targets returns the label of each validation deployment.
func (v *validation) targets(labels labelSet) []float64 {
	y := make([]float64, len(v.ids))
	for i, id := range v.ids {
		y[i] = labels[id]
	}
	return y
}
