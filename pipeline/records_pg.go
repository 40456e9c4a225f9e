package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// runLockKey is the advisory-lock key of the run lock ("faultline-run").
const runLockKey int64 = 0x66_6c_72_75_6e_6c_6b // "flrunlk"

// PGRecords keeps run records in PostgreSQL (table pipeline_runs, migration
// 0020) and takes the run lock as a session-level advisory lock held on a
// dedicated connection for the length of the run.
type PGRecords struct {
	Pool *pgxpool.Pool
}

var _ Records = (*PGRecords)(nil)

// Put upserts the record.
func (p *PGRecords) Put(ctx context.Context, r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode run record: %w", err)
	}
	var finished any
	if !r.FinishedAt.IsZero() {
		finished = r.FinishedAt
	}
	_, err = p.Pool.Exec(ctx, `
INSERT INTO pipeline_runs (run_id, started_at, finished_at, status, record)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (run_id) DO UPDATE
SET finished_at = EXCLUDED.finished_at, status = EXCLUDED.status, record = EXCLUDED.record`,
		r.ID, r.StartedAt, finished, string(r.Status), data)
	if err != nil {
		return fmt.Errorf("save run record %s: %w", r.ID, err)
	}
	return nil
}

// Get reads one record.
func (p *PGRecords) Get(ctx context.Context, id string) (*Record, error) {
	var data []byte
	err := p.Pool.QueryRow(ctx, `SELECT record FROM pipeline_runs WHERE run_id = $1`, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read run record %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode run record %s: %w", id, err)
	}
	return &r, nil
}

// List returns records newest first.
func (p *PGRecords) List(ctx context.Context, limit int) ([]*Record, error) {
	if limit <= 0 {
		limit = 1 << 30
	}
	rows, err := p.Pool.Query(ctx, `SELECT record FROM pipeline_runs ORDER BY started_at DESC, run_id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("decode run record: %w", err)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// Lock takes the advisory lock without waiting. The lock lives as long as
// the connection: a crashed run's lock is released by the server.
func (p *PGRecords) Lock(ctx context.Context, holder string) (func() error, error) {
	conn, err := p.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, runLockKey).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("run lock: %w", err)
	}
	if !ok {
		conn.Release()
		var who string
		_ = p.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(run_id, ', '), '') FROM pipeline_runs WHERE status = 'running'`).Scan(&who)
		if who == "" {
			who = "a run whose record is not saved yet"
		} else {
			who = "run " + who
		}
		return nil, fmt.Errorf("%w (%s)", ErrLocked, who)
	}
	return func() error {
		defer conn.Release()
		_, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, runLockKey)
		return err
	}, nil
}
