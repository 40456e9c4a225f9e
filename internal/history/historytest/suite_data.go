package historytest

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
)

// The contract of issue 13 (data as teams have it) and of the refused rows
// of issue 14, for every backend:
//
//   - a metric row with Version "" is the aggregate series of all
//     versions, stored and returned first among the stream's series;
//   - requests and errors are real-valued; integer values (even above
//     2^32) and floats come back bit for bit;
//   - KPI declarations and values: upserted, read by stream and range;
//     values are checked at Commit against the declaration in force
//     (environment-specific, else the service's), undeclared or out of the
//     kind's range fail the commit with *history.KPIValueError and leave
//     the store unchanged;
//   - metrics of a version with no deployment in its stream are kept and
//     listed in ImportSummary.Undeployed (aggregate rows never are);
//   - per-minute rows are stored at the start of their minute;
//   - rows breaking the rules of history/validate.go are refused by Add or
//     Commit; after a refused Add the import can only be rolled back, and
//     nothing of it is stored.

func testAggregate(t *testing.T, s history.Store) {
	ctx := context.Background()
	agg := history.Stream{Service: "agg", Environment: "prod"}
	const big = 4503599627370497 // 2^52 + 1: exact as a float64, not as a float32
	var f Fixture
	for m := range 20 {
		f.Metrics = append(f.Metrics, history.Metric{Service: "agg", Environment: "prod", Minute: Min(m),
			Requests: 1234.5678 + float64(m), Errors: 1.85000002384, LatencyP50: math.NaN(), LatencyP95: 81.25, LatencyP99: math.NaN()})
		if m%2 == 0 {
			f.Metrics = append(f.Metrics, history.Metric{Service: "agg", Environment: "prod", Version: "v1", Minute: Min(m),
				Requests: big, Errors: float64(m), LatencyP50: 1, LatencyP95: 2, LatencyP99: 3})
		}
	}
	f.Metrics = append(f.Metrics, history.Metric{Service: "agg", Environment: "prod", Minute: Min(20),
		Requests: 0, Errors: 0, LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()})
	sum := Import(t, s, f)
	if sum.Metrics != int64(len(f.Metrics)) || sum.Services != 1 {
		t.Errorf("summary %+v", sum)
	}
	// v1 has no deployment; the aggregate series is never "undeployed".
	if want := []history.UndeployedSeries{{Service: "agg", Environment: "prod", Version: "v1", Rows: 10}}; !reflect.DeepEqual(sum.Undeployed, want) {
		t.Errorf("undeployed %+v, want %+v", sum.Undeployed, want)
	}
	streams, err := s.Streams(ctx)
	must(t, err)
	if !slices.Equal(streams, []history.Stream{agg}) {
		t.Errorf("streams %v, want [%v]", streams, agg)
	}
	got, err := s.Metrics(ctx, agg, history.Range{})
	must(t, err)
	want := history.SeriesOf(f.Metrics)
	if !reflect.DeepEqual(denanSeries(got), denanSeries(want)) {
		t.Fatalf("metrics\n got %+v\nwant %+v", got, want)
	}
	a, per := history.SplitAggregate(got)
	if a == nil || a.Version != history.AggregateVersion || a.Len() != 21 || len(per) != 1 || per[0].Version != "v1" {
		t.Fatalf("SplitAggregate: %+v, %+v", a, per)
	}
	if a.Errors[0] != 1.85000002384 || a.Requests[3] != 1237.5678 || per[0].Requests[0] != big {
		t.Errorf("values not bit for bit: %v %v %v", a.Errors[0], a.Requests[3], per[0].Requests[0])
	}
	part, err := s.Metrics(ctx, agg, history.Range{From: Min(5), Until: Min(8)})
	must(t, err)
	if len(part) != 2 || part[0].Version != "" || part[0].Len() != 3 || part[1].Len() != 1 || part[1].Minutes[0] != history.UnixMinute(Min(6)) {
		t.Errorf("range read: %+v", part)
	}
}

func testKPIs(t *testing.T, newStore func(t *testing.T) history.Store) {
	ctx := context.Background()
	apiProd := history.Stream{Service: "api", Environment: "prod"}
	apiStaging := history.Stream{Service: "api", Environment: "staging"}
	decls := []history.KPI{
		{Service: "api", Name: "success", Direction: history.LowerIsWorse, Kind: history.KPIRatio},
		{Service: "api", Environment: "prod", Name: "success", Direction: history.BothWorse, Kind: history.KPIGauge, Unit: "%"},
		{Service: "api", Name: "rps", Direction: history.BothWorse, Kind: history.KPIRate},
	}
	val := func(st history.Stream, version, name string, m int, v float64) history.KPIValue {
		return history.KPIValue{Service: st.Service, Environment: st.Environment, Version: version, Name: name, Minute: Min(m), Value: v}
	}

	t.Run("declarations: upsert and the one in force", func(t *testing.T) {
		s := newStore(t)
		sum := Import(t, s, Fixture{KPIs: decls})
		if sum.KPIs != 3 || sum.Services != 1 {
			t.Errorf("summary %+v", sum)
		}
		changed := slices.Clone(decls)
		changed[2].Unit = "req/s"
		Import(t, s, Fixture{KPIs: changed[2:]})
		got, err := s.KPIs(ctx)
		must(t, err)
		want := slices.Clone(changed)
		slices.SortFunc(want, history.CompareKPIs)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("KPIs\n got %+v\nwant %+v", got, want)
		}
		if k, ok := history.KPIOf(got, apiProd, "success"); !ok || k.Kind != history.KPIGauge {
			t.Errorf("api/prod success: %+v %v, want the prod declaration (gauge)", k, ok)
		}
		if k, ok := history.KPIOf(got, apiStaging, "success"); !ok || k.Kind != history.KPIRatio {
			t.Errorf("api/staging success: %+v %v, want the service's declaration (ratio)", k, ok)
		}
		if _, ok := history.KPIOf(got, apiProd, "nope"); ok {
			t.Error("an undeclared KPI was found")
		}
	})

	t.Run("values: declared in an earlier import, read by range", func(t *testing.T) {
		s := newStore(t)
		Import(t, s, Fixture{KPIs: decls})
		var f Fixture
		for m := range 30 {
			f.KPIValues = append(f.KPIValues, val(apiProd, "", "success", m, 99.5-float64(m%3)), val(apiStaging, "", "success", m, 0.999))
			if m%3 == 0 {
				f.KPIValues = append(f.KPIValues, val(apiProd, "v2", "rps", m, 12.25), val(apiProd, "", "rps", m, 40))
			}
		}
		sum := Import(t, s, f)
		if sum.KPIValues != int64(len(f.KPIValues)) || sum.KPIs != 0 {
			t.Errorf("summary %+v", sum)
		}
		for _, rg := range []history.Range{{}, {From: Min(10), Until: Min(20)}, {From: Min(29).Add(time.Second)}, {Until: Min(0)}} {
			got, err := s.KPIValues(ctx, apiProd, rg)
			must(t, err)
			var rows []history.KPIValue
			for _, v := range f.KPIValues {
				if v.Environment == "prod" && rg.Contains(v.Minute) {
					rows = append(rows, v)
				}
			}
			if want := history.KPIValuesOf(rows); !reflect.DeepEqual(nilIfEmpty(got), nilIfEmpty(want)) {
				t.Errorf("range %v..%v:\n got %+v\nwant %+v", rg.From, rg.Until, got, want)
			}
		}
		got, err := s.KPIValues(ctx, apiProd, history.Range{})
		must(t, err)
		var order []string
		for _, ks := range got {
			order = append(order, ks.Name+"/"+ks.Version)
		}
		if !slices.Equal(order, []string{"rps/", "rps/v2", "success/"}) {
			t.Errorf("series order %v", order)
		}
		if got, err := s.KPIValues(ctx, history.Stream{Service: "nope", Environment: "x"}, history.Range{}); err != nil || len(got) != 0 {
			t.Errorf("unknown stream: %v, %v", got, err)
		}
	})

	// One store for the refused cases: a refused import leaves it as it was.
	s := newStore(t)
	f := NewFixture()
	f.KPIs = append(f.KPIs, decls...)
	Import(t, s, f)
	before := Read(t, s)
	for _, tc := range []struct {
		name   string
		values []history.KPIValue
		want   []history.KPIProblem
	}{
		{"undeclared", []history.KPIValue{val(apiProd, "", "latency", 1, 3)},
			[]history.KPIProblem{{Service: "api", Environment: "prod", Name: "latency", Undeclared: true}}},
		{"a ratio above 1", []history.KPIValue{val(apiStaging, "", "success", 1, 0.5), val(apiStaging, "", "success", 2, 1.5)},
			[]history.KPIProblem{{Service: "api", Environment: "staging", Name: "success", Value: 1.5}}},
		{"a negative rate", []history.KPIValue{val(apiProd, "v1", "rps", 1, -1), val(apiProd, "", "rps", 2, 5)},
			[]history.KPIProblem{{Service: "api", Environment: "prod", Name: "rps", Value: -1}}},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			_, err := TryImport(t, s, Fixture{KPIValues: tc.values})
			var ke *history.KPIValueError
			if !errors.As(err, &ke) {
				t.Fatalf("Commit: %v, want *history.KPIValueError", err)
			}
			for i := range ke.Problems {
				ke.Problems[i].Reason = "" // wording is not the contract
			}
			if !reflect.DeepEqual(ke.Problems, tc.want) {
				t.Errorf("problems %+v, want %+v", ke.Problems, tc.want)
			}
			Diff(t, Read(t, s), before)
		})
	}
	t.Run("a gauge may be negative; a declaration for one environment applies there only", func(t *testing.T) {
		s := newStore(t)
		Import(t, s, Fixture{KPIs: decls})
		Import(t, s, Fixture{KPIValues: []history.KPIValue{val(apiProd, "", "success", 1, -57)}})
		_, err := TryImport(t, s, Fixture{KPIValues: []history.KPIValue{val(apiStaging, "", "success", 1, -57)}})
		var ke *history.KPIValueError
		if !errors.As(err, &ke) {
			t.Fatalf("a gauge value on a ratio KPI: %v, want *history.KPIValueError", err)
		}
	})
}

func testUndeployed(t *testing.T, newStore func(t *testing.T) history.Store) {
	s := newStore(t)
	metric := func(env, version string, m int) history.Metric {
		return history.Metric{Service: "api", Environment: env, Version: version, Minute: Min(m), Requests: 10, Errors: 1,
			LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()}
	}
	var f Fixture
	for m := range 4 {
		f.Metrics = append(f.Metrics, metric("prod", "v1", m), metric("prod", "v2", m), metric("prod", "", m),
			metric("prod", "v3", m), metric("prod", "v4", m))
	}
	f.Deployments = []history.Deployment{
		dep("d2", "prod", "v2", 1, ""), dep("d4", "staging", "v4", 1, ""),
	}
	for i := range f.Deployments {
		f.Deployments[i].Service = "api"
	}
	sum := Import(t, s, f)
	want := []history.UndeployedSeries{
		{Service: "api", Environment: "prod", Version: "v1", Rows: 4},
		{Service: "api", Environment: "prod", Version: "v3", Rows: 4},
		{Service: "api", Environment: "prod", Version: "v4", Rows: 4}, // deployed to another environment only
	}
	if !reflect.DeepEqual(sum.Undeployed, want) || sum.UndeployedRows != 12 {
		t.Errorf("undeployed %+v (%d rows), want %+v", sum.Undeployed, sum.UndeployedRows, want)
	}
	// The rows are kept.
	ser, err := s.Metrics(context.Background(), APIProd, history.Range{})
	must(t, err)
	if len(ser) != 5 {
		t.Errorf("%d series, want 5 (undeployed versions are kept)", len(ser))
	}
	// Deploying v1 later: metrics of v1 imported again are not listed; v3
	// deployed in the same import as its metrics is not listed either.
	d1 := dep("d1", "prod", "v1", 0, "")
	d1.Service = "api"
	Import(t, s, Fixture{Deployments: []history.Deployment{d1}})
	d3 := dep("d3", "prod", "v3", 2, "")
	d3.Service = "api"
	sum = Import(t, s, Fixture{Deployments: []history.Deployment{d3}, Metrics: f.Metrics})
	want = []history.UndeployedSeries{{Service: "api", Environment: "prod", Version: "v4", Rows: 4}}
	if !reflect.DeepEqual(sum.Undeployed, want) || sum.UndeployedRows != 4 {
		t.Errorf("after deploying v1 and v3: undeployed %+v (%d rows), want %+v", sum.Undeployed, sum.UndeployedRows, want)
	}
}

func testMinutesFloored(t *testing.T, s history.Store) {
	ctx := context.Background()
	nan := math.NaN()
	Import(t, s, Fixture{
		Metrics: []history.Metric{{Service: "api", Environment: "prod", Version: "v1", Minute: Min(3).Add(20 * time.Second), Requests: 5, Errors: 0,
			LatencyP50: nan, LatencyP95: nan, LatencyP99: nan}},
		Signatures: []history.Signature{{Service: "api", Environment: "prod", Version: "v1", Minute: Min(3).Add(59999 * time.Millisecond), Fingerprint: "fp", Count: 1}},
		KPIs:       []history.KPI{{Service: "api", Name: "k", Direction: history.BothWorse, Kind: history.KPIGauge}},
		KPIValues:  []history.KPIValue{{Service: "api", Environment: "prod", Name: "k", Minute: Min(4).Add(time.Nanosecond), Value: 1}},
	})
	r := history.Range{From: Min(3), Until: Min(5)}
	ser, err := s.Metrics(ctx, APIProd, r)
	must(t, err)
	if len(ser) != 1 || ser[0].Minutes[0] != history.UnixMinute(Min(3)) {
		t.Errorf("metrics %+v, want one row at minute 3", ser)
	}
	sigs, err := s.Signatures(ctx, APIProd, r)
	must(t, err)
	if len(sigs) != 1 || !sigs[0].Minute.Equal(Min(3)) {
		t.Errorf("signatures %+v, want one row at minute 3", sigs)
	}
	kv, err := s.KPIValues(ctx, APIProd, r)
	must(t, err)
	if len(kv) != 1 || kv[0].Minutes[0] != history.UnixMinute(Min(4)) {
		t.Errorf("KPI values %+v, want one row at minute 4", kv)
	}
}

func testRefusedRows(t *testing.T, newStore func(t *testing.T) history.Store) {
	ctx := context.Background()
	long := strings.Repeat("x", history.MaxKeyBytes+1)
	nan := math.NaN()
	year := func(y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC) }
	okMetric := history.Metric{Service: "api", Environment: "prod", Version: "v1", Minute: Min(1), Requests: 2, Errors: 1, LatencyP50: nan, LatencyP95: nan, LatencyP99: nan}
	metric := func(edit func(*history.Metric)) Fixture {
		m := okMetric
		edit(&m)
		return Fixture{Metrics: []history.Metric{m}}
	}
	deploy := func(edit func(*history.Deployment)) Fixture {
		d := dep("dx", "prod", "v9", 5, "")
		edit(&d)
		return Fixture{Deployments: []history.Deployment{d}}
	}
	// One store for all cases: a refused import leaves it as it was.
	s := newStore(t)
	Import(t, s, NewFixture())
	before := Read(t, s)
	for _, tc := range []struct {
		name string
		f    Fixture
	}{
		{"deployment_id over the limit", deploy(func(d *history.Deployment) { d.ID = long })},
		{"deployment_id of 40 KB", deploy(func(d *history.Deployment) { d.ID = strings.Repeat("d", 40<<10) })},
		{"finished_at before started_at", deploy(func(d *history.Deployment) { d.FinishedAt = d.StartedAt.Add(-time.Second) })},
		{"started_at in year 1", deploy(func(d *history.Deployment) { d.StartedAt = year(1) })},
		{"environment over the limit", deploy(func(d *history.Deployment) { d.Environment = long })},
		{"metric minute in year 1", metric(func(m *history.Metric) { m.Minute = year(1) })},
		{"metric minute in year 9999", metric(func(m *history.Metric) { m.Minute = year(9999) })},
		{"metric minute in 2100", metric(func(m *history.Metric) { m.Minute = year(2100) })},
		{"metric version over the limit", metric(func(m *history.Metric) { m.Version = long })},
		{"metric service over the limit", metric(func(m *history.Metric) { m.Service = long })},
		{"NaN requests", metric(func(m *history.Metric) { m.Requests = nan })},
		{"infinite requests", metric(func(m *history.Metric) { m.Requests = math.Inf(1) })},
		{"negative errors", metric(func(m *history.Metric) { m.Errors = -0.5 })},
		{"errors above requests", metric(func(m *history.Metric) { m.Errors = 2.0000001 })},
		{"negative latency", metric(func(m *history.Metric) { m.LatencyP95 = -1 })},
		{"fingerprint over the limit", Fixture{Signatures: []history.Signature{{Service: "api", Environment: "prod", Version: "v1", Minute: Min(1), Fingerprint: long, Count: 1}}}},
		{"signature count 0", Fixture{Signatures: []history.Signature{{Service: "api", Environment: "prod", Version: "v1", Minute: Min(1), Fingerprint: "f", Count: 0}}}},
		{"incident_id over the limit", Fixture{Incidents: []history.Incident{{ID: long, Service: "api", OpenedAt: Min(1)}}}},
		{"incident opened in year 9999", Fixture{Incidents: []history.Incident{{ID: "i9", Service: "api", OpenedAt: year(9999)}}}},
		{"annotator over the limit", Fixture{Annotations: []history.Annotation{{DeploymentID: "d1", Label: history.LabelFaulty, Annotator: long}}}},
		{"KPI name over the limit", Fixture{KPIs: []history.KPI{{Service: "api", Name: long, Direction: history.BothWorse, Kind: history.KPIGauge}}}},
		{"KPI with an unknown direction", Fixture{KPIs: []history.KPI{{Service: "api", Name: "k", Direction: "up", Kind: history.KPIGauge}}}},
		{"KPI with an unknown kind", Fixture{KPIs: []history.KPI{{Service: "api", Name: "k", Direction: history.BothWorse, Kind: "percent"}}}},
		{"NaN KPI value", Fixture{KPIValues: []history.KPIValue{{Service: "api", Environment: "prod", Name: "success_ratio", Minute: Min(1), Value: nan}}}},
		{"KPI value in year 1", Fixture{KPIValues: []history.KPIValue{{Service: "api", Environment: "prod", Name: "success_ratio", Minute: year(1), Value: 1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := s.BeginImport(ctx)
			must(t, err)
			// Add or Commit refuses the row; a caller that ignores an Add
			// error cannot commit the rest of the import either.
			addErr := addAll(ctx, tx, tc.f)
			_, err = tx.Commit(ctx)
			must(t, tx.Rollback(ctx))
			if err == nil {
				t.Fatalf("the import was committed (Add: %v)", addErr)
			}
			Diff(t, Read(t, s), before)
		})
	}
	// The store takes the next import.
	Import(t, s, Fixture{Deployments: []history.Deployment{dep("next", "prod", "v1", 7, "")}})
	t.Run("keys of exactly the limit are accepted", func(t *testing.T) {
		s := newStore(t)
		id := strings.Repeat("é", history.MaxKeyBytes/2)
		d := dep(id, "prod", id, 5, "")
		d.FinishedAt = d.StartedAt // a big-bang deploy
		Import(t, s, Fixture{Deployments: []history.Deployment{d}})
		deps, err := s.Deployments(ctx, history.Range{})
		must(t, err)
		if len(deps) != 1 || deps[0].ID != id {
			t.Errorf("deployments %+v", deps)
		}
	})
}

// addAll adds every row of f to tx, returning the first error.
func addAll(ctx context.Context, tx history.ImportTx, f Fixture) error {
	return errors.Join(
		tx.AddServices(ctx, f.Services),
		tx.AddDeployments(ctx, f.Deployments),
		tx.AddMetrics(ctx, f.Metrics),
		tx.AddSignatures(ctx, f.Signatures),
		tx.AddIncidents(ctx, f.Incidents),
		tx.AddAnnotations(ctx, f.Annotations),
		tx.AddKPIs(ctx, f.KPIs),
		tx.AddKPIValues(ctx, f.KPIValues),
	)
}
