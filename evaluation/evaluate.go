package evaluation

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/parallel"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// Config is the `evaluate` section of the settings file.
type Config struct {
	// Split names the held-out deploys of split.parquet to evaluate on.
	// Default "test".
	Split string `yaml:"split"`
	// BaselineMinutes is the horizon at which the unsupervised ensemble
	// decides, and the denominator of the time-to-detection ratio. Default
	// 60. It is not a key of the evaluate section: the caller sets it from
	// features.ensemble_horizon, the one setting of the ensemble horizon.
	BaselineMinutes int `yaml:"-"`
	// QueueSize is the number of rows written by --queue. Default 50.
	QueueSize int `yaml:"queue_size"`
	// ReportDisagreements is the number of disagreements listed (with
	// sparklines) in report.html. Default 25.
	ReportDisagreements int `yaml:"report_disagreements"`
	// SparklineMinutes is the window shown either side of a deploy in
	// sparklines, and the window of the impact estimate. Default 60.
	SparklineMinutes int `yaml:"sparkline_minutes"`
	// CalibrationBins is the number of bins of the reliability diagram.
	// Default 10.
	CalibrationBins int `yaml:"calibration_bins"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Split: "test", BaselineMinutes: 60, QueueSize: 50, ReportDisagreements: 25, SparklineMinutes: 60, CalibrationBins: 10}
}

// Validate reports every invalid setting, as *config.FieldError values
// (joined) whose paths start with "evaluate.".
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, config.Errorf("evaluate."+path, format, a...))
	}
	if c.Split == "" {
		bad("split", "must not be empty")
	}
	if c.BaselineMinutes <= 0 {
		bad("baseline_minutes", "must be positive, not %d", c.BaselineMinutes)
	}
	if c.QueueSize < 0 {
		bad("queue_size", "must not be negative, not %d", c.QueueSize)
	}
	if c.ReportDisagreements < 0 {
		bad("report_disagreements", "must not be negative, not %d", c.ReportDisagreements)
	}
	if c.SparklineMinutes <= 0 {
		bad("sparkline_minutes", "must be positive, not %d", c.SparklineMinutes)
	}
	if c.CalibrationBins < 2 {
		bad("calibration_bins", "must be at least 2, not %d", c.CalibrationBins)
	}
	return errors.Join(errs...)
}

// HistoryReader is the part of the history store evaluation reads: human
// annotations (gold labels) and per-minute series (sparklines, impact).
type HistoryReader interface {
	Metrics(ctx context.Context, s history.Stream, r history.Range) ([]history.Series, error)
	Annotations(ctx context.Context) ([]history.Annotation, error)
}

// TruthReader reads the simulator's ground truth; it returns
// history.ErrNoTruth when the history was not simulated.
type TruthReader interface {
	Truth(ctx context.Context) ([]history.Truth, error)
}

// ProductionLoader returns the registry's production model as a ModelSet
// scored on the workdir features, or (nil, nil) when none is registered.
type ProductionLoader func(ctx context.Context, in *Inputs) (*ModelSet, error)

// Options are the inputs of one evaluation.
type Options struct {
	Workdir string
	// Config holds the settings; start from DefaultConfig.
	Config Config
	// History gives gold annotations and series; nil skips both.
	History HistoryReader
	// Truth gives simulator truth; nil or ErrNoTruth skips it.
	Truth TruthReader
	// Production loads the production model; nil skips that contender.
	Production ProductionLoader
	// Lineage facts recorded as given.
	StoreName   string
	CodeVersion string
	ConfigYAML  string
	Now         time.Time // report time; zero means time.Now()
	Progress    progress.Func
}

// Contender names.
const (
	ContenderBaseline   = "baseline"
	ContenderEnsemble   = "ensemble"
	ContenderWeak       = "weak"
	ContenderProduction = "production"
)

// Decision is a contender's verdict on one deploy.
type Decision struct {
	P          map[int]float64 // score by horizon; NaN when no data
	Flag       map[int]bool    // flagged at horizon
	DetectedAt int             // first horizon the sequential policy flags; -1 never
}

// Contender is one detector under evaluation.
type Contender struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Source      string          `json:"source"`
	Version     string          `json:"version,omitempty"`
	Horizons    []int           `json:"horizons"`
	Thresholds  map[int]float64 `json:"thresholds,omitempty"`
	decisions   map[string]Decision
}

// Decision returns the contender's decision on deploy id.
func (c *Contender) Decision(id string) (Decision, bool) {
	d, ok := c.decisions[id]
	return d, ok
}

// Reference is a set of reference labels: gold annotations, weak labels,
// their combination, or simulator truth.
type Reference struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Deploys and Faulty count the evaluated (held-out) deploys the reference labels.
	Deploys int `json:"deploys"`
	Faulty  int `json:"faulty"`
	// FromGold and FromWeak count, for the combined reference, where each label came from.
	FromGold int `json:"from_gold,omitempty"`
	FromWeak int `json:"from_weak,omitempty"`
	labels   map[string]bool
}

// Label returns the reference label of deploy id and whether it has one.
func (r *Reference) Label(id string) (faulty, ok bool) {
	faulty, ok = r.labels[id]
	return
}

// Reference names.
const (
	RefGold       = "gold"
	RefWeak       = "weak"
	RefGoldOrWeak = "gold_or_weak"
	RefTruth      = "truth"
)

// Run evaluates the workdir and returns the report (nothing is written;
// see Write and WriteQueue).
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	prog := progress.Or(o.Progress)
	now := o.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	prog("evaluate: read inputs", 0, 0)
	in, err := readInputs(o.Workdir, o.Config.Split)
	if err != nil {
		return nil, err
	}
	ids := in.TestIDs(o.Config.Split)
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no deploys with split %q in split.parquet and deploys.parquet", o.Workdir, o.Config.Split)
	}
	rep := &Report{
		SchemaVersion:   ReportSchemaVersion,
		GeneratedAt:     now.UTC().Format(time.RFC3339),
		Split:           o.Config.Split,
		TestDeploys:     len(ids),
		Horizons:        in.Horizons,
		BaselineMinutes: o.Config.BaselineMinutes,
		cfg:             o.Config,
		in:              in,
		ids:             ids,
	}

	prog("evaluate: score contenders", 0, 0)
	models, err := rep.addContenders(ctx, o)
	if err != nil {
		return nil, err
	}
	prog("evaluate: references", 0, 0)
	if err := rep.addReferences(ctx, o); err != nil {
		return nil, err
	}

	// Metrics.
	prog("evaluate: metrics", 0, 0)
	for _, r := range rep.refs {
		for _, c := range rep.contenders {
			for _, h := range c.Horizons {
				rep.Results = append(rep.Results, score(c, r, ids, h, o.Config.BaselineMinutes, in.Horizons))
			}
			rep.Results = append(rep.Results, score(c, r, ids, 0, o.Config.BaselineMinutes, in.Horizons))
		}
	}

	// Disagreements, queue candidates, calibration, sparklines.
	rep.Disagreements = disagreements(rep)
	if err := rep.buildCandidates(ctx, o.History); err != nil {
		return nil, err
	}
	rep.Calibration = calibrations(rep, o.Config.CalibrationBins)
	rep.Targets = rep.targetReports(models)
	rep.ModelCalibration = modelCalibrations(models)
	rep.LF = lfReport(in.LFReport, in.lf)
	rep.lfTruthAccuracy()

	rep.Lineage.Inputs = in.Files
	rep.Lineage.Store = o.StoreName
	rep.Lineage.CodeVersion = o.CodeVersion
	rep.Lineage.Config = o.ConfigYAML
	rep.Lineage.Workdir = o.Workdir
	return rep, nil
}

// addContenders scores the contenders on the report's deploys: the
// statistical baseline, the workdir's model sets (skipped with a note when
// absent) and the production model of o.Production (a note when it fails).
// It returns the model sets.
func (rep *Report) addContenders(ctx context.Context, o Options) ([]*ModelSet, error) {
	in, ids := rep.in, rep.ids
	base, err := baselineContender(in, ids, o.Config.BaselineMinutes)
	if err != nil {
		return nil, err
	}
	rep.contenders = append(rep.contenders, base)
	var models []*ModelSet
	for _, src := range []string{ContenderEnsemble, ContenderWeak} {
		ms, err := LoadModelSet(in, src)
		if errors.Is(err, fs.ErrNotExist) {
			rep.Notes = append(rep.Notes, fmt.Sprintf("no models/%s in the workdir: contender %q skipped", src, src))
			continue
		}
		if err != nil {
			return nil, err
		}
		models = append(models, ms)
	}
	if o.Production != nil {
		ms, err := o.Production(ctx, in)
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("production model not evaluated: %v", err))
		} else if ms != nil {
			ms.Name = ContenderProduction
			models = append(models, ms)
		}
	}
	for _, ms := range models {
		c, err := modelContender(ctx, in, ids, ms)
		if err != nil {
			return nil, err
		}
		rep.contenders = append(rep.contenders, c)
		rep.Lineage.Models = append(rep.Lineage.Models, ModelLineage{Contender: ms.Name, Source: ms.Source, Version: ms.Version, Files: ms.Files, Thresholds: jsonThresholds(ms.Thresholds)})
	}
	for _, c := range rep.contenders {
		rep.Contenders = append(rep.Contenders, ContenderInfo{Name: c.Name, Description: c.Description, Source: c.Source, Version: c.Version, Horizons: c.Horizons, Thresholds: jsonThresholds(c.Thresholds)})
	}
	return models, nil
}

// addReferences reads the annotations and the simulator's truth, where
// o offers them, and sets the report's references, headline first.
func (rep *Report) addReferences(ctx context.Context, o Options) error {
	var anns []history.Annotation
	var err error
	if o.History != nil {
		anns, err = o.History.Annotations(ctx)
		if err != nil {
			return fmt.Errorf("read annotations: %w", err)
		}
	}
	var truth []history.Truth
	if o.Truth != nil {
		truth, err = o.Truth.Truth(ctx)
		if errors.Is(err, history.ErrNoTruth) {
			truth = nil
		} else if err != nil {
			return fmt.Errorf("read truth: %w", err)
		}
	}
	rep.gold = history.GoldLabels(anns)
	rep.refs = buildReferences(rep.in, rep.ids, rep.gold, truth)
	if len(rep.refs) == 0 {
		return fmt.Errorf("%s: no reference labels for the %s deploys: no annotations, no labels.parquet and no simulator truth", o.Workdir, o.Config.Split)
	}
	rep.Headline = rep.refs[0].Name
	if rep.refs[0].Deploys == 0 {
		// Every labeling function abstained on each held-out deploy and
		// none is annotated: the report still shows what each contender
		// flagged, but nothing can be scored, and the promotion gate, which
		// judges only what it measured, refuses.
		rep.Notes = append(rep.Notes, fmt.Sprintf("none of the %d %s deploys has a reference label (every labeling function abstained on each, and none is annotated): precision and recall cannot be measured, and the promotion gate refuses; annotate the queue (faultline evaluate --queue FILE.csv, imported back as annotations.csv) or add labeling functions that vote on such deploys", len(rep.ids), o.Config.Split))
	}
	for _, r := range rep.refs {
		rep.References = append(rep.References, *r)
		if r.Name == RefTruth {
			rep.Simulated = true
		}
	}
	if rep.Simulated {
		rep.truth = make(map[string]history.Truth, len(truth))
		for _, t := range truth {
			rep.truth[t.DeploymentID] = t
		}
	}
	return nil
}

func jsonThresholds(m map[int]float64) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for h, v := range m {
		out[fmt.Sprint(h)] = metrics.Round6(v)
	}
	return out
}

// baselineContender is the unanimous ensemble of the statistical checks at
// the baseline horizon: flagged when ensemble_faulty is 1; inconclusive
// (NaN) and missing rows are not flagged.
func baselineContender(in *Inputs, ids []string, h int) (*Contender, error) {
	file, ens := workdir.FeaturesFile(h), features.Schema[features.EnsembleFaulty].Name
	if _, ok := in.features[h]; !ok {
		return nil, fmt.Errorf("%s: no %s for the baseline (evaluate.baseline_minutes)", in.Dir, file)
	}
	if in.features[h].t.Column(ens) == nil {
		return nil, fmt.Errorf("%s: column %s: missing", file, ens)
	}
	c := &Contender{
		Name:        ContenderBaseline,
		Description: fmt.Sprintf("unsupervised ensemble (impact ∧ temporal ∧ persistence) at %d min; inconclusive = not flagged", h),
		Source:      file + ":" + ens,
		Horizons:    []int{h},
		decisions:   make(map[string]Decision, len(ids)),
	}
	for _, id := range ids {
		v, ok := in.Feature(h, id, ens)
		d := Decision{P: map[int]float64{h: math.NaN()}, Flag: map[int]bool{h: false}, DetectedAt: -1}
		if ok {
			if math.IsNaN(v) {
				v = 0
			}
			d.P[h] = v
			if v >= 0.5 {
				d.Flag[h] = true
				d.DetectedAt = h
			}
		}
		c.decisions[id] = d
	}
	return c, nil
}

// fleetMaxColumn is the column of features.FleetEvent.
var fleetMaxColumn = features.Schema[features.FleetElevatedMaxFrac].Name

// modelContender scores the test deploys with a model set. A look the
// policy skips during a fleet event (its FleetEventShare) neither flags
// nor decides; its probability is still reported.
func modelContender(ctx context.Context, in *Inputs, ids []string, ms *ModelSet) (*Contender, error) {
	c := &Contender{
		Name:       ms.Name,
		Source:     ms.Source,
		Version:    ms.Version,
		Thresholds: ms.Thresholds,
		decisions:  make(map[string]Decision, len(ids)),
	}
	switch ms.Name {
	case ContenderEnsemble:
		c.Description = "sequential models trained on the ensemble's labels"
	case ContenderWeak:
		c.Description = "sequential models trained on weak labels"
	case ContenderProduction:
		c.Description = "the registry's production model"
	default:
		c.Description = "sequential models"
	}
	for h := range ms.Predictors {
		c.Horizons = append(c.Horizons, h)
	}
	sort.Ints(c.Horizons)
	// The deploys are split among GOMAXPROCS goroutines (Predictor.Predict
	// is safe for concurrent use); each decision lands at its index.
	ds := make([]Decision, len(ids))
	rows := make([][]float64, parallel.Workers(len(ids), 0)) // one scratch row per worker
	err := parallel.Do(len(ids), 0, func(w, i int) error {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		d := Decision{P: map[int]float64{}, Flag: map[int]bool{}}
		looked := map[int]float64{} // what the policy decides on: no look during a fleet event
		for _, h := range c.Horizons {
			p := ms.Predictors[h]
			var ok bool
			rows[w], ok = in.FeatureRow(h, ids[i], p.Features(), rows[w])
			v := math.NaN()
			if ok {
				v = p.Predict(rows[w])
			}
			d.P[h], looked[h] = v, v
			if fm, _ := in.Feature(h, ids[i], fleetMaxColumn); features.FleetEvent(fm, ms.Policy.FleetEventShare) {
				looked[h] = math.NaN()
			}
			d.Flag[h] = looked[h] >= ms.Thresholds[h] // false when NaN
		}
		d.DetectedAt = -1
		if flagged, at := ms.Policy.DecideByHorizon(looked); flagged {
			d.DetectedAt = at
		}
		ds[i] = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		c.decisions[id] = ds[i]
	}
	return c, nil
}
