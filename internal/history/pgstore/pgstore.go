// Package pgstore is the PostgreSQL history store: it implements
// history.Store over the schema in migrations/ (described in docs/schema.md).
//
// Open does not migrate: it checks that every migration embedded in this
// binary has been applied and otherwise fails with a *NotMigratedError that
// tells the user to run `faultline db migrate`. Schema changes are thus an
// explicit, visible step (and need a role allowed to run DDL), while the
// pipeline itself can run with a role that only reads and writes rows.
// Migrate applies the migrations for callers that want it (tests, `db
// migrate`).
//
// Imports are bulk: rows are sent with binary COPY — straight into a new,
// not yet attached and unindexed monthly partition when the month has no
// partition yet, else into temporary staging tables — and merged with
// set-based INSERT ... ON CONFLICT DO UPDATE at Commit, all in one
// transaction.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/migrations"
)

// Store is the PostgreSQL history store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	desc string
}

var _ history.Store = (*Store)(nil)

// NotMigratedError is returned by Open when the database lacks migrations
// that this binary needs.
type NotMigratedError struct {
	Database string
	Pending  []string // migration names, in order
	Total    int
}

func (e *NotMigratedError) Error() string {
	if len(e.Pending) == e.Total {
		return fmt.Sprintf("database %s has no Faultline schema: run `faultline db migrate` (with the same --db) first", e.Database)
	}
	return fmt.Sprintf("database %s schema is out of date (%d of %d migrations pending, first %s): run `faultline db migrate` first",
		e.Database, len(e.Pending), e.Total, e.Pending[0])
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string) and checks that its schema is migrated.
func Open(ctx context.Context, dsn string) (history.Store, error) {
	s, err := OpenStore(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenStore is Open returning the concrete type.
func OpenStore(ctx context.Context, dsn string) (*Store, error) {
	pool, desc, err := connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	pending, err := migrations.Pending(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: check schema: %w", desc, err)
	}
	if len(pending) > 0 {
		pool.Close()
		all, _ := migrations.All()
		return nil, &NotMigratedError{Database: desc, Pending: pending, Total: len(all)}
	}
	return &Store{pool: pool, desc: desc}, nil
}

func connect(ctx context.Context, dsn string) (*pgxpool.Pool, string, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included: do not wrap it.
		return nil, "", errors.New("postgres: invalid --db connection string (want postgres://user@host/db or host=... dbname=...)")
	}
	desc := describe(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, "", fmt.Errorf("postgres %s: %w", desc, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, "", fmt.Errorf("postgres %s: connect: %w", desc, err)
	}
	return pool, desc, nil
}

// describe names the database without credentials.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	host := c.Host
	if strings.HasPrefix(host, "/") {
		return fmt.Sprintf("postgres://%s?host=%s&port=%d", "/"+c.Database, host, c.Port)
	}
	return fmt.Sprintf("postgres://%s:%d/%s", host, c.Port, c.Database)
}

// Migrate applies the pending migrations to the database at dsn.
func Migrate(ctx context.Context, dsn string) (migrations.Result, error) {
	pool, desc, err := connect(ctx, dsn)
	if err != nil {
		return migrations.Result{}, err
	}
	defer pool.Close()
	res, err := migrations.Up(ctx, pool)
	if err != nil {
		return res, fmt.Errorf("postgres %s: %w", desc, err)
	}
	return res, nil
}

// MigrationStatus lists the applied and pending migrations of the database
// at dsn. It also returns the database's description.
func MigrationStatus(ctx context.Context, dsn string) ([]migrations.State, string, error) {
	pool, desc, err := connect(ctx, dsn)
	if err != nil {
		return nil, "", err
	}
	defer pool.Close()
	st, err := migrations.Status(ctx, pool)
	if err != nil {
		return nil, desc, fmt.Errorf("postgres %s: %w", desc, err)
	}
	return st, desc, nil
}

// Describe names the database, e.g. "postgres://host:5432/db".
func (s *Store) Describe() string { return s.desc }

// Close closes the connection pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool exposes the connection pool, for packages that keep their own tables
// in the same database (registry, pipeline runs).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
