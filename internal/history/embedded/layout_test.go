package embedded

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/history"
)

// dayStream is a stream with rows on several days, dense enough that each
// day is its own row group: an aggregate series, two versions that
// overlap in time (v10 sorts before v9), signatures and KPI values.
type dayStream struct {
	st      history.Stream
	metrics []history.Metric
	sigs    []history.Signature
	kvals   []history.KPIValue
	deps    []history.Deployment
}

const layoutDays = 4

func newDayStream() dayStream {
	st := history.Stream{Service: "api", Environment: "prod"}
	d := dayStream{st: st}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	for m := 0; m < layoutDays*1440; m++ {
		at := t0.Add(time.Duration(m) * time.Minute)
		versions := []string{history.AggregateVersion, "v9"}
		if m >= 1440+300 {
			versions = append(versions, "v10")
		}
		for _, v := range versions {
			req := float64(rng.IntN(100) + 1)
			d.metrics = append(d.metrics, history.Metric{Service: st.Service, Environment: st.Environment, Version: v, Minute: at,
				Requests: req, Errors: math.Floor(req * rng.Float64() / 10), LatencyP50: float64(m), LatencyP95: math.NaN(), LatencyP99: 3})
		}
		if m%3 == 0 {
			d.sigs = append(d.sigs, history.Signature{Service: st.Service, Environment: st.Environment, Version: "v9", Minute: at,
				Fingerprint: fmt.Sprintf("fp%d", m%7), Count: int64(m%5 + 1), ErrorType: "E", Endpoint: "/x", StatusCode: 500})
		}
		d.kvals = append(d.kvals,
			history.KPIValue{Service: st.Service, Environment: st.Environment, Name: "throughput", Minute: at, Value: float64(m)},
			history.KPIValue{Service: st.Service, Environment: st.Environment, Name: "throughput", Version: "v9", Minute: at, Value: float64(2 * m)})
	}
	// 1,100 deployments a day on another stream: one row group a day.
	for i := 0; i < layoutDays*1100; i++ {
		d.deps = append(d.deps, history.Deployment{ID: fmt.Sprintf("dep-%05d", i), Service: "fleet", Environment: "prod",
			Version: fmt.Sprintf("v%d", i), StartedAt: t0.Add(time.Duration(i) * 1440 * time.Minute / 1100).Add(7 * time.Second).Truncate(time.Microsecond),
			FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1, Kind: history.KindDeploy})
	}
	return d
}

func (d dayStream) importInto(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.BeginImport(ctx)
	must(t, err)
	must(t, tx.AddKPIs(ctx, []history.KPI{{Service: d.st.Service, Name: "throughput", Direction: history.BothWorse, Kind: history.KPIRate}}))
	must(t, tx.AddDeployments(ctx, d.deps))
	must(t, tx.AddMetrics(ctx, d.metrics))
	must(t, tx.AddSignatures(ctx, d.sigs))
	must(t, tx.AddKPIValues(ctx, d.kvals))
	_, err = tx.Commit(ctx)
	must(t, err)
}

// TestRowGroupsByDay: stream files and the deployments table are written
// in row groups of whole days, in time order, with min/max statistics on
// the time column, and say so in their metadata.
func TestRowGroupsByDay(t *testing.T) {
	home := t.TempDir()
	d := newDayStream()
	d.importInto(t, open(t, home, Options{}))
	s := open(t, home, Options{})
	m := s.current().m
	var sf *streamFiles
	for i := range m.Streams {
		if m.Streams[i].Service == "api" {
			sf = &m.Streams[i]
		}
	}
	if sf == nil {
		t.Fatalf("no stream api/prod in %+v", m.Streams)
	}
	files := map[string]struct {
		rel, col string
	}{
		"metrics":     {sf.Metrics, "minute"},
		"signatures":  {sf.Signatures, "minute"},
		"kpi values":  {sf.KPIValues, "minute"},
		"deployments": {m.Tables[tblDeployments].File, "started_at"},
	}
	for what, f := range files {
		c, err := openColumns(filepath.Join(s.dir, f.rel))
		must(t, err)
		if got := c.meta(layoutKey); got != layoutByDay {
			t.Errorf("%s: %s = %q", what, layoutKey, got)
		}
		n := c.numGroups()
		if what != "signatures" && n != layoutDays {
			t.Errorf("%s: %d row groups, want one a day (%d)", what, n, layoutDays)
		}
		if n < 2 {
			t.Errorf("%s: %d row groups", what, n)
		}
		prevHi := int64(math.MinInt64)
		for g := range n {
			lo, hi, ok := c.bounds(g, f.col)
			if !ok {
				t.Fatalf("%s: row group %d has no statistics on %s", what, g, f.col)
			}
			if f.col == "started_at" {
				lo, hi = lo/60e6, hi/60e6 // microseconds to minutes
			}
			if lo <= prevHi || dayOfMinute(lo) < dayOfMinute(prevHi) {
				t.Errorf("%s: row group %d [%d, %d] not after the previous one (ending %d)", what, g, lo, hi, prevHi)
			}
			if what != "signatures" && dayOfMinute(lo) != dayOfMinute(hi) {
				t.Errorf("%s: row group %d spans days %d to %d", what, g, dayOfMinute(lo), dayOfMinute(hi))
			}
			prevHi = hi
		}
		c.Close()
	}
}

// TestRangeReadsReadOnlyTheirRowGroups: a range read decodes only the row
// groups whose minutes meet it, and gives what the whole-file reference
// (Options.WholeFiles) and the rows imported give, for ranges on and
// across day boundaries.
func TestRangeReadsReadOnlyTheirRowGroups(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	d := newDayStream()
	d.importInto(t, open(t, home, Options{}))
	t0 := d.metrics[0].Minute
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ranges := []history.Range{
		{From: at(1440 + 600), Until: at(1440 + 700)},  // inside day 1
		{From: at(1440 - 30), Until: at(1440 + 30)},    // across the day 0/1 boundary
		{From: at(2 * 1440), Until: at(2*1440 + 1)},    // first minute of day 2
		{From: at(3*1440 + 1439), Until: at(5 * 1440)}, // last minute, and past the end
		{From: at(1440 + 299), Until: at(1440 + 302)},  // where v10 begins
		{Until: at(10)}, // open start
		{From: at(3 * 1440).Add(30 * time.Second)}, // mid-minute start, open end
		{From: at(-100), Until: at(-1)},            // before the data
		{},                                         // everything
		{From: at(100).Add(time.Second), Until: at(100)}, // empty
	}
	whole := open(t, home, Options{WholeFiles: true})
	for _, r := range ranges {
		t.Run(fmt.Sprintf("%s-%s", r.From.Format("02T15:04:05"), r.Until.Format("02T15:04")), func(t *testing.T) {
			s := open(t, home, Options{})
			got, err := s.Metrics(ctx, d.st, r)
			must(t, err)
			want, err := whole.Metrics(ctx, d.st, r)
			must(t, err)
			var rows []history.Metric
			for _, m := range d.metrics {
				if r.Contains(m.Minute) {
					rows = append(rows, m)
				}
			}
			ref := history.SeriesOf(rows)
			if len(ref) == 0 {
				ref = nil
			}
			if !sameSeries(got, want) || !sameSeries(got, ref) {
				t.Errorf("metrics of %+v:\n got %d series\nwant %d (whole files), %d (imported rows)", r, len(got), len(want), len(ref))
			}
			// Only the days the range meets were decoded.
			lo, hi := minuteBounds(r)
			days := map[int64]bool{}
			for _, m := range d.metrics {
				if mm := history.UnixMinute(m.Minute); mm >= lo && mm < hi {
					days[dayOfMinute(mm)] = true
				}
			}
			if r != (history.Range{}) && s.cache.lru.Len() > len(days) {
				t.Errorf("%d row groups decoded for a range over %d days", s.cache.lru.Len(), len(days))
			}

			gs, err := s.Signatures(ctx, d.st, r)
			must(t, err)
			ws, err := whole.Signatures(ctx, d.st, r)
			must(t, err)
			var rs []history.Signature
			for _, x := range d.sigs {
				if r.Contains(x.Minute) {
					rs = append(rs, x)
				}
			}
			if !reflect.DeepEqual(gs, ws) || len(gs) != len(rs) || len(gs) > 0 && !reflect.DeepEqual(gs, rs) {
				t.Errorf("signatures of %+v: got %d, whole files %d, imported %d", r, len(gs), len(ws), len(rs))
			}

			gk, err := s.KPIValues(ctx, d.st, r)
			must(t, err)
			wk, err := whole.KPIValues(ctx, d.st, r)
			must(t, err)
			var rk []history.KPIValue
			for _, x := range d.kvals {
				if r.Contains(x.Minute) {
					rk = append(rk, x)
				}
			}
			refK := history.KPIValuesOf(rk)
			if len(refK) == 0 {
				refK = nil
			}
			if !reflect.DeepEqual(gk, wk) || !reflect.DeepEqual(gk, refK) {
				t.Errorf("KPI values of %+v: got %d series, whole files %d, imported %d", r, len(gk), len(wk), len(refK))
			}
		})
	}
}

// sameSeries compares series with NaN equal to NaN.
func sameSeries(a, b []history.Series) bool {
	if len(a) != len(b) {
		return false
	}
	eq := func(x, y []float64) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] && !(math.IsNaN(x[i]) && math.IsNaN(y[i])) {
				return false
			}
		}
		return true
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Version != y.Version || !reflect.DeepEqual(x.Minutes, y.Minutes) || !eq(x.Requests, y.Requests) ||
			!eq(x.Errors, y.Errors) || !eq(x.P50, y.P50) || !eq(x.P95, y.P95) || !eq(x.P99, y.P99) {
			return false
		}
	}
	return true
}

// TestDeploymentsByRowGroup: a range read of deployments and a lookup by
// id decode only the row groups they need.
func TestDeploymentsByRowGroup(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	d := newDayStream()
	d.importInto(t, open(t, home, Options{}))
	s := open(t, home, Options{})
	decoded := func() int {
		n := 0
		for _, g := range s.current().deps.groups {
			if g != nil {
				n++
			}
		}
		return n
	}
	want := d.deps[2*1100+5]
	got, ok, err := s.DeploymentByID(ctx, want.ID)
	must(t, err)
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("DeploymentByID(%s) = %+v, %v; want %+v", want.ID, got, ok, want)
	}
	if n := decoded(); n != 1 {
		t.Errorf("lookup decoded %d row groups, want 1", n)
	}
	if _, ok, err := s.DeploymentByID(ctx, "dep-99999"); ok || err != nil {
		t.Errorf("unknown id: %v, %v", ok, err)
	}
	r := history.Range{From: d.deps[1100+3].StartedAt, Until: d.deps[1100+10].StartedAt.Add(time.Nanosecond)}
	deps, err := s.Deployments(ctx, r)
	must(t, err)
	if !reflect.DeepEqual(deps, d.deps[1100+3:1100+11]) {
		t.Errorf("range read: %d deployments, want 8", len(deps))
	}
	if n := decoded(); n != 2 {
		t.Errorf("%d row groups decoded after a lookup and a range read within one day, want 2", n)
	}
	all, err := s.Deployments(ctx, history.Range{})
	must(t, err)
	if !reflect.DeepEqual(all, d.deps) {
		t.Errorf("all deployments differ: %d of %d", len(all), len(d.deps))
	}
	streams, err := s.Streams(ctx)
	must(t, err)
	if want := []history.Stream{d.st, {Service: "fleet", Environment: "prod"}}; !reflect.DeepEqual(streams, want) {
		t.Errorf("streams %v, want %v (fleet/prod has deployments only)", streams, want)
	}
}

// TestReadsFormat2Layout: files written before row groups by day (metrics
// sorted by version, minute over the whole file, in more than one row
// group; a deployments table in one row group; a manifest that does not
// list deployment-only streams) are read correctly, and an import
// rewrites the stream it touches by day.
func TestReadsFormat2Layout(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	d := newDayStream()
	// Write the stream the format-2 way: a plain store, then its files
	// replaced by version-sorted ones in row groups of 5,000 rows.
	d.importInto(t, open(t, home, Options{}))
	s0 := open(t, home, Options{})
	m := s0.current().m
	var rows []metricRow
	for _, ser := range history.SeriesOf(d.metrics) {
		for k := range ser.Minutes {
			rows = append(rows, metricRow{Version: ser.Version, Minute: ser.Minutes[k], Requests: ser.Requests[k], Errors: ser.Errors[k],
				P50: ser.P50[k], P95: ser.P95[k], P99: ser.P99[k]})
		}
	}
	dir := filepath.Join(home, "history")
	for i := range m.Streams {
		if m.Streams[i].Service != "api" {
			continue
		}
		m.Streams[i].Metrics = "data/v2-metrics.parquet"
		must(t, writeParquetGroups(filepath.Join(dir, m.Streams[i].Metrics), rows, 5000))
	}
	deps := make([]deploymentRow, len(d.deps))
	for i, x := range d.deps {
		deps[i] = toDeploymentRow(x)
	}
	must(t, writeParquet(filepath.Join(dir, "data/v2-deployments.parquet"), deps, nil))
	m.Tables[tblDeployments] = tableFile{File: "data/v2-deployments.parquet", Rows: int64(len(deps))}
	m.Format = 2
	var kept []streamFiles
	for _, sf := range m.Streams {
		if sf.Service == "api" {
			kept = append(kept, sf)
		}
	}
	m.Streams = kept
	m.Generation++
	must(t, writeManifest(dir, m))
	must(t, installCurrent(dir, m.Generation))

	s := open(t, home, Options{})
	t0 := d.metrics[0].Minute
	r := history.Range{From: t0.Add(1500 * time.Minute), Until: t0.Add(1800 * time.Minute)}
	got, err := s.Metrics(ctx, d.st, r)
	must(t, err)
	var in []history.Metric
	for _, x := range d.metrics {
		if r.Contains(x.Minute) {
			in = append(in, x)
		}
	}
	if !sameSeries(got, history.SeriesOf(in)) {
		t.Errorf("format-2 metrics of %+v read as %d series", r, len(got))
	}
	if dep, ok, err := s.DeploymentByID(ctx, d.deps[3000].ID); err != nil || !ok || !reflect.DeepEqual(dep, d.deps[3000]) {
		t.Errorf("format-2 deployments: lookup %+v, %v, %v", dep, ok, err)
	}
	streams, err := s.Streams(ctx)
	must(t, err)
	if len(streams) != 2 {
		t.Errorf("streams of a format-2 manifest %v: want api/prod and fleet/prod (from the deployments)", streams)
	}

	// An import touching the stream rewrites it by day.
	tx, err := s.BeginImport(ctx)
	must(t, err)
	extra := d.metrics[0]
	extra.Requests = 12345
	must(t, tx.AddMetrics(ctx, []history.Metric{extra}))
	_, err = tx.Commit(ctx)
	must(t, err)
	s2 := open(t, home, Options{})
	for _, sf := range s2.current().m.Streams {
		if sf.Service != "api" {
			continue
		}
		c, err := openColumns(filepath.Join(dir, sf.Metrics))
		must(t, err)
		if c.meta(layoutKey) != layoutByDay || c.numGroups() != layoutDays {
			t.Errorf("rewritten metrics: layout %q, %d row groups", c.meta(layoutKey), c.numGroups())
		}
		c.Close()
	}
	all, err := s2.Metrics(ctx, d.st, history.Range{})
	must(t, err)
	d.metrics[0] = extra
	if !sameSeries(all, history.SeriesOf(d.metrics)) {
		t.Error("metrics after the import differ from the rows imported")
	}
}

// writeParquetGroups writes rows in row groups of n rows, without the
// by-day layout key (as builds before format 3 wrote larger files).
func writeParquetGroups(path string, rows []metricRow, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := parquet.NewGenericWriter[metricRow](f, parquet.Compression(&parquet.Snappy))
	for len(rows) > 0 {
		k := min(n, len(rows))
		if _, err := w.Write(rows[:k]); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		rows = rows[k:]
	}
	return w.Close()
}
