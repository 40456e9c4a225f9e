package embedded

import (
	"bufio"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// BenchmarkMetricsRead reads every stream's metrics from a cold store
// (the simulator's default fleet: 40 services × 2 environments × 14 days)
// and then one two-hour window around every deployment, as feature
// extraction does. The reference, measured in the same run, parses the
// same rows from the simulator's metrics.csv (encoding/csv + strconv):
// x_vs_ref is the store's rows/s over the CSV parser's.
//
// FAULTLINE_BENCH_HOME=DIR reads an existing store instead (e.g. one made by
// 'faultline simulate --services 200 --days 30 --deploys-per-day 10'); the
// CSV reference is then skipped.
func BenchmarkMetricsRead(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	if home := os.Getenv("FAULTLINE_BENCH_HOME"); home != "" {
		for i := 0; i < b.N; i++ {
			rows, rate, winRate := readAll(b, home)
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(rate, "rows/s")
			b.ReportMetric(winRate, "windows/s")
		}
		return
	}
	cfg := simulate.DefaultConfig()
	home := b.TempDir()
	st, err := Open(ctx, home)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := simulate.Into(ctx, cfg, st, nil); err != nil {
		b.Fatal(err)
	}
	st.Close()
	files := b.TempDir()
	if _, err := simulate.WriteFiles(ctx, cfg, files); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Reference: parse metrics.csv.
		t0 := time.Now()
		refRows, err := parseMetricsCSV(filepath.Join(files, "metrics.csv"))
		if err != nil {
			b.Fatal(err)
		}
		refRate := float64(refRows) / time.Since(t0).Seconds()

		rows, rate, winRate := readAll(b, home)
		if rows != refRows {
			b.Fatalf("store has %d rows, CSV %d", rows, refRows)
		}
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(rate, "rows/s")
		b.ReportMetric(refRate, "csv_rows/s")
		b.ReportMetric(winRate, "windows/s")
		b.ReportMetric(rate/refRate, "x_vs_ref")
	}
}

// readAll opens the store cold, reads every stream's metrics, then a
// two-hour window around every deployment stream by stream (cache warm).
func readAll(b *testing.B, home string) (rows int64, rate, winRate float64) {
	ctx := context.Background()
	s, err := OpenOptions(ctx, home, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t1 := time.Now()
	streams, err := s.Streams(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, str := range streams {
		ser, err := s.Metrics(ctx, str, history.Range{})
		if err != nil {
			b.Fatal(err)
		}
		for _, x := range ser {
			rows += int64(x.Len())
		}
	}
	rate = float64(rows) / time.Since(t1).Seconds()
	deps, err := s.Deployments(ctx, history.Range{})
	if err != nil {
		b.Fatal(err)
	}
	sort.SliceStable(deps, func(i, j int) bool {
		if deps[i].Service != deps[j].Service {
			return deps[i].Service < deps[j].Service
		}
		return deps[i].Environment < deps[j].Environment
	})
	t2 := time.Now()
	for _, d := range deps {
		r := history.Range{From: d.StartedAt.Add(-time.Hour), Until: d.StartedAt.Add(time.Hour)}
		if _, err := s.Metrics(ctx, history.Stream{Service: d.Service, Environment: d.Environment}, r); err != nil {
			b.Fatal(err)
		}
	}
	winRate = float64(len(deps)) / time.Since(t2).Seconds()
	return rows, rate, winRate
}

func parseMetricsCSV(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil {
		return 0, err
	}
	var n int64
	var sink int64
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		t, err := time.Parse(time.RFC3339, rec[3])
		if err != nil {
			return n, err
		}
		req, _ := strconv.ParseInt(rec[4], 10, 64)
		e, _ := strconv.ParseInt(rec[5], 10, 64)
		for _, c := range rec[6:9] {
			v, _ := strconv.ParseFloat(c, 64)
			sink += int64(v)
		}
		sink += t.Unix() + req + e
		n++
	}
}
