package importer

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/history"
)

type pqDeployment struct {
	ID           string     `parquet:"deployment_id"`
	Service      string     `parquet:"service"`
	Environment  string     `parquet:"environment"`
	Version      string     `parquet:"version"`
	StartedAt    time.Time  `parquet:"started_at,timestamp(millisecond)"`
	FinishedAt   *time.Time `parquet:"finished_at,optional,timestamp(microsecond)"`
	CommitSHA    *string    `parquet:"commit_sha,optional"`
	Author       *string    `parquet:"author,optional"`
	FilesChanged *int64     `parquet:"files_changed,optional"`
	LinesAdded   *int32     `parquet:"lines_added,optional"`
	LinesDeleted *int64     `parquet:"lines_deleted,optional"`
	Kind         *string    `parquet:"kind,optional"`
}

type pqMetric struct {
	Minute      time.Time `parquet:"minute,timestamp(nanosecond)"`
	Service     string    `parquet:"service"`
	Environment string    `parquet:"environment"`
	Version     string    `parquet:"version"`
	Requests    int64     `parquet:"requests"`
	Errors      int32     `parquet:"errors"`
	P50         *float64  `parquet:"latency_p50_ms,optional"`
}

type pqAnnotation struct {
	DeploymentID string  `parquet:"deployment_id"`
	Label        string  `parquet:"label"`
	Annotator    *string `parquet:"annotator,optional"`
	Note         *string `parquet:"note,optional"`
}

func ptr[T any](v T) *T { return &v }

func writeParquetBase(t *testing.T, dir string, metrics []pqMetric) {
	t.Helper()
	files := baseFiles()
	delete(files, "deployments.csv")
	delete(files, "metrics.csv")
	delete(files, "annotations.csv")
	writeFiles(t, dir, files)
	deps := []pqDeployment{
		{ID: "d1", Service: "api", Environment: "prod", Version: "v1", StartedAt: ts("2026-06-01T08:00:00Z"), FinishedAt: ptr(ts("2026-06-01T08:05:00Z")),
			CommitSHA: ptr("abc"), Author: ptr("Doe, Jane"), FilesChanged: ptr(int64(3)), LinesAdded: ptr(int32(10)), LinesDeleted: ptr(int64(2)), Kind: ptr("deploy")},
		{ID: "d2", Service: "api", Environment: "prod", Version: "v2", StartedAt: ts("2026-06-01T08:10:00Z")},
		{ID: "d3", Service: "api", Environment: "prod", Version: "v1", StartedAt: ts("2026-06-01T08:30:00Z")},
	}
	if err := parquet.WriteFile(filepath.Join(dir, "deployments.parquet"), deps); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(filepath.Join(dir, "metrics.parquet"), metrics); err != nil {
		t.Fatal(err)
	}
	anns := []pqAnnotation{
		{DeploymentID: "d2", Label: "faulty", Annotator: ptr("bob"), Note: ptr("broke \"checkout\",\nsee INC-1")},
		{DeploymentID: "d1", Label: "healthy"},
	}
	if err := parquet.WriteFile(filepath.Join(dir, "annotations.parquet"), anns); err != nil {
		t.Fatal(err)
	}
}

func baseParquetMetrics() []pqMetric {
	var ms []pqMetric
	for i := range 10 {
		ms = append(ms, pqMetric{Minute: ts("2026-06-01T08:00:00Z").Add(time.Duration(i) * time.Minute), Service: "api", Environment: "prod", Version: "v1",
			Requests: int64(100 + i), Errors: int32(i % 2), P50: ptr(float64(10+i) + 0.5)})
	}
	for i := 10; i < 13; i++ {
		ms = append(ms, pqMetric{Minute: ts("2026-06-01T08:00:00Z").Add(time.Duration(i) * time.Minute), Service: "api", Environment: "prod", Version: "v2",
			Requests: 50, Errors: 5})
	}
	return ms
}

func TestImportRoundTripParquet(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	writeParquetBase(t, dir, baseParquetMetrics())
	sum, err := importDir(t, s, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Metrics != 13 || sum.Deployments != 3 || sum.Annotations != 2 {
		t.Errorf("summary %+v", sum)
	}
	checkBase(t, s)
}

func TestParquetErrorsNameRows(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	ms := baseParquetMetrics()
	ms[1].Errors = 500                                // row 2
	ms[3].Minute = ms[2].Minute.Add(30 * time.Second) // row 4: floored onto row 3's minute
	writeParquetBase(t, dir, ms)
	_, err := importDir(t, s, dir, Options{})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.String())
	}
	want := []string{`metrics.parquet:2: errors: 500 exceeds requests (101)`,
		`metrics.parquet:4: minute: duplicate key: line 3 has the same service, environment, version and minute 2026-06-01T08:02:00Z (timestamps are floored to the minute: give one row per minute)`}
	if !slices.Equal(got, want) {
		t.Errorf("problems\n got %q\nwant %q", got, want)
	}
}

// pqAggregate is an aggregate metrics file as a Prometheus export gives it:
// no version column, real-valued counts (float32 errors, float64
// requests), timestamps with seconds.
type pqAggregate struct {
	Minute      time.Time `parquet:"minute,timestamp(millisecond)"`
	Service     string    `parquet:"service"`
	Environment string    `parquet:"environment"`
	Requests    float64   `parquet:"requests"`
	Errors      float32   `parquet:"errors"`
}

type pqKPIValue struct {
	Service     string    `parquet:"service"`
	Environment string    `parquet:"environment"`
	Minute      time.Time `parquet:"minute,timestamp(microsecond)"`
	Name        string    `parquet:"name"`
	Value       float64   `parquet:"value"`
}

type pqKPI struct {
	Service   string `parquet:"service"`
	Name      string `parquet:"name"`
	Direction string `parquet:"direction"`
	Kind      string `parquet:"kind"`
}

func TestImportParquetAggregateFloatsKPIs(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	start := ts("2026-06-01T08:00:50Z")
	var ms []pqAggregate
	var kv []pqKPIValue
	for i := range 5 {
		at := start.Add(time.Duration(i) * time.Minute)
		ms = append(ms, pqAggregate{Minute: at, Service: "api", Environment: "prod", Requests: 1234.5 + float64(i), Errors: 1.85})
		kv = append(kv, pqKPIValue{Service: "api", Environment: "prod", Minute: at.Add(3 * time.Second), Name: "success", Value: 0.9985})
	}
	writeFiles(t, dir, map[string]string{"deployments.csv": "deployment_id,service,environment,version,started_at\nd1,api,prod,v1,2026-06-01T08:02:37.25Z\n"})
	for name, rows := range map[string]any{"metrics.parquet": ms, "kpi_values.parquet": kv,
		"kpis.parquet": []pqKPI{{Service: "api", Name: "success", Direction: "lower_is_worse", Kind: "ratio"}}} {
		var err error
		switch r := rows.(type) {
		case []pqAggregate:
			err = parquet.WriteFile(filepath.Join(dir, name), r)
		case []pqKPIValue:
			err = parquet.WriteFile(filepath.Join(dir, name), r)
		case []pqKPI:
			err = parquet.WriteFile(filepath.Join(dir, name), r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sum, err := importDir(t, s, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Metrics != 5 || sum.KPIs != 1 || sum.KPIValues != 5 || len(sum.Warnings) != 0 {
		t.Errorf("summary %+v", sum)
	}
	ctx := context.Background()
	st := history.Stream{Service: "api", Environment: "prod"}
	ser, err := s.Metrics(ctx, st, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ser) != 1 || ser[0].Version != history.AggregateVersion || ser[0].Len() != 5 ||
		ser[0].Minutes[0] != history.UnixMinute(ts("2026-06-01T08:00:00Z")) || ser[0].Requests[1] != 1235.5 || ser[0].Errors[0] != 1.85 {
		t.Errorf("aggregate series %+v", ser)
	}
	kvs, err := s.KPIValues(ctx, st, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 1 || kvs[0].Name != "success" || kvs[0].Len() != 5 || kvs[0].Values[4] != 0.9985 {
		t.Errorf("KPI values %+v", kvs)
	}
	deps, err := s.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 1 || !deps[0].StartedAt.Equal(ts("2026-06-01T08:02:37.25Z")) {
		t.Errorf("deployment %+v: started_at must keep its precision", deps)
	}
}
