// Package quality is Faultline's detection-quality benchmark. For each
// regime (Regimes: the simulator's, internal/simulate.Regimes, and the
// independent generator's, internal/altsim) and seed it generates a fleet
// into an embedded store, runs the whole nightly pipeline on it as
// `faultline run` does (extract, label, train, evaluate, register, promote,
// export), scores the production policy — whatever the run promoted — on
// every deployment as `faultline predict --model production` does, and
// measures it against the simulator's ground truth: on the newest deploys
// (the held-out test split of the run) and on every deploy. Render writes
// the tables of docs/quality.md.
//
// The package prints nothing: progress goes to Options.Progress and logs to
// Options.Log.
package quality

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/labeling"
	"github.com/faultline-dev/faultline/models/train"
	"github.com/faultline-dev/faultline/pipeline"
	"github.com/faultline-dev/faultline/registry"
)

// Options control Run. Zero values take the defaults given.
type Options struct {
	// Regimes to run, by name (default: every entry of Regimes, in order).
	Regimes []string
	// Seeds of each regime's fleet (default 1 and 2).
	Seeds []int64
	// Services and Days size every fleet (defaults 60 and 21: 8,000 to
	// 14,000 deploys with 400 to 700 faults per fleet, 60 to 80 of them in
	// the test split; the default benchmark takes minutes on 2 cores).
	Services, Days int
	// Workdir receives one folder per fleet, REGIME-sSEED, holding its
	// embedded store, run folders and registry (required). A fleet's folder
	// is replaced when it exists, and removed after scoring unless Keep.
	Workdir string
	Keep    bool
	// Pipeline holds the stage settings of the runs (Run, Features,
	// Labeling, Train, Evaluate, ConfigYAML, CodeVersion, By); History,
	// Registry, DSN and Range are set per fleet. Nil: DefaultPipeline().
	Pipeline *pipeline.Deps
	// Registry holds the registry settings (model name, promotion gate).
	// Nil: registry.DefaultConfig().
	Registry *registry.Config
	// Floors are marked met or not in the tables (zero: DefaultFloors()).
	Floors Floors
	// Log receives the runs' logs (nil: discarded).
	Log *slog.Logger
	// Progress reports each stage of each fleet, and "quality" once per fleet.
	Progress progress.Func
	// Annotate, when above 0, runs the annotation loop on every fleet once
	// it is scored: the first Annotate rows of its run's annotate.csv
	// labelled from the truth (each verdict wrong with probability
	// AnnotationNoise), imported, and the pipeline run again; Fleet.Annotated
	// scores the production policy then. Default 0: off.
	Annotate int
	// TruthLabels, when set, runs the pipeline on every fleet a second
	// time, once it is scored, with the truth of every deployment imported
	// as an annotation (no noise): the labels the features and models
	// would learn from at best. Fleet.TruthLabels scores the version that
	// second run registered, promoted or not. It cannot be combined with
	// Annotate. Default off.
	TruthLabels bool
}

// DefaultPipeline returns the stage settings `faultline run` uses without
// a configuration file.
func DefaultPipeline() pipeline.Deps {
	return pipeline.Deps{
		Run: pipeline.DefaultConfig(), Features: features.DefaultConfig(), Labeling: labeling.DefaultConfig(),
		Train: train.DefaultConfig(), Evaluate: evaluation.DefaultConfig(), By: "faultline quality",
	}
}

// DefaultSeeds are the seeds of each regime by default.
var DefaultSeeds = []int64{1, 2}

// Default fleet size (Options.Services, Options.Days).
const (
	DefaultServices = 60
	DefaultDays     = 21
)

// Scopes of a Fleet's scores.
const (
	// ScopeTest is the run's held-out test split: the newest deploys by
	// start time (train.valid_fraction and train.train_fraction leave the
	// newest 15% by default).
	ScopeTest = "test"
	// ScopeAll is every deployment of the fleet.
	ScopeAll = "all"
)

// Fleet is the outcome of one regime and seed.
type Fleet struct {
	Regime      string `json:"regime"`
	Seed        int64  `json:"seed"`
	Deployments int64  `json:"deployments"`
	Faulty      int64  `json:"faulty"`
	// Production is the model version scored (NAME@VERSION), or Fallback
	// when the run left nothing in production and the statistical checks
	// were scored instead, as check and predict then do.
	Production string `json:"production"`
	// Decision is the promote stage's decision, as recorded by the run.
	Decision string `json:"decision"`
	// Error is set when the pipeline or the scoring failed.
	Error string `json:"error,omitempty"`
	// Scores per scope (ScopeTest, ScopeAll); absent without production.
	Scores map[string]Score `json:"scores,omitempty"`
	// WeakLabels is the run's weak labels (labels.parquet) measured against
	// truth over every deploy (TallyLabels); absent when the run failed.
	WeakLabels *LabelScore `json:"weak_labels_vs_truth,omitempty"`
	// Oracle is the ranking ceiling of the production models: the policy
	// whose thresholds were chosen on truth for precision ≥ Floors.Precision,
	// measured against truth over every deploy (TallyOracle). An upper bound
	// on threshold choice, not a result; absent without a production model.
	Oracle *OracleScore `json:"oracle_vs_truth,omitempty"`
	// Thresholds are the production policy's thresholds, one per look of
	// the production model (Oracle.Horizons), on the scale of its
	// predictions (detector.Detector.Threshold), as the oracle's are: a look
	// at 1 never flags (the training run's choice switched it off). Absent
	// without a production model.
	Thresholds []float64 `json:"thresholds,omitempty"`
	// Evidence tallies the faults of severity ≥ Floors.MinSeverity by the
	// excess errors they left in their window and the production policy's
	// recall on each kind (TallyEvidence); absent when the run failed.
	Evidence *EvidenceScore `json:"evidence,omitempty"`
	// Annotated is the fleet after the annotation loop (Options.Annotate);
	// absent without it.
	Annotated *Annotated `json:"annotated,omitempty"`
	// TruthLabels is the fleet's second run with the truth as labels
	// (Options.TruthLabels): Production names the version it registered,
	// which is scored whether the gate promoted it or not (Decision says);
	// absent without it.
	TruthLabels *Annotated `json:"truth_labels,omitempty"`
	Seconds     float64    `json:"seconds"`
}

// Result is the benchmark's outcome.
type Result struct {
	Regimes  []string `json:"regimes"`
	Seeds    []int64  `json:"seeds"`
	Services int      `json:"services"`
	Days     int      `json:"days"`
	Floors   Floors   `json:"floors"`
	// Annotate is Options.Annotate: the rows of annotate.csv the loop
	// labelled on every fleet (0: no loop).
	Annotate int `json:"annotate,omitempty"`
	// TruthLabels is Options.TruthLabels.
	TruthLabels bool    `json:"truth_labels,omitempty"`
	Fleets      []Fleet `json:"fleets"`
}

// Failed returns the fleets whose pipeline or scoring failed.
func (r *Result) Failed() []Fleet {
	var out []Fleet
	for _, f := range r.Fleets {
		if f.Error != "" {
			out = append(out, f)
		}
	}
	return out
}

// Run runs the benchmark. A fleet whose pipeline fails is recorded with
// its error and the benchmark goes on; Run returns an error only for bad
// options or when ctx ends.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Workdir == "" {
		return nil, errors.New("quality: no work folder")
	}
	if opts.Annotate > 0 && opts.TruthLabels {
		return nil, errors.New("quality: the annotation loop and the truth as labels are separate benchmarks: run one at a time")
	}
	if len(opts.Regimes) == 0 {
		opts.Regimes = RegimeNames()
	}
	if len(opts.Seeds) == 0 {
		opts.Seeds = DefaultSeeds
	}
	if opts.Services == 0 {
		opts.Services = DefaultServices
	}
	if opts.Days == 0 {
		opts.Days = DefaultDays
	}
	if opts.Floors == (Floors{}) {
		opts.Floors = DefaultFloors()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.Progress = progress.Or(opts.Progress)
	regimes := make([]Regime, len(opts.Regimes))
	for i, name := range opts.Regimes {
		r, err := LookupRegime(name)
		if err != nil {
			return nil, fmt.Errorf("quality: %w", err)
		}
		regimes[i] = r
	}
	root, err := filepath.Abs(opts.Workdir)
	if err != nil {
		return nil, fmt.Errorf("quality: work folder: %w", err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	opts.Workdir = root
	res := &Result{Regimes: opts.Regimes, Seeds: opts.Seeds, Services: opts.Services, Days: opts.Days, Floors: opts.Floors, Annotate: opts.Annotate, TruthLabels: opts.TruthLabels}
	total := int64(len(regimes) * len(opts.Seeds))
	for _, r := range regimes {
		for _, seed := range opts.Seeds {
			f := runFleet(ctx, opts, r, seed)
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("quality: %w", context.Cause(ctx))
			}
			if f.Error != "" {
				opts.Log.Error("fleet failed", "regime", f.Regime, "seed", f.Seed, "error", f.Error)
			}
			res.Fleets = append(res.Fleets, f)
			opts.Progress("quality", int64(len(res.Fleets)), total)
		}
	}
	return res, nil
}

// runFleet simulates, runs and scores one fleet; failures go to Fleet.Error.
func runFleet(ctx context.Context, opts Options, r Regime, seed int64) Fleet {
	began := time.Now()
	f := Fleet{Regime: r.Name, Seed: seed}
	home := filepath.Join(opts.Workdir, r.Name+"-s"+strconv.FormatInt(seed, 10))
	err := func() error {
		if err := os.RemoveAll(home); err != nil {
			return err
		}
		if !opts.Keep {
			defer os.RemoveAll(home)
		}
		return scoreFleet(ctx, opts, r, seed, home, &f)
	}()
	if err != nil {
		f.Error = err.Error()
	}
	f.Seconds = time.Since(began).Seconds()
	return f
}

func scoreFleet(ctx context.Context, opts Options, r Regime, seed int64, home string, f *Fleet) error {
	log := opts.Log.With("regime", r.Name, "seed", seed)
	st, err := embedded.Open(ctx, home)
	if err != nil {
		return err
	}
	defer st.Close()

	sum, err := r.generate(ctx, st, opts.Services, opts.Days, seed, opts.Progress)
	if err != nil {
		return err
	}
	f.Deployments, f.Faulty = sum.deployments, sum.faulty

	// The nightly run, as `faultline run` composes it.
	rcfg := registry.DefaultConfig()
	if opts.Registry != nil {
		rcfg = *opts.Registry
	}
	rb, err := registry.OpenDir(filepath.Join(home, "registry"))
	if err != nil {
		return err
	}
	reg := registry.New(rb, rcfg)
	defer reg.Close()
	d := DefaultPipeline()
	if opts.Pipeline != nil {
		d = *opts.Pipeline
	}
	d.History, d.Registry, d.DSN, d.Range = st, reg, "", history.Range{}
	d.Run.ExportDir = filepath.Join(home, "export")
	runner := &pipeline.Runner{
		Records: &pipeline.DirRecords{Root: filepath.Join(home, "runs")}, Root: filepath.Join(home, "runs"),
		Stages: pipeline.DefaultStages(&d), Log: log, Progress: opts.Progress, CodeVersion: d.CodeVersion,
		StoreName: st.Describe(), Holder: fmt.Sprintf("faultline quality, pid %d", os.Getpid()),
	}
	rec, err := runner.Run(ctx, pipeline.Options{Config: d.ConfigYAML})
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if p := rec.Stage(pipeline.StagePromote); p != nil {
		f.Decision = p.Notes[pipeline.NoteDecision]
	}

	// The production policy on every deploy, as `faultline predict
	// --model production` scores it — or, with nothing in production, the
	// statistical checks predict falls back to.
	rows, horizons, err := predictProduction(ctx, reg, st, &d, home, opts, f)
	if err != nil {
		return err
	}
	if f.Production == Fallback {
		log.Info("no production model: fallback to statistical checks", "decision", f.Decision)
	}
	preds := Predictions(rows)
	tr, err := st.Truth(ctx)
	if err != nil {
		return fmt.Errorf("read truth: %w", err)
	}
	truth := make(map[string]history.Truth, len(tr))
	for _, t := range tr {
		truth[t.DeploymentID] = t
	}
	split, err := workdir.ReadSplit(filepath.Join(rec.Dir, workdir.SplitFile))
	if err != nil {
		return err
	}
	if f.Scores, err = scopeScores(preds, truth, split, opts.Floors.MinSeverity); err != nil {
		return err
	}

	// Where recall is lost: the weak labels against truth, and the
	// production models' ranking ceiling (thresholds chosen on truth).
	labels, err := workdir.ReadLabels(filepath.Join(rec.Dir, workdir.LabelsFile))
	if err != nil {
		return fmt.Errorf("read weak labels: %w", err)
	}
	lc, err := TallyLabels(labels, truth)
	if err != nil {
		return err
	}
	ls := lc.Score()
	f.WeakLabels = &ls
	if f.Production != Fallback {
		oc, err := TallyOracle(horizons, rows, truth, opts.Floors.Precision)
		if err != nil {
			return err
		}
		s := oc.Score()
		f.Oracle = &s
	}

	// How many faults left evidence a detector could read.
	ec, err := tallyRunEvidence(rec.Dir, preds, truth, opts.Floors)
	if err != nil {
		return err
	}
	es := ec.Score()
	f.Evidence = &es

	fl := &fleetRun{st: st, reg: reg, deps: &d, runner: runner, home: home, seed: seed}
	if opts.Annotate > 0 {
		if f.Annotated, err = annotationLoop(ctx, opts, fl, rec, truth, split); err != nil {
			return fmt.Errorf("annotation loop: %w", err)
		}
	}
	if opts.TruthLabels {
		if f.TruthLabels, err = truthLabelsRun(ctx, opts, fl, truth, split); err != nil {
			return fmt.Errorf("run with the truth as labels: %w", err)
		}
	}
	return nil
}

// fleetRun is what a second run of a fleet (the annotation loop, the truth
// as labels) needs of its first.
type fleetRun struct {
	st     history.Store
	reg    *registry.Registry
	deps   *pipeline.Deps
	runner *pipeline.Runner
	home   string
	seed   int64
}

// scopeScores tallies preds against truth per scope: every deploy, and the
// test split of split.
func scopeScores(preds []Prediction, truth map[string]history.Truth, split map[string]string, minSeverity float64) (map[string]Score, error) {
	out := map[string]Score{}
	for scope, include := range map[string]func(string) bool{
		ScopeAll:  nil,
		ScopeTest: func(id string) bool { return split[id] == workdir.SplitTest },
	} {
		c, err := Tally(preds, truth, include, minSeverity)
		if err != nil {
			return nil, err
		}
		out[scope] = c.Score()
	}
	return out, nil
}

// tallyRunEvidence runs TallyEvidence on the largest features file the
// run's extract stage wrote (extract.json) and its deploys.parquet.
func tallyRunEvidence(dir string, preds []Prediction, truth map[string]history.Truth, floors Floors) (EvidenceCounts, error) {
	ex, err := workdir.ReadExtract(filepath.Join(dir, workdir.ExtractFile))
	if err != nil {
		return EvidenceCounts{}, fmt.Errorf("evidence: %w", err)
	}
	h := 0
	for _, hc := range ex.Horizons {
		h = max(h, hc.Horizon)
	}
	if h == 0 {
		return EvidenceCounts{}, fmt.Errorf("evidence: %s lists no features file", workdir.ExtractFile)
	}
	ft, err := workdir.ReadFeatures(filepath.Join(dir, workdir.FeaturesFile(h)), evidenceColumnNames()...)
	if err != nil {
		return EvidenceCounts{}, fmt.Errorf("evidence: %w", err)
	}
	deploys, err := workdir.ReadDeploys(filepath.Join(dir, workdir.DeploysFile))
	if err != nil {
		return EvidenceCounts{}, fmt.Errorf("evidence: %w", err)
	}
	flagged := make(map[string]bool, len(preds))
	for _, p := range preds {
		flagged[p.DeploymentID] = p.Flagged
	}
	return TallyEvidence(ft, h, deploys, truth, flagged, floors)
}

// Fallback is Fleet.Production when no model was in production: the
// statistical checks were scored, as `faultline predict` falls back to.
const Fallback = "none: statistical checks"

// predictProduction scores every deploy with the production model, or with
// the statistical checks when there is none (f.Production says which). It
// returns the rows and the production detector's horizons (nil for the
// statistical checks).
func predictProduction(ctx context.Context, reg *registry.Registry, st history.Reader, d *pipeline.Deps, home string, opts Options, f *Fleet) ([]batch.Row, []int, error) {
	return predictRef(ctx, reg, st, d, home, opts, f, productionRef(reg))
}

// productionRef names the registry's production model.
func productionRef(reg *registry.Registry) registry.Ref {
	return registry.Ref{Name: reg.Config().Model, Alias: "production"}
}

// predictRef scores every deploy with the model ref names, as
// predictProduction does; only the production alias falls back to the
// statistical checks when it names nothing.
func predictRef(ctx context.Context, reg *registry.Registry, st history.Reader, d *pipeline.Deps, home string, opts Options, f *Fleet, ref registry.Ref) ([]batch.Row, []int, error) {
	v, err := reg.Resolve(ctx, ref)
	if errors.Is(err, registry.ErrNotFound) && ref.Alias == "production" {
		f.Production = Fallback
		rows, err := batch.PredictStatistical(ctx, st, d.Features, batch.Options{Scratch: home, Progress: opts.Progress})
		return rows, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("resolve model %s: %w", ref, err)
	}
	b, err := reg.Bundle(ctx, v)
	if err != nil {
		return nil, nil, err
	}
	det, err := detector.New(b)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s@%d: %w", v.Name, v.Version, err)
	}
	f.Production = fmt.Sprintf("%s@%d", v.Name, v.Version)
	f.Thresholds = nil
	for _, h := range det.Horizons() {
		f.Thresholds = append(f.Thresholds, det.Threshold(h))
	}
	rows, err := batch.Predict(ctx, st, det, batch.Options{Scratch: home, Progress: opts.Progress})
	return rows, det.Horizons(), err
}

// Predictions are the verdicts of rows as the benchmark scores them: a
// deployment is flagged when its verdict is faulty.
func Predictions(rows []batch.Row) []Prediction {
	preds := make([]Prediction, len(rows))
	for i, r := range rows {
		preds[i] = Prediction{DeploymentID: r.DeploymentID, Flagged: r.Verdict == detector.Faulty, DetectedAt: r.DetectedAt}
	}
	return preds
}
