package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
)

// metricRowV1 is a metrics row of layout format 1: integer counts.
type metricRowV1 struct {
	Version  string  `parquet:"version,dict"`
	Minute   int64   `parquet:"minute"`
	Requests int64   `parquet:"requests"`
	Errors   int64   `parquet:"errors"`
	P50      float64 `parquet:"latency_p50_ms"`
	P95      float64 `parquet:"latency_p95_ms"`
	P99      float64 `parquet:"latency_p99_ms"`
}

// writeFormat1Store writes, by hand, a store as a build of layout format 1
// wrote it: integer metric counts, truth without kpi and direction.
func writeFormat1Store(t *testing.T, home string) {
	t.Helper()
	dir := filepath.Join(home, "history")
	must(t, os.MkdirAll(filepath.Join(dir, dataDir), 0o755))
	m0 := history.UnixMinute(min_(0))
	rows := []metricRowV1{
		{Version: "v1", Minute: m0, Requests: 4503599627370497, Errors: 3, P50: 1, P95: 2, P99: 3},
		{Version: "v1", Minute: m0 + 1, Requests: 10, Errors: 0, P50: math.NaN(), P95: 2, P99: 3},
	}
	must(t, writeParquet(filepath.Join(dir, "data/g000001-s00000-metrics.parquet"), rows, nil))
	must(t, writeParquet(filepath.Join(dir, "data/g000001-truth.parquet"), []truthRowV1{
		{DeploymentID: "d1", Faulty: true, Shape: "step", OnsetMinute: 2, Confounders: "blip", Severity: 3},
	}, nil))
	m := manifest{Format: 1, Generation: 1, Tables: map[string]tableFile{tblTruth: {File: "data/g000001-truth.parquet", Rows: 1}},
		Streams: []streamFiles{{Service: "api", Environment: "prod", Metrics: "data/g000001-s00000-metrics.parquet", MetricRows: 2, MinMinute: m0, MaxMinute: m0 + 1}}}
	b, err := json.Marshal(m)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, manifestName(1)), b, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, currentName), []byte(manifestName(1)+"\n"), 0o644))
}

// TestReadsLayoutFormat1: a store written before real-valued counts and
// KPIs is read as it is (integer counts as exact floats), and an import
// rewrites what it touches in the current format.
func TestReadsLayoutFormat1(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	writeFormat1Store(t, home)
	s := open(t, home, Options{})
	st := history.Stream{Service: "api", Environment: "prod"}
	ser, err := s.Metrics(ctx, st, history.Range{})
	must(t, err)
	if len(ser) != 1 || ser[0].Requests[0] != 4503599627370497 || ser[0].Errors[0] != 3 || ser[0].Requests[1] != 10 {
		t.Fatalf("format-1 metrics read as %+v", ser)
	}
	tr, err := s.Truth(ctx)
	must(t, err)
	if want := []history.Truth{{DeploymentID: "d1", Faulty: true, Shape: "step", OnsetMinute: 2, Confounders: "blip", Severity: 3}}; !reflect.DeepEqual(tr, want) {
		t.Errorf("format-1 truth %+v, want %+v", tr, want)
	}

	// An import touching the stream and the truth: merged, written in the current format.
	tx, err := s.BeginImport(ctx)
	must(t, err)
	must(t, tx.AddMetrics(ctx, []history.Metric{{Service: "api", Environment: "prod", Version: "v1", Minute: min_(2), Requests: 1.5, Errors: 0.25,
		LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()}}))
	must(t, s.PutTruth(ctx, []history.Truth{{DeploymentID: "d2", Faulty: true, Shape: "shift", OnsetMinute: 0, Severity: 0.8, KPI: "throughput", Direction: "down"}}))
	_, err = tx.Commit(ctx)
	must(t, err)
	b, err := os.ReadFile(filepath.Join(home, "history", manifestName(2)))
	must(t, err)
	if !strings.Contains(string(b), fmt.Sprintf(`"format": %d`, FormatVersion)) {
		t.Errorf("new manifest is not format %d:\n%s", FormatVersion, b)
	}
	s2 := open(t, home, Options{})
	ser, err = s2.Metrics(ctx, st, history.Range{})
	must(t, err)
	if len(ser) != 1 || ser[0].Len() != 3 || ser[0].Requests[0] != 4503599627370497 || ser[0].Requests[2] != 1.5 || ser[0].Errors[2] != 0.25 {
		t.Fatalf("merged metrics %+v", ser)
	}
	has, err := hasColumn(filepath.Join(home, "history", s2.current().m.Streams[0].Metrics), "requests")
	must(t, err)
	if !has {
		t.Fatal("merged metrics file lacks requests")
	}
	tr, err = s2.Truth(ctx)
	must(t, err)
	if len(tr) != 2 || tr[0].KPI != "" || tr[1].KPI != "throughput" || tr[1].Direction != "down" {
		t.Errorf("merged truth %+v", tr)
	}
}

// TestRefusesNewerFormat: a store of a later layout format is refused with
// a message, not misread.
func TestRefusesNewerFormat(t *testing.T) {
	home := t.TempDir()
	writeFormat1Store(t, home)
	p := filepath.Join(home, "history", manifestName(1))
	b, err := os.ReadFile(p)
	must(t, err)
	next := FormatVersion + 1
	must(t, os.WriteFile(p, []byte(strings.Replace(string(b), `"format":1`, fmt.Sprintf(`"format":%d`, next), 1)), 0o644))
	_, err = OpenOptions(context.Background(), home, Options{})
	if want := fmt.Sprintf("layout format %d, this build reads 1 to %d", next, FormatVersion); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open of a format-%d store: %v", next, err)
	}
}
