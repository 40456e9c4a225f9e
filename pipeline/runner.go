package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/internal/progress"
)

// Stage is one step of a run. Run must be deterministic for the same inputs
// and must write its outputs under rc.Dir through temp names renamed into
// place, so that a stage interrupted halfway leaves no output that looks
// finished.
type Stage struct {
	Name string
	Run  func(ctx context.Context, rc *RunContext) (*Result, error)
}

// Result is what a stage reports.
type Result struct {
	// Outputs are the files the stage wrote, relative to the run folder;
	// they are checksummed into the record and verified on resume.
	Outputs []string
	// Inputs are files the stage read from outside the run folder (absolute
	// paths), checksummed for lineage.
	Inputs  []string
	Rows    map[string]int64
	Metrics map[string]float64
	Notes   map[string]string
	// Skipped marks a stage that decided it had nothing to do.
	Skipped bool
}

// RunContext is what a stage gets.
type RunContext struct {
	// ID of the run and Dir, its folder.
	ID  string
	Dir string
	Log *slog.Logger
	// Progress reports progress within the stage.
	Progress progress.Func
	// Record is the run's record so far: later stages read earlier stages'
	// notes and metrics from it (e.g. the registered model version).
	Record *Record
}

// Runner runs stages in order and records what happened.
type Runner struct {
	Records Records
	// Root is the folder under which each run gets its folder ROOT/ID.
	Root        string
	Stages      []Stage
	Log         *slog.Logger
	Progress    progress.Func
	CodeVersion string
	StoreName   string
	// Holder describes this process in the run lock (host, pid).
	Holder string
	// Now returns the current time; tests may set it. Default time.Now.
	Now func() time.Time
}

// Options select a new run or the resumption of an earlier one.
type Options struct {
	// ResumeID, when set, resumes that run from its first unfinished stage.
	ResumeID string
	// Config is the resolved configuration (YAML), saved with the run. On
	// resume it must equal the saved one unless ForceConfig is set.
	Config string
}

// StageError reports the stage that failed a run.
type StageError struct {
	RunID string
	Stage string
	Err   error
}

func (e *StageError) Error() string {
	return fmt.Sprintf("run %s: stage %s: %v", e.RunID, e.Stage, e.Err)
}
func (e *StageError) Unwrap() error { return e.Err }

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// NewRunID returns a sortable, unique run id: UTC time plus random suffix.
func NewRunID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Run executes a new run, or resumes one, under the run lock and the run's
// own lock (Records.LockRun). It returns the final record; on a stage
// failure the error is a *StageError and the record says why (resume it).
// Resuming a run that succeeded returns an error wrapping ErrSucceeded
// and no record; one that another process runs, ErrLocked.
func (r *Runner) Run(ctx context.Context, opts Options) (*Record, error) {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root, err := filepath.Abs(r.Root)
	if err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	// The run's id is known before it is locked, so that its own lock
	// (Records.LockRun) tells who is live: a new run's id, or the resumed
	// one's, which must exist (no folder is made for a mistyped id).
	id, start := opts.ResumeID, r.now()
	if id == "" {
		id = NewRunID(start)
	} else if _, err := r.Records.Get(ctx, id); err != nil {
		return nil, err
	}
	unlock, err := r.Records.LockRun(ctx, id, r.Holder)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := unlock(); err != nil {
			log.Warn("release run lock", slog.Any("error", err))
		}
	}()

	var rec *Record
	if opts.ResumeID != "" {
		rec, err = r.Records.Get(ctx, opts.ResumeID)
		if err != nil {
			return nil, err
		}
		if rec.Status == StatusSucceeded {
			return nil, fmt.Errorf("run %s %w", rec.ID, ErrSucceeded)
		}
		if opts.Config != "" && rec.Config != opts.Config {
			return nil, fmt.Errorf("run %s was started with a different configuration; start a new run instead of resuming", rec.ID)
		}
		rec.Attempts++
		rec.Error = ""
		rec.FinishedAt = time.Time{}
	} else {
		rec = &Record{
			ID: id, StartedAt: start, Attempts: 1,
			CodeVersion: r.CodeVersion, Store: r.StoreName,
			Dir: filepath.Join(root, id), Config: opts.Config,
		}
		for _, s := range r.Stages {
			rec.Stages = append(rec.Stages, &StageRecord{Name: s.Name, Status: StatusPending})
		}
	}
	if err := os.MkdirAll(rec.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create run folder: %w", err)
	}
	rec.Status = StatusRunning
	if err := r.Records.Put(ctx, rec); err != nil {
		return nil, fmt.Errorf("save run record: %w", err)
	}
	log = log.With(slog.String("run", rec.ID))
	log.Info("run started", slog.Int("attempt", rec.Attempts), slog.String("dir", rec.Dir))

	// Earlier stages' outputs are reused only while every one before them
	// was reused too: a re-run stage may change what later ones read.
	reusing := opts.ResumeID != ""
	for _, st := range r.Stages {
		sr := rec.Stage(st.Name)
		if sr == nil { // a stage added since the run began
			sr = &StageRecord{Name: st.Name, Status: StatusPending}
			rec.Stages = append(rec.Stages, sr)
		}
		if reusing && (sr.Status == StatusSucceeded || sr.Status == StatusReused || sr.Status == StatusSkipped) {
			if err := verify(rec.Dir, sr.Outputs); err == nil {
				if sr.Status != StatusSkipped {
					sr.Status = StatusReused
				}
				log.Info("stage reused", slog.String("stage", st.Name))
				continue
			} else {
				log.Warn("stage outputs do not verify; running it again", slog.String("stage", st.Name), slog.Any("error", err))
			}
		}
		reusing = false
		if err := r.runStage(ctx, rec, st, sr, log); err != nil {
			rec.Status = StatusFailed
			rec.Error = fmt.Sprintf("stage %s: %v", st.Name, err)
			rec.FinishedAt = r.now()
			// Save with a fresh context: the run's may be cancelled.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if perr := r.Records.Put(sctx, rec); perr != nil {
				log.Error("save run record", slog.Any("error", perr))
			}
			cancel()
			log.Error("run failed", slog.String("stage", st.Name), slog.Any("error", err))
			return rec, &StageError{RunID: rec.ID, Stage: st.Name, Err: err}
		}
	}
	rec.Status = StatusSucceeded
	rec.FinishedAt = r.now()
	if err := r.Records.Put(ctx, rec); err != nil {
		return rec, fmt.Errorf("save run record: %w", err)
	}
	log.Info("run succeeded", slog.Duration("duration", rec.Duration()))
	return rec, nil
}

func (r *Runner) runStage(ctx context.Context, rec *Record, st Stage, sr *StageRecord, log *slog.Logger) error {
	*sr = StageRecord{Name: st.Name, Status: StatusRunning, StartedAt: r.now()}
	if err := r.Records.Put(ctx, rec); err != nil {
		return fmt.Errorf("save run record: %w", err)
	}
	log.Info("stage started", slog.String("stage", st.Name))
	rc := &RunContext{ID: rec.ID, Dir: rec.Dir, Log: log.With(slog.String("stage", st.Name)), Progress: progress.Or(r.Progress), Record: rec}
	res, err := runSafely(ctx, st, rc)
	sr.FinishedAt = r.now()
	sr.Seconds = sr.FinishedAt.Sub(sr.StartedAt).Seconds()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		sr.Status = StatusFailed
		sr.Error = err.Error()
		return err
	}
	if res == nil {
		res = &Result{}
	}
	sr.Rows, sr.Metrics, sr.Notes = res.Rows, res.Metrics, res.Notes
	outs := append([]string(nil), res.Outputs...)
	sort.Strings(outs)
	for _, p := range outs {
		f, err := fileRecord(rec.Dir, p)
		if err != nil {
			sr.Status = StatusFailed
			sr.Error = fmt.Sprintf("checksum output: %v", err)
			return errors.New(sr.Error)
		}
		sr.Outputs = append(sr.Outputs, f)
	}
	for _, p := range res.Inputs {
		f, err := fileRecord(rec.Dir, p)
		if err != nil {
			sr.Status = StatusFailed
			sr.Error = fmt.Sprintf("checksum input: %v", err)
			return errors.New(sr.Error)
		}
		sr.Inputs = append(sr.Inputs, f)
	}
	sr.Status = StatusSucceeded
	if res.Skipped {
		sr.Status = StatusSkipped
	}
	if err := r.Records.Put(ctx, rec); err != nil {
		return fmt.Errorf("save run record: %w", err)
	}
	log.Info("stage finished", slog.String("stage", st.Name), slog.Float64("seconds", sr.Seconds), slog.Any("rows", sr.Rows))
	return nil
}

// runSafely turns a panicking stage into a failed stage.
func runSafely(ctx context.Context, st Stage, rc *RunContext) (res *Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return st.Run(ctx, rc)
}
