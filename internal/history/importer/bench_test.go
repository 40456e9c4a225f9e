package importer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/history/pgstore"
	"github.com/faultline-dev/faultline/internal/pgtest"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// benchFiles simulates a 60-service, 14-day fleet as import files.
func benchFiles(b *testing.B) string {
	dir := b.TempDir()
	cfg := simulate.DefaultConfig()
	cfg.Services, cfg.Days = 60, 14
	if _, err := simulate.WriteFiles(context.Background(), cfg, dir); err != nil {
		b.Fatal(err)
	}
	return dir
}

func findPsql() (string, error) {
	if p, err := exec.LookPath("psql"); err == nil {
		return p, nil
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
	sort.Strings(m)
	if len(m) > 0 {
		return m[len(m)-1], nil
	}
	return "", fmt.Errorf("psql not found")
}

// BenchmarkImport measures import throughput of the simulator's metrics file
// (with its deployments and services) into a migrated database, against
// `psql \copy` of the same metrics.csv into an unindexed table in the same
// run (x_vs_ref = import time / \copy time; target <= 2). It also reports
// the time of a full import (all files, error signatures included).
func BenchmarkImport(b *testing.B) {
	b.ReportAllocs()
	psql, err := findPsql()
	if err != nil {
		b.Skip("reference needs psql: ", err)
	}
	ctx := context.Background()
	src := benchFiles(b)
	metricsDir := b.TempDir()
	for _, f := range []string{"services.csv", "deployments.csv", "metrics.csv"} {
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(metricsDir, f)); err != nil {
			b.Fatal(err)
		}
	}
	var rows int64
	var tImport, tRef, tFull time.Duration
	for b.Loop() {
		b.StopTimer()
		dsn := pgtest.DSN(b)
		// Reference: psql \copy into an unindexed table.
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE ref (service text, environment text, version text, minute timestamptz,
			requests bigint, errors bigint, latency_p50_ms float8, latency_p95_ms float8, latency_p99_ms float8)`); err != nil {
			b.Fatal(err)
		}
		conn.Close(ctx)
		start := time.Now()
		out, err := exec.Command(psql, "-X", "-q", dsn, "-c", fmt.Sprintf(`\copy ref FROM '%s' CSV HEADER`, filepath.Join(src, "metrics.csv"))).CombinedOutput()
		if err != nil {
			b.Fatalf("psql \\copy: %v\n%s", err, out)
		}
		tRef += time.Since(start)

		if _, err := pgstore.Migrate(ctx, dsn); err != nil {
			b.Fatal(err)
		}
		store, err := pgstore.OpenStore(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start = time.Now()
		tx, err := store.BeginImport(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := Import(ctx, metricsDir, tx, Options{})
		if err != nil {
			b.Fatal(err)
		}
		tImport += time.Since(start)
		b.StopTimer()
		rows = sum.Metrics
		store.Close()

		// Full import of every file into another database.
		dsn2 := pgtest.DSN(b)
		if _, err := pgstore.Migrate(ctx, dsn2); err != nil {
			b.Fatal(err)
		}
		store2, err := pgstore.OpenStore(ctx, dsn2)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		tx2, err := store2.BeginImport(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Import(ctx, src, tx2, Options{}); err != nil {
			b.Fatal(err)
		}
		tFull += time.Since(start)
		store2.Close()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(rows)*n/tImport.Seconds(), "rows/s")
	b.ReportMetric(float64(rows)*n/tRef.Seconds(), "ref_rows/s")
	b.ReportMetric(tImport.Seconds()/tRef.Seconds(), "x_vs_ref")
	b.ReportMetric(float64(rows), "metric_rows")
	b.ReportMetric(tFull.Seconds()/n, "full_import_s")
}
