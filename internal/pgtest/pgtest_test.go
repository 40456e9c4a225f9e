package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %q: %v", dsn, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestDSNGivesFreshEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	dsn := DSN(t)
	c := connect(t, dsn)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("new database has %d tables in public, want 0", n)
	}
	if _, err := c.Exec(ctx, `CREATE TABLE x (a int); INSERT INTO x VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	// A second database of the same test is distinct.
	dsn2 := DSN(t)
	if dsn2 == dsn {
		t.Fatalf("two calls returned the same DSN %q", dsn)
	}
	c2 := connect(t, dsn2)
	if err := c2.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("second database sees %d tables, want 0", n)
	}
}

func TestDatabaseDroppedAtCleanup(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	var name string
	t.Run("inner", func(t *testing.T) {
		c := connect(t, DSN(t))
		if err := c.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		// The connection is still open when the database is dropped:
		// cleanup forces it out. (connect's cleanup runs first anyway.)
	})
	if name == "" {
		t.Fatal("inner test did not run")
	}
	s, err := get()
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, s.baseDSN)
	var exists bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

func TestDropForcesOpenSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	var name string
	var leaked *pgx.Conn
	t.Run("inner", func(t *testing.T) {
		dsn := DSN(t)
		c, err := pgx.Connect(ctx, dsn) // deliberately never closed by the test
		if err != nil {
			t.Fatal(err)
		}
		leaked = c
		if err := c.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	defer leaked.Close(ctx)
	s, _ := get()
	c := connect(t, s.baseDSN)
	var exists bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s with an open session was not dropped", name)
	}
}

func TestFastSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	if _, err := get(); err == nil && srv.cluster == nil {
		t.Skip("settings are the external server's when " + EnvURL + " is set")
	}
	c := connect(t, DSN(t))
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		var v string
		if err := c.QueryRow(context.Background(), "SHOW "+name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != "off" {
			t.Errorf("%s = %s, want off", name, v)
		}
	}
}

func TestParallelTests(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := range 4 {
		t.Run(strings.Repeat("p", i+1), func(t *testing.T) {
			t.Parallel()
			c := connect(t, DSN(t))
			var name string
			if err := c.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[name] {
				t.Errorf("database %s handed out twice", name)
			}
			seen[name] = true
		})
	}
}

func TestDSNForURL(t *testing.T) {
	tests := []struct {
		base string
		url  bool
		want string
	}{
		{"postgres://u:p@h:5433/postgres?sslmode=disable", true, "postgres://u:p@h:5433/tdb?sslmode=disable"},
		{"postgresql://h/", true, "postgresql://h/tdb"},
		{"host=/tmp/x port=5 user=postgres dbname=postgres", false, "host=/tmp/x port=5 user=postgres dbname=postgres dbname=tdb"},
	}
	for _, tt := range tests {
		s := &server{baseDSN: tt.base, url: isURL(tt.base)}
		if s.url != tt.url {
			t.Errorf("isURL(%q) = %v", tt.base, s.url)
		}
		if got := s.dsnFor("tdb"); got != tt.want {
			t.Errorf("dsnFor(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}

func TestDBNameValid(t *testing.T) {
	n := dbName("TestX/sub test#1 with a very long name that goes on and on and on and on")
	if len(n) > 63 {
		t.Errorf("name %q longer than 63 bytes", n)
	}
	if nonIdent.MatchString(n) {
		t.Errorf("name %q has characters outside [a-z0-9_]", n)
	}
	if n2 := dbName("TestX"); n2 == n {
		t.Errorf("names repeat: %q", n)
	}
}

// TestWatchdogRemovesOrphanCluster starts a child test binary that creates a
// cluster and exits without Stop (as on a panic or -timeout); the watchdog
// must then shut the server down and remove its directory.
func TestWatchdogRemovesOrphanCluster(t *testing.T) {
	if os.Getenv("PGTEST_CHILD_DIE") == "1" {
		s, err := get()
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		fmt.Println("DIR", s.cluster.dir)
		os.Exit(0) // no Stop
	}
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	if os.Getenv(EnvURL) != "" {
		t.Skip("no cluster is started when " + EnvURL + " is set")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchdogRemovesOrphanCluster$")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD_DIE=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var dir string
	for _, line := range strings.Split(string(out), "\n") {
		if d, ok := strings.CutPrefix(line, "DIR "); ok {
			dir = d
		}
	}
	if dir == "" {
		t.Fatalf("child printed no cluster dir:\n%s", out)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster dir %s still exists 90s after its process exited", dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
