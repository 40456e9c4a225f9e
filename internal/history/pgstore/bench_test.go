package pgstore

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// BenchmarkMetricsWindow measures Reader.Metrics, the hot read path of
// feature extraction: 60-minute windows of one stream (4 versions, 14 days
// of minutes in the table). The reference, in the same run, is the same
// query read the ordinary way (pgx rows.Scan into typed values, NULLs via
// pointers); x_vs_ref = Metrics time / reference time.
func BenchmarkMetricsWindow(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	s, _ := newStore(b)
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	var rows []history.Metric
	for _, v := range []string{"v1", "v2", "v3", "v4"} {
		for m := range 14 * 24 * 60 {
			rows = append(rows, history.Metric{Service: "api", Environment: "prod", Version: v, Minute: start.Add(time.Duration(m) * time.Minute),
				Requests: float64(100 + m%50), Errors: float64(m % 3), LatencyP50: 12.5, LatencyP95: math.NaN(), LatencyP99: 80})
		}
	}
	tx, err := s.BeginImport(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := tx.AddMetrics(ctx, rows); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	st := history.Stream{Service: "api", Environment: "prod"}
	const windows = 200
	window := func(i int) history.Range {
		from := start.Add(time.Duration(i*97%(13*24*60)) * time.Minute)
		return history.Range{From: from, Until: from.Add(time.Hour)}
	}
	var tOurs, tRef time.Duration
	var n int
	for b.Loop() {
		t0 := time.Now()
		for i := range windows {
			ser, err := s.Metrics(ctx, st, window(i))
			if err != nil {
				b.Fatal(err)
			}
			n = 0
			for _, x := range ser {
				n += x.Len()
			}
		}
		tOurs += time.Since(t0)
		b.StopTimer()
		t0 = time.Now()
		for i := range windows {
			r := window(i)
			q, err := s.pool.Query(ctx, `
				SELECT se.version, m.minute, m.requests, m.errors, m.latency_p50_ms, m.latency_p95_ms, m.latency_p99_ms
				FROM series se JOIN metrics m ON m.series_id = se.series_id
				WHERE se.service = $1 AND se.environment = $2 AND m.minute >= $3 AND m.minute < $4
				ORDER BY se.version COLLATE "C", m.minute`, st.Service, st.Environment, r.From, r.Until)
			if err != nil {
				b.Fatal(err)
			}
			cnt := 0
			for q.Next() {
				var v string
				var at time.Time
				var req, errs int64
				var p50, p95, p99 *float64
				if err := q.Scan(&v, &at, &req, &errs, &p50, &p95, &p99); err != nil {
					b.Fatal(err)
				}
				cnt++
			}
			if q.Err() != nil {
				b.Fatal(q.Err())
			}
			if cnt != n && i == windows-1 {
				b.Fatalf("reference read %d rows, Metrics %d", cnt, n)
			}
		}
		tRef += time.Since(t0)
		b.StartTimer()
	}
	b.ReportMetric(float64(tOurs.Microseconds())/float64(b.N*windows), "us/window")
	b.ReportMetric(float64(tRef.Microseconds())/float64(b.N*windows), "ref_us/window")
	b.ReportMetric(tOurs.Seconds()/tRef.Seconds(), "x_vs_ref")
}
