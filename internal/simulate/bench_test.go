package simulate

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded"
)

// benchConfig is the benchmark fleet: 40 services × 2 environments × 14
// days by default; FAULTLINE_BENCH_SERVICES, _DAYS and _DEPLOYS override it
// (e.g. 200, 30, 8 for the 100k-deploy fleet).
func benchConfig() Config {
	c := DefaultConfig()
	env := func(k string, dst *int) {
		if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
			*dst = v
		}
	}
	env("FAULTLINE_BENCH_SERVICES", &c.Services)
	env("FAULTLINE_BENCH_DAYS", &c.Days)
	if v, err := strconv.ParseFloat(os.Getenv("FAULTLINE_BENCH_DEPLOYS"), 64); err == nil && v > 0 {
		c.DeploysPerDay = v
	}
	return c
}

// discardSink drops everything: the cost of generation alone.
type discardSink struct{}

func (discardSink) services(context.Context, []history.Service) error { return nil }
func (discardSink) kpis(context.Context, []history.KPI) error         { return nil }
func (discardSink) stream(context.Context, *streamResult) error       { return nil }
func (discardSink) finish(context.Context, []history.Incident) error  { return nil }

// BenchmarkSimulateEmbedded simulates the fleet into a fresh embedded store
// and commits; the reference is generation alone into a sink that discards
// rows, measured in the same run (x_vs_ref = store time / generation time).
func BenchmarkSimulateEmbedded(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	cfg := benchConfig()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		ref, err := generate(ctx, cfg, discardSink{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		refTime := time.Since(t0)

		st, err := embedded.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		tx, err := st.BeginImport(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := Run(ctx, cfg, tx, st, nil)
		if err != nil {
			b.Fatal(err)
		}
		tRun := time.Since(t1)
		if _, err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		total := time.Since(t1)
		st.Close()
		if sum.MetricRows != ref.MetricRows {
			b.Fatalf("metric rows %d vs %d", sum.MetricRows, ref.MetricRows)
		}
		b.ReportMetric(float64(sum.Deployments), "deploys")
		b.ReportMetric(float64(sum.MetricRows), "metric_rows")
		b.ReportMetric(float64(sum.SignatureRows), "sig_rows")
		b.ReportMetric(refTime.Seconds(), "gen_s")
		b.ReportMetric(tRun.Seconds(), "run_s")
		b.ReportMetric(total.Seconds(), "total_s")
		b.ReportMetric(float64(sum.MetricRows)/total.Seconds(), "metric_rows/s")
		b.ReportMetric(total.Seconds()/refTime.Seconds(), "x_vs_ref")
	}
}

// BenchmarkWriteFiles writes the fleet as CSV import files; reference as above.
func BenchmarkWriteFiles(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	cfg := benchConfig()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := generate(ctx, cfg, discardSink{}, nil); err != nil {
			b.Fatal(err)
		}
		refTime := time.Since(t0)
		t1 := time.Now()
		sum, err := WriteFiles(ctx, cfg, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(t1)
		b.ReportMetric(float64(sum.MetricRows)/el.Seconds(), "metric_rows/s")
		b.ReportMetric(el.Seconds()/refTime.Seconds(), "x_vs_ref")
	}
}
