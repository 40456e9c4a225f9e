package stores_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/history/pgstore"
	"github.com/faultline-dev/faultline/internal/pgtest"
	"github.com/faultline-dev/faultline/internal/stores"
	"github.com/faultline-dev/faultline/pipeline"
	"github.com/faultline-dev/faultline/registry"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestEmbedded(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s := stores.New("", home)
	if s.Postgres() {
		t.Fatal("no DSN, but Postgres() is true")
	}
	if _, err := s.Pool(ctx); err == nil {
		t.Error("Pool without a DSN: no error")
	}
	h, err := s.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h2, _ := s.History(ctx); h2 != h {
		t.Error("History opened twice")
	}
	if got := h.Describe(); got != "embedded:"+home {
		t.Errorf("history %q", got)
	}
	r, err := s.Registry(ctx, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Backend().Describe(), "embedded:"+filepath.Join(home, stores.RegistryDir); got != want {
		t.Errorf("registry %q, want %q", got, want)
	}
	recs, err := s.RunRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := recs.(*pipeline.DirRecords); !ok || d.Root != filepath.Join(home, stores.RunsDir) {
		t.Errorf("run records %#v", recs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.History(ctx); !errors.Is(err, stores.ErrClosed) {
		t.Errorf("History after Close: %v", err)
	}
}

// withAppName returns dsn with application_name set, in either DSN form.
func withAppName(t *testing.T, dsn, name string) string {
	t.Helper()
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " application_name=" + name
}

var appSeq atomic.Int64

// With a DSN the history store, the registry and the run records share one
// pool: every connection the process holds to the database is one of that
// pool's, and closing the stores closes it.
func TestPostgresSharesOnePool(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	if _, err := pgstore.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("faultline-stores-test-%d", appSeq.Add(1))
	s := stores.New(withAppName(t, dsn, app), "")
	defer s.Close()

	h, err := s.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Registry(ctx, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.RunRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := s.Pool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pg, ok := recs.(*pipeline.PGRecords); !ok || pg.Pool != pool {
		t.Fatalf("run records %#v do not use the shared pool", recs)
	}
	if got, want := r.Backend().Describe(), h.Describe(); got != want || !strings.HasPrefix(got, "postgres://") {
		t.Errorf("registry %q, history %q", got, want)
	}
	// Use all three at once: the run lock holds a connection meanwhile.
	unlock, err := recs.Lock(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Services(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backend().Models(ctx); err != nil {
		t.Fatal(err)
	}
	if err := recs.Put(ctx, &pipeline.Record{ID: "r1", StartedAt: time.Now(), Status: pipeline.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	// Closing a Registry handed out does not close the shared backend.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backend().Models(ctx); err != nil {
		t.Fatalf("registry after its Close: %v", err)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int32
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if total := pool.Stat().TotalConns(); n < 2 || n != total {
		t.Errorf("%d connections with application_name %s, the shared pool has %d (want all of them, at least 2: the lock's and another)", n, app, total)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunRecords(ctx); !errors.Is(err, stores.ErrClosed) {
		t.Errorf("RunRecords after Close: %v", err)
	}
}

// Every store of a DSN needs a migrated database, and says so.
func TestPostgresNotMigrated(t *testing.T) {
	ctx := context.Background()
	s := stores.New(pgtest.DSN(t), "")
	defer s.Close()
	var nm *pgstore.NotMigratedError
	if _, err := s.Registry(ctx, registry.DefaultConfig()); !errors.As(err, &nm) {
		t.Errorf("Registry on an empty database: %v", err)
	}
	if _, err := s.RunRecords(ctx); !errors.As(err, &nm) {
		t.Errorf("RunRecords on an empty database: %v", err)
	}
}
