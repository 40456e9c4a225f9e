package promsource

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/history/importer"
	"github.com/faultline-dev/faultline/internal/promtest"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// kpiGauge is the gauge family the KPI test adds to the simulator's
// OpenMetrics history: service_kpi{service, environment, kpi}.
const kpiGauge = "service_kpi"

// appendKPIGauges appends every aggregate KPI value of ref to the
// OpenMetrics file om as a gauge sample in the middle of its minute (so
// that avg_over_time(…[1m]) at the minute's end reads that minute's value
// alone: Prometheus 2's range selectors include both ends). It returns the
// number of samples.
func appendKPIGauges(t *testing.T, om string, ref history.Store) int {
	t.Helper()
	ctx := context.Background()
	b, err := os.ReadFile(om)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutSuffix(string(b), "# EOF\n")
	if !ok {
		t.Fatalf("%s does not end with # EOF", om)
	}
	f, err := os.Create(om)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	w.WriteString(body)
	fmt.Fprintf(w, "# TYPE %s gauge\n# HELP %s Declared KPIs of the services (the simulator's kpi_values).\n", kpiGauge, kpiGauge)
	streams, err := ref.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, st := range streams {
		ks, err := ref.KPIValues(ctx, st, history.Range{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			if k.Version != history.AggregateVersion {
				t.Fatalf("%v %s: a per-version KPI series (%q) in the fixture", st, k.Name, k.Version)
			}
			for i, m := range k.Minutes {
				fmt.Fprintf(w, "%s{service=%q,environment=%q,kpi=%q} %s %d\n", kpiGauge, st.Service, st.Environment, k.Name,
					strconv.FormatFloat(k.Values[i], 'g', -1, 64), m*60+30)
				n++
			}
		}
	}
	w.WriteString("# EOF\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return n
}

// kpiMapping is the simulator's mapping with its four KPIs read from the
// gauges, declared as the simulator declares them.
func kpiMapping(t *testing.T, kinds map[string]history.KPIKind) *Mapping {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "simulator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := string(b) + "kpis:\n"
	for _, k := range []struct {
		name, direction, unit string
		kind                  history.KPIKind
	}{
		{simulate.KPILatencyP95, "higher_is_worse", "ms", history.KPILatency},
		{simulate.KPISaturation, "higher_is_worse", "%", history.KPIGauge},
		{simulate.KPISuccessRatio, "lower_is_worse", "", history.KPIRatio},
		{simulate.KPIThroughput, "", "req/s", history.KPIRate}, // direction: the default, both
	} {
		kind := k.kind
		if kinds[k.name] != "" {
			kind = kinds[k.name]
		}
		y += fmt.Sprintf("  - name: %s\n    query: avg by (service, environment) (avg_over_time(%s{kpi=%q,$filter}[1m]))\n    kind: %s\n",
			k.name, kpiGauge, k.name, kind)
		if k.direction != "" {
			y += "    direction: " + k.direction + "\n"
		}
		if k.unit != "" {
			y += fmt.Sprintf("    unit: %q\n", k.unit)
		}
	}
	m, err := ParseMapping([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestKPIsAgainstPrometheus: declared KPIs — data as teams have it,
// aggregate series with real-valued counts, and four KPIs of every kind and
// direction per service — go through Prometheus into the store as the file
// import gives them: the declarations in force for every stream, every
// value exactly, and the same features (the before/after checks of the
// KPIs included). The live reader reads the same values. A KPI value its
// declared kind does not allow, or a KPI series without the service label,
// fails the import, naming the KPI or the query, and leaves the store
// unchanged.
func TestKPIsAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("promtest: needs a Prometheus server; skipped with -short")
	}
	ctx := context.Background()
	cfg := fleetConfig()
	cfg.AggregateMetrics, cfg.RealValuedCounts, cfg.KPIs = true, true, true
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	if _, err := simulate.WriteFiles(ctx, cfg, files); err != nil {
		t.Fatal(err)
	}
	om := filepath.Join(dir, "history.om")
	if _, err := simulate.WriteOpenMetrics(ctx, cfg, om, nil); err != nil {
		t.Fatal(err)
	}
	ref := embeddedtest.Open(t)
	fileImport(t, ref, files)
	samples := appendKPIGauges(t, om, ref)
	if samples == 0 {
		t.Fatal("the fixture has no KPI values: the test would check nothing")
	}
	srv := promtest.Start(t, om)
	deployments := filepath.Join(files, "deployments.csv")
	refDecls, err := ref.KPIs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streams, err := ref.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}

	got := embeddedtest.Open(t)
	c := newClient(t, kpiMapping(t, nil), srv.URL)
	res, err := promImport(got, c, ImportOptions{From: histStart, To: histEnd, DeploymentsFile: deployments})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.KPIValues != int64(samples) || res.Summary.KPIs != int64(4*len(streams)) {
		t.Fatalf("imported %d KPI declarations and %d values, want %d and %d", res.Summary.KPIs, res.Summary.KPIValues, 4*len(streams), samples)
	}
	decls, err := got.KPIs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range streams {
		for _, name := range simulate.KPINames {
			g, ok1 := history.KPIOf(decls, st, name)
			w, ok2 := history.KPIOf(refDecls, st, name)
			if !ok1 || !ok2 || g.Direction != w.Direction || g.Kind != w.Kind || g.Unit != w.Unit || g.Environment != st.Environment {
				t.Errorf("%v KPI %s: declared %+v (%v), the file import %+v (%v)", st, name, g, ok1, w, ok2)
			}
		}
		gs, err := got.KPIValues(ctx, st, history.Range{})
		if err != nil {
			t.Fatal(err)
		}
		ws, err := ref.KPIValues(ctx, st, history.Range{})
		if err != nil {
			t.Fatal(err)
		}
		sameKPIValues(t, st, gs, ws)
	}
	sameFeaturesWithin(t, got, ref, 1e-6)
	judged := kpiJudged(t, got)
	if judged == 0 {
		t.Fatal("no deploy's before/after checks judged a KPI: the features comparison did not cover them")
	}
	t.Logf("%d KPI values of %d streams; the before/after checks judged KPIs of %d deploy windows", samples, len(streams), judged)

	t.Run("live", func(t *testing.T) {
		deps, err := ref.Deployments(ctx, history.Range{})
		if err != nil || len(deps) == 0 {
			t.Fatalf("%d deployments, %v", len(deps), err)
		}
		dep := deps[len(deps)/2]
		st := history.Stream{Service: dep.Service, Environment: dep.Environment}
		at := dep.StartedAt.Truncate(time.Minute).Add(20 * time.Minute)
		live := NewLive(c, got, dep, at)
		ld, err := live.KPIs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := history.KPIOf(ld, st, simulate.KPISuccessRatio); !ok || d.Direction != history.LowerIsWorse || d.Kind != history.KPIRatio {
			t.Fatalf("live declarations of %v: %+v", st, ld)
		}
		r := history.Range{From: at.Add(-3 * time.Hour), Until: at.Add(time.Hour)} // read up to at only
		gs, err := live.KPIValues(ctx, st, r)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := ref.KPIValues(ctx, st, history.Range{From: r.From, Until: at})
		if err != nil {
			t.Fatal(err)
		}
		sameKPIValues(t, st, gs, ws)
	})

	t.Run("a value its kind does not allow", func(t *testing.T) {
		s := embeddedtest.Open(t)
		// Saturation (0–100 %) declared as a ratio.
		c := newClient(t, kpiMapping(t, map[string]history.KPIKind{simulate.KPISaturation: history.KPIRatio}), srv.URL)
		_, err := promImport(s, c, ImportOptions{From: histStart, To: histEnd, DeploymentsFile: deployments})
		var ve *importer.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "a ratio must be in [0, 1]") || !strings.Contains(err.Error(), " all versions KPI "+simulate.KPISaturation+" at 2026-") {
			t.Fatalf("got %v, want the saturation values refused as a ratio", err)
		}
		t.Logf("refused: %v", err)
		if n := storeCounts(t, s); n != [3]int{} {
			t.Fatalf("the store holds %v after a failed import", n)
		}
	})

	t.Run("a series without the service label", func(t *testing.T) {
		s := embeddedtest.Open(t)
		m := kpiMapping(t, nil)
		m.KPIs[0].Query = fmt.Sprintf("avg(%s{kpi=%q,$filter})", kpiGauge, simulate.KPILatencyP95)
		c := newClient(t, m, srv.URL)
		_, err := promImport(s, c, ImportOptions{From: histStart, To: histEnd, DeploymentsFile: deployments})
		if err == nil || !strings.Contains(err.Error(), `no "service" label`) || !strings.Contains(err.Error(), m.KPIs[0].Query) {
			t.Fatalf("got %v, want the query named and the missing label", err)
		}
		if n := storeCounts(t, s); n != [3]int{} {
			t.Fatalf("the store holds %v after a failed import", n)
		}
	})
}

// sameKPIValues compares KPI series exactly.
func sameKPIValues(t *testing.T, st history.Stream, got, want []history.KPISeries) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%v: %d KPI series, want %d", st, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.Name || g.Version != w.Version || g.Len() != w.Len() {
			t.Fatalf("%v: KPI %s %q with %d minutes, want %s %q with %d", st, g.Name, g.Version, g.Len(), w.Name, w.Version, w.Len())
		}
		for j := range w.Minutes {
			if g.Minutes[j] != w.Minutes[j] || g.Values[j] != w.Values[j] {
				t.Fatalf("%v KPI %s at %s: %v, want %v at %s", st, w.Name, history.MinuteTime(g.Minutes[j]), g.Values[j], w.Values[j],
					history.MinuteTime(w.Minutes[j]))
			}
		}
	}
}

// kpiJudged counts the deploy windows of r whose before/after checks
// judged at least one declared KPI (ba_kpis > 0).
func kpiJudged(t *testing.T, r history.Reader) int {
	t.Helper()
	res, err := extract.Extract(context.Background(), r, extract.Options{Config: features.DefaultConfig()}, extract.ExtractOptions{SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tab := range res.Features {
		for _, row := range tab.Rows {
			if row[features.BAKPIs] > 0 {
				n++
			}
		}
	}
	return n
}
