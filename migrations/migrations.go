// Package migrations holds Faultline's PostgreSQL schema as SQL files
// embedded in the binary, and the migrator that applies them.
//
// Files are named NNNN_name.sql and applied in order of NNNN, each in its own
// transaction, and recorded in the table schema_migrations. Every transaction
// takes a transaction-level advisory lock first, so several processes
// migrating the same database at once apply each migration exactly once (the
// others wait, then see it applied). Migrations therefore cannot use
// statements that refuse to run in a transaction (CREATE INDEX CONCURRENTLY).
//
// Number ranges: 0001-0009 history, 0010-0019 registry, 0020-0029 pipeline
// runs, 0030-0039 roles and privileges. The schema is described in
// docs/schema.md, the roles in docs/security.md.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

//go:embed *.sql
var files embed.FS

// LabelerRole is the role that user-defined SQL labeling functions run
// under (migration 0030_labeler_role, docs/security.md): NOLOGIN, with SELECT
// on the history tables a labeling function may read and nothing else.
const LabelerRole = "faultline_labeler"

// lockKey is the advisory lock key taken by every migration transaction.
const lockKey int64 = 0x6661756c746c696e // "faultlin"

// Migration is one embedded SQL file.
type Migration struct {
	Version int    // NNNN
	Name    string // file name without .sql, e.g. "0001_services"
	SQL     string
	// Checksum is the hex SHA-256 of SQL.
	Checksum string
}

// All returns the embedded migrations in order of Version.
func All() ([]Migration, error) {
	return load(files)
}

func load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, n := range names {
		base := strings.TrimSuffix(n, ".sql")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", n)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, n, v)
		}
		seen[v] = n
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: v, Name: base, SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// DB is what the migrator needs: *pgx.Conn, *pgxpool.Pool and pgx.Tx all
// satisfy it.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// State is one migration's status in a database.
type State struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
	// Modified: applied, but the embedded file differs from what was applied.
	Modified bool `json:"modified,omitempty"`
	// Unknown: applied in the database but not embedded in this binary
	// (applied by a newer Faultline).
	Unknown bool `json:"unknown,omitempty"`
}

// Result says what Up did.
type Result struct {
	Applied []string `json:"applied"` // names applied by this call, in order
	Total   int      `json:"total"`   // embedded migrations
	// Labeler is the state of LabelerRole after Up re-applied its
	// privileges, e.g. "faultline_labeler: SELECT on 7 history tables of
	// schema public", or why they were not applied (the role is absent and
	// the migrating role lacks CREATEROLE, …).
	Labeler string `json:"labeler,omitempty"`
}

const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// Up applies every embedded migration not yet applied, in order, each in
// its own transaction, and then re-applies the privileges of LabelerRole
// (creating it when it is missing and the current role may), so that a role
// a DBA created after the migrations gets them. It is idempotent and safe to
// run concurrently.
func Up(ctx context.Context, db DB) (Result, error) {
	all, err := All()
	if err != nil {
		return Result{}, err
	}
	res, err := up(ctx, db, all)
	if err != nil {
		return res, err
	}
	res.Labeler, err = grantLabeler(ctx, db)
	return res, err
}

// grantLabeler runs faultline_grant_labeler (migration 0030) under the
// migration lock and returns the state it reports. It does nothing when the
// function does not exist, and reports instead of failing when the current
// role may not run it (the migrations were applied by another role).
func grantLabeler(ctx context.Context, db DB) (string, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return "", fmt.Errorf("labeler role: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	// The lock also serialises GRANTs, which fail with "tuple concurrently
	// updated" when two sessions change one object's privileges at once.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return "", fmt.Errorf("labeler role: advisory lock: %w", err)
	}
	var exists, may bool
	if err := tx.QueryRow(ctx, `SELECT p IS NOT NULL, p IS NOT NULL AND has_function_privilege(p, 'EXECUTE')
		FROM to_regprocedure('faultline_grant_labeler(text)') p`).Scan(&exists, &may); err != nil {
		return "", fmt.Errorf("labeler role: %w", err)
	}
	if !exists {
		return "", nil
	}
	if !may {
		var user string
		if err := tx.QueryRow(ctx, `SELECT current_user`).Scan(&user); err != nil {
			return "", fmt.Errorf("labeler role: %w", err)
		}
		return fmt.Sprintf("%s: privileges not re-applied (%s may not run faultline_grant_labeler; run faultline db migrate as the role that owns the schema)", LabelerRole, user), nil
	}
	var state string
	if err := tx.QueryRow(ctx, `SELECT faultline_grant_labeler($1)`, LabelerRole).Scan(&state); err != nil {
		return "", fmt.Errorf("labeler role: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return "", fmt.Errorf("labeler role: commit: %w", err)
	}
	return state, nil
}

func up(ctx context.Context, db DB, all []Migration) (Result, error) {
	res := Result{Total: len(all), Applied: []string{}}
	for _, m := range all {
		applied, err := apply(ctx, db, m)
		if err != nil {
			return res, err
		}
		if applied {
			res.Applied = append(res.Applied, m.Name)
		}
	}
	return res, nil
}

// apply applies m unless already applied, in one locked transaction.
func apply(ctx context.Context, db DB, m Migration) (bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("migration %s: begin: %w", m.Name, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return false, fmt.Errorf("migration %s: advisory lock: %w", m.Name, err)
	}
	if _, err := tx.Exec(ctx, createTable); err != nil {
		return false, fmt.Errorf("create schema_migrations: %w", err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&exists); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if exists {
		return false, nil
	}
	// Simple protocol: a file may hold several statements.
	if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`,
		m.Version, m.Name, m.Checksum); err != nil {
		return false, fmt.Errorf("migration %s: record: %w", m.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("migration %s: commit: %w", m.Name, err)
	}
	return true, nil
}

// Status lists every embedded migration, applied or pending, followed by
// migrations applied in the database that this binary does not know.
func Status(ctx context.Context, db DB) ([]State, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	return status(ctx, db, all)
}

func status(ctx context.Context, db DB, all []Migration) ([]State, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	type row struct {
		name, sum string
		at        time.Time
	}
	applied := map[int]row{}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	if exists {
		rows, err := tx.Query(ctx, `SELECT version, name, checksum, applied_at FROM schema_migrations`)
		if err != nil {
			return nil, fmt.Errorf("migration status: %w", err)
		}
		for rows.Next() {
			var v int
			var r row
			if err := rows.Scan(&v, &r.name, &r.sum, &r.at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("migration status: %w", err)
			}
			applied[v] = r
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("migration status: %w", err)
		}
	}
	var out []State
	for _, m := range all {
		s := State{Version: m.Version, Name: m.Name}
		if r, ok := applied[m.Version]; ok {
			s.Applied, s.AppliedAt, s.Modified = true, r.at.UTC(), r.sum != m.Checksum
			delete(applied, m.Version)
		}
		out = append(out, s)
	}
	var extra []State
	for v, r := range applied {
		extra = append(extra, State{Version: v, Name: r.name, Applied: true, AppliedAt: r.at.UTC(), Unknown: true})
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Version < extra[j].Version })
	return append(out, extra...), nil
}

// Pending returns the names of the embedded migrations not applied to db.
func Pending(ctx context.Context, db DB) ([]string, error) {
	st, err := Status(ctx, db)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range st {
		if !s.Applied {
			out = append(out, s.Name)
		}
	}
	return out, nil
}
