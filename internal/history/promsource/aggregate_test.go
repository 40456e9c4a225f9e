package promsource

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/promtest"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// TestAggregateAgainstPrometheus: data as most teams have it — one
// aggregate series per service (no version label) with real-valued counts
// — goes through Prometheus into the store as the aggregate series, with
// the counts of the file import within float rounding (the counters are
// running sums of real values), and gives the same features.
func TestAggregateAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("promtest: needs a Prometheus server; skipped with -short")
	}
	ctx := context.Background()
	cfg := fleetConfig()
	cfg.AggregateMetrics, cfg.RealValuedCounts = true, true
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	if _, err := simulate.WriteFiles(ctx, cfg, files); err != nil {
		t.Fatal(err)
	}
	om := filepath.Join(dir, "history.om")
	if _, err := simulate.WriteOpenMetrics(ctx, cfg, om, nil); err != nil {
		t.Fatal(err)
	}
	srv := promtest.Start(t, om)
	ref := embeddedtest.Open(t)
	fileImport(t, ref, files)
	wantContent := dump(t, ref)

	got := embeddedtest.Open(t)
	c := newClient(t, loadMapping(t), srv.URL)
	res, err := promImport(got, c, ImportOptions{From: histStart, To: histEnd, DeploymentsFile: filepath.Join(files, "deployments.csv")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Metrics != int64(wantContent.metricRows()) {
		t.Fatalf("imported %d metric rows, the file import %d", res.Summary.Metrics, wantContent.metricRows())
	}
	have := dump(t, got)
	fractional := 0
	for st, ws := range wantContent.series {
		gs := have.series[st]
		if len(ws) != 1 || ws[0].Version != history.AggregateVersion {
			t.Fatalf("%v: the file import has %d series, want the aggregate one only", st, len(ws))
		}
		if len(gs) != 1 || gs[0].Version != history.AggregateVersion || gs[0].Len() != ws[0].Len() {
			t.Fatalf("%v: %d series from Prometheus, want the aggregate one with %d minutes", st, len(gs), ws[0].Len())
		}
		g, w := gs[0], ws[0]
		for j := range w.Minutes {
			if w.Requests[j] != math.Trunc(w.Requests[j]) {
				fractional++
			}
			if g.Minutes[j] != w.Minutes[j] || math.Abs(g.Requests[j]-w.Requests[j]) > 1e-9*w.Requests[j] ||
				math.Abs(g.Errors[j]-w.Errors[j]) > 1e-9*w.Requests[j] || !closeTo(g.P95[j], w.P95[j]) {
				t.Fatalf("%v minute %s: got %v req %v err p95 %v, want %v req %v err p95 %v", st, history.MinuteTime(w.Minutes[j]),
					g.Requests[j], g.Errors[j], g.P95[j], w.Requests[j], w.Errors[j], w.P95[j])
			}
		}
	}
	if fractional == 0 {
		t.Fatal("no fractional count in the fixture: real-valued counts untested")
	}
	sameFeaturesWithin(t, got, ref, 1e-6)

	// Version changes cannot be seen without the version label: the
	// recipe says so, naming the query.
	_, err = c.DetectDeployments(ctx, history.UnixMinute(histStart), history.UnixMinute(histEnd), want{})
	if err == nil || !strings.Contains(err.Error(), `no "version" label`) || !strings.Contains(err.Error(), "query ") {
		t.Fatalf("deployments recipe over aggregate series: got %v, want the missing version label named", err)
	}
}

// sameFeaturesWithin extracts every deploy's features from both stores and
// compares them within a relative tolerance tol (NaN = NaN).
func sameFeaturesWithin(t *testing.T, got, want history.Reader, tol float64) {
	t.Helper()
	ctx := context.Background()
	opt := extract.Options{Config: features.DefaultConfig()}
	g, err := extract.Extract(ctx, got, opt, extract.ExtractOptions{SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := extract.Extract(ctx, want, opt, extract.ExtractOptions{SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rows, finite := 0, 0
	for h, wt := range w.Features {
		gt := g.Features[h]
		if gt == nil || len(gt.IDs) != len(wt.IDs) {
			t.Fatalf("h%d: rows differ", h)
		}
		for i := range wt.IDs {
			if gt.IDs[i] != wt.IDs[i] {
				t.Fatalf("h%d row %d: deploy %s, want %s", h, i, gt.IDs[i], wt.IDs[i])
			}
			for j, v := range wt.Rows[i] {
				x := gt.Rows[i][j]
				if math.IsNaN(v) || math.IsNaN(x) {
					if math.IsNaN(v) != math.IsNaN(x) {
						t.Fatalf("h%d %s feature %s: %v, want %v", h, wt.IDs[i], wt.Columns[j], x, v)
					}
					continue
				}
				finite++
				if math.Abs(x-v) > tol*math.Max(1, math.Abs(v)) {
					t.Fatalf("h%d %s feature %s: %v, want %v", h, wt.IDs[i], wt.Columns[j], x, v)
				}
			}
			rows++
		}
	}
	if rows == 0 || finite == 0 {
		t.Fatal("no feature values: the comparison checked nothing")
	}
}
