package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/historytest"
	"github.com/faultline-dev/faultline/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newStore returns a store on a fresh, migrated database.
func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	if _, err := Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsn
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestOpenRequiresMigrations(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	_, err := Open(ctx, dsn)
	var nm *NotMigratedError
	if !errors.As(err, &nm) {
		t.Fatalf("Open on an empty database: %v, want *NotMigratedError", err)
	}
	if !strings.Contains(err.Error(), "faultline db migrate") {
		t.Errorf("error %q does not tell the user to run faultline db migrate", err)
	}
	res, err := Migrate(ctx, dsn)
	if err != nil || len(res.Applied) == 0 {
		t.Fatalf("Migrate: %v %v", res, err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open after migrate: %v", err)
	}
	defer s.Close()
	if d := s.Describe(); !strings.HasPrefix(d, "postgres://") || strings.Contains(d, "password") {
		t.Errorf("Describe() = %q", d)
	}
	st, _, err := MigrationStatus(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if !m.Applied {
			t.Errorf("%s pending after Migrate", m.Name)
		}
	}
}

func TestOpenBadDSNHidesPassword(t *testing.T) {
	_, err := Open(context.Background(), "postgres://u:secret@[bad")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad DSN: %v", err)
	}
}

// TestImportCreatesMonthPartitions: the fixture's minutes cross a month
// boundary, so its import creates and attaches two partitions.
func TestImportCreatesMonthPartitions(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	historytest.Import(t, s, historytest.NewFixture())
	for _, parent := range []string{"metrics", "error_signatures"} {
		rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass ORDER BY 1`, parent)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{parent + "_202605", parent + "_202606", parent + "_default"}; !slices.Equal(parts, want) {
			t.Errorf("%s partitions %v, want %v", parent, parts, want)
		}
	}
}

// tableState returns, per table, the row count and the distinct xmin of
// its rows: a rewritten row gets a new xmin.
func tableState(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range []string{"services", "deployments", "series", "metrics", "error_fingerprints", "error_signatures", "incidents", "annotations"} {
		var n int64
		var xmins string
		if err := s.pool.QueryRow(context.Background(), "SELECT count(*), coalesce(string_agg(DISTINCT xmin::text, ','), '') FROM "+tb).Scan(&n, &xmins); err != nil {
			t.Fatal(err)
		}
		if tb == "error_fingerprints" {
			xmins = "" // attributes are re-merged by every import that names the fingerprint
		}
		out[tb] = fmt.Sprintf("%d rows, xmin %s", n, xmins)
	}
	return out
}

// TestReimportWritesNothing: re-importing unchanged rows neither adds nor
// rewrites any (inferred kinds included); changed values add no row.
func TestReimportWritesNothing(t *testing.T) {
	s, _ := newStore(t)
	f := historytest.NewFixture()
	historytest.Import(t, s, f)
	before := tableState(t, s)
	historytest.Import(t, s, f)
	if after := tableState(t, s); !reflect.DeepEqual(before, after) {
		t.Errorf("re-import of unchanged rows wrote:\nbefore %v\nafter  %v", before, after)
	}
	f.Metrics[0].Requests = 999
	f.Deployments[0].Author = "zed"
	f.Signatures[0].Count = 77
	historytest.Import(t, s, f)
	after := tableState(t, s)
	for tb, st := range before {
		if n, _, _ := strings.Cut(st, ","); !strings.HasPrefix(after[tb], n+",") {
			t.Errorf("%s: %s before, %s after an update", tb, n, after[tb])
		}
	}
}

// TestFailedImportLeavesNoPartitions: a failed commit (an annotation of an
// unknown deployment) drops the partitions the import created.
func TestFailedImportLeavesNoPartitions(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	f := historytest.NewFixture()
	f.Annotations = append(f.Annotations, history.Annotation{DeploymentID: "nope", Label: history.LabelFaulty})
	_, err := historytest.TryImport(t, s, f)
	var md *history.MissingDeploymentError
	if !errors.As(err, &md) {
		t.Fatalf("err = %v, want *MissingDeploymentError", err)
	}
	var parts int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname ~ '^(metrics|error_signatures)_2'`).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts != 0 {
		t.Errorf("%d partitions left behind by a failed import", parts)
	}
}

func importMetrics(t *testing.T, s history.Store, rows []history.Metric) (history.ImportSummary, error) {
	t.Helper()
	return historytest.TryImport(t, s, historytest.Fixture{Metrics: rows})
}

func TestDuplicateKeyInImportFails(t *testing.T) {
	s, _ := newStore(t)
	m := history.Metric{Service: "a", Environment: "e", Version: "v", Minute: ts("2026-06-01T00:00:00Z"), Requests: 1,
		LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()}
	_, err := importMetrics(t, s, []history.Metric{m, m})
	if err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("duplicate metric key: %v", err)
	}
}

func TestMergeIntoExistingPartitionAndDefault(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	mk := func(at string, req float64) history.Metric {
		return history.Metric{Service: "a", Environment: "e", Version: "v", Minute: ts(at), Requests: req,
			LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()}
	}
	if _, err := importMetrics(t, s, []history.Metric{mk("2026-06-01T00:00:00Z", 1)}); err != nil {
		t.Fatal(err)
	}
	// A row that someone put in the default partition for July.
	if _, err := s.pool.Exec(ctx, `INSERT INTO metrics (series_id, minute, requests, errors) VALUES (1, '2026-07-05T00:00:00Z', 5, 0)`); err != nil {
		t.Fatal(err)
	}
	// June exists (merge), July is in default (moved, then merged).
	if _, err := importMetrics(t, s, []history.Metric{mk("2026-06-01T00:00:00Z", 2), mk("2026-06-01T00:01:00Z", 3), mk("2026-07-05T00:00:00Z", 6)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Metrics(ctx, history.Stream{Service: "a", Environment: "e"}, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !slices.Equal(got[0].Requests, []float64{2, 3, 6}) {
		t.Errorf("metrics after merge: %+v", got)
	}
	var inDefault int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM ONLY metrics_default`).Scan(&inDefault); err != nil {
		t.Fatal(err)
	}
	if inDefault != 0 {
		t.Errorf("%d rows left in metrics_default", inDefault)
	}
}

// Two imports at once into the same new month, on different streams: the
// second waits for the first's partition and merges into it.
func TestConcurrentImportsSameNewMonth(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	mk := func(svc string) []history.Metric {
		var out []history.Metric
		for i := range 100 {
			out = append(out, history.Metric{Service: svc, Environment: "e", Version: "v", Minute: ts("2026-09-01T00:00:00Z").Add(time.Duration(i) * time.Minute),
				Requests: 5, LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()})
		}
		return out
	}
	errs := make(chan error, 2)
	for _, svc := range []string{"a", "b"} {
		go func() {
			tx, err := s.BeginImport(ctx)
			if err != nil {
				errs <- err
				return
			}
			if err := tx.AddMetrics(ctx, mk(svc)); err != nil {
				tx.Rollback(ctx)
				errs <- err
				return
			}
			_, err = tx.Commit(ctx)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, svc := range []string{"a", "b"} {
		got, err := s.Metrics(ctx, history.Stream{Service: svc, Environment: "e"}, history.Range{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Len() != 100 {
			t.Errorf("stream %s: %d series", svc, len(got))
		}
	}
}
