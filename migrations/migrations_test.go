package migrations

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestUpOnEmptyThenNoop(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	st, err := Status(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Applied {
			t.Errorf("fresh database: %s reported applied", s.Name)
		}
	}
	res, err := Up(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != len(all) {
		t.Fatalf("first Up applied %d migrations, want %d", len(res.Applied), len(all))
	}
	for _, table := range []string{"services", "deployments", "series", "metrics", "metrics_default",
		"error_fingerprints", "error_signatures", "incidents", "annotations", "simulation_truth"} {
		var ok bool
		if err := c.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("table %s missing after Up", table)
		}
	}
	res, err = Up(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 {
		t.Fatalf("second Up applied %v, want nothing", res.Applied)
	}
	st, err = Status(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != len(all) {
		t.Fatalf("status lists %d, want %d", len(st), len(all))
	}
	for _, s := range st {
		if !s.Applied || s.Modified || s.Unknown || s.AppliedAt.IsZero() {
			t.Errorf("after Up: %+v", s)
		}
	}
	pending, err := Pending(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("pending after Up: %v", pending)
	}
}

func TestConcurrentUp(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	var wg sync.WaitGroup
	results := make([]Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close(ctx)
			results[i], errs[i] = Up(ctx, c)
		}()
	}
	wg.Wait()
	var applied []string
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		applied = append(applied, results[i].Applied...)
	}
	slices.Sort(applied)
	var want []string
	for _, m := range all {
		want = append(want, m.Name)
	}
	if !slices.Equal(applied, want) {
		t.Fatalf("concurrent migrators applied %v together, want each of %v exactly once", applied, want)
	}
}

func TestStatusReportsModifiedAndUnknown(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	v1 := []Migration{{Version: 1, Name: "0001_a", SQL: "CREATE TABLE a (x int)", Checksum: "s1"}}
	if _, err := up(ctx, c, v1); err != nil {
		t.Fatal(err)
	}
	// Pretend the binary is older (knows nothing) and then that its file changed.
	st, err := status(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || !st[0].Unknown || !st[0].Applied {
		t.Errorf("unknown applied migration: %+v", st)
	}
	v1[0].Checksum = "s2"
	st, err = status(ctx, c, append(v1, Migration{Version: 2, Name: "0002_b"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || !st[0].Modified || st[1].Applied {
		t.Errorf("modified/pending: %+v", st)
	}
}

func TestFailedMigrationLeavesNothing(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	ms := []Migration{
		{Version: 1, Name: "0001_ok", SQL: "CREATE TABLE ok (x int)"},
		{Version: 2, Name: "0002_bad", SQL: "CREATE TABLE half (x int); SELECT no_such_function()"},
	}
	res, err := up(ctx, c, ms)
	if err == nil {
		t.Fatal("Up with a failing migration succeeded")
	}
	if !slices.Equal(res.Applied, []string{"0001_ok"}) {
		t.Errorf("applied %v, want [0001_ok]", res.Applied)
	}
	var half bool
	if err := c.QueryRow(ctx, `SELECT to_regclass('half') IS NOT NULL`).Scan(&half); err != nil {
		t.Fatal(err)
	}
	if half {
		t.Error("table of the failed migration exists: not rolled back")
	}
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("schema_migrations has %d rows, want 1", n)
	}
}

func TestMonthPartitionMovesDefaultRows(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	if _, err := Up(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `INSERT INTO services (name) VALUES ('s');
		INSERT INTO series (service, environment, version) VALUES ('s', 'e', 'v1');
		INSERT INTO metrics (series_id, minute, requests, errors) VALUES
		  (1, '2026-06-30T23:59:00Z', 10, 1), (1, '2026-07-01T00:00:00Z', 5, 0)`); err != nil {
		t.Fatal(err)
	}
	var part string
	if err := c.QueryRow(ctx, `SELECT faultline_month_partition('metrics', '2026-06-15T00:00:00Z')`).Scan(&part); err != nil {
		t.Fatal(err)
	}
	if part != "metrics_202606" {
		t.Errorf("partition name %q, want metrics_202606", part)
	}
	count := func(table string) int {
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count("ONLY metrics_202606"); got != 1 {
		t.Errorf("June partition holds %d rows, want 1", got)
	}
	if got := count("ONLY metrics_default"); got != 1 {
		t.Errorf("default partition holds %d rows, want 1 (July)", got)
	}
	// Idempotent.
	if err := c.QueryRow(ctx, `SELECT faultline_month_partition('metrics', '2026-06-01T00:00:00Z')`).Scan(&part); err != nil {
		t.Fatal(err)
	}
	// The primary key covers the new partition.
	_, err := c.Exec(ctx, `INSERT INTO metrics (series_id, minute, requests, errors) VALUES (1, '2026-06-30T23:59:00Z', 1, 0)`)
	if err == nil {
		t.Error("duplicate (series_id, minute) accepted in the new partition")
	}
	// The bound uses UTC months whatever the session time zone.
	if _, err := c.Exec(ctx, `SET TIME ZONE 'America/New_York'`); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, `SELECT faultline_month_partition('metrics', '2026-08-01T02:00:00Z')`).Scan(&part); err != nil {
		t.Fatal(err)
	}
	if part != "metrics_202608" {
		t.Errorf("partition for 2026-08-01T02:00Z named %q, want metrics_202608", part)
	}
	var lo time.Time
	if err := c.QueryRow(ctx, `SELECT min(minute) FROM metrics`).Scan(&lo); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRejectsBadNames(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"no number": {"abc.sql": {Data: []byte("")}},
		"duplicate": {"0001_a.sql": {Data: []byte("")}, "0001_b.sql": {Data: []byte("")}},
		"no name":   {"0001.sql": {Data: []byte("")}},
		"zero":      {"0000_x.sql": {Data: []byte("")}},
	}
	for name, fsys := range tests {
		if _, err := load(fsys); err == nil {
			t.Errorf("%s: load accepted bad names", name)
		}
	}
	ms, err := load(fstest.MapFS{"0010_b.sql": {Data: []byte("b")}, "0002_a.sql": {Data: []byte("a")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 2 || ms[1].Version != 10 || ms[0].Checksum == ms[1].Checksum {
		t.Errorf("load order/checksums: %+v", ms)
	}
}
