package labeling

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/pgstore"
	"github.com/faultline-dev/faultline/internal/pgtest"
	"github.com/faultline-dev/faultline/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// pgHistory imports fleetHistory's deployments (with change sizes) into a
// fresh PostgreSQL database and returns the store and its DSN (the test
// server's role, a superuser with the local cluster).
func pgHistory(t *testing.T) (history.Store, string) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	if _, err := pgstore.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := fleetHistory()
	tx, err := st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deps := h.deps
	for i := range deps {
		deps[i].LinesAdded = int64(i * 1000) // a: 0 ... g: 6000
	}
	if err := tx.AddDeployments(ctx, deps); err != nil {
		t.Fatal(err)
	}
	if err := tx.AddIncidents(ctx, h.incidents); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return st, dsn
}

// admin connects to the test database as the test server's role, skipping
// the test when that role may not create roles.
func admin(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	var may bool
	if err := c.QueryRow(ctx, `SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user`).Scan(&may); err != nil {
		t.Fatal(err)
	}
	if !may {
		t.Skip("the test server's role may not create roles")
	}
	return c
}

var roleSeq atomic.Int64

// loginRole creates a login role with CREATE ROLE options opts and runs
// setup (with %s replaced by the role's name) in the test database; it
// returns the role's name and a DSN for it (dsn with the role and a
// password file). The role is dropped, with its privileges, at the end of
// the test.
func loginRole(t *testing.T, adm *pgx.Conn, dsn, opts, setup string) (name, roleDSN string) {
	t.Helper()
	ctx := context.Background()
	name = fmt.Sprintf("fl_lf_%d_%d", os.Getpid(), roleSeq.Add(1))
	password := fmt.Sprintf("pw%d", time.Now().UnixNano())
	if _, err := adm.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' %s", name, password, opts)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, q := range []string{"DROP OWNED BY " + name, "DROP ROLE " + name} {
			if _, err := adm.Exec(context.Background(), q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	if setup != "" {
		if _, err := adm.Exec(ctx, strings.ReplaceAll(setup, "%s", name)); err != nil {
			t.Fatal(err)
		}
	}
	pass := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(pass, []byte("*:*:*:"+name+":"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(name)
		q := u.Query()
		q.Set("passfile", pass)
		u.RawQuery = q.Encode()
		return name, u.String()
	}
	return name, dsn + " user=" + name + " passfile=" + pass
}

// labelerDSN returns a DSN for a new login role whose only privilege is
// membership in migrations.LabelerRole, in a test database where PUBLIC may
// not execute dangerousFunctions: the setup docs/security.md asks of a DBA.
func labelerDSN(t *testing.T, dsn string) string {
	t.Helper()
	adm := admin(t, dsn)
	revokeDangerousFromPublic(t, adm)
	_, d := loginRole(t, adm, dsn, "IN ROLE "+migrations.LabelerRole, "")
	return d
}

// revokeDangerousFromPublic takes EXECUTE on dangerousFunctions away from
// PUBLIC in the test database, as docs/security.md asks of a DBA (in the
// test database only: function privileges belong to one database),
// skipping the test when the test server's role may not.
func revokeDangerousFromPublic(t *testing.T, adm *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	const public = `SELECT format('%I.%I(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes))
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'pg_catalog' AND p.proname = ANY ($1)
		  AND EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
		              WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')`
	rows, err := adm.Query(ctx, public, dangerousFunctions)
	if err != nil {
		t.Fatal(err)
	}
	funcs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(funcs) == 0 {
		return
	}
	if _, err := adm.Exec(ctx, "REVOKE EXECUTE ON FUNCTION "+strings.Join(funcs, ", ")+" FROM PUBLIC"); err != nil {
		t.Fatal(err)
	}
	rows, err = adm.Query(ctx, public, dangerousFunctions)
	if err != nil {
		t.Fatal(err)
	}
	if left, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	} else if len(left) > 0 {
		t.Skipf("the test server's role may not revoke EXECUTE on %v from PUBLIC (not a superuser)", left)
	}
}

func TestSQLFunctions(t *testing.T) {
	st, dsn := pgHistory(t)
	ctx := context.Background()
	cfg := only(FnRollback)
	cfg.SQLDSN = labelerDSN(t, dsn)
	cfg.SQLFunctions = []SQLFunction{
		{Name: "big_change", Description: "more than 4000 lines added",
			SQL: `SELECT deployment_id, CASE WHEN lines_added > 4000 THEN 'faulty' WHEN lines_added < 1500 THEN 'healthy' END FROM deployments`},
		{Name: "numeric_votes", SQL: `SELECT deployment_id, CASE WHEN kind = 'rollback' THEN 0 ELSE -1 END FROM deployments UNION ALL SELECT 'not-a-deploy', 1`},
	}
	res, err := Compute(ctx, cfg, Input{History: st, Workdir: t.TempDir(), DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(strings.Join(res.Votes.Names, ","), "rollback,big_change,numeric_votes") {
		t.Fatalf("functions %v", res.Votes.Names)
	}
	want := map[string][2]int8{ // big_change, numeric_votes
		"a": {healthy, abstain}, "b": {healthy, abstain}, "c": {abstain, healthy}, "d": {abstain, abstain},
		"e": {abstain, abstain}, "f": {faulty, abstain}, "g": {faulty, abstain},
	}
	for i, id := range res.IDs {
		got := [2]int8{res.Votes.Cols[1][i], res.Votes.Cols[2][i]}
		if got != want[id] {
			t.Errorf("%s: SQL votes %v, want %v", id, got, want[id])
		}
	}
	for _, fr := range res.Report.Functions {
		switch fr.Name {
		case "big_change":
			if fr.Kind != "sql" || fr.Description != "more than 4000 lines added" {
				t.Errorf("report of big_change: %+v", fr)
			}
		case "numeric_votes":
			if fr.UnknownDeployments != 1 {
				t.Errorf("numeric_votes: %d unknown deployments reported, want 1", fr.UnknownDeployments)
			}
		}
	}
}

// TestSQLVoteTypes reads votes of every kind of column as the server
// sends them in text format.
func TestSQLVoteTypes(t *testing.T) {
	_, dsn := pgHistory(t)
	ctx := context.Background()
	cfg := Config{SQLDSN: labelerDSN(t, dsn), SQLFunctions: []SQLFunction{
		{Name: "bools", SQL: `SELECT deployment_id::varchar, kind = 'rollback' FROM deployments WHERE deployment_id IN ('c', 'd')`},
		{Name: "numerics", SQL: `SELECT deployment_id::char(6), (CASE deployment_id WHEN 'a' THEN 1.00 WHEN 'b' THEN -1.0 WHEN 'c' THEN 0.000 END)::numeric FROM deployments`},
		{Name: "floats", SQL: `SELECT deployment_id, CASE WHEN deployment_id = 'g' THEN 0::float8 WHEN deployment_id = 'f' THEN 1::float4 END FROM deployments`},
		{Name: "words", SQL: `SELECT 'a', ' Faulty ' UNION ALL SELECT 'b', 'HEALTHY' UNION ALL SELECT 'c', '' UNION ALL SELECT 'd', '0' UNION ALL SELECT 'e', '1'`},
		{Name: "ints", SQL: `SELECT deployment_id, (CASE WHEN deployment_id < 'c' THEN 1 WHEN deployment_id < 'e' THEN 0 ELSE -1 END)::int2 FROM deployments`},
	}}
	index := map[string]int{"a": 0, "b": 1, "c": 2, "d": 3, "e": 4, "f": 5, "g": 6}
	got, err := runSQLFunctions(ctx, &cfg, dsn, 30*time.Second, index, len(index))
	if err != nil {
		t.Fatal(err)
	}
	F, H, A := faulty, healthy, abstain
	want := map[string][]int8{
		"bools":    {A, A, F, H, A, A, A},
		"numerics": {F, A, H, A, A, A, A},
		"floats":   {A, A, A, A, A, F, H},
		"words":    {F, H, A, H, F, A, A},
		"ints":     {F, F, H, H, A, A, A},
	}
	for name, w := range want {
		if fmt.Sprint(got[name].votes) != fmt.Sprint(w) {
			t.Errorf("%s: votes %v, want %v", name, got[name].votes, w)
		}
	}
}

func TestParseVote(t *testing.T) {
	cases := []struct {
		kind voteKind
		in   string
		null bool
		want int8
		ok   bool
	}{
		{voteWords, "", true, abstain, true}, {voteInteger, "", true, abstain, true},
		{voteInteger, "1", false, faulty, true}, {voteInteger, "0", false, healthy, true}, {voteInteger, "-1", false, abstain, true},
		{voteInteger, "2", false, 0, false}, {voteInteger, "-0", false, healthy, true}, {voteInteger, "11", false, 0, false},
		{voteNumber, "1.000", false, faulty, true}, {voteNumber, "-1.0", false, abstain, true}, {voteNumber, "0.5", false, 0, false},
		{voteNumber, "NaN", false, 0, false}, {voteNumber, "1e+20", false, 0, false}, {voteNumber, "Infinity", false, 0, false},
		{voteInteger, "1.0", false, 0, false},
		{voteBool, "t", false, faulty, true}, {voteBool, "f", false, healthy, true}, {voteBool, "true", false, 0, false},
		{voteWords, "faulty", false, faulty, true}, {voteWords, " Healthy\n", false, healthy, true}, {voteWords, "ABSTAIN", false, abstain, true},
		{voteWords, "1", false, faulty, true}, {voteWords, "-1", false, abstain, true}, {voteWords, "", false, abstain, true},
		{voteWords, "maybe", false, 0, false}, {voteWords, "1.0", false, 0, false}, {voteWords, "t", false, 0, false},
	}
	for _, tc := range cases {
		raw := []byte(tc.in)
		if tc.null {
			raw = nil
		}
		got, err := parseVote(tc.kind, raw)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseVote(%d, %q) = %d, %v; want %d ok=%v", tc.kind, tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSQLFunctionErrors(t *testing.T) {
	st, dsn := pgHistory(t)
	lf := labelerDSN(t, dsn)
	ctx := context.Background()
	cases := []struct {
		name    string
		sql     string
		timeout float64
		want    []string
	}{
		{"broken", `SELECT deployment_id, no_such_column FROM deployments`, 30, []string{"no_such_column"}},
		{"writer", `WITH gone AS (DELETE FROM deployments RETURNING deployment_id) SELECT deployment_id, 1 FROM gone`, 30,
			[]string{"read-only"}},
		{"sleeper", `SELECT deployment_id, 1 FROM deployments, pg_sleep(3)`, 0.2, []string{"statement timeout", "sql_timeout_seconds"}},
		{"one_column", `SELECT deployment_id FROM deployments`, 30, []string{"1 columns", "(deployment_id, vote)"}},
		{"bad_vote", `SELECT deployment_id, 7 FROM deployments WHERE deployment_id = 'c'`, 30, []string{"deployment c", "vote 7"}},
		{"half_vote", `SELECT 'b', 0.5::float8`, 30, []string{"deployment b", "vote 0.5"}},
		{"twice", `SELECT 'a', 1 UNION ALL SELECT 'a', 0`, 30, []string{"deployment a returned twice"}},
		{"int_id", `SELECT 1, 1`, 30, []string{"deployment_id column", "int4", "::text"}},
		{"null_id", `SELECT NULL::text, 1`, 30, []string{"row 1", "deployment_id is NULL"}},
		{"two_statements", `SELECT deployment_id, 1 FROM deployments; SELECT 'a', 0`, 30, []string{"multiple commands"}},
		{"bad_late", `SELECT 'x' || g, CASE WHEN g = 100000 THEN 7 ELSE 1 END FROM generate_series(1, 1000000) g`, 30,
			[]string{"row 100000", "deployment x100000", "vote 7"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := only(FnRollback)
			cfg.SQLDSN = lf
			cfg.SQLTimeoutSeconds = tc.timeout
			cfg.SQLFunctions = []SQLFunction{{Name: "fine", SQL: `SELECT deployment_id, 1 FROM deployments`}, {Name: tc.name, SQL: tc.sql}}
			_, err := Compute(ctx, cfg, Input{History: st, Workdir: t.TempDir(), DSN: dsn})
			t.Log(err)
			var fe *SQLFunctionError
			if !errors.As(err, &fe) || fe.Function != tc.name {
				t.Fatalf("error %v, want a SQLFunctionError of %q", err, tc.name)
			}
			if !strings.Contains(err.Error(), `"`+tc.name+`"`) {
				t.Errorf("error %q does not name the function", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// The write attempt changed nothing.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM deployments`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 7 {
		t.Fatalf("%d deployments left, want 7", n)
	}
}

// TestSQLFunctionOneStatementWhateverTheDSN: a DSN asking for the simple
// protocol (which runs a string of statements) does not let a function end
// its read-only transaction and go on.
func TestSQLFunctionOneStatementWhateverTheDSN(t *testing.T) {
	st, dsn := pgHistory(t)
	ctx := context.Background()
	cfg := only(FnRollback)
	cfg.SQLDSN = labelerDSN(t, dsn) + " default_query_exec_mode=simple_protocol"
	if strings.HasPrefix(dsn, "postgres") {
		t.Skip("the key=value form is needed to append the setting")
	}
	cfg.SQLFunctions = []SQLFunction{{Name: "escape",
		SQL: `COMMIT; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; SELECT deployment_id, 1 FROM deployments`}}
	_, err := Compute(ctx, cfg, Input{History: st, Workdir: t.TempDir(), DSN: dsn})
	var fe *SQLFunctionError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "multiple commands") {
		t.Fatalf("error %v, want the function refused as several statements", err)
	}
}

// TestSQLFunctionSession: functions run as migrations.LabelerRole, and an
// advisory lock taken by one is released before the next.
func TestSQLFunctionSession(t *testing.T) {
	_, dsn := pgHistory(t)
	ctx := context.Background()
	cfg := Config{SQLDSN: labelerDSN(t, dsn), SQLFunctions: []SQLFunction{
		{Name: "role", SQL: `SELECT 'a', current_user = '` + migrations.LabelerRole + `' AND session_user <> current_user`},
		{Name: "lock", SQL: `SELECT 'b', pg_try_advisory_lock(4242)`},
		{Name: "locks_left", SQL: `SELECT 'c', EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())`},
	}}
	index := map[string]int{"a": 0, "b": 1, "c": 2}
	got, err := runSQLFunctions(ctx, &cfg, dsn, 30*time.Second, index, len(index))
	if err != nil {
		t.Fatal(err)
	}
	if v := got["role"].votes[0]; v != faulty {
		t.Errorf("functions do not run as %s under the login role (vote %d)", migrations.LabelerRole, v)
	}
	if v := got["lock"].votes[1]; v != faulty {
		t.Fatalf("the first function could not take the advisory lock (vote %d): the test proves nothing", v)
	}
	if v := got["locks_left"].votes[2]; v != healthy {
		t.Errorf("the next function still holds an advisory lock (vote %d)", v)
	}
}

// TestSQLFunctionStreamsLargeResult: a result of 5 million rows is read as
// it streams: the bytes allocated while reading it (an upper bound of the
// heap it can grow) stay far below the result's size. Half the rows name a
// labelled deployment again and again, half name deployments that are not
// labelled.
func TestSQLFunctionStreamsLargeResult(t *testing.T) {
	_, dsn := pgHistory(t)
	ctx := context.Background()
	const rows = 5_000_000
	cfg := Config{SQLDSN: labelerDSN(t, dsn), SQLFunctions: []SQLFunction{{Name: "big",
		SQL: fmt.Sprintf(`SELECT CASE WHEN g %% 2 = 0 THEN 'a' ELSE 'unknown-' || g END, 1 FROM generate_series(1, %d) g`, rows)}}}
	index := map[string]int{"a": 0, "b": 1, "c": 2, "d": 3, "e": 4, "f": 5, "g": 6}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := runSQLFunctions(ctx, &cfg, dsn, 10*time.Minute, index, len(index))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	res := got["big"]
	if res.votes[0] != faulty || res.votes[1] != abstain || res.unknown != rows/2 {
		t.Fatalf("votes %v, %d unknown rows; want a faulty and %d unknown", res.votes, res.unknown, rows/2)
	}
	const limit = 32 << 20
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d rows: %.1f MiB allocated", rows, float64(alloc)/(1<<20))
	if alloc > limit {
		t.Errorf("reading %d rows allocated %.1f MiB, want at most %d MiB", rows, float64(alloc)/(1<<20), limit>>20)
	}
}

func TestSQLDSNRefusesPassword(t *testing.T) {
	cases := map[string]bool{
		"":                                   true,
		"host=db user=faultline_lf dbname=h": true,
		"host=db user=lf passfile=/etc/lf.pgpass": true,
		"postgres://lf@db/h?sslmode=require":      true,
		"host=db user=lf password=secret":         false,
		"host=db PASSWORD = secret user=lf":       false,
		"password=secret host=db":                 false,
		"postgres://lf:secret@db/h":               false,
		"postgresql://lf@db/h?password=secret":    false,
	}
	for dsn, ok := range cases {
		cfg := DefaultConfig()
		cfg.SQLDSN = dsn
		err := cfg.Validate()
		if ok != (err == nil) {
			t.Errorf("sql_dsn %q: Validate error %v, want ok=%v", dsn, err, ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "labeling.sql_dsn") || strings.Contains(err.Error(), "secret")) {
			t.Errorf("sql_dsn %q: error %q should name the key and not repeat the password", dsn, err)
		}
	}
}

// TestSQLFunctionProbes reproduces the probes of issue 14: SQL functions that
// try to run a program, write or read server files, import a large object,
// terminate or cancel other sessions, or read annotations past the text
// guard. As a login role in migrations.LabelerRole each fails with a
// privilege error (even after resetting the role to the login role); as the
// superuser of the history DSN each is refused before running. Then nothing
// happened: no file, no large object, every other session alive.
func TestSQLFunctionProbes(t *testing.T) {
	st, dsn := pgHistory(t)
	ctx := context.Background()
	adm := admin(t, dsn)
	if _, err := adm.Exec(ctx, `INSERT INTO annotations (deployment_id, annotator, label) VALUES
		('a', 'x', 'faulty'), ('b', 'x', 'faulty'), ('c', 'x', 'healthy'), ('d', 'x', 'healthy')`); err != nil {
		t.Fatal(err)
	}
	lf := labelerDSN(t, dsn)

	// A folder the server could write to.
	dir, err := os.MkdirTemp("", "faultline-probe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// With the local test cluster, show that the server would write there
	// and run programs for a role allowed to: the probes are real.
	local := os.Getenv(pgtest.EnvURL) == ""
	if local {
		for _, q := range []string{`COPY (SELECT 1) TO '` + dir + `/control-file'`, `COPY (SELECT 1) TO PROGRAM 'id > ` + dir + `/control-program'`} {
			if _, err := adm.Exec(ctx, q); err != nil {
				t.Fatalf("control %s: %v", q, err)
			}
		}
		for _, f := range []string{"control-file", "control-program"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Fatalf("control: the server did not write %s: %v", f, err)
			}
		}
	}

	// Sessions a function must not end: Faultline's own (the history DSN's
	// role), another role's, another of the labeling role's.
	_, otherDSN := loginRole(t, adm, dsn, "", "")
	victims := map[string]*pgx.Conn{}
	for name, d := range map[string]string{"faultline": dsn, "other": otherDSN, "same": lf} {
		c, err := pgx.Connect(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		victims[name] = c
	}
	pid := func(name string) string { return fmt.Sprint(victims[name].PgConn().PID()) }
	xmlAnnotations := `unnest(xpath('//row', query_to_xml('select deployment_id from annota'||'tions', false, false, '')))`

	probes := []struct {
		name, sql, want string
	}{
		{"copy_to_program", `COPY (SELECT 1) TO PROGRAM 'id > ` + dir + `/program'`, "pg_execute_server_program"},
		{"copy_to_file", `COPY (SELECT deployment_id FROM deployments) TO '` + dir + `/file'`, "pg_write_server_files"},
		{"terminate_faultline", `SELECT 'a', pg_terminate_backend(` + pid("faultline") + `)`, "42501"},
		{"terminate_other_role", `SELECT 'a', pg_terminate_backend(` + pid("other") + `)`, "42501"},
		{"terminate_same_role", `SELECT 'a', pg_terminate_backend(` + pid("same") + `)`, "42501"},
		{"cancel_other_role", `SELECT 'a', pg_cancel_backend(` + pid("other") + `)`, "42501"},
		// Resetting the role to the login role would let pg_terminate_backend
		// end another session of that login, but the login may not execute
		// it (TestSQLRefusesSignalFunctions refuses it when it may).
		{"terminate_same_role_reset_role", `SELECT 'a', pg_terminate_backend(` + pid("same") + `)
			FROM (SELECT set_config('role', 'none', true)) r`, "permission denied for function pg_terminate_backend"},
		{"cancel_same_role_reset_role", `SELECT 'a', pg_cancel_backend(` + pid("same") + `)
			FROM (SELECT set_config('role', 'none', true)) r`, "permission denied for function pg_cancel_backend"},
		{"read_file", `SELECT 'a', length(pg_read_file('/etc/passwd')) > 0`, "permission denied for function pg_read_file"},
		{"read_data_file", `SELECT 'a', length(pg_read_file('postgresql.conf')) > 0`, "permission denied for function pg_read_file"},
		{"lo_import", `SELECT 'a', lo_import('/etc/passwd') > 0`, "permission denied for function lo_import"},
		// The server lets this write happen in a read-only transaction; the
		// transaction is rolled back, so nothing stays (checked below).
		{"lo_write", `SELECT 'a', lo_from_bytea(0, 'x') > 0`, ""},
		{"annotations_xml", `SELECT (xpath('/row/deployment_id/text()', x))[1]::text, 1 FROM ` + xmlAnnotations + ` x`,
			"permission denied for table annotations"},
		{"annotations_reset_role", `SELECT (xpath('/row/deployment_id/text()', x))[1]::text, 1
			FROM (SELECT set_config('role', 'none', true)) r, LATERAL ` + xmlAnnotations + ` x`, "permission denied for table annotations"},
		{"truth_xml", `SELECT 'a', length(query_to_xml('select * from simulation'||'_truth', false, false, '')::text) > 0`,
			"permission denied for table simulation_truth"},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			cfg := only(FnRollback)
			cfg.SQLFunctions = []SQLFunction{{Name: p.name, SQL: p.sql}}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the configuration guard refuses the probe (%v): it would not reach the server", err)
			}
			cfg.SQLDSN = lf
			_, err := Compute(ctx, cfg, Input{History: st, Workdir: t.TempDir(), DSN: dsn})
			var fe *SQLFunctionError
			if p.want == "" {
				if err != nil {
					t.Errorf("as the labeling role: %v", err)
				}
			} else if !errors.As(err, &fe) || !strings.Contains(err.Error(), p.want) {
				t.Errorf("as the labeling role: error %v, want a SQLFunctionError mentioning %q", err, p.want)
			}
			cfg.SQLDSN = "" // the history DSN: the test server's superuser
			_, err = Compute(ctx, cfg, Input{History: st, Workdir: t.TempDir(), DSN: dsn})
			if !errors.Is(err, ErrPrivilegedRole) {
				t.Errorf("as the superuser: error %v, want ErrPrivilegedRole", err)
			}
		})
	}
	for _, f := range []string{"program", "file"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a probe wrote it (stat: %v)", f, err)
		}
	}
	for name, c := range victims {
		if err := c.Ping(ctx); err != nil {
			t.Errorf("session %s was ended: %v", name, err)
		}
	}
	var objects int
	if err := adm.QueryRow(ctx, `SELECT count(*) FROM pg_largeobject_metadata`).Scan(&objects); err != nil {
		t.Fatal(err)
	}
	if objects != 0 {
		t.Errorf("%d large objects imported", objects)
	}
}

// TestSQLRefusesPrivilegedRoles: a session that could do more than read
// the history is refused before any function runs, with a message naming
// the reason and the fix, unless sql_unsafe_allow_privileged_role is set;
// the labeling role setup of docs/security.md is accepted.
func TestSQLRefusesPrivilegedRoles(t *testing.T) {
	st, dsn := pgHistory(t)
	ctx := context.Background()
	adm := admin(t, dsn)
	var superuser bool
	if err := adm.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&superuser); err != nil {
		t.Fatal(err)
	}
	if !superuser {
		t.Skip("the test server's role is not a superuser")
	}
	revokeDangerousFromPublic(t, adm)
	_, loginDSN := loginRole(t, adm, dsn, "", "")
	login := strings.TrimPrefix(strings.Fields(loginDSN[strings.LastIndex(loginDSN, "user="):])[0], "user=")
	cases := []struct {
		name, opts, setup string
		want              []string // empty: accepted
	}{
		{"labeler", "", "", nil},
		{"labeler_with_history_grants", "", "GRANT SELECT ON deployments, incidents TO %s", nil},
		{"superuser", "SUPERUSER", "", []string{"is a superuser"}},
		{"execute_server_program", "IN ROLE pg_execute_server_program", "", []string{"member of pg_execute_server_program"}},
		{"read_server_files", "IN ROLE pg_read_server_files", "", []string{"member of pg_read_server_files"}},
		{"write_server_files", "IN ROLE pg_write_server_files", "", []string{"member of pg_write_server_files"}},
		{"signal_backend", "IN ROLE pg_signal_backend", "", []string{"member of pg_signal_backend"}},
		{"read_all_data", "IN ROLE pg_read_all_data", "", []string{"member of pg_read_all_data", "can read table annotations"}},
		{"write_all_data", "IN ROLE pg_write_all_data", "", []string{"member of pg_write_all_data"}},
		{"noinherit_member", "NOINHERIT IN ROLE pg_execute_server_program", "", []string{"member of pg_execute_server_program"}},
		{"createrole", "CREATEROLE", "", []string{"has CREATEROLE"}},
		{"bypassrls", "BYPASSRLS", "", []string{"has BYPASSRLS"}},
		{"replication", "REPLICATION", "", []string{"has REPLICATION"}},
		{"reads_annotations", "", "GRANT SELECT ON annotations TO %s", []string{"can read table annotations"}},
		{"reads_a_truth_column", "", "GRANT SELECT (faulty) ON simulation_truth TO %s", []string{"can read table simulation_truth"}},
		{"owns_annotations", "", "ALTER TABLE annotations OWNER TO %s", []string{"can read table annotations"}},
		{"group_reads_annotations", "", "CREATE ROLE %s_group; GRANT SELECT ON annotations TO %s_group; GRANT %s_group TO %s",
			[]string{`can read table annotations through role "fl_lf_`}},
		{"member_of_login_role", "IN ROLE " + login, "", []string{"member of login role " + fmt.Sprintf("%q", login)}},
		{"read_file_granted", "", "GRANT EXECUTE ON FUNCTION pg_read_file(text) TO %s",
			[]string{"can execute pg_read_file(text)", "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_read_file(text) FROM fl_lf_"}},
		{"terminate_granted", "", "GRANT EXECUTE ON FUNCTION pg_terminate_backend(integer, bigint) TO %s",
			[]string{"can execute pg_terminate_backend(integer,bigint)", "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_terminate_backend(integer, bigint) FROM fl_lf_"}},
		{"superuser_group", "", "CREATE ROLE %s_group SUPERUSER; GRANT %s_group TO %s", []string{`may SET ROLE to superuser "fl_lf_`}},
	}
	fn := []SQLFunction{{Name: "runs_as", SQL: `SELECT deployment_id, current_user = '` + migrations.LabelerRole + `' FROM deployments`}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			role, roleDSN := loginRole(t, adm, dsn, tc.opts, tc.setup+"; GRANT "+migrations.LabelerRole+" TO %s")
			if strings.Contains(tc.setup, "_group") {
				t.Cleanup(func() {
					for _, q := range []string{"DROP OWNED BY " + role + "_group", "DROP ROLE " + role + "_group"} {
						if _, err := adm.Exec(context.Background(), q); err != nil {
							t.Errorf("%s: %v", q, err)
						}
					}
				})
			}
			if tc.name == "owns_annotations" {
				t.Cleanup(func() {
					if _, err := adm.Exec(context.Background(), "ALTER TABLE annotations OWNER TO CURRENT_USER"); err != nil {
						t.Error(err)
					}
				})
			}
			cfg := only(FnRollback)
			cfg.SQLDSN = roleDSN
			cfg.SQLFunctions = fn
			res, err := Compute(ctx, cfg, Input{History: st, Workdir: t.TempDir(), DSN: dsn})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c := res.Votes.Cols[1]; c[0] != faulty {
					t.Errorf("the function did not run as %s (votes %v)", migrations.LabelerRole, c)
				}
				return
			}
			t.Log(err)
			if !errors.Is(err, ErrPrivilegedRole) {
				t.Fatalf("error %v, want ErrPrivilegedRole", err)
			}
			for _, w := range append(tc.want, fmt.Sprintf("role %q", role), "labeling.sql_dsn", "labeling.sql_unsafe_allow_privileged_role: true", "docs/security.md") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q", w)
				}
			}
			// The opt-in runs the functions anyway.
			cfg.SQLUnsafeAllowPrivilegedRole = true
			if _, err := Compute(ctx, cfg, Input{History: st, Workdir: t.TempDir(), DSN: dsn}); err != nil {
				t.Errorf("with sql_unsafe_allow_privileged_role: %v", err)
			}
		})
	}

	// The superuser of the history DSN itself: refused, then accepted with
	// the opt-in, still running the query as the labeling role.
	cfg := only(FnRollback)
	cfg.SQLFunctions = fn
	_, err := Compute(ctx, cfg, Input{History: st, Workdir: t.TempDir(), DSN: dsn})
	if !errors.Is(err, ErrPrivilegedRole) || !strings.Contains(err.Error(), "is a superuser") {
		t.Fatalf("history DSN as a superuser: error %v, want ErrPrivilegedRole naming the superuser", err)
	}
	cfg.SQLUnsafeAllowPrivilegedRole = true
	res, err := Compute(ctx, cfg, Input{History: st, Workdir: t.TempDir(), DSN: dsn})
	if err != nil {
		t.Fatalf("history DSN as a superuser, with the opt-in: %v", err)
	}
	if c := res.Votes.Cols[1]; c[0] != faulty {
		t.Errorf("with the opt-in the function did not run as %s (votes %v)", migrations.LabelerRole, c)
	}
}

// revokeRE finds the REVOKE statements an ErrPrivilegedRole error gives.
var revokeRE = regexp.MustCompile(`REVOKE EXECUTE ON FUNCTION [^;]+ FROM [^;]+;`)

// TestSQLRefusesSignalFunctions: PostgreSQL lets PUBLIC execute
// pg_terminate_backend and pg_cancel_backend, so a labeling query that
// resets its role to the login role can end another session of that login
// (another Faultline labeling run). As long as the login may execute them,
// Faultline refuses to run SQL functions, naming each function and the
// REVOKE statements to run; once those have run, the query cannot end the
// session. The same holds for a dangerous function a DBA granted to PUBLIC
// and, when the server has it, for the functions of extension dblink.
func TestSQLRefusesSignalFunctions(t *testing.T) {
	st, dsn := pgHistory(t)
	ctx := context.Background()
	adm := admin(t, dsn)
	var superuser bool
	if err := adm.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&superuser); err != nil {
		t.Fatal(err)
	}
	if !superuser {
		t.Skip("the test server's role is not a superuser: it may not revoke EXECUTE on pg_catalog functions")
	}
	// The documented labeling login, in a database where no DBA revoked
	// anything yet.
	_, lf := loginRole(t, adm, dsn, "IN ROLE "+migrations.LabelerRole, "")
	connect := func(d string) *pgx.Conn {
		c, err := pgx.Connect(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	// terminate is a function that ends the session c of the labeling login
	// after resetting its role to that login.
	terminate := func(c *pgx.Conn) []SQLFunction {
		return []SQLFunction{{Name: "terminate_same_login", SQL: fmt.Sprintf(`SELECT deployment_id, pg_terminate_backend(%d)
			FROM deployments, (SELECT set_config('role', 'none', true)) r`, c.PgConn().PID())}}
	}
	run := func(fns []SQLFunction, allow bool) (*Result, error) {
		cfg := only(FnRollback)
		cfg.SQLDSN = lf
		cfg.SQLFunctions = fns
		cfg.SQLUnsafeAllowPrivilegedRole = allow
		return Compute(ctx, cfg, Input{History: st, Workdir: t.TempDir(), DSN: dsn})
	}

	// The probe is real: with the opt-in, the function ends the session.
	control := connect(lf)
	res, err := run(terminate(control), true)
	if err != nil {
		t.Fatalf("control, with the opt-in: %v", err)
	}
	if c := res.Votes.Cols[1]; c[0] != faulty {
		t.Fatalf("control: pg_terminate_backend returned %v, want true: the probe proves nothing", c)
	}
	if err := control.Ping(ctx); err == nil {
		t.Fatal("control: the session of the labeling login is still alive: the probe proves nothing")
	}

	// Without the opt-in: refused before the function runs, naming the
	// functions and the statement that takes them away.
	victim, faultline := connect(lf), connect(dsn)
	_, err = run(terminate(victim), false)
	t.Log(err)
	if !errors.Is(err, ErrPrivilegedRole) {
		t.Fatalf("error %v, want ErrPrivilegedRole", err)
	}
	for _, w := range []string{"can execute pg_terminate_backend(", "can execute pg_cancel_backend(integer) (granted to PUBLIC)",
		"REVOKE EXECUTE ON FUNCTION pg_catalog.pg_cancel_backend(integer), pg_catalog.pg_terminate_backend(", "FROM PUBLIC;",
		"labeling.sql_unsafe_allow_privileged_role: true"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q", w)
		}
	}
	if err := victim.Ping(ctx); err != nil {
		t.Fatalf("the refused function ended the session: %v", err)
	}
	// runStatements runs the REVOKE statements of a refusal as the DBA
	// would, and returns them.
	runStatements := func(err error) []string {
		t.Helper()
		stmts := revokeRE.FindAllString(err.Error(), -1)
		if len(stmts) == 0 {
			t.Fatalf("no REVOKE statement in %q", err)
		}
		for _, s := range stmts {
			if _, err := adm.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		return stmts
	}
	runStatements(err)

	// After the REVOKE: the function runs and cannot end the session.
	_, err = run(terminate(victim), false)
	var fe *SQLFunctionError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "permission denied for function pg_terminate_backend") {
		t.Errorf("after the REVOKE: error %v, want a SQLFunctionError: permission denied for function pg_terminate_backend", err)
	}
	for name, c := range map[string]*pgx.Conn{"labeling login": victim, "faultline": faultline} {
		if err := c.Ping(ctx); err != nil {
			t.Errorf("session of %s was ended: %v", name, err)
		}
	}
	harmless := []SQLFunction{{Name: "fine", SQL: `SELECT deployment_id, 1 FROM deployments`}}
	if _, err := run(harmless, false); err != nil {
		t.Fatalf("after the REVOKE the labeling login is refused: %v", err)
	}

	// A dangerous function a DBA granted to PUBLIC.
	if _, err := adm.Exec(ctx, `GRANT EXECUTE ON FUNCTION pg_read_file(text) TO PUBLIC`); err != nil {
		t.Fatal(err)
	}
	_, err = run(harmless, false)
	if !errors.Is(err, ErrPrivilegedRole) || !strings.Contains(err.Error(), "can execute pg_read_file(text) (granted to PUBLIC)") {
		t.Fatalf("pg_read_file granted to PUBLIC: error %v, want ErrPrivilegedRole naming pg_read_file(text)", err)
	}
	if s := runStatements(err); len(s) != 1 || s[0] != "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_read_file(text) FROM PUBLIC;" {
		t.Errorf("pg_read_file granted to PUBLIC: statements %q", s)
	}
	if _, err := run(harmless, false); err != nil {
		t.Fatalf("after revoking pg_read_file: %v", err)
	}

	// dblink, when the server has it.
	var dblink bool
	if err := adm.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'dblink')`).Scan(&dblink); err != nil {
		t.Fatal(err)
	}
	if !dblink {
		t.Log("extension dblink not available on the test server: not checked")
		return
	}
	if _, err := adm.Exec(ctx, `CREATE EXTENSION dblink`); err != nil {
		t.Fatal(err)
	}
	_, err = run(harmless, false)
	t.Log(err)
	if !errors.Is(err, ErrPrivilegedRole) || !strings.Contains(err.Error(), "of extension dblink, such as dblink") {
		t.Fatalf("with dblink: error %v, want ErrPrivilegedRole naming extension dblink", err)
	}
	if s := runStatements(err); !strings.Contains(s[0], "public.dblink_connect(text)") {
		t.Errorf("with dblink: statements %q do not revoke dblink_connect(text)", s)
	}
	if _, err := run(harmless, false); err != nil {
		t.Fatalf("after revoking dblink's functions: %v", err)
	}
}

// TestDangerousFunctionsDocumented: docs/security.md lists every function
// and extension the session check refuses, for the DBA.
func TestDangerousFunctionsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(slices.Clone(dangerousFunctions), dangerousExtensions...) {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/security.md does not list `%s`", name)
		}
	}
}
