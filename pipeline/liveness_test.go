package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline-dev/faultline/internal/pgtest"
	"github.com/faultline-dev/faultline/migrations"
	"github.com/faultline-dev/faultline/pipeline"
)

// newRecords returns empty run records of backend (with pg, the pool's
// DSN too, to open other sessions).
func newRecords(t *testing.T, backend string) (pipeline.Records, string) {
	t.Helper()
	if backend == "embedded" {
		return &pipeline.DirRecords{Root: t.TempDir()}, ""
	}
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Up(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &pipeline.PGRecords{Pool: pool}, dsn
}

// status returns the status of run id as 'runs list' shows it.
func status(t *testing.T, recs pipeline.Records, id string) (pipeline.Status, *pipeline.Record) {
	t.Helper()
	ctx := context.Background()
	list, err := recs.List(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.MarkDead(ctx, recs, list); err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if r.ID == id {
			return r.Status, r
		}
	}
	t.Fatalf("run %s not listed", id)
	return "", nil
}

// A run whose record says running is reported dead when no process holds
// its lock, and running while one does; the lock is checked, never guessed
// from the record's age. On both backends (issue 14: a killed run stayed
// "running" in 'runs list' forever).
func TestKilledRunIsDead(t *testing.T) {
	for _, backend := range []string{"embedded", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			recs, dsn := newRecords(t, backend)
			root := t.TempDir()

			// A live run, inside its stage.
			inside, release := make(chan string), make(chan struct{})
			block := pipeline.Stage{Name: "block", Run: func(ctx context.Context, rc *pipeline.RunContext) (*pipeline.Result, error) {
				inside <- rc.ID
				<-release
				return &pipeline.Result{}, nil
			}}
			r := &pipeline.Runner{Records: recs, Root: root, Stages: []pipeline.Stage{block}, Holder: "pid 1 on test"}
			done := make(chan error)
			go func() { _, err := r.Run(ctx, pipeline.Options{}); done <- err }()
			id := <-inside
			if st, _ := status(t, recs, id); st != pipeline.StatusRunning {
				t.Errorf("live run listed as %s", st)
			}
			_, err := recs.LockRun(ctx, pipeline.NewRunID(time.Now()), "second")
			if !errors.Is(err, pipeline.ErrLocked) || !strings.Contains(err.Error(), "run "+id) {
				t.Errorf("second run: %v, want ErrLocked naming run %s", err, id)
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if st, _ := status(t, recs, id); st != pipeline.StatusSucceeded {
				t.Errorf("finished run listed as %s", st)
			}

			// What a killed run leaves: a record saying running, and
			// (with PostgreSQL) its locks held by a session that then
			// goes away with the process.
			killed := &pipeline.Record{ID: "20260101T000000Z-dead00", Status: pipeline.StatusRunning, Attempts: 1,
				StartedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Dir: filepath.Join(root, "20260101T000000Z-dead00"),
				Stages: []*pipeline.StageRecord{
					{Name: "extract", Status: pipeline.StatusSucceeded, StartedAt: time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC), FinishedAt: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)},
					{Name: "label", Status: pipeline.StatusRunning, StartedAt: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)},
				}}
			if backend == "postgres" {
				pool, err := pgxpool.New(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer pool.Close()
				other := &pipeline.PGRecords{Pool: pool}
				unlock, err := other.LockRun(ctx, killed.ID, "doomed")
				if err != nil {
					t.Fatal(err)
				}
				if err := recs.Put(ctx, killed); err != nil {
					t.Fatal(err)
				}
				if st, _ := status(t, recs, killed.ID); st != pipeline.StatusRunning {
					t.Errorf("run whose session holds its lock listed as %s", st)
				}
				// The process dies: its session ends without unlocking.
				// pg_terminate_backend with a timeout returns once the
				// session is gone, its locks with it.
				var gone bool
				err = pool.QueryRow(ctx, `
SELECT bool_and(pg_terminate_backend(pid, 60000)) FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND pid <> pg_backend_pid()
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&gone)
				if err != nil || !gone {
					t.Fatalf("terminate the run's session: %v, %v", gone, err)
				}
				_ = unlock() // fails on the dead session; returns the connection to the pool
			} else if err := recs.Put(ctx, killed); err != nil {
				t.Fatal(err)
			}
			st, rec := status(t, recs, killed.ID)
			if st != pipeline.StatusDead || rec.Stage("label").Status != pipeline.StatusDead || rec.Stage("extract").Status != pipeline.StatusSucceeded {
				t.Errorf("killed run listed as %s (stages %s, %s), want dead (succeeded, dead)", st, rec.Stage("extract").Status, rec.Stage("label").Status)
			}
			if d := rec.Duration(); d != time.Minute {
				t.Errorf("dead run's duration %s, want 1m0s (to its last recorded activity)", d)
			}
			saved, err := recs.Get(ctx, killed.ID)
			if err != nil || saved.Status != pipeline.StatusRunning {
				t.Errorf("the stored record changed: %v, %v", saved.Status, err)
			}
		})
	}
}

// A mistyped id makes no run folder; a run that succeeded is not resumed
// and its record is not handed back as if it had run again.
func TestResumeRefusals(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	recs := &pipeline.DirRecords{Root: root}
	ok := pipeline.Stage{Name: "ok", Run: func(ctx context.Context, rc *pipeline.RunContext) (*pipeline.Result, error) {
		return &pipeline.Result{}, nil
	}}
	r := &pipeline.Runner{Records: recs, Root: root, Stages: []pipeline.Stage{ok}, Holder: "test"}
	if _, err := r.Run(ctx, pipeline.Options{ResumeID: "nope"}); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("resume of an unknown run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("resume of an unknown run made its folder: %v", err)
	}
	rec, err := r.Run(ctx, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Run(ctx, pipeline.Options{ResumeID: rec.ID})
	if !errors.Is(err, pipeline.ErrSucceeded) || again != nil {
		t.Errorf("resume of a succeeded run: %v, %v; want ErrSucceeded and no record", again, err)
	}
	if saved, _ := recs.Get(ctx, rec.ID); saved.Attempts != 1 || saved.Status != pipeline.StatusSucceeded {
		t.Errorf("record after the refused resume: attempt %d, %s", saved.Attempts, saved.Status)
	}
}
