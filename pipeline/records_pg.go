package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// runLockKey is the advisory-lock key of the run lock ("faultline-run").
const runLockKey int64 = 0x66_6c_72_75_6e_6c_6b // "flrunlk"

// PGRecords keeps run records in PostgreSQL (table pipeline_runs, migration
// 0020) and takes the run lock, and each run's own lock, as session-level
// advisory locks held on one dedicated connection for the length of the
// run.
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
	return p.LockRun(ctx, "", holder)
}

// runClassKey is the first key of the advisory lock each run holds, with a
// hash of its id as the second: the two-key form, displayed in pg_locks
// with objsubid 2, so it never clashes with the run lock's single key.
const runClassKey int32 = 0x66_6c_72_75 // "flru"

// runKey is the second key of run id's advisory lock: 31 bits of its
// FNV-1a hash, so that pg_locks shows it as the same number (objid is an
// oid). Two ids sharing a key could only make Live call a dead run live
// while the other one runs.
func runKey(id string) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32() & 0x7fff_ffff)
}

// LockRun takes the run lock (as Lock) and, on the same connection, the
// advisory lock of run id (runClassKey, runKey(id)): a run uses one
// connection of the pool for its locks. With id "" only the run lock is
// taken.
func (p *PGRecords) LockRun(ctx context.Context, id, holder string) (func() error, error) {
	if id != "" && !validID(id) {
		return nil, fmt.Errorf("run lock: invalid run id %q", id)
	}
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
		return nil, fmt.Errorf("%w (%s)", ErrLocked, p.holder(ctx))
	}
	unlock := func() error {
		defer conn.Release()
		// On an error the connection is closed: the server then releases
		// every lock of the session.
		if id != "" {
			if _, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1::int4, $2::int4)`, runClassKey, runKey(id)); err != nil {
				conn.Conn().Close(context.Background())
				return err
			}
		}
		_, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, runLockKey)
		if err != nil {
			conn.Conn().Close(context.Background())
		}
		return err
	}
	if id != "" {
		// Only another process resuming the same run could hold it, and
		// it would need the run lock first: this never waits.
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1::int4, $2::int4)`, runClassKey, runKey(id)); err != nil {
			_ = unlock()
			return nil, fmt.Errorf("run lock of %s: %w", id, err)
		}
	}
	return unlock, nil
}

// holder names the live runs, for an ErrLocked message.
func (p *PGRecords) holder(ctx context.Context) string {
	rows, err := p.Pool.Query(ctx, `SELECT run_id FROM pipeline_runs WHERE status = 'running' ORDER BY started_at`)
	var ids []string
	if err == nil {
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err == nil {
		live, lerr := p.Live(ctx, ids)
		if lerr == nil {
			var who []string
			for _, id := range ids {
				if live[id] {
					who = append(who, id)
				}
			}
			if len(who) > 0 {
				return "run " + strings.Join(who, ", ")
			}
		}
	}
	return "a run whose record is not saved yet"
}

// Live reads pg_locks (it takes no lock): a run whose advisory lock a
// session of this database holds is live.
func (p *PGRecords) Live(ctx context.Context, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := p.Pool.Query(ctx, `
SELECT objid FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, uint32(runClassKey))
	if err != nil {
		return nil, fmt.Errorf("read run locks: %w", err)
	}
	held, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return nil, fmt.Errorf("read run locks: %w", err)
	}
	keys := map[uint32]bool{}
	for _, k := range held {
		keys[k] = true
	}
	for _, id := range ids {
		if keys[uint32(runKey(id))] {
			out[id] = true
		}
	}
	return out, nil
}
