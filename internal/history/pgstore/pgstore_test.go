package pgstore

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
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

func fixture() ([]history.Service, []history.Deployment, []history.Metric, []history.Signature, []history.Incident, []history.Annotation) {
	services := []history.Service{{Name: "api", Team: "core", Tier: "critical"}}
	deps := []history.Deployment{
		{ID: "d1", Service: "api", Environment: "prod", Version: "v1", StartedAt: ts("2026-05-31T23:50:00Z"),
			FinishedAt: ts("2026-06-01T00:05:00Z"), CommitSHA: "abc", Author: "ann", FilesChanged: 3, LinesAdded: 10, LinesDeleted: 2, Kind: history.KindDeploy},
		{ID: "d2", Service: "api", Environment: "prod", Version: "v2", StartedAt: ts("2026-06-01T00:10:00Z"), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1},
		{ID: "d3", Service: "api", Environment: "prod", Version: "v1", StartedAt: ts("2026-06-01T00:30:00Z"), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1},
		{ID: "d4", Service: "web", Environment: "prod", Version: "w1", StartedAt: ts("2026-06-01T01:00:00Z"), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1, Kind: history.KindRollback},
	}
	var metrics []history.Metric
	// Minutes across a month boundary: two partitions.
	for i := range 30 {
		m := ts("2026-05-31T23:45:00Z").Add(time.Duration(i) * time.Minute)
		metrics = append(metrics,
			history.Metric{Service: "api", Environment: "prod", Version: "v1", Minute: m, Requests: int64(100 + i), Errors: int64(i % 3),
				LatencyP50: 10 + float64(i), LatencyP95: 20, LatencyP99: math.NaN()})
		if i >= 25 {
			metrics = append(metrics, history.Metric{Service: "api", Environment: "prod", Version: "v2", Minute: m, Requests: 7, Errors: 1,
				LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()})
		}
	}
	sigs := []history.Signature{
		{Service: "api", Environment: "prod", Version: "v2", Minute: ts("2026-06-01T00:12:00Z"), Fingerprint: "fp1", Count: 3, ErrorType: "NPE", Endpoint: "/x", StatusCode: 500},
		{Service: "api", Environment: "prod", Version: "v2", Minute: ts("2026-06-01T00:13:00Z"), Fingerprint: "fp1", Count: 1, ErrorType: "NPE", Endpoint: "/x", StatusCode: 500},
		{Service: "api", Environment: "prod", Version: "v1", Minute: ts("2026-05-31T23:59:00Z"), Fingerprint: "fp2", Count: 2},
	}
	incs := []history.Incident{
		{ID: "i1", Service: "api", Environment: "prod", OpenedAt: ts("2026-06-01T00:20:00Z"), ResolvedAt: ts("2026-06-01T01:00:00Z"), Severity: "sev2", DeploymentID: "d2"},
		{ID: "i2", Service: "db", OpenedAt: ts("2026-06-02T00:00:00Z")},
	}
	anns := []history.Annotation{
		{DeploymentID: "d2", Label: history.LabelFaulty, Annotator: "bob", AnnotatedAt: ts("2026-06-03T00:00:00Z"), Note: "bad"},
		{DeploymentID: "d2", Label: history.LabelHealthy},
	}
	return services, deps, metrics, sigs, incs, anns
}

func importAll(t *testing.T, s history.Store, services []history.Service, deps []history.Deployment, metrics []history.Metric,
	sigs []history.Signature, incs []history.Incident, anns []history.Annotation) (history.ImportSummary, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	steps := []func() error{
		func() error { return tx.AddServices(ctx, services) },
		func() error { return tx.AddDeployments(ctx, deps) },
		// Two batches, to exercise the per-import caches.
		func() error { return tx.AddMetrics(ctx, metrics[:len(metrics)/2]) },
		func() error { return tx.AddMetrics(ctx, metrics[len(metrics)/2:]) },
		func() error { return tx.AddSignatures(ctx, sigs) },
		func() error { return tx.AddIncidents(ctx, incs) },
		func() error { return tx.AddAnnotations(ctx, anns) },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return history.ImportSummary{}, err
		}
	}
	return tx.Commit(ctx)
}

func TestImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	services, deps, metrics, sigs, incs, anns := fixture()
	sum, err := importAll(t, s, services, deps, metrics, sigs, incs, anns)
	if err != nil {
		t.Fatal(err)
	}
	want := history.ImportSummary{Services: 3, Deployments: 4, Metrics: int64(len(metrics)), Signatures: 3, Incidents: 2, Annotations: 2, RollbacksInferred: 1}
	if sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	checkContents(t, s, services, deps, metrics, sigs, incs, anns)

	// Partitions were created per month and attached.
	var parts []string
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'metrics'::regclass ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		parts = append(parts, n)
	}
	if want := []string{"metrics_202605", "metrics_202606", "metrics_default"}; !slices.Equal(parts, want) {
		t.Errorf("metrics partitions %v, want %v", parts, want)
	}
}

func checkContents(t *testing.T, s history.Reader, services []history.Service, deps []history.Deployment, metrics []history.Metric,
	sigs []history.Signature, incs []history.Incident, anns []history.Annotation) {
	t.Helper()
	ctx := context.Background()
	gotSvc, err := s.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantSvc := []history.Service{services[0], {Name: "db"}, {Name: "web"}}
	if !reflect.DeepEqual(gotSvc, wantSvc) {
		t.Errorf("services %+v, want %+v", gotSvc, wantSvc)
	}
	gotDeps, err := s.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	wantDeps := slices.Clone(deps)
	wantDeps[1].Kind, wantDeps[1].KindInferred = history.KindDeploy, true
	wantDeps[2].Kind, wantDeps[2].KindInferred = history.KindRollback, true
	if !reflect.DeepEqual(gotDeps, wantDeps) {
		t.Errorf("deployments\n got %+v\nwant %+v", gotDeps, wantDeps)
	}
	ranged, err := s.Deployments(ctx, history.Range{From: ts("2026-06-01T00:10:00Z"), Until: ts("2026-06-01T01:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ranged) != 2 || ranged[0].ID != "d2" || ranged[1].ID != "d3" {
		t.Errorf("deployments in range: %+v", ranged)
	}
	streams, err := s.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []history.Stream{{Service: "api", Environment: "prod"}, {Service: "web", Environment: "prod"}}; !reflect.DeepEqual(streams, want) {
		t.Errorf("streams %v, want %v", streams, want)
	}
	series, err := s.Metrics(ctx, history.Stream{Service: "api", Environment: "prod"}, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	wantSeries := history.SeriesOf(metrics)
	if !seriesEqual(series, wantSeries) {
		t.Errorf("metrics\n got %+v\nwant %+v", series, wantSeries)
	}
	// A range: [23:50, 00:00) has 10 minutes of v1 only.
	part, err := s.Metrics(ctx, history.Stream{Service: "api", Environment: "prod"}, history.Range{From: ts("2026-05-31T23:50:00Z"), Until: ts("2026-06-01T00:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if len(part) != 1 || part[0].Version != "v1" || part[0].Len() != 10 || part[0].Minutes[0] != history.UnixMinute(ts("2026-05-31T23:50:00Z")) {
		t.Errorf("metrics in range: %+v", part)
	}
	gotSigs, err := s.Signatures(ctx, history.Stream{Service: "api", Environment: "prod"}, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	wantSigs := []history.Signature{sigs[2], sigs[0], sigs[1]}
	if !reflect.DeepEqual(gotSigs, wantSigs) {
		t.Errorf("signatures\n got %+v\nwant %+v", gotSigs, wantSigs)
	}
	gotIncs, err := s.Incidents(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotIncs, incs) {
		t.Errorf("incidents\n got %+v\nwant %+v", gotIncs, incs)
	}
	gotAnns, err := s.Annotations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAnns := []history.Annotation{anns[1], anns[0]} // annotator "" < "bob"
	if !reflect.DeepEqual(gotAnns, wantAnns) {
		t.Errorf("annotations\n got %+v\nwant %+v", gotAnns, wantAnns)
	}
}

func seriesEqual(a, b []history.Series) bool {
	if len(a) != len(b) {
		return false
	}
	feq := func(x, y []float64) bool {
		return slices.EqualFunc(x, y, func(p, q float64) bool { return p == q || (math.IsNaN(p) && math.IsNaN(q)) })
	}
	for i := range a {
		if a[i].Version != b[i].Version || !slices.Equal(a[i].Minutes, b[i].Minutes) || !slices.Equal(a[i].Requests, b[i].Requests) ||
			!slices.Equal(a[i].Errors, b[i].Errors) || !feq(a[i].P50, b[i].P50) || !feq(a[i].P95, b[i].P95) || !feq(a[i].P99, b[i].P99) {
			return false
		}
	}
	return true
}

func TestReimportIsIdempotentAndUpdates(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	services, deps, metrics, sigs, incs, anns := fixture()
	if _, err := importAll(t, s, services, deps, metrics, sigs, incs, anns); err != nil {
		t.Fatal(err)
	}
	counts := func() map[string]int64 {
		out := map[string]int64{}
		for _, tb := range []string{"services", "deployments", "series", "metrics", "error_fingerprints", "error_signatures", "incidents", "annotations"} {
			var n int64
			if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+tb).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[tb] = n
		}
		return out
	}
	before := counts()
	// Same keys, changed values.
	metrics[0].Requests = 999
	metrics[0].LatencyP99 = 42
	deps[0].Author = "zed"
	incs[1].Severity = "sev1"
	anns[0].Label = history.LabelHealthy
	sigs[0].Count = 77
	services[0].Team = "platform"
	if _, err := importAll(t, s, services, deps, metrics, sigs, incs, anns); err != nil {
		t.Fatal(err)
	}
	after := counts()
	if !reflect.DeepEqual(before, after) {
		t.Errorf("row counts changed on re-import: %v -> %v", before, after)
	}
	checkContents(t, s, services, deps, metrics, sigs, incs, anns)
}

func TestRollbackInferenceConsidersStoredRows(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	d := func(id, ver, at string) history.Deployment {
		return history.Deployment{ID: id, Service: "api", Environment: "prod", Version: ver, StartedAt: ts(at), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1}
	}
	// First import: v1 then v2.
	if _, err := importAll(t, s, nil, []history.Deployment{d("a", "v1", "2026-06-01T10:00:00Z"), d("b", "v2", "2026-06-01T11:00:00Z")}, nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	// Second import: back to v1 (a rollback because of a stored row), and v3.
	sum, err := importAll(t, s, nil, []history.Deployment{d("c", "v1", "2026-06-01T12:00:00Z"), d("e", "v3", "2026-06-01T13:00:00Z")}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RollbacksInferred != 1 {
		t.Errorf("RollbacksInferred = %d, want 1", sum.RollbacksInferred)
	}
	// Third import: a backfilled earlier deployment of v2 makes b a rollback.
	if _, err := importAll(t, s, nil, []history.Deployment{d("z", "v2", "2026-05-01T00:00:00Z")}, nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]history.Kind{}
	for _, x := range got {
		kinds[x.ID] = x.Kind
		if !x.KindInferred {
			t.Errorf("%s: KindInferred false", x.ID)
		}
	}
	want := map[string]history.Kind{"z": "deploy", "a": "deploy", "b": "rollback", "c": "rollback", "e": "deploy"}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
}

func TestMissingDeploymentLeavesStoreUnchanged(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	services, deps, metrics, sigs, incs, anns := fixture()
	anns = append(anns, history.Annotation{DeploymentID: "nope", Label: "faulty"}, history.Annotation{DeploymentID: "gone", Label: "faulty"})
	_, err := importAll(t, s, services, deps, metrics, sigs, incs, anns)
	var md *history.MissingDeploymentError
	if !errors.As(err, &md) {
		t.Fatalf("err = %v, want *MissingDeploymentError", err)
	}
	if !slices.Equal(md.DeploymentIDs, []string{"gone", "nope"}) {
		t.Errorf("missing %v, want [gone nope]", md.DeploymentIDs)
	}
	for _, tb := range []string{"services", "deployments", "series", "metrics", "error_signatures", "incidents", "annotations"} {
		var n int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+tb).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s has %d rows after a failed import", tb, n)
		}
	}
	var parts int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE 'metrics_2%'`).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts != 0 {
		t.Errorf("%d partitions left behind by a failed import", parts)
	}
}

func TestDuplicateKeyInImportFails(t *testing.T) {
	s, _ := newStore(t)
	m := history.Metric{Service: "a", Environment: "e", Version: "v", Minute: ts("2026-06-01T00:00:00Z"), Requests: 1,
		LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()}
	_, err := importAll(t, s, nil, nil, []history.Metric{m, m}, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("duplicate metric key: %v", err)
	}
}

func TestMergeIntoExistingPartitionAndDefault(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	mk := func(at string, req int64) history.Metric {
		return history.Metric{Service: "a", Environment: "e", Version: "v", Minute: ts(at), Requests: req,
			LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()}
	}
	if _, err := importAll(t, s, nil, nil, []history.Metric{mk("2026-06-01T00:00:00Z", 1)}, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	// A row that someone put in the default partition for July.
	if _, err := s.pool.Exec(ctx, `INSERT INTO metrics (series_id, minute, requests, errors) VALUES (1, '2026-07-05T00:00:00Z', 5, 0)`); err != nil {
		t.Fatal(err)
	}
	// June exists (merge), July is in default (moved, then merged).
	if _, err := importAll(t, s, nil, nil, []history.Metric{mk("2026-06-01T00:00:00Z", 2), mk("2026-06-01T00:01:00Z", 3), mk("2026-07-05T00:00:00Z", 6)}, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Metrics(ctx, history.Stream{Service: "a", Environment: "e"}, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !slices.Equal(got[0].Requests, []int64{2, 3, 6}) {
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

func TestTruthRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if _, err := s.Truth(ctx); !errors.Is(err, history.ErrNoTruth) {
		t.Fatalf("Truth on a fresh store: %v, want ErrNoTruth", err)
	}
	in := []history.Truth{
		{DeploymentID: "d2", Faulty: true, Shape: "step", OnsetMinute: 3, Confounders: "blip,outage", Severity: 4.5},
		{DeploymentID: "d1", OnsetMinute: -1},
	}
	if err := s.PutTruth(ctx, in); err != nil {
		t.Fatal(err)
	}
	in[1].Confounders = "seasonal"
	if err := s.PutTruth(ctx, in[1:]); err != nil {
		t.Fatal(err)
	}
	got, err := s.Truth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []history.Truth{in[1], in[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("truth %+v, want %+v", got, want)
	}
}

func TestRollbackAbandonsImport(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	tx, err := s.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, deps, metrics, _, _, _ := fixture()
	if err := tx.AddDeployments(ctx, deps); err != nil {
		t.Fatal(err)
	}
	if err := tx.AddMetrics(ctx, metrics); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("second Rollback: %v", err)
	}
	if _, err := tx.Commit(ctx); err == nil {
		t.Error("Commit after Rollback succeeded")
	}
	got, err := s.Deployments(ctx, history.Range{})
	if err != nil || len(got) != 0 {
		t.Errorf("after rollback: %v %v", got, err)
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
