package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dsnWith returns dsn with extra connection parameters, in either DSN form.
func dsnWith(t *testing.T, dsn string, params map[string]string) string {
	t.Helper()
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		dsn += fmt.Sprintf(" %s=%s", k, v)
	}
	return dsn
}

// connWatcher is the stderr of a run: at every log line it counts the
// database sessions of the run (by application_name), from a connection of
// its own.
type connWatcher struct {
	mu      sync.Mutex
	conn    *pgx.Conn
	app     string
	samples int
	max     int
	err     error
	log     bytes.Buffer
}

func (w *connWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log.Write(p)
	var n int
	if err := w.conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, w.app).Scan(&n); err != nil {
		w.err = err
		return len(p), nil
	}
	w.samples++
	w.max = max(w.max, n)
	return len(p), nil
}

// A --db run opens one connection pool, shared by the history store, the
// registry and the run records: with pool_max_conns=3 in the DSN, the run
// never holds more than 3 sessions. (Before the stores were opened in one
// place it held at least 4 whenever a stage finished: one pool each for
// the history, the registry and the records, the last holding the run lock
// and saving the record.)
func TestRunSharesOnePool(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates, trains and evaluates in PostgreSQL; skipped with -short")
	}
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	home := t.TempDir()
	mustCLI(t, "--db", dsn, "--home", home, "db", "migrate")
	mustCLI(t, "--db", dsn, "--home", home, "simulate", "--services", "6", "--days", "5", "--fault-rate", "0.15")

	const app, maxConns = "faultline-one-pool-test", 3
	runDSN := dsnWith(t, dsn, map[string]string{"application_name": app, "pool_max_conns": fmt.Sprint(maxConns)})
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	w := &connWatcher{conn: conn, app: app}
	var out bytes.Buffer
	code := runMain(ctx, []string{"--log-format", "json", "--db", runDSN, "--home", home, "run", "--no-promote"}, &out, w)
	if code != exitOK {
		t.Fatalf("faultline run: exit %d\n%s\n%s", code, out.String(), w.log.String())
	}
	if w.err != nil {
		t.Fatal(w.err)
	}
	t.Logf("%d samples, at most %d sessions of the run at once", w.samples, w.max)
	// At least 2 at every stage's end: the run lock's session and another.
	if w.samples < 8 || w.max < 2 || w.max > maxConns {
		t.Errorf("%d samples, at most %d sessions of the run at once: want 2 to %d (one pool of %d)", w.samples, w.max, maxConns, maxConns)
	}
}
