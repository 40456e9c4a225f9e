// Package stores opens the stores a Faultline process works with — the
// history store, the model registry's backend and the pipeline's run
// records — in one place, for either backend:
//
//   - with a PostgreSQL DSN (`--db`), all three live in that database and
//     share ONE connection pool, opened on first use and closed by Close;
//   - without one, they are the embedded store in the home folder
//     (HOME/history), the registry folder HOME/registry and the run records
//     HOME/runs/ID/run.json.
//
// Each store is opened when first asked for, so that a command reading only
// the registry does not open the history. A DSN's database must be migrated
// (`faultline db migrate`) before any store is opened from it: the history
// store checks every migration, those of the registry and run-record tables
// included.
//
// The run lock of a PostgreSQL run is held on a connection of the shared
// pool for the length of the run, so a run has one connection fewer for
// reading the history than the pool's size (pool_max_conns in the DSN;
// pgx's default is the larger of 4 and the number of CPUs).
package stores

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded"
	"github.com/faultline-dev/faultline/internal/history/pgstore"
	"github.com/faultline-dev/faultline/pipeline"
	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/pgregistry"
)

// Folders of the embedded backend under the home folder.
const (
	RegistryDir = "registry"
	RunsDir     = "runs"
)

// Stores opens and owns the stores of one process. It is safe for
// concurrent use. The stores it returns stay valid until Close.
type Stores struct {
	dsn, home string

	mu      sync.Mutex
	closed  bool
	hist    history.Store
	pg      *pgstore.Store // the history store with a DSN; its pool is shared
	backend registry.Backend
}

// New returns the stores of a DSN (PostgreSQL) or, when dsn is empty, of
// the embedded home folder. Nothing is opened yet.
func New(dsn, home string) *Stores {
	return &Stores{dsn: dsn, home: home}
}

// DSN returns the PostgreSQL connection string, "" for the embedded store.
func (s *Stores) DSN() string { return s.dsn }

// Home returns the home folder.
func (s *Stores) Home() string { return s.home }

// Postgres reports whether the stores live in PostgreSQL.
func (s *Stores) Postgres() bool { return s.dsn != "" }

// ErrClosed is returned by the accessors after Close.
var ErrClosed = errors.New("stores: closed")

// History returns the history store, opening it on first use.
func (s *Stores) History(ctx context.Context) (history.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.history(ctx)
}

func (s *Stores) history(ctx context.Context) (history.Store, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if s.hist != nil {
		return s.hist, nil
	}
	if s.dsn != "" {
		pg, err := pgstore.OpenStore(ctx, s.dsn)
		if err != nil {
			return nil, err
		}
		s.pg, s.hist = pg, pg
		return pg, nil
	}
	h, err := embedded.Open(ctx, s.home)
	if err != nil {
		return nil, err
	}
	s.hist = h
	return h, nil
}

// Pool returns the connection pool every PostgreSQL store of the process
// shares, opening it (with the history store) on first use. It is an error
// without a DSN. The pool belongs to Stores: do not close it.
func (s *Stores) Pool(ctx context.Context) (*pgxpool.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pool(ctx)
}

func (s *Stores) pool(ctx context.Context) (*pgxpool.Pool, error) {
	if s.dsn == "" {
		return nil, errors.New("stores: no PostgreSQL DSN: the embedded store has no connection pool")
	}
	if _, err := s.history(ctx); err != nil {
		return nil, err
	}
	return s.pg.Pool(), nil
}

// Registry returns the model registry with settings cfg (the validated
// "registry" section): PostgreSQL tables with a DSN, else HOME/registry.
// The backend is opened on first use and shared by every Registry returned;
// closing one of them does not close it (Close does).
func (s *Stores) Registry(ctx context.Context, cfg registry.Config) (*registry.Registry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.backend == nil {
		if s.dsn != "" {
			pool, err := s.pool(ctx)
			if err != nil {
				return nil, err
			}
			db, err := pgregistry.New(ctx, pool)
			if err != nil {
				return nil, err
			}
			s.backend = describedBackend{Backend: db, desc: s.pg.Describe()}
		} else {
			d, err := registry.OpenDir(filepath.Join(s.home, RegistryDir))
			if err != nil {
				return nil, err
			}
			s.backend = d
		}
	}
	return registry.New(unclosable{s.backend}, cfg), nil
}

// RunRecords returns where pipeline runs are recorded and locked: table
// pipeline_runs with a DSN, else HOME/runs.
func (s *Stores) RunRecords(ctx context.Context) (pipeline.Records, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.dsn == "" {
		return &pipeline.DirRecords{Root: filepath.Join(s.home, RunsDir)}, nil
	}
	pool, err := s.pool(ctx)
	if err != nil {
		return nil, err
	}
	return &pipeline.PGRecords{Pool: pool}, nil
}

// Close closes what was opened — with a DSN, the one pool — once. Later
// calls do nothing.
func (s *Stores) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.backend != nil {
		if err := s.backend.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close registry: %w", err))
		}
	}
	if s.hist != nil {
		if err := s.hist.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close history store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// describedBackend names a registry on the shared pool as the history store
// names its database (pgregistry.New cannot see the DSN).
type describedBackend struct {
	registry.Backend
	desc string
}

func (b describedBackend) Describe() string { return b.desc }

// unclosable is the backend as the Registry values handed out see it:
// Stores closes the backend, once.
type unclosable struct{ registry.Backend }

func (unclosable) Close() error { return nil }
