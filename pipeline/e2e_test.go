package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history/pgstore"
	"github.com/faultline-dev/faultline/internal/pgtest"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/labeling"
	"github.com/faultline-dev/faultline/models/train"
	"github.com/faultline-dev/faultline/pipeline"
	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/pgregistry"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// history is a migrated PostgreSQL database holding a small simulated
// fleet, shared by the runs of a test.
type history struct {
	store   *pgstore.Store
	dsn     string
	records *pipeline.PGRecords
}

func newHistory(t *testing.T) *history {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	if _, err := pgstore.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.OpenStore(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := simulate.DefaultConfig()
	cfg.Services, cfg.Days, cfg.Seed = 12, 8, 7
	if _, _, err := simulate.Into(ctx, cfg, store, nil); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &history{store: store, dsn: dsn, records: &pipeline.PGRecords{Pool: pool}}
}

// fleet is one pipeline over the shared history with a registry of its
// own (in PostgreSQL when pg is set, else an embedded folder), so that two
// runs of a test start from the same state.
type fleet struct {
	deps    *pipeline.Deps
	records *pipeline.PGRecords
	root    string
}

func (h *history) newFleet(t *testing.T, pg bool) *fleet {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	var backend registry.Backend
	if pg {
		rb, err := pgregistry.Open(ctx, h.dsn)
		if err != nil {
			t.Fatal(err)
		}
		backend = rb
	} else {
		rb, err := registry.OpenDir(filepath.Join(root, "registry"))
		if err != nil {
			t.Fatal(err)
		}
		backend = rb
	}
	reg := registry.New(backend, registry.DefaultConfig())
	t.Cleanup(func() { reg.Close() })
	run := pipeline.DefaultConfig()
	run.ExportDir = filepath.Join(root, "export")
	return &fleet{
		deps: &pipeline.Deps{
			History: h.store, DSN: h.dsn, Registry: reg, Run: run,
			Features: features.DefaultConfig(), Labeling: labeling.DefaultConfig(),
			Train: train.DefaultConfig(), Evaluate: evaluation.DefaultConfig(),
			CodeVersion: "test", By: "test",
		},
		records: h.records,
		root:    filepath.Join(root, "runs"),
	}
}

var fixedStart = time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)

func (f *fleet) runner(stages []pipeline.Stage) *pipeline.Runner {
	return &pipeline.Runner{
		Records: f.records, Root: f.root, Stages: stages, Holder: "e2e test",
		CodeVersion: "test", StoreName: f.deps.History.Describe(),
		Now: func() time.Time { return fixedStart },
	}
}

// dataStages are the stages whose files must be identical between runs on
// the same inputs.
var dataStages = []string{pipeline.StageExtract, pipeline.StageLabel, pipeline.StageTrainWeak, pipeline.StageTrainEnsemble, pipeline.StageEvaluate}

func TestRunEndToEndResumeAndLock(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run against PostgreSQL")
	}
	ctx := context.Background()

	// An uninterrupted run, everything in PostgreSQL.
	h := newHistory(t)
	a := h.newFleet(t, true)
	recA, err := a.runner(pipeline.DefaultStages(a.deps)).Run(ctx, pipeline.Options{Config: "test: 1\n"})
	if err != nil {
		t.Fatal(err)
	}
	// The promotion gate may refuse the run's model (its floors, on
	// evidence it computes): promote and export are then skipped and the
	// run still succeeds.
	promote := recA.Stage(pipeline.StagePromote)
	promoted := promote.Status == pipeline.StatusSucceeded
	for _, s := range recA.Stages {
		if s.Status != pipeline.StatusSucceeded && !(!promoted && s.Status == pipeline.StatusSkipped && (s.Name == pipeline.StagePromote || s.Name == pipeline.StageExport)) {
			t.Fatalf("stage %s: %s %s %v", s.Name, s.Status, s.Error, s.Notes)
		}
	}
	if recA.Stage(pipeline.StageRegister).Notes[pipeline.NoteVersion] != "1" {
		t.Errorf("register notes: %v", recA.Stage(pipeline.StageRegister).Notes)
	}
	t.Logf("promote: %s: %s %v", promote.Status, promote.Notes[pipeline.NoteDecision], promote.Metrics)
	if _, ok := promote.Metrics["gate_candidate_recall"]; !ok || promote.Metrics["gate_deploys"] == 0 {
		t.Errorf("the gate's evidence is not in the promote stage's record: %v", promote.Metrics)
	}
	_, err = os.Stat(filepath.Join(a.deps.Run.ExportDir, "faultline-production.tar.gz"))
	if promoted && err != nil {
		t.Errorf("production bundle not exported: %v", err)
	}
	if !promoted && (err == nil || !strings.Contains(promote.Notes[pipeline.NoteDecision], "refused")) {
		t.Errorf("refused promotion: decision %q, bundle exported: %v", promote.Notes[pipeline.NoteDecision], err == nil)
	}
	saved, err := a.records.Get(ctx, recA.ID)
	if err != nil || saved.Status != pipeline.StatusSucceeded || saved.Config != "test: 1\n" {
		t.Fatalf("saved record: %v %+v", err, saved)
	}

	// A run on the same history with a fresh registry, killed in the
	// middle of train-weak.
	b := h.newFleet(t, false)
	stages := pipeline.DefaultStages(b.deps)
	killCtx, kill := context.WithCancel(ctx)
	defer kill()
	for i, st := range stages {
		if st.Name != pipeline.StageTrainWeak {
			continue
		}
		inner := st.Run
		stages[i].Run = func(c context.Context, rc *pipeline.RunContext) (*pipeline.Result, error) {
			if killCtx.Err() == nil {
				// Kill at the stage's first progress report: mid-stage.
				p := rc.Progress
				rc.Progress = func(stage string, done, total int64) { kill(); p(stage, done, total) }
			}
			return inner(c, rc)
		}
	}
	rb := b.runner(stages)
	recB, err := rb.Run(killCtx, pipeline.Options{Config: "test: 1\n"})
	var se *pipeline.StageError
	if !errors.As(err, &se) || se.Stage != pipeline.StageTrainWeak || !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: err = %v", err)
	}
	if got, _ := b.records.Get(ctx, recB.ID); got.Status != pipeline.StatusFailed || got.Stage(pipeline.StageTrainWeak).Status != pipeline.StatusFailed {
		t.Fatalf("killed run record: %s / %s", got.Status, got.Stage(pipeline.StageTrainWeak).Status)
	}

	// A second run while one holds the lock is refused.
	hold := make(chan struct{})
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		blocker := b.runner([]pipeline.Stage{{Name: "hold", Run: func(ctx context.Context, rc *pipeline.RunContext) (*pipeline.Result, error) {
			close(hold)
			<-release
			return &pipeline.Result{}, nil
		}}})
		if _, err := blocker.Run(ctx, pipeline.Options{}); err != nil {
			t.Errorf("blocking run: %v", err)
		}
	}()
	<-hold
	if _, err := rb.Run(ctx, pipeline.Options{ResumeID: recB.ID, Config: "test: 1\n"}); !errors.Is(err, pipeline.ErrLocked) {
		t.Fatalf("concurrent run: err = %v, want ErrLocked", err)
	}
	close(release)
	wg.Wait()

	// Resume finishes the killed run, reusing what finished.
	resumed, err := rb.Run(ctx, pipeline.Options{ResumeID: recB.ID, Config: "test: 1\n"})
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Status != pipeline.StatusSucceeded || resumed.Attempts != 2 {
		t.Fatalf("resumed: %s, attempt %d", resumed.Status, resumed.Attempts)
	}
	for _, name := range []string{pipeline.StageExtract, pipeline.StageLabel} {
		if s := resumed.Stage(name).Status; s != pipeline.StatusReused {
			t.Errorf("stage %s after resume: %s, want reused", name, s)
		}
	}
	// Identical outputs to the uninterrupted run.
	for _, name := range dataStages {
		ga, gb := recA.Stage(name).Outputs, resumed.Stage(name).Outputs
		if len(ga) == 0 || len(ga) != len(gb) {
			t.Errorf("stage %s: %d outputs uninterrupted, %d resumed", name, len(ga), len(gb))
			continue
		}
		for i := range ga {
			if ga[i].Path != gb[i].Path || ga[i].SHA256 != gb[i].SHA256 {
				t.Errorf("stage %s: %s (%.12s) vs %s (%.12s)", name, ga[i].Path, ga[i].SHA256, gb[i].Path, gb[i].SHA256)
			}
		}
	}
	// The weak-label training lists the deploys to annotate among its
	// outputs (checked identical above).
	annotate := filepath.Join(workdir.ModelDir(train.LabelsWeak), workdir.AnnotateFile)
	if !slices.ContainsFunc(recA.Stage(pipeline.StageTrainWeak).Outputs, func(o pipeline.File) bool { return o.Path == annotate }) {
		t.Errorf("train-weak outputs %+v lack %s", recA.Stage(pipeline.StageTrainWeak).Outputs, annotate)
	}
}
