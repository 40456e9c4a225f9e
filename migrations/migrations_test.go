package migrations

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

var roleSeq atomic.Int64

// loginRole creates a login role with CREATE ROLE options opts, dropped at
// the end of the test with what it owns and its privileges in the test's
// database, and returns its name and a DSN for it (base with the role and a
// password file). It skips the test when admin may not create roles.
func loginRole(t *testing.T, admin *pgx.Conn, base, opts string) (name, dsn string) {
	t.Helper()
	ctx := context.Background()
	var may bool
	if err := admin.QueryRow(ctx, `SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user`).Scan(&may); err != nil {
		t.Fatal(err)
	}
	if !may {
		t.Skip("the test server's role may not create roles")
	}
	name = fmt.Sprintf("fl_mig_%d_%d", os.Getpid(), roleSeq.Add(1))
	password := fmt.Sprintf("pw%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' %s", name, password, opts)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, q := range []string{"REASSIGN OWNED BY " + name + " TO CURRENT_USER", "DROP OWNED BY " + name, "DROP ROLE " + name} {
			if _, err := admin.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	return name, withRole(t, base, name, password)
}

// withRole returns base connecting as role, with its password in a
// password file.
func withRole(t *testing.T, base, role, password string) string {
	t.Helper()
	pass := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(pass, []byte("*:*:*:"+role+":"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(role)
		q := u.Query()
		q.Set("passfile", pass)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return base + " user=" + role + " passfile=" + pass
}

// The history tables the labeler role reads, and tables it must not read.
var (
	labelerReads = []string{"services", "deployments", "series", "metrics", "error_fingerprints", "error_signatures", "incidents"}
	labelerNot   = []string{"annotations", "simulation_truth", "schema_migrations", "registry_blobs", "registry_models",
		"registry_versions", "registry_artifacts", "registry_evaluations", "registry_aliases", "registry_alias_moves",
		"pipeline_runs", "metrics_default", "error_signatures_default"}
)

// checkLabelerPrivileges fails unless role may SELECT exactly the history
// tables and nothing else, in the database of c.
func checkLabelerPrivileges(t *testing.T, c *pgx.Conn, role string) {
	t.Helper()
	ctx := context.Background()
	for _, table := range labelerReads {
		var sel, write bool
		if err := c.QueryRow(ctx, `SELECT has_table_privilege($1, $2::regclass, 'SELECT'),
			has_table_privilege($1, $2::regclass, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')`, role, table).Scan(&sel, &write); err != nil {
			t.Fatal(err)
		}
		if !sel || write {
			t.Errorf("%s on %s: SELECT %v, a write privilege %v; want only SELECT", role, table, sel, write)
		}
	}
	for _, table := range labelerNot {
		var any bool
		if err := c.QueryRow(ctx, `SELECT has_any_column_privilege($1, $2::regclass, 'SELECT, INSERT, UPDATE, REFERENCES')`, role, table).Scan(&any); err != nil {
			t.Fatal(err)
		}
		if any {
			t.Errorf("%s has a privilege on %s", role, table)
		}
	}
}

func TestLabelerRole(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	var may bool
	if err := c.QueryRow(ctx, `SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user`).Scan(&may); err != nil {
		t.Fatal(err)
	}
	if !may {
		t.Skip("the test server's role may not create roles")
	}
	res, err := Up(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if want := LabelerRole + ": SELECT on 7 history tables of schema public"; res.Labeler != want {
		t.Errorf("Up reports the labeler role as %q, want %q", res.Labeler, want)
	}
	var login bool
	if err := c.QueryRow(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, LabelerRole).Scan(&login); err != nil {
		t.Fatalf("role %s: %v", LabelerRole, err)
	}
	if login {
		t.Errorf("role %s can log in", LabelerRole)
	}
	checkLabelerPrivileges(t, c, LabelerRole)

	// A month partition created later is readable through its parent only.
	if _, err := c.Exec(ctx, `SELECT faultline_month_partition('metrics', '2026-06-15T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	asLabeler := func(query string) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // read only
		if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+LabelerRole); err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, query)
		return err
	}
	for _, q := range []string{
		`SELECT count(*) FROM metrics WHERE minute >= '2026-06-01'`,
		`SELECT count(*) FROM error_signatures`,
		`SELECT d.deployment_id, m.requests FROM deployments d JOIN series s USING (service, environment, version) JOIN metrics m USING (series_id)`,
	} {
		if err := asLabeler(q); err != nil {
			t.Errorf("as %s: %s: %v", LabelerRole, q, err)
		}
	}
	for _, q := range []string{`SELECT count(*) FROM metrics_202606`, `SELECT count(*) FROM annotations`, `SELECT count(*) FROM simulation_truth`} {
		if err := asLabeler(q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("as %s: %s: error %v, want permission denied", LabelerRole, q, err)
		}
	}

	// Up re-applies the privileges: a DBA's grant on annotations (table or
	// column), on a partition or of a write is taken back, a revoked SELECT
	// given again.
	if _, err := c.Exec(ctx, `GRANT SELECT ON annotations TO `+LabelerRole+`;
		GRANT SELECT (faulty) ON simulation_truth TO `+LabelerRole+`;
		GRANT SELECT ON metrics_default TO `+LabelerRole+`;
		GRANT INSERT, DELETE ON deployments TO `+LabelerRole+`;
		REVOKE SELECT ON incidents FROM `+LabelerRole); err != nil {
		t.Fatal(err)
	}
	res, err = Up(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 {
		t.Errorf("second Up applied %v", res.Applied)
	}
	checkLabelerPrivileges(t, c, LabelerRole)
}

func TestMigrateWithoutCreateRole(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	owner, ownerDSN := loginRole(t, admin, dsn, "NOSUPERUSER NOCREATEROLE")
	var db string
	if err := admin.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER TO "+owner); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, ownerDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Up(ctx, c)
	if err != nil {
		t.Fatalf("Up as a role without CREATEROLE: %v", err)
	}
	if len(res.Applied) != len(all) {
		t.Fatalf("applied %d migrations, want %d", len(res.Applied), len(all))
	}
	t.Logf("labeler role: %s", res.Labeler)

	// A role that does not exist is not created, and the function says why.
	absent := fmt.Sprintf("fl_absent_%d_%d", os.Getpid(), roleSeq.Add(1))
	var state string
	if err := c.QueryRow(ctx, `SELECT faultline_grant_labeler($1)`, absent).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(state, "absent") || !strings.Contains(state, "CREATEROLE") {
		t.Errorf("state of a role that cannot be created: %q", state)
	}
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, absent).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("role %s created by a role without CREATEROLE", absent)
	}

	// Once a DBA has created the role, the owner applies its privileges.
	dbaRole := fmt.Sprintf("fl_labeler_%d_%d", os.Getpid(), roleSeq.Add(1))
	if _, err := admin.Exec(ctx, "CREATE ROLE "+dbaRole+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, q := range []string{"DROP OWNED BY " + dbaRole, "DROP ROLE " + dbaRole} {
			if _, err := admin.Exec(context.Background(), q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	if err := c.QueryRow(ctx, `SELECT faultline_grant_labeler($1)`, dbaRole).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if want := dbaRole + ": SELECT on 7 history tables of schema public"; state != want {
		t.Errorf("state %q, want %q", state, want)
	}
	checkLabelerPrivileges(t, admin, dbaRole)

	// A role that may not run the function (not the owner) still migrates.
	other, otherDSN := loginRole(t, admin, dsn, "")
	if _, err := admin.Exec(ctx, "GRANT CREATE ON SCHEMA public TO "+other+"; GRANT SELECT ON schema_migrations TO "+other); err != nil {
		t.Fatal(err)
	}
	oc, err := pgx.Connect(ctx, otherDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close(ctx)
	res, err = Up(ctx, oc)
	if err != nil {
		t.Fatalf("Up as a role that owns nothing, with nothing to apply: %v", err)
	}
	if !strings.Contains(res.Labeler, "not re-applied") {
		t.Errorf("labeler state for a role that may not apply it: %q", res.Labeler)
	}
}
