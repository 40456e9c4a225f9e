package extract

import (
	"github.com/faultline-dev/faultline/internal/gctune"

	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// recordingReader remembers the stream reads an extraction makes, so the
// reference can stream exactly the same rows raw.
type recordingReader struct {
	history.Reader
	mu    sync.Mutex
	reads []streamRead
	// time spent inside the store's Metrics and Signatures
	metricsTime, sigTime time.Duration
}

type streamRead struct {
	sig bool
	st  history.Stream
	r   history.Range
}

func (rr *recordingReader) Metrics(ctx context.Context, s history.Stream, r history.Range) ([]history.Series, error) {
	rr.mu.Lock()
	rr.reads = append(rr.reads, streamRead{st: s, r: r})
	rr.mu.Unlock()
	t := time.Now()
	out, err := rr.Reader.Metrics(ctx, s, r)
	rr.mu.Lock()
	rr.metricsTime += time.Since(t)
	rr.mu.Unlock()
	return out, err
}

func (rr *recordingReader) Signatures(ctx context.Context, s history.Stream, r history.Range) ([]history.Signature, error) {
	rr.mu.Lock()
	rr.reads = append(rr.reads, streamRead{sig: true, st: s, r: r})
	rr.mu.Unlock()
	t := time.Now()
	out, err := rr.Reader.Signatures(ctx, s, r)
	rr.mu.Lock()
	rr.sigTime += time.Since(t)
	rr.mu.Unlock()
	return out, err
}

func benchFleet() simulate.Config {
	c := simulate.DefaultConfig()
	c.Services, c.Days = 100, 31 // ≈ 20k deployments
	env := func(k string, dst *int) {
		if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
			*dst = v
		}
	}
	env("FAULTLINE_BENCH_SERVICES", &c.Services)
	env("FAULTLINE_BENCH_DAYS", &c.Days)
	return c
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func rangeSQL(col string, r history.Range) string {
	var b strings.Builder
	if !r.From.IsZero() {
		fmt.Fprintf(&b, " AND %s >= '%s'", col, r.From.UTC().Format(time.RFC3339))
	}
	if !r.Until.IsZero() {
		fmt.Fprintf(&b, " AND %s < '%s'", col, r.Until.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// copyRaw streams the rows of every read with COPY (SELECT ...) TO STDOUT
// in binary into io.Discard, over `workers` connections.
func copyRaw(ctx context.Context, pool *pgxpool.Pool, reads []streamRead, workers int) (int64, error) {
	ch := make(chan streamRead)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		bytes int64
		first error
	)
	for range workers {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Release()
			for rd := range ch {
				var q string
				w := " WHERE se.service = " + quote(rd.st.Service) + " AND se.environment = " + quote(rd.st.Environment)
				if rd.sig {
					q = `COPY (SELECT se.version, g.minute, f.fingerprint, g.count, f.error_type, f.endpoint, f.status_code
						FROM series se JOIN error_signatures g ON g.series_id = se.series_id
						JOIN error_fingerprints f ON f.fingerprint_id = g.fingerprint_id` + w + rangeSQL("g.minute", rd.r) + `) TO STDOUT (FORMAT binary)`
				} else {
					q = `COPY (SELECT se.version, m.minute, m.requests, m.errors, m.latency_p50_ms, m.latency_p95_ms, m.latency_p99_ms
						FROM series se JOIN metrics m ON m.series_id = se.series_id` + w + rangeSQL("m.minute", rd.r) + `) TO STDOUT (FORMAT binary)`
				}
				tag, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, q)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				bytes += tag.RowsAffected()
				mu.Unlock()
			}
		}()
	}
	for _, rd := range reads {
		ch <- rd
	}
	close(ch)
	wg.Wait()
	return bytes, first
}

// replayReads repeats reads through r with `workers` goroutines,
// discarding the results.
func replayReads(ctx context.Context, r history.Reader, reads []streamRead, workers int) error {
	ch := make(chan streamRead)
	errc := make(chan error, workers)
	for range workers {
		go func() {
			var first error
			for rd := range ch {
				var err error
				if rd.sig {
					_, err = r.Signatures(ctx, rd.st, rd.r)
				} else {
					_, err = r.Metrics(ctx, rd.st, rd.r)
				}
				if err != nil && first == nil {
					first = err
				}
			}
			errc <- first
		}()
	}
	for _, rd := range reads {
		ch <- rd
	}
	close(ch)
	var first error
	for range workers {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// vmHWM returns the process's peak resident set in bytes (Linux).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return -1
}

// heapPeak samples the live heap until stop is closed.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// processCPU returns the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg returns the first three fields of /proc/loadavg, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// serverCPU returns a function giving the CPU time so far of the local
// PostgreSQL server behind pool: its postmaster (with the children it has
// reaped) and its live processes (Linux /proc, clock ticks of 1/100 s). It
// returns nil when the server's processes cannot be read (a remote server,
// or no permission to read data_directory). A backend that exits between
// two calls adds its whole life's CPU, so differences are approximate.
func serverCPU(ctx context.Context, pool *pgxpool.Pool) func() time.Duration {
	var dataDir string
	if err := pool.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		return nil
	}
	b, err := os.ReadFile(dataDir + "/postmaster.pid")
	if err != nil {
		return nil
	}
	pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return nil
	}
	// stat returns ppid, utime+stime and cutime+cstime (ticks) of pid.
	stat := func(pid string) (ppid int, own, reaped int64, ok bool) {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return 0, 0, 0, false
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // f[0] is field 3 (state)
		if len(f) < 15 {
			return 0, 0, 0, false
		}
		n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
		return int(n(1)), n(11) + n(12), n(13) + n(14), true
	}
	if _, _, _, ok := stat(strconv.Itoa(pm)); !ok {
		return nil
	}
	return func() time.Duration {
		_, own, reaped, _ := stat(strconv.Itoa(pm))
		ticks := own + reaped
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if e.Name()[0] < '0' || e.Name()[0] > '9' {
				continue
			}
			if ppid, own, _, ok := stat(e.Name()); ok && ppid == pm {
				ticks += own
			}
		}
		return time.Duration(ticks) * 10 * time.Millisecond
	}
}

// BenchmarkExtractPostgres extracts every horizon of a simulated history of
// ≈ 20k deployments (FAULTLINE_BENCH_SERVICES / _DAYS resize it) from
// PostgreSQL, and in the same run streams the very rows the extraction read
// with COPY (SELECT ...) TO STDOUT into io.Discard: x_vs_ref is extraction
// time over raw-streaming time. extract_cpu_s is this process's CPU time
// during the extraction, server_cpu_s the local server's (when readable),
// and cpu_x_vs_ref their sum over the raw streaming's (server and client).
func BenchmarkExtractPostgres(b *testing.B) {
	b.ReportAllocs()
	gc, restore := gctune.Apply() // the collector settings of the faultline command
	defer restore()
	b.Logf("GC: GOGC %d, memory limit %d MiB (environment: %v)", gc.Percent, gc.MemoryLimit>>20, gc.FromEnv)
	ctx := context.Background()
	fleet := benchFleet()
	t0 := time.Now()
	st := pgSimulated(b, fleet)
	b.Logf("simulated %d services × %d envs × %d days into PostgreSQL in %s", fleet.Services, len(fleet.Environments), fleet.Days, time.Since(t0).Round(time.Second))
	cfg := features.DefaultConfig()
	workers := runtime.GOMAXPROCS(0)
	for i := 0; i < b.N; i++ {
		rec := &recordingReader{Reader: st}
		dir := b.TempDir()
		debug.FreeOSMemory()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM (Linux); best effort
		stop := make(chan struct{})
		peak := heapPeak(stop)
		b.Logf("load average at start: %s", loadAvg())
		srv := serverCPU(ctx, st.Pool())
		srvCPU := func() time.Duration {
			if srv == nil {
				return 0
			}
			return srv()
		}
		c1, s1 := processCPU(), srvCPU()
		t1 := time.Now()
		sum, err := Run(ctx, rec, dir, Options{Config: cfg, Workers: workers})
		if err != nil {
			b.Fatal(err)
		}
		ext := time.Since(t1)
		extCPU, extSrv := processCPU()-c1, srvCPU()-s1
		close(stop)
		hp := <-peak
		hwm := vmHWM()

		c2, s2 := processCPU(), srvCPU()
		t2 := time.Now()
		rows, err := copyRaw(ctx, st.Pool(), rec.reads, workers)
		if err != nil {
			b.Fatal(err)
		}
		ref := time.Since(t2)
		refCPU, refSrv := processCPU()-c2, srvCPU()-s2
		// Second reference: the same reads through the store's Reader,
		// results discarded — the store's own cost without features.
		t3 := time.Now()
		if err := replayReads(ctx, st, rec.reads, workers); err != nil {
			b.Fatal(err)
		}
		storeRead := time.Since(t3)
		b.Logf("load average at end: %s", loadAvg())
		b.ReportMetric(storeRead.Seconds(), "store_read_s")
		b.ReportMetric(ext.Seconds()/storeRead.Seconds(), "x_vs_store_read")
		b.Logf("extract: %d deployments, %v; %d reads, %d rows streamed raw", sum.Deployments, sum.Horizons, len(rec.reads), rows)
		b.ReportMetric(float64(sum.Deployments), "deploys")
		b.ReportMetric(ext.Seconds(), "extract_s")
		b.ReportMetric(ref.Seconds(), "copy_raw_s")
		b.ReportMetric(ext.Seconds()/ref.Seconds(), "x_vs_ref")
		b.ReportMetric(extCPU.Seconds(), "extract_cpu_s")
		b.ReportMetric(refCPU.Seconds(), "copy_raw_cpu_s")
		if srv != nil {
			b.ReportMetric(extSrv.Seconds(), "extract_server_cpu_s")
			b.ReportMetric(refSrv.Seconds(), "copy_raw_server_cpu_s")
			b.ReportMetric((extCPU+extSrv).Seconds()/(refCPU+refSrv).Seconds(), "cpu_x_vs_ref")
		}
		b.ReportMetric(rec.metricsTime.Seconds(), "store_metrics_s")
		b.ReportMetric(rec.sigTime.Seconds(), "store_sigs_s")
		b.ReportMetric(float64(hp)/(1<<20), "peak_heap_MiB")
		b.ReportMetric(float64(hwm)/(1<<20), "VmHWM_MiB")
	}
}
