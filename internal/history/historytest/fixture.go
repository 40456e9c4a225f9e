// Package historytest holds the conformance suite that every history.Store
// backend passes (Run), and the fixture and helpers that the suite and the
// backends' own tests share: a small history touching every table, and a
// Dump of everything a Reader returns.
package historytest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// T0 is minute 0 of the fixture: 30 minutes before a month boundary, so
// that the fixture's metrics span two months (two partitions in PostgreSQL).
var T0 = time.Date(2026, 5, 31, 23, 30, 0, 0, time.UTC)

// Min returns minute m of the fixture.
func Min(m int) time.Time { return T0.Add(time.Duration(m) * time.Minute) }

// Fixture is a history to import: rows of every table.
type Fixture struct {
	Services    []history.Service
	Deployments []history.Deployment
	Metrics     []history.Metric
	Signatures  []history.Signature
	Incidents   []history.Incident
	Annotations []history.Annotation
	KPIs        []history.KPI
	KPIValues   []history.KPIValue
}

// Streams of NewFixture.
var (
	APIProd    = history.Stream{Service: "api", Environment: "prod"}
	APIStaging = history.Stream{Service: "api", Environment: "staging"}
	QueueProd  = history.Stream{Service: "queue", Environment: "prod"}
	WebProd    = history.Stream{Service: "web", Environment: "prod"}
	WorkerProd = history.Stream{Service: "worker", Environment: "prod"}
)

// NewFixture returns a small history touching every table:
//
//   - services api (given with team and tier) and web (given bare); db is
//     named only by an incident, worker only by metrics;
//   - deployments in three streams, with given and inferred kinds: d3 goes
//     back to v1 after d2 and is inferred a rollback;
//   - 90 minutes of metrics of api/prod (v1 and v2 overlapping, NaN
//     latencies for v2), web/prod (v1, and 10 minutes of a real-valued
//     aggregate series, version ""), and 5 minutes of worker/prod (a
//     stream with metrics and no deployment: version w7 is undeployed),
//     across a month boundary;
//   - KPIs: api declares success_ratio for every environment and
//     latency_p95 for prod only, web throughput, queue (a stream with KPI
//     values only, service named by nothing else) saturation; values of
//     api/prod (aggregate success ratio, v2 latency), web/prod and
//     queue/prod;
//   - error signatures of api/prod, one fingerprint with attributes;
//   - an incident linked to d2 and one of all environments of db;
//   - annotations of d2 (two annotators, one empty) and d4.
func NewFixture() Fixture {
	f := Fixture{
		Services: []history.Service{{Name: "api", Team: "core", Tier: "critical"}, {Name: "web"}},
		Deployments: []history.Deployment{
			{ID: "d1", Service: "api", Environment: "prod", Version: "v1", StartedAt: Min(0), FinishedAt: Min(5), CommitSHA: "abc", Author: "ann", FilesChanged: 3, LinesAdded: 10, LinesDeleted: 2, Kind: history.KindDeploy},
			{ID: "d2", Service: "api", Environment: "prod", Version: "v2", StartedAt: Min(30), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1},
			{ID: "d3", Service: "api", Environment: "prod", Version: "v1", StartedAt: Min(60), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1},
			{ID: "d4", Service: "web", Environment: "prod", Version: "v1", StartedAt: Min(10), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1},
			{ID: "d5", Service: "api", Environment: "staging", Version: "v2", StartedAt: Min(20), FilesChanged: 1, LinesAdded: 1, LinesDeleted: 0, Kind: history.KindRollback},
		},
		Incidents: []history.Incident{
			{ID: "i1", Service: "api", Environment: "prod", OpenedAt: Min(40), ResolvedAt: Min(70), Severity: "sev2", DeploymentID: "d2"},
			{ID: "i2", Service: "db", OpenedAt: Min(50)},
		},
		Annotations: []history.Annotation{
			{DeploymentID: "d2", Label: history.LabelFaulty, Annotator: "bob", AnnotatedAt: Min(600), Note: "errors, rolled back"},
			{DeploymentID: "d2", Label: history.LabelFaulty},
			{DeploymentID: "d4", Label: history.LabelHealthy, Annotator: "eve"},
		},
	}
	nan := math.NaN()
	for m := 0; m < 90; m++ {
		v1 := m < 32 || m >= 61
		v2 := m >= 30 && m < 62
		if v1 {
			f.Metrics = append(f.Metrics, history.Metric{Service: "api", Environment: "prod", Version: "v1", Minute: Min(m), Requests: float64(100 + m), Errors: float64(m % 3), LatencyP50: 10, LatencyP95: 20, LatencyP99: float64(30 + m)})
		}
		if v2 {
			f.Metrics = append(f.Metrics, history.Metric{Service: "api", Environment: "prod", Version: "v2", Minute: Min(m), Requests: float64(50 + m), Errors: float64(m % 7), LatencyP50: nan, LatencyP95: nan, LatencyP99: nan})
			if m%2 == 0 {
				f.Signatures = append(f.Signatures,
					history.Signature{Service: "api", Environment: "prod", Version: "v2", Minute: Min(m), Fingerprint: "fp-new", Count: 2, ErrorType: "NullPointer", Endpoint: "/pay", StatusCode: 500},
					history.Signature{Service: "api", Environment: "prod", Version: "v2", Minute: Min(m), Fingerprint: "fp-base", Count: 1})
			}
		}
		f.Metrics = append(f.Metrics, history.Metric{Service: "web", Environment: "prod", Version: "v1", Minute: Min(m), Requests: 3, Errors: 0, LatencyP50: 1, LatencyP95: 2, LatencyP99: 3})
		if m < 10 {
			f.Metrics = append(f.Metrics, history.Metric{Service: "web", Environment: "prod", Version: history.AggregateVersion, Minute: Min(m),
				Requests: 3.5 + float64(m)/8, Errors: 1.85000002384, LatencyP50: nan, LatencyP95: 2.5, LatencyP99: nan})
		}
		f.KPIValues = append(f.KPIValues,
			history.KPIValue{Service: "api", Environment: "prod", Name: "success_ratio", Minute: Min(m), Value: 1 - float64(m%7)/1000},
			history.KPIValue{Service: "web", Environment: "prod", Name: "throughput", Minute: Min(m), Value: 0.05 * float64(m)})
		if m >= 30 && m < 62 {
			f.KPIValues = append(f.KPIValues, history.KPIValue{Service: "api", Environment: "prod", Version: "v2", Name: "latency_p95", Minute: Min(m), Value: 120.5 + float64(m)})
		}
		if m%10 == 0 {
			f.KPIValues = append(f.KPIValues, history.KPIValue{Service: "queue", Environment: "prod", Name: "saturation", Minute: Min(m), Value: -3 + float64(m)})
		}
		if m < 5 {
			f.Metrics = append(f.Metrics, history.Metric{Service: "worker", Environment: "prod", Version: "w7", Minute: Min(m), Requests: 1, Errors: 1, LatencyP50: nan, LatencyP95: 5, LatencyP99: nan})
		}
	}
	f.Signatures = append(f.Signatures, history.Signature{Service: "api", Environment: "prod", Version: "v1", Minute: Min(29), Fingerprint: "fp-old", Count: 4})
	f.KPIs = []history.KPI{
		{Service: "api", Name: "success_ratio", Direction: history.LowerIsWorse, Kind: history.KPIRatio},
		{Service: "api", Environment: "prod", Name: "latency_p95", Direction: history.HigherIsWorse, Kind: history.KPILatency, Unit: "ms"},
		{Service: "web", Environment: "prod", Name: "throughput", Direction: history.BothWorse, Kind: history.KPIRate, Unit: "req/s"},
		{Service: "queue", Name: "saturation", Direction: history.HigherIsWorse, Kind: history.KPIGauge, Unit: "%"},
	}
	return f
}

// Summary is the ImportSummary of importing NewFixture (or a fixture with
// the same keys) into an empty store.
func Summary(f Fixture) history.ImportSummary {
	return history.ImportSummary{Services: 5, Deployments: int64(len(f.Deployments)), Metrics: int64(len(f.Metrics)),
		Signatures: int64(len(f.Signatures)), Incidents: int64(len(f.Incidents)), Annotations: int64(len(f.Annotations)),
		KPIs: int64(len(f.KPIs)), KPIValues: int64(len(f.KPIValues)), RollbacksInferred: 1,
		Undeployed:     []history.UndeployedSeries{{Service: "worker", Environment: "prod", Version: "w7", Rows: 5}},
		UndeployedRows: 5}
}

// Add adds every row of f to tx, metrics in several batches with streams
// interleaved.
func (f Fixture) Add(t testing.TB, tx history.ImportTx) {
	t.Helper()
	ctx := context.Background()
	must(t, tx.AddServices(ctx, f.Services))
	must(t, tx.AddDeployments(ctx, f.Deployments))
	for i := 0; i < len(f.Metrics); i += 37 {
		must(t, tx.AddMetrics(ctx, f.Metrics[i:min(i+37, len(f.Metrics))]))
	}
	must(t, tx.AddSignatures(ctx, f.Signatures))
	must(t, tx.AddIncidents(ctx, f.Incidents))
	must(t, tx.AddAnnotations(ctx, f.Annotations))
	// Values before their declarations: Commit checks them, not Add.
	for i := 0; i < len(f.KPIValues); i += 41 {
		must(t, tx.AddKPIValues(ctx, f.KPIValues[i:min(i+41, len(f.KPIValues))]))
	}
	must(t, tx.AddKPIs(ctx, f.KPIs))
}

// Import imports f into s in one transaction and returns the summary; it
// fails t on any error.
func Import(t testing.TB, s history.Store, f Fixture) history.ImportSummary {
	t.Helper()
	sum, err := TryImport(t, s, f)
	must(t, err)
	return sum
}

// TryImport imports f into s in one transaction and returns the error of
// Commit; errors of the Add calls fail t.
func TryImport(t testing.TB, s history.Store, f Fixture) (history.ImportSummary, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.BeginImport(ctx)
	must(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	f.Add(t, tx)
	return tx.Commit(ctx)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Dump is everything a Reader returns, with NaN latencies replaced by
// NaNMark and empty slices by nil, so that reflect.DeepEqual compares it.
type Dump struct {
	Services    []history.Service
	Deployments []history.Deployment
	Streams     []history.Stream
	Metrics     map[history.Stream][]history.Series
	Signatures  map[history.Stream][]history.Signature
	Incidents   []history.Incident
	Annotations []history.Annotation
	KPIs        []history.KPI
	KPIValues   map[history.Stream][]history.KPISeries
}

// NaNMark stands for NaN in a Dump.
const NaNMark = -12345

func denan(xs []float64) {
	for i, x := range xs {
		if math.IsNaN(x) {
			xs[i] = NaNMark
		}
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func denanSeries(ss []history.Series) []history.Series {
	for i := range ss {
		denan(ss[i].P50)
		denan(ss[i].P95)
		denan(ss[i].P99)
	}
	return nilIfEmpty(ss)
}

// Read returns everything r holds, over all time.
func Read(t testing.TB, r history.Reader) Dump {
	t.Helper()
	ctx := context.Background()
	var d Dump
	var err error
	d.Services, err = r.Services(ctx)
	must(t, err)
	d.Deployments, err = r.Deployments(ctx, history.Range{})
	must(t, err)
	d.Streams, err = r.Streams(ctx)
	must(t, err)
	d.Metrics = map[history.Stream][]history.Series{}
	d.Signatures = map[history.Stream][]history.Signature{}
	d.KPIValues = map[history.Stream][]history.KPISeries{}
	kr, _ := r.(history.KPIReader)
	for _, st := range d.Streams {
		ser, err := r.Metrics(ctx, st, history.Range{})
		must(t, err)
		d.Metrics[st] = denanSeries(ser)
		sigs, err := r.Signatures(ctx, st, history.Range{})
		must(t, err)
		d.Signatures[st] = nilIfEmpty(sigs)
		if kr != nil {
			kv, err := kr.KPIValues(ctx, st, history.Range{})
			must(t, err)
			d.KPIValues[st] = nilIfEmpty(kv)
		}
	}
	if kr != nil {
		d.KPIs, err = kr.KPIs(ctx)
		must(t, err)
		d.KPIs = nilIfEmpty(d.KPIs)
	}
	d.Incidents, err = r.Incidents(ctx, history.Range{})
	must(t, err)
	d.Annotations, err = r.Annotations(ctx)
	must(t, err)
	d.Services, d.Deployments, d.Streams = nilIfEmpty(d.Services), nilIfEmpty(d.Deployments), nilIfEmpty(d.Streams)
	d.Incidents, d.Annotations = nilIfEmpty(d.Incidents), nilIfEmpty(d.Annotations)
	return d
}

// Empty is the Dump of an empty store.
func Empty() Dump {
	return Dump{Metrics: map[history.Stream][]history.Series{}, Signatures: map[history.Stream][]history.Signature{},
		KPIValues: map[history.Stream][]history.KPISeries{}}
}

// Expected is what a Reader must return after f (NewFixture, possibly with
// values changed but the same keys) was imported into an empty store. It is
// computed from f without any store code, and with the kinds that
// NewFixture's deployments must be inferred to.
func (f Fixture) Expected() Dump {
	d := Empty()
	svc := map[string]history.Service{"db": {Name: "db"}, "worker": {Name: "worker"}, "queue": {Name: "queue"}} // named, not given
	for _, s := range f.Services {
		svc[s.Name] = s
	}
	for _, s := range svc {
		d.Services = append(d.Services, s)
	}
	slices.SortFunc(d.Services, func(a, b history.Service) int { return strings.Compare(a.Name, b.Name) })
	inferred := map[string]history.Kind{"d2": history.KindDeploy, "d3": history.KindRollback, "d4": history.KindDeploy}
	for _, dep := range f.Deployments {
		if dep.Kind == "" {
			dep.Kind, dep.KindInferred = inferred[dep.ID], true
		}
		d.Deployments = append(d.Deployments, dep)
	}
	slices.SortFunc(d.Deployments, func(a, b history.Deployment) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	d.Streams = []history.Stream{APIProd, APIStaging, QueueProd, WebProd, WorkerProd}
	for _, st := range d.Streams {
		var rows []history.Metric
		for _, m := range f.Metrics {
			if m.Service == st.Service && m.Environment == st.Environment {
				rows = append(rows, m)
			}
		}
		d.Metrics[st] = denanSeries(history.SeriesOf(rows))
		var sigs []history.Signature
		for _, s := range f.Signatures {
			if s.Service == st.Service && s.Environment == st.Environment {
				sigs = append(sigs, s)
			}
		}
		slices.SortStableFunc(sigs, func(a, b history.Signature) int {
			if c := a.Minute.Compare(b.Minute); c != 0 {
				return c
			}
			if c := strings.Compare(a.Version, b.Version); c != 0 {
				return c
			}
			return strings.Compare(a.Fingerprint, b.Fingerprint)
		})
		d.Signatures[st] = sigs
		var kv []history.KPIValue
		for _, v := range f.KPIValues {
			if v.Service == st.Service && v.Environment == st.Environment {
				kv = append(kv, v)
			}
		}
		slices.SortStableFunc(kv, func(a, b history.KPIValue) int { return a.Minute.Compare(b.Minute) })
		d.KPIValues[st] = nilIfEmpty(history.KPIValuesOf(kv))
	}
	d.KPIs = slices.Clone(f.KPIs)
	slices.SortFunc(d.KPIs, history.CompareKPIs)
	d.KPIs = nilIfEmpty(d.KPIs)
	d.Incidents = slices.Clone(f.Incidents)
	d.Annotations = slices.Clone(f.Annotations)
	slices.SortFunc(d.Annotations, func(a, b history.Annotation) int {
		if c := strings.Compare(a.DeploymentID, b.DeploymentID); c != 0 {
			return c
		}
		return strings.Compare(a.Annotator, b.Annotator)
	})
	return d
}

// Diff reports every field of got that differs from want.
func Diff(t testing.TB, got, want Dump) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", gv.Type().Field(i).Name, g, w)
		}
	}
}

// StreamFixture is two streams of service api (prod and staging) whose
// version and fingerprint names sort differently in byte order and in most
// locales, with gaps in the series and several fingerprints per version per
// minute, over four hours that cross a month boundary.
func StreamFixture() ([]history.Metric, []history.Signature) {
	start := time.Date(2026, 5, 31, 22, 0, 0, 0, time.UTC)
	versions := []string{"v9", "v10", "V1", "é1", "a"}
	fps := []struct {
		name, typ, endpoint string
		status              int32
	}{{"fpB", "Timeout", "/b", 504}, {"fpa", "NPE", "/a", 500}, {"FP", "", "", 0}, {"ß", "Ünicode", "/ß", 503}}
	var ms []history.Metric
	var sigs []history.Signature
	for _, env := range []string{"prod", "staging"} {
		for vi, v := range versions {
			for m := range 240 {
				if (m+vi)%7 == 0 {
					continue // gaps
				}
				at := start.Add(time.Duration(m) * time.Minute)
				ms = append(ms, history.Metric{Service: "api", Environment: env, Version: v, Minute: at,
					Requests: float64(1000 + m + vi), Errors: float64((m * vi) % 5), LatencyP50: float64(m), LatencyP95: float64(vi), LatencyP99: 99})
				for fi, f := range fps {
					if (m+vi+fi)%3 != 0 {
						continue
					}
					sigs = append(sigs, history.Signature{Service: "api", Environment: env, Version: v, Minute: at,
						Fingerprint: f.name, Count: int64(1 + (m+fi)%4), ErrorType: f.typ, Endpoint: f.endpoint, StatusCode: f.status})
				}
			}
		}
	}
	return ms, sigs
}

// CheckStreams checks r's Metrics and Signatures of the StreamFixture
// streams (and of an unknown one) over several ranges against ms and sigs,
// the rows imported.
func CheckStreams(t *testing.T, r history.Reader, ms []history.Metric, sigs []history.Signature) {
	t.Helper()
	ctx := context.Background()
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		must(t, err)
		return tm.UTC()
	}
	ranges := []history.Range{
		{},
		{From: at("2026-05-31T23:00:00Z"), Until: at("2026-06-01T00:30:00Z")},
		{From: at("2026-06-01T00:00:00Z")},
		{Until: at("2026-05-31T22:17:00Z")},
		{From: at("2026-07-01T00:00:00Z")}, // empty
	}
	for _, env := range []string{"prod", "staging", "none"} {
		st := history.Stream{Service: "api", Environment: env}
		for _, rg := range ranges {
			name := fmt.Sprintf("%s %v..%v", env, rg.From, rg.Until)
			var wantM []history.Metric
			for _, m := range ms {
				if m.Environment == env && rg.Contains(m.Minute) {
					wantM = append(wantM, m)
				}
			}
			slices.SortStableFunc(wantM, func(a, b history.Metric) int { return a.Minute.Compare(b.Minute) })
			gotM, err := r.Metrics(ctx, st, rg)
			must(t, err)
			if got, want := denanSeries(gotM), denanSeries(history.SeriesOf(wantM)); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: metrics\n got %+v\nwant %+v", name, got, want)
			}
			var wantS []history.Signature
			for _, g := range sigs {
				if g.Environment == env && rg.Contains(g.Minute) {
					wantS = append(wantS, g)
				}
			}
			slices.SortFunc(wantS, func(a, b history.Signature) int {
				return cmp.Or(a.Minute.Compare(b.Minute), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Fingerprint, b.Fingerprint))
			})
			gotS, err := r.Signatures(ctx, st, rg)
			must(t, err)
			if !reflect.DeepEqual(nilIfEmpty(gotS), wantS) {
				n := min(len(gotS), len(wantS), 5)
				t.Errorf("%s: %d signatures, want %d; first\n got %+v\nwant %+v", name, len(gotS), len(wantS), gotS[:n], wantS[:n])
			}
		}
	}
}

// ImportStreamFixture imports ms and sigs in two imports, the later minutes
// first (so that storage order is not minute order).
func ImportStreamFixture(t *testing.T, s history.Store, ms []history.Metric, sigs []history.Signature) {
	t.Helper()
	cut := time.Date(2026, 5, 31, 23, 30, 0, 0, time.UTC)
	for _, late := range []bool{true, false} {
		var f Fixture
		for _, m := range ms {
			if !m.Minute.Before(cut) == late {
				f.Metrics = append(f.Metrics, m)
			}
		}
		for _, g := range sigs {
			if !g.Minute.Before(cut) == late {
				f.Signatures = append(f.Signatures, g)
			}
		}
		Import(t, s, f)
	}
}
