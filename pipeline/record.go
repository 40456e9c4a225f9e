// Package pipeline runs Faultline's stages in order as one nightly job —
// extract, label, train, evaluate, register, promote, export — and keeps a
// record of every run: per-stage status, timings, row counts, outputs with
// checksums and errors. Runs hold a store-wide lock so that two never
// overlap, and a run that died can be resumed from its first unfinished stage,
// reusing the outputs of finished stages once their checksums verify.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/registry"
)

// Status of a run or stage.
type Status string

// Statuses.
const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	// StatusReused marks a stage whose outputs, from an earlier attempt of the
	// same run, were verified by checksum and kept.
	StatusReused Status = "reused"
	// StatusSkipped marks a stage that had nothing to do (e.g. promotion
	// when the gate refused: the run still succeeds).
	StatusSkipped Status = "skipped"
	// StatusDead is never stored: MarkDead reports it for a run (and its
	// running stage) whose record says running while no process holds the
	// run's lock, i.e. the process was killed. Resume it with its id.
	StatusDead Status = "dead"
)

// Record is the record of one run.
type Record struct {
	ID          string    `json:"id"`
	Status      Status    `json:"status"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	Attempts    int       `json:"attempts"`
	CodeVersion string    `json:"code_version"`
	Store       string    `json:"store"`
	// Dir is the run's folder, holding every output file.
	Dir string `json:"dir"`
	// Config is the resolved configuration (YAML) the run used.
	Config string         `json:"config"`
	Error  string         `json:"error,omitempty"`
	Stages []*StageRecord `json:"stages"`
}

// StageRecord is the record of one stage of a run.
type StageRecord struct {
	Name       string             `json:"name"`
	Status     Status             `json:"status"`
	StartedAt  time.Time          `json:"started_at,omitzero"`
	FinishedAt time.Time          `json:"finished_at,omitzero"`
	Seconds    float64            `json:"seconds"`
	Rows       map[string]int64   `json:"rows,omitempty"`
	Metrics    map[string]float64 `json:"metrics,omitempty"`
	Notes      map[string]string  `json:"notes,omitempty"`
	Inputs     []File             `json:"inputs,omitempty"`
	Outputs    []File             `json:"outputs,omitempty"`
	Error      string             `json:"error,omitempty"`
}

// File is an input or output of a stage: its path relative to the run folder
// (or absolute, outside it) and its SHA-256.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// Stage returns the record of the named stage, or nil.
func (r *Record) Stage(name string) *StageRecord {
	for _, s := range r.Stages {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Registered returns the model version the run's register stage recorded;
// an error when it recorded none.
func (r *Record) Registered() (registry.Ref, error) {
	reg := r.Stage(StageRegister)
	if reg == nil || reg.Notes[NoteVersion] == "" {
		return registry.Ref{}, errors.New("no registered version")
	}
	v, err := strconv.Atoi(reg.Notes[NoteVersion])
	if err != nil {
		return registry.Ref{}, fmt.Errorf("registered version %q: %w", reg.Notes[NoteVersion], err)
	}
	return registry.Ref{Name: reg.Notes[NoteModel], Version: v}, nil
}

// Duration is the run's wall time so far (or in total, once finished). A
// dead run's ends at its last recorded activity: the latest start or end of
// a stage.
func (r *Record) Duration() time.Duration {
	end := r.FinishedAt
	if end.IsZero() && r.Status == StatusDead {
		end = r.StartedAt
		for _, s := range r.Stages {
			if s.StartedAt.After(end) {
				end = s.StartedAt
			}
			if s.FinishedAt.After(end) {
				end = s.FinishedAt
			}
		}
	}
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(r.StartedAt)
}

// Records stores run records. PostgreSQL and the embedded folder implement it.
type Records interface {
	// Put creates or replaces the record r.
	Put(ctx context.Context, r *Record) error
	// Get returns the record id, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// List returns up to limit records, newest first.
	List(ctx context.Context, limit int) ([]*Record, error)
	// Lock takes the store-wide run lock without waiting. It returns an
	// error wrapping ErrLocked when another run holds it. unlock releases it.
	Lock(ctx context.Context, holder string) (unlock func() error, err error)
	// LockRun is Lock for the run id: while the store-wide lock is held,
	// the run's own lock is held too, and Live reports the run as live.
	// Both locks die with the process (an flock, a database session), so
	// a killed run is never reported live. id must be a valid run id.
	LockRun(ctx context.Context, id, holder string) (unlock func() error, err error)
	// Live reports which of ids a live process holds (see LockRun), by
	// checking their locks: it takes none, so it never gets in a run's way.
	Live(ctx context.Context, ids []string) (map[string]bool, error)
}

// ErrNotFound is returned for an unknown run id.
var ErrNotFound = errors.New("no such run")

// ErrLocked is returned when another run holds the run lock.
var ErrLocked = errors.New("another run holds the run lock")

// ErrSucceeded is returned when asked to resume a run that succeeded:
// there is nothing left to run.
var ErrSucceeded = errors.New("already succeeded: nothing to resume")

// validID reports whether id can name a run (and its folder).
func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, "/\\\x00")
}

// MarkDead gives every record of list that says running, but whose run no
// process holds any more (Records.Live), the status StatusDead, and its
// running stage too; the store is not changed. A record whose run ended
// while it was being checked is replaced by its final version, so that a
// run that just finished is never called dead.
func MarkDead(ctx context.Context, recs Records, list []*Record) error {
	var ids []string
	for _, r := range list {
		if r.Status == StatusRunning {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	live, err := recs.Live(ctx, ids)
	if err != nil {
		return fmt.Errorf("check run locks: %w", err)
	}
	for i, r := range list {
		if r.Status != StatusRunning || live[r.ID] {
			continue
		}
		// A run saves its final record before releasing its lock: read
		// again now that the lock was seen free.
		now, err := recs.Get(ctx, r.ID)
		if err != nil {
			return err
		}
		if now.Status == StatusRunning {
			now.Status = StatusDead
			for _, s := range now.Stages {
				if s.Status == StatusRunning {
					s.Status = StatusDead
				}
			}
		}
		list[i] = now
	}
	return nil
}

// fileRecord checksums path (relative to dir when not absolute).
func fileRecord(dir, path string) (File, error) {
	full := path
	if !filepath.IsAbs(path) {
		full = filepath.Join(dir, path)
	}
	sum, n, err := workdir.Checksum(full)
	if err != nil {
		return File{}, err
	}
	return File{Path: path, SHA256: sum, Bytes: n}, nil
}

// verify reports whether every file still has its recorded checksum.
func verify(dir string, files []File) error {
	for _, f := range files {
		got, err := fileRecord(dir, f.Path)
		if err != nil {
			return fmt.Errorf("output %s: %w", f.Path, err)
		}
		if got.SHA256 != f.SHA256 {
			return fmt.Errorf("output %s changed since it was written (sha256 %s, recorded %s)", f.Path, got.SHA256[:12], f.SHA256[:12])
		}
	}
	return nil
}
