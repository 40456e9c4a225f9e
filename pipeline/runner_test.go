package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/faultline-dev/faultline/internal/atomicfile"
)

// writeStage returns a stage that writes name with content derived from the
// files of earlier stages (so outputs chain like real stages do) and counts
// its executions.
func writeStage(name string, deps []string, runs *atomic.Int32) Stage {
	return Stage{Name: name, Run: func(ctx context.Context, rc *RunContext) (*Result, error) {
		runs.Add(1)
		content := name
		for _, d := range deps {
			b, err := os.ReadFile(filepath.Join(rc.Dir, d+".out"))
			if err != nil {
				return nil, err
			}
			content += "|" + string(b)
		}
		if err := atomicfile.WriteFile(filepath.Join(rc.Dir, name+".out"), []byte(content), 0o644); err != nil {
			return nil, err
		}
		return &Result{Outputs: []string{name + ".out"}, Rows: map[string]int64{name: int64(len(content))}}, nil
	}}
}

func newTestRunner(t *testing.T, stages []Stage) *Runner {
	root := t.TempDir()
	return &Runner{Records: &DirRecords{Root: root}, Root: root, Stages: stages, Holder: "test"}
}

func TestRunRecordsEveryStage(t *testing.T) {
	var n atomic.Int32
	r := newTestRunner(t, []Stage{writeStage("a", nil, &n), writeStage("b", []string{"a"}, &n)})
	rec, err := r.Run(context.Background(), Options{Config: "x: 1\n"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != StatusSucceeded || n.Load() != 2 {
		t.Fatalf("status %s, %d stage runs", rec.Status, n.Load())
	}
	got, err := r.Records.Get(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config != "x: 1\n" {
		t.Errorf("config not saved: %q", got.Config)
	}
	for _, s := range got.Stages {
		if s.Status != StatusSucceeded || len(s.Outputs) != 1 || len(s.Outputs[0].SHA256) != 64 {
			t.Errorf("stage %s: %+v", s.Name, s)
		}
	}
	if got.Stage("b").Rows["b"] != int64(len("b|a")) {
		t.Errorf("rows: %v", got.Stage("b").Rows)
	}
}

func TestFailingStageStopsRun(t *testing.T) {
	var n atomic.Int32
	boom := Stage{Name: "boom", Run: func(ctx context.Context, rc *RunContext) (*Result, error) {
		return nil, errors.New("disk on fire")
	}}
	r := newTestRunner(t, []Stage{writeStage("a", nil, &n), boom, writeStage("c", nil, &n)})
	rec, err := r.Run(context.Background(), Options{})
	var se *StageError
	if !errors.As(err, &se) || se.Stage != "boom" {
		t.Fatalf("err = %v, want StageError for boom", err)
	}
	saved, _ := r.Records.Get(context.Background(), rec.ID)
	if saved.Status != StatusFailed || !strings.Contains(saved.Error, "disk on fire") || saved.Stage("boom").Status != StatusFailed {
		t.Fatalf("record: status %s error %q", saved.Status, saved.Error)
	}
	if saved.Stage("c").Status != StatusPending || n.Load() != 1 {
		t.Fatalf("stage after failure ran: %s, %d runs", saved.Stage("c").Status, n.Load())
	}
}

func TestPanickingStageIsAFailure(t *testing.T) {
	r := newTestRunner(t, []Stage{{Name: "p", Run: func(ctx context.Context, rc *RunContext) (*Result, error) { panic("oops") }}})
	_, err := r.Run(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), "panic: oops") {
		t.Fatalf("err = %v", err)
	}
}

// TestResumeAfterCancel kills a run in the middle of a stage by cancelling
// its context, then resumes it: finished stages are reused, the rest run, and
// the outputs equal an uninterrupted run's.
func TestResumeAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	started := make(chan struct{})
	slow := func(name string) Stage {
		inner := writeStage(name, []string{"a"}, &n)
		return Stage{Name: name, Run: func(c context.Context, rc *RunContext) (*Result, error) {
			if ctx.Err() == nil {
				close(started)
				<-c.Done() // killed halfway
				return nil, c.Err()
			}
			return inner.Run(c, rc)
		}}
	}
	stages := []Stage{writeStage("a", nil, &n), slow("b"), writeStage("c", []string{"b"}, &n)}
	r := newTestRunner(t, stages)
	go func() { <-started; cancel() }()
	rec, err := r.Run(ctx, Options{Config: "k: v\n"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v", err)
	}
	if rec.Stage("a").Status != StatusSucceeded || rec.Stage("b").Status != StatusFailed {
		t.Fatalf("after kill: a=%s b=%s", rec.Stage("a").Status, rec.Stage("b").Status)
	}
	if _, err := os.Stat(filepath.Join(rec.Dir, "b.out")); !os.IsNotExist(err) {
		t.Fatalf("interrupted stage left an output: %v", err)
	}
	n.Store(0)
	resumed, err := r.Run(context.Background(), Options{ResumeID: rec.ID, Config: "k: v\n"})
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Stage("a").Status != StatusReused || resumed.Attempts != 2 || n.Load() != 2 {
		t.Fatalf("resume: a=%s attempts=%d runs=%d", resumed.Stage("a").Status, resumed.Attempts, n.Load())
	}

	// The same stages uninterrupted.
	var m atomic.Int32
	clean := newTestRunner(t, []Stage{writeStage("a", nil, &m), writeStage("b", []string{"a"}, &m), writeStage("c", []string{"b"}, &m)})
	want, err := clean.Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if g, w := resumed.Stage(name).Outputs[0].SHA256, want.Stage(name).Outputs[0].SHA256; g != w {
			t.Errorf("stage %s: resumed output %s, uninterrupted %s", name, g[:12], w[:12])
		}
	}
}

func TestResumeRerunsTamperedStage(t *testing.T) {
	var n atomic.Int32
	r := newTestRunner(t, []Stage{writeStage("a", nil, &n), {Name: "fail", Run: func(ctx context.Context, rc *RunContext) (*Result, error) {
		return nil, errors.New("first attempt fails")
	}}})
	rec, _ := r.Run(context.Background(), Options{})
	if err := os.WriteFile(filepath.Join(rec.Dir, "a.out"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.Stages[1] = writeStage("fail", []string{"a"}, &n)
	n.Store(0)
	res, err := r.Run(context.Background(), Options{ResumeID: rec.ID})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stage("a").Status != StatusSucceeded || n.Load() != 2 {
		t.Fatalf("tampered output reused: a=%s runs=%d", res.Stage("a").Status, n.Load())
	}
}

func TestResumeRefusesOtherConfigAndFinishedRuns(t *testing.T) {
	var n atomic.Int32
	r := newTestRunner(t, []Stage{writeStage("a", nil, &n)})
	rec, err := r.Run(context.Background(), Options{Config: "a: 1\n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(context.Background(), Options{ResumeID: rec.ID}); err == nil || !strings.Contains(err.Error(), "already succeeded") {
		t.Errorf("resume of finished run: %v", err)
	}
	if _, err := r.Run(context.Background(), Options{ResumeID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("resume of unknown run: %v", err)
	}
}

func TestSecondRunIsRefused(t *testing.T) {
	root := t.TempDir()
	recs := &DirRecords{Root: root}
	inside := make(chan struct{})
	release := make(chan struct{})
	block := Stage{Name: "block", Run: func(ctx context.Context, rc *RunContext) (*Result, error) {
		close(inside)
		<-release
		return &Result{}, nil
	}}
	first := &Runner{Records: recs, Root: root, Stages: []Stage{block}, Holder: "first"}
	done := make(chan error)
	go func() { _, err := first.Run(context.Background(), Options{}); done <- err }()
	<-inside
	second := &Runner{Records: &DirRecords{Root: root}, Root: root, Stages: []Stage{block}, Holder: "second"}
	_, err := second.Run(context.Background(), Options{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "first") {
		t.Fatalf("second run: err = %v, want ErrLocked naming the holder", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Free again once the first finished.
	unlock, err := recs.Lock(context.Background(), "third")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}

func TestWritePromFile(t *testing.T) {
	var n atomic.Int32
	r := newTestRunner(t, []Stage{writeStage("a", nil, &n)})
	rec, err := r.Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec.Stages[0].Metrics = map[string]float64{"auc h10": 0.9}
	path := filepath.Join(t.TempDir(), "faultline.prom")
	if err := WritePromFile(path, rec); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{
		fmt.Sprintf("faultline_run_success{run_id=%q} 1", rec.ID),
		`faultline_stage_success{stage="a"} 1`,
		`faultline_stage_rows{stage="a",table="a"} 1`,
		`faultline_stage_metric{stage="a",metric="auc_h10"} 0.9`,
		"# TYPE faultline_run_duration_seconds gauge",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics file lacks %q:\n%s", want, b)
		}
	}
}
