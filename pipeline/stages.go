package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/labeling"
	"github.com/faultline-dev/faultline/models/train"
	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/bundle"
	"github.com/faultline-dev/faultline/registry/evidence"
)

// Config is the "run" section of the configuration: what the nightly job
// does beyond the stages' own settings.
type Config struct {
	// Promote moves the production alias to the new version when the
	// promotion gate passes (default true). When false the version is only
	// registered as candidate.
	Promote bool `yaml:"promote"`
	// ExportDir receives the production bundle after each run, as
	// MODEL-production.tar.gz (default HOME/export).
	ExportDir string `yaml:"export_dir"`
	// Source is the label source of the model registered and promoted:
	// "weak" (default) or "ensemble".
	Source string `yaml:"source"`
	// From and Until bound the deployments used, RFC 3339; empty: all.
	From  string `yaml:"from"`
	Until string `yaml:"until"`
}

// DefaultConfig returns the defaults documented on Config. ExportDir is
// resolved against HOME by the caller.
func DefaultConfig() Config {
	return Config{Promote: true, Source: "weak"}
}

// Deps are what the default stages work with. Each stage's settings are the
// decoded sections of the configuration file.
type Deps struct {
	History  history.Store
	DSN      string // PostgreSQL DSN for SQL labeling functions; empty with the embedded store
	Registry *registry.Registry

	Run      Config
	Features features.Config
	Labeling labeling.Config
	Train    train.Config
	Evaluate evaluation.Config

	// Range bounds the deployments extracted.
	Range history.Range
	// ConfigYAML is the resolved configuration, recorded in the report's lineage.
	ConfigYAML  string
	CodeVersion string
	// By names who runs the pipeline, for the registry's records.
	By string
}

// Stage names of the default pipeline, in order.
const (
	StageExtract       = "extract"
	StageLabel         = "label"
	StageTrainWeak     = "train-weak"
	StageTrainEnsemble = "train-ensemble"
	StageEvaluate      = "evaluate"
	StageRegister      = "register"
	StagePromote       = "promote"
	StageExport        = "export"
)

// Notes keys that later stages and users read.
const (
	NoteModel    = "model"
	NoteVersion  = "version"
	NoteDecision = "decision"
	NoteBundle   = "bundle"
)

// DefaultStages returns extract → label → train (weak and ensemble labels)
// → evaluate → register → promote → export.
func DefaultStages(d *Deps) []Stage {
	return []Stage{
		{Name: StageExtract, Run: d.extract},
		{Name: StageLabel, Run: d.label},
		{Name: StageTrainWeak, Run: d.train(train.LabelsWeak)},
		{Name: StageTrainEnsemble, Run: d.train(train.LabelsEnsemble)},
		{Name: StageEvaluate, Run: d.evaluate},
		{Name: StageRegister, Run: d.register},
		{Name: StagePromote, Run: d.promote},
		{Name: StageExport, Run: d.export},
	}
}

func (d *Deps) extract(ctx context.Context, rc *RunContext) (*Result, error) {
	sum, err := extract.Run(ctx, d.History, rc.Dir, extract.Options{Range: d.Range, Config: d.Features, Progress: rc.Progress})
	if err != nil {
		return nil, err
	}
	res := &Result{Rows: map[string]int64{"deployments": sum.Deployments}}
	res.Outputs = append(res.Outputs, sum.Files...)
	for _, h := range sum.Horizons {
		res.Rows[fmt.Sprintf("features_h%d", h.Horizon)] = h.Rows
		res.Rows[fmt.Sprintf("skipped_h%d", h.Horizon)] = h.Skipped
	}
	res.Outputs = relativeTo(rc.Dir, withFile(res.Outputs, workdir.ExtractFile))
	return res, nil
}

func (d *Deps) label(ctx context.Context, rc *RunContext) (*Result, error) {
	lr, err := labeling.Run(ctx, d.Labeling, labeling.Input{History: d.History, Workdir: rc.Dir, DSN: d.DSN, Progress: rc.Progress})
	if err != nil {
		return nil, err
	}
	res := &Result{
		Outputs: []string{workdir.LabelsFile, workdir.LFReportFile},
		Rows:    map[string]int64{"labels": int64(len(lr.IDs))},
		Metrics: map[string]float64{},
	}
	var pos, abstain int64
	for _, l := range lr.Label {
		switch l {
		case 1:
			pos++
		case -1:
			abstain++
		}
	}
	res.Rows["labels_faulty"], res.Rows["labels_all_abstain"] = pos, abstain
	if lr.Model != nil {
		res.Metrics["class_balance"] = lr.Model.ClassBalance()
	}
	if lr.Report != nil {
		for i, w := range lr.Report.Warnings {
			if res.Notes == nil {
				res.Notes = map[string]string{}
			}
			res.Notes[fmt.Sprintf("warning_%d", i+1)] = w
		}
	}
	return res, nil
}

func (d *Deps) train(source string) func(ctx context.Context, rc *RunContext) (*Result, error) {
	return func(ctx context.Context, rc *RunContext) (*Result, error) {
		// The run's start time stands in for "now" so that a resumed run
		// writes the same train.json as an uninterrupted one.
		start := rc.Record.StartedAt
		info, err := train.Run(ctx, d.Train, train.RunOptions{Workdir: rc.Dir, Labels: source, Progress: rc.Progress, Now: func() time.Time { return start },
			Warmup: time.Duration(d.Features.WarmupMinutes()) * time.Minute})
		if errors.Is(err, train.ErrNoLabels) && source == train.LabelsEnsemble {
			// The ensemble contender is a comparison, not the product: a
			// history where the ensemble never decides (no canaries) has
			// no ensemble labels, and evaluation skips a missing contender.
			return &Result{Skipped: true, Notes: map[string]string{NoteDecision: "no ensemble labels (the statistical ensemble abstained on every training deploy): contender skipped"}}, nil
		}
		if err != nil {
			return nil, err
		}
		res := &Result{Rows: map[string]int64{}, Metrics: map[string]float64{}}
		res.Outputs = append(res.Outputs, workdir.SplitFile)
		dir := filepath.Join(rc.Dir, workdir.ModelDir(source))
		res.Outputs = append(res.Outputs, filepath.Join(dir, workdir.TrainFile))
		for _, h := range info.Horizons {
			res.Outputs = append(res.Outputs, filepath.Join(dir, workdir.ModelFile(h.Horizon)))
			for split, n := range h.Rows {
				res.Rows[fmt.Sprintf("%s_h%d", split, h.Horizon)] = int64(n)
			}
			putFinite(res.Metrics, fmt.Sprintf("%s_h%d_valid_auc", source, h.Horizon), float64(h.ValidAUC))
			putFinite(res.Metrics, fmt.Sprintf("%s_h%d_threshold", source, h.Horizon), h.Threshold.Threshold)
			putFinite(res.Metrics, fmt.Sprintf("%s_h%d_train_seconds", source, h.Horizon), h.TrainSeconds)
		}
		if source == train.LabelsWeak {
			p := filepath.Join(dir, workdir.AnnotateFile)
			res.Outputs = append(res.Outputs, p)
			res.Rows["to_annotate"] = int64(info.ToAnnotate)
			if info.ToAnnotate > 0 {
				res.Notes = map[string]string{"file_" + workdir.AnnotateFile: p}
			}
		}
		res.Outputs = relativeTo(rc.Dir, res.Outputs)
		return res, nil
	}
}

func (d *Deps) evaluate(ctx context.Context, rc *RunContext) (*Result, error) {
	rep, err := evaluation.Run(ctx, evaluation.Options{
		Workdir:     rc.Dir,
		Config:      d.Evaluate,
		History:     d.History,
		Truth:       d.History,
		Production:  ProductionLoader(d.Registry, d.Run.Source),
		StoreName:   d.History.Describe(),
		CodeVersion: d.CodeVersion,
		ConfigYAML:  d.ConfigYAML,
		Now:         rc.Record.StartedAt,
		Progress:    rc.Progress,
	})
	if err != nil {
		return nil, err
	}
	out, err := rep.Write(filepath.Join(rc.Dir, workdir.EvaluationDir))
	if err != nil {
		return nil, err
	}
	res := &Result{Metrics: headlineMetrics(rep), Notes: map[string]string{"reference": rep.Headline}}
	for k, p := range out {
		res.Outputs = append(res.Outputs, p)
		res.Notes["file_"+k] = p
	}
	sort.Strings(res.Outputs)
	res.Outputs = relativeTo(rc.Dir, res.Outputs)
	return res, nil
}

// register registers the run's models (models/SOURCE). It is idempotent
// per run: a resumed run whose earlier attempt registered before dying gets
// that version back (registry.Register keys versions by run id).
func (d *Deps) register(ctx context.Context, rc *RunContext) (*Result, error) {
	schema, err := features.DescribeSchema(d.Features)
	if err != nil {
		return nil, err
	}
	v, err := d.Registry.RegisterFromDir(ctx, rc.Dir, registry.DirOptions{
		Source: d.Run.Source, Schema: bundle.Schema(schema), RunID: rc.ID, CodeVersion: d.CodeVersion, By: d.By, Alias: "candidate",
	})
	if err != nil {
		return nil, err
	}
	return &Result{Notes: map[string]string{NoteModel: v.Name, NoteVersion: strconv.Itoa(v.Version)}}, nil
}

// evaluator returns the promotion gate's evaluator for a run: the
// evaluation set is the run's own split (evaluate.split of rc.Dir), scored
// from the history store with the run's settings.
func (d *Deps) evaluator(rc *RunContext) registry.Evaluator {
	cfg := d.Features
	return evidence.New(evidence.Options{
		History: d.History, Registry: d.Registry, Workdir: rc.Dir,
		Split: d.Evaluate.Split, BaselineMinutes: d.Evaluate.BaselineMinutes, Features: &cfg,
		Scratch: rc.Dir, Progress: rc.Progress, CodeVersion: d.CodeVersion,
		Now: func() time.Time { return time.Now().UTC() },
	})
}

func (d *Deps) promote(ctx context.Context, rc *RunContext) (*Result, error) {
	ref, err := rc.Record.Registered()
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	if !d.Run.Promote {
		return &Result{Skipped: true, Notes: map[string]string{NoteDecision: "promotion disabled (run.promote: false)"}}, nil
	}
	name, version := ref.Name, ref.Version
	mv, err := d.Registry.Promote(ctx, name, version, "production", registry.PromoteOptions{By: d.By, Reason: "nightly run " + rc.ID, Evaluator: d.evaluator(rc)})
	var gate *registry.GateError
	if errors.As(err, &gate) {
		// A refusal is the gate doing its job, not a failed run.
		return &Result{Skipped: true, Notes: map[string]string{NoteDecision: gate.Error()}, Metrics: gateMetrics(&gate.Decision)}, nil
	}
	if err != nil {
		return nil, err
	}
	return &Result{Notes: map[string]string{NoteDecision: fmt.Sprintf("promoted %s@%d to production: %s", name, version, mv.Decision.Message), "move": strconv.FormatInt(mv.Seq, 10)},
		Metrics: gateMetrics(mv.Decision)}, nil
}

// gateMetrics are the headline figures of the gate's evidence, for the run
// record: the candidate's, the current holder's and the statistical
// baseline's policy precision and recall on the gate's evaluation set.
func gateMetrics(d *registry.Decision) map[string]float64 {
	m := map[string]float64{}
	if d == nil || d.Evidence == nil {
		return m
	}
	ev := d.Evidence
	put := func(prefix string, s *registry.Scored) {
		if h, ok := s.Headline(); ok {
			putFinite(m, prefix+"_precision", h.Precision.Value)
			putFinite(m, prefix+"_recall", h.Recall.Value)
		}
	}
	put("gate_candidate", &ev.Candidate)
	if ev.Current != nil {
		put("gate_current", ev.Current)
	}
	put("gate_baseline", &ev.Baseline)
	m["gate_deploys"] = float64(ev.Set.Labeled)
	m["gate_faulty"] = float64(ev.Set.Faulty)
	return m
}

func (d *Deps) export(ctx context.Context, rc *RunContext) (*Result, error) {
	name := d.Registry.Config().Model
	if reg := rc.Record.Stage(StageRegister); reg != nil && reg.Notes[NoteModel] != "" {
		name = reg.Notes[NoteModel]
	}
	ref := registry.Ref{Name: name, Alias: "production"}
	if _, err := d.Registry.Resolve(ctx, ref); errors.Is(err, registry.ErrNotFound) {
		return &Result{Skipped: true, Notes: map[string]string{NoteBundle: "no production model yet"}}, nil
	} else if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(d.Run.ExportDir)
	if err != nil {
		return nil, fmt.Errorf("export folder: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create export folder: %w", err)
	}
	dst := filepath.Join(dir, name+"-production.tar.gz")
	f, err := atomicfile.Create(dst)
	if err != nil {
		return nil, fmt.Errorf("export bundle: %w", err)
	}
	defer f.Abort()
	m, err := d.Registry.Export(ctx, ref, f)
	if err != nil {
		return nil, fmt.Errorf("export bundle: %w", err)
	}
	if err := f.Commit(); err != nil {
		return nil, fmt.Errorf("export bundle: %w", err)
	}
	return &Result{Inputs: []string{dst}, Notes: map[string]string{NoteBundle: dst, NoteVersion: strconv.Itoa(m.Version)}}, nil
}

// withFile appends name when absent.
func withFile(paths []string, name string) []string {
	for _, p := range paths {
		if filepath.Base(p) == name {
			return paths
		}
	}
	return append(paths, name)
}

// relativeTo makes paths under dir relative to it.
func relativeTo(dir string, paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if filepath.IsAbs(p) {
			if r, err := filepath.Rel(dir, p); err == nil && !filepath.IsAbs(r) && r != ".." && !startsWithDotDot(r) {
				p = r
			}
		}
		out = append(out, p)
	}
	return out
}

func startsWithDotDot(p string) bool {
	return len(p) >= 3 && p[:3] == ".."+string(filepath.Separator)
}

func putFinite(m map[string]float64, k string, v float64) {
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		m[k] = v
	}
}

// headlineMetrics picks, for each contender, the sequential policy's
// precision, recall and time-to-detection ratio against the headline
// reference (and against the simulator's truth when there is one).
func headlineMetrics(rep *evaluation.Report) map[string]float64 {
	m := map[string]float64{}
	for _, r := range rep.Results {
		if r.Scope != "policy" || (r.Reference != rep.Headline && r.Reference != "truth") {
			continue
		}
		p := r.Contender + "_" + r.Reference + "_"
		putFinite(m, p+"precision", r.Precision.Value)
		putFinite(m, p+"recall", r.Recall.Value)
		putFinite(m, p+"false_alarm_rate", r.FalseAlarmRate.Value)
		putFinite(m, p+"ttd_ratio", float64(r.TTDRatio))
	}
	return m
}
