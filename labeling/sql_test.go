package labeling

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/pgstore"
	"github.com/faultline-dev/faultline/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// pgHistory imports fleetHistory's deployments (with change sizes) into a
// fresh PostgreSQL database and returns the store and its DSN.
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

func TestSQLFunctions(t *testing.T) {
	st, dsn := pgHistory(t)
	ctx := context.Background()
	cfg := only(FnRollback)
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

func TestSQLFunctionErrors(t *testing.T) {
	st, dsn := pgHistory(t)
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
		{"twice", `SELECT 'a', 1 UNION ALL SELECT 'a', 0`, 30, []string{"deployment a returned twice"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := only(FnRollback)
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
