package batch_test

import (
	"github.com/faultline-dev/faultline/internal/gctune"

	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// checkBenchFleet is the history of BenchmarkCheck: 'faultline simulate
// --services 200 --days 30 --deploys-per-day 10' (about 100k deploys,
// 17.6M metric rows).
func checkBenchFleet() simulate.Config {
	c := simulate.DefaultConfig()
	c.Services, c.Days, c.DeploysPerDay = 200, 30, 10
	return c
}

// checkBenchHome returns the embedded store BenchmarkCheck reads:
// FAULTLINE_BENCH_CHECK_HOME when set (an existing store, used as it is),
// else a folder under os.TempDir() named after the fleet and the layout
// format, simulated once (about 40 s and 370 MB of disk) and reused by
// later runs.
func checkBenchHome(b *testing.B) string {
	if home := os.Getenv("FAULTLINE_BENCH_CHECK_HOME"); home != "" {
		return home
	}
	c := checkBenchFleet()
	home := filepath.Join(os.TempDir(), fmt.Sprintf("faultline-bench-check-s%d-d%d-p%g-f%d", c.Services, c.Days, c.DeploysPerDay, embedded.FormatVersion))
	if _, err := os.Stat(filepath.Join(home, "history", "CURRENT")); err == nil {
		return home
	}
	ctx := context.Background()
	tmp, err := os.MkdirTemp(os.TempDir(), "faultline-bench-check-build-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	t0 := time.Now()
	st, err := embedded.Open(ctx, tmp)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := simulate.Into(ctx, c, st, nil); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	// Renamed into place only when complete, so that an interrupted
	// build is never reused.
	os.RemoveAll(home)
	if err := os.Rename(tmp, home); err != nil {
		b.Fatal(err)
	}
	b.Logf("simulated %s in %s (reused by later runs)", home, time.Since(t0).Round(time.Second))
	return home
}

// checkMeasure is one measured check.
type checkMeasure struct {
	wall, cpu time.Duration
	peakHeap  uint64 // sampled live heap, bytes
	hwm       int64  // VmHWM after the check, bytes (reset before it where Linux allows)
	row       *batch.Row
}

// measureCheck opens the store at home cold with opts and judges
// deployment id, as 'faultline check' does (statistical checks: the same
// store reads and extraction as with a model, without needing one).
func measureCheck(b *testing.B, home string, opts embedded.Options, id string) checkMeasure {
	ctx := context.Background()
	runtime.GC()
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM (Linux); best effort
	stop := make(chan struct{})
	peak := checkHeapPeak(stop)
	cpu0 := processCPU()
	t0 := time.Now()
	st, err := embedded.OpenOptions(ctx, home, opts)
	if err != nil {
		b.Fatal(err)
	}
	row, err := batch.CheckStatistical(ctx, st, features.DefaultConfig(), id, batch.Options{Scratch: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	m := checkMeasure{wall: time.Since(t0), cpu: processCPU() - cpu0, row: row}
	close(stop)
	m.peakHeap = <-peak
	m.hwm = procStatus("VmHWM:")
	return m
}

// BenchmarkCheck judges one deployment of a 100k-deploy history (see
// checkBenchHome) in a cold store, as 'faultline check --deployment ID'
// does: the deploy is looked up by id, and only the row groups of the
// stream files its windows need are read. The reference, in the same run,
// is the same check with embedded.Options.WholeFiles: every stream file
// read is decoded whole, as builds before layout format 3 did (and as
// files written before format 3 still are). x_vs_whole is the check's wall
// time over the reference's.
//
// FAULTLINE_BENCH_CHECK_ID picks the deployment (default: the one in the
// middle of the history, by start).
func BenchmarkCheck(b *testing.B) {
	b.ReportAllocs()
	_, restore := gctune.Apply() // the collector settings of the faultline command
	defer restore()
	home := checkBenchHome(b)
	ctx := context.Background()
	id := os.Getenv("FAULTLINE_BENCH_CHECK_ID")
	if id == "" {
		st, err := embedded.Open(ctx, home)
		if err != nil {
			b.Fatal(err)
		}
		deps, err := st.Deployments(ctx, history.Range{})
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
		if len(deps) == 0 {
			b.Fatalf("%s holds no deployments", home)
		}
		id = deps[len(deps)/2].ID
		b.Logf("%s: %d deployments; checking %s", home, len(deps), id)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ref := measureCheck(b, home, embedded.Options{WholeFiles: true}, id)
		got := measureCheck(b, home, embedded.Options{}, id)
		if got.row.Verdict != ref.row.Verdict || fmt.Sprint(got.row.P) != fmt.Sprint(ref.row.P) {
			b.Fatalf("check differs from the whole-file reference: %s %v vs %s %v", got.row.Verdict, got.row.P, ref.row.Verdict, ref.row.P)
		}
		b.Logf("check %s: %s; wall %.3f s, CPU %.3f s, peak heap %.0f MiB, VmHWM %.0f MiB; whole-file reference: wall %.3f s, CPU %.3f s, peak heap %.0f MiB, VmHWM %.0f MiB; load %s",
			id, got.row.Verdict, got.wall.Seconds(), got.cpu.Seconds(), mib(int64(got.peakHeap)), mib(got.hwm),
			ref.wall.Seconds(), ref.cpu.Seconds(), mib(int64(ref.peakHeap)), mib(ref.hwm), loadAvg())
		b.ReportMetric(got.wall.Seconds(), "check_s")
		b.ReportMetric(got.cpu.Seconds(), "check_cpu_s")
		b.ReportMetric(mib(int64(got.peakHeap)), "check_heap_MiB")
		b.ReportMetric(mib(got.hwm), "check_VmHWM_MiB")
		b.ReportMetric(ref.wall.Seconds(), "whole_s")
		b.ReportMetric(mib(int64(ref.peakHeap)), "whole_heap_MiB")
		b.ReportMetric(got.wall.Seconds()/ref.wall.Seconds(), "x_vs_whole")
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// checkHeapPeak samples the live heap until stop is closed.
func checkHeapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				metrics.Read(s)
				out <- max(peak, s[0].Value.Uint64())
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// processCPU returns the user and system CPU time of the process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus returns a "kB" field of /proc/self/status in bytes, or -1.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return -1
}

// loadAvg returns the 1, 5 and 15-minute load averages (Linux), or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
