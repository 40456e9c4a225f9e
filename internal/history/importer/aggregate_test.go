package importer

import (
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/history/historytest"
)

// testdata/aggregate is three hours of two services as a team without
// canaries exports them from Prometheus: metrics without a version column,
// counts as float32 increase() values printed at float64 precision,
// timestamps with the scrape's seconds, big-bang deploys whose started_at
// has seconds (one a fraction), and four KPIs of every kind and direction,
// one declared for prod only.

// TestImportAggregateFixture imports testdata/aggregate into both stores:
// everything is accepted unchanged, both stores return the same history,
// and the values are the ones written.
func TestImportAggregateFixture(t *testing.T) {
	dir := filepath.Join("testdata", "aggregate")
	emb := embeddedtest.Open(t)
	var dumps []historytest.Dump
	for _, s := range []history.Store{newStore(t), emb} {
		sum, err := importDir(t, s, dir, Options{})
		if err != nil {
			t.Fatalf("%s: %v", s.Describe(), err)
		}
		want := history.ImportSummary{Services: 2, Deployments: 3, Metrics: 360, KPIs: 4, KPIValues: 720}
		if !reflect.DeepEqual(sum.ImportSummary, want) || len(sum.Warnings) != 0 {
			t.Errorf("%s: summary %+v, want %+v and no warning", s.Describe(), sum, want)
		}
		dumps = append(dumps, historytest.Read(t, s))
	}
	historytest.Diff(t, dumps[1], dumps[0])

	d := dumps[0]
	checkout := history.Stream{Service: "checkout", Environment: "prod"}
	if want := []history.Stream{checkout, {Service: "search", Environment: "prod"}}; !reflect.DeepEqual(d.Streams, want) {
		t.Fatalf("streams %v, want %v", d.Streams, want)
	}
	ser := d.Metrics[checkout]
	if len(ser) != 1 || ser[0].Version != history.AggregateVersion || ser[0].Len() != 180 {
		t.Fatalf("checkout: want one aggregate series of 180 minutes, got %d series", len(ser))
	}
	a := ser[0]
	// metrics.csv:2 is 2017-06-01T02:00:50Z,1134.4,0.7601836919784546: floored to 02:00.
	if a.Minutes[0] != history.UnixMinute(ts("2017-06-01T02:00:00Z")) || a.Requests[0] != 1134.4 || a.Errors[0] != 0.7601836919784546 ||
		a.Requests[1] != 1155.5484619140625 || a.Minutes[179]-a.Minutes[0] != 179 || a.P95[0] != 175.73 || a.P50[0] != historytest.NaNMark {
		t.Errorf("aggregate series starts %v %v %v %v, P50 %v", a.Minutes[0], a.Requests[:2], a.Errors[0], a.P95[0], a.P50[0])
	}
	dep := d.Deployments[2]
	if dep.ID != "checkout-2" || !dep.StartedAt.Equal(ts("2017-06-01T04:27:05.5Z")) || !dep.FinishedAt.Equal(dep.StartedAt) || !dep.KindInferred {
		t.Errorf("deployment %+v: started_at keeps its fraction of a second", dep)
	}
	kv := d.KPIValues[checkout]
	if len(kv) != 2 || kv[0].Name != "latency_p95" || kv[1].Name != "success_ratio" || kv[1].Version != "" || kv[1].Len() != 180 ||
		kv[1].Minutes[0] != a.Minutes[0] || kv[1].Values[0] != 0.99933 {
		t.Errorf("checkout KPI values %+v", kv)
	}
	if k, ok := history.KPIOf(d.KPIs, checkout, "success_ratio"); !ok || k.Kind != history.KPIRatio || k.Direction != history.LowerIsWorse {
		t.Errorf("success_ratio declaration %+v", k)
	}
	var sum float64
	for _, e := range a.Errors {
		if e != math.Trunc(e) {
			sum++
		}
	}
	if sum < 100 {
		t.Errorf("only %v real-valued error counts kept", sum)
	}
}

// TestUndeployedVersionsWarning: metrics of versions without a deployment
// are imported, and the summary warns with a count and the first lines.
func TestUndeployedVersionsWarning(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	files := baseFiles()
	var m strings.Builder
	m.WriteString(files["metrics.csv"])
	for i, v := range []string{"v8", "v8", "v9", "v7", "v6", "v5", "v4"} {
		fmt.Fprintf(&m, "2026-06-01T09:%02d:00Z,api,prod,%s,10,0,\r\n", i, v)
	}
	m.WriteString("2026-06-01T09:30:00Z,api,prod,,10,0,\r\n") // aggregate: never a warning
	files["metrics.csv"] = m.String()
	writeFiles(t, dir, files)
	sum, err := importDir(t, s, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Metrics != 21 || sum.UndeployedRows != 7 || len(sum.Undeployed) != 6 || len(sum.Warnings) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	w := sum.Warnings[0]
	var ex []string
	for _, e := range w.Examples {
		ex = append(ex, e.String())
	}
	want := []string{
		`metrics.csv:15: version: no deployment of version "v8" in api/prod (2 rows)`,
		`metrics.csv:17: version: no deployment of version "v9" in api/prod (1 row)`,
		`metrics.csv:18: version: no deployment of version "v7" in api/prod (1 row)`,
		`metrics.csv:19: version: no deployment of version "v6" in api/prod (1 row)`,
		`metrics.csv:20: version: no deployment of version "v5" in api/prod (1 row)`,
	}
	if w.What != "undeployed_versions" || w.Count != 6 || !reflect.DeepEqual(ex, want) {
		t.Errorf("warning %s %d\n got %q\nwant %q", w.What, w.Count, ex, want)
	}
	if !strings.Contains(w.String(), "(and 1 more)") || !strings.HasPrefix(w.String(), "warning: 6 metric series (7 rows) of versions with no deployment") {
		t.Errorf("warning text:\n%s", w)
	}
}
