package simulate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/internal/promtest"
)

func omConfig() Config {
	cfg := DefaultConfig()
	cfg.Services = 4
	cfg.Days = 1
	cfg.FaultRate = 0.3
	return cfg
}

// omSample is one parsed sample line.
type omSample struct {
	name   string
	labels map[string]string
	key    string // name + raw label set
	value  float64
	ts     int64
}

// parseOM parses the sample lines of an OpenMetrics file written by
// WriteOpenMetrics, checking the structure on the way: families are
// contiguous, every series' samples are contiguous with strictly increasing
// timestamps, the file ends with # EOF.
func parseOM(t *testing.T, b []byte) []omSample {
	t.Helper()
	var out []omSample
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	families := map[string]bool{}
	fam := ""
	seriesDone := map[string]bool{}
	lastKey, lastTS := "", int64(math.MinInt64)
	eof := false
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		if eof {
			t.Fatalf("line %d after # EOF", line)
		}
		if l == "# EOF" {
			eof = true
			continue
		}
		if strings.HasPrefix(l, "# TYPE ") {
			f := strings.Fields(l)[2]
			if families[f] {
				t.Fatalf("line %d: family %s started twice", line, f)
			}
			families[f], fam = true, f
			continue
		}
		if strings.HasPrefix(l, "#") {
			continue
		}
		open, close := strings.IndexByte(l, '{'), strings.LastIndexByte(l, '}')
		if open < 0 || close < open {
			t.Fatalf("line %d: no label set: %q", line, l)
		}
		s := omSample{name: l[:open], key: l[:close+1], labels: map[string]string{}}
		if !strings.HasPrefix(s.name, fam) {
			t.Fatalf("line %d: sample %s outside its family (current %s)", line, s.name, fam)
		}
		for _, kv := range strings.Split(l[open+1:close], ",") {
			k, v, _ := strings.Cut(kv, "=")
			uq, err := strconv.Unquote(v)
			if err != nil {
				t.Fatalf("line %d: label %q: %v", line, kv, err)
			}
			s.labels[k] = uq
		}
		f := strings.Fields(l[close+1:])
		if len(f) != 2 {
			t.Fatalf("line %d: want value and timestamp: %q", line, l)
		}
		var err error
		if s.value, err = strconv.ParseFloat(f[0], 64); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		if s.ts, err = strconv.ParseInt(f[1], 10, 64); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		if s.key != lastKey {
			if seriesDone[s.key] {
				t.Fatalf("line %d: series %s is not contiguous", line, s.key)
			}
			seriesDone[lastKey] = true
			lastKey, lastTS = s.key, math.MinInt64
		}
		if s.ts <= lastTS {
			t.Fatalf("line %d: timestamp %d not after %d", line, s.ts, lastTS)
		}
		lastTS = s.ts
		out = append(out, s)
	}
	if !eof {
		t.Fatal("no # EOF at the end")
	}
	return out
}

type omRow struct {
	requests, errors float64
	p50, p95, p99    float64
}

// rowsFromOM rebuilds the metrics and signature rows from the samples:
// a minute's count is the increase from the sample at its start to the one
// at its end, as increase(x[1m]) evaluated at the end sees it.
func rowsFromOM(samples []omSample) (map[string]*omRow, map[string]int64) {
	type pt struct{ ts int64 }
	prev := map[string]omSample{}
	metrics := map[string]*omRow{}
	sigs := map[string]int64{}
	row := func(s omSample) *omRow {
		k := fmt.Sprintf("%s,%s,%s,%s", s.labels["service"], s.labels["environment"], s.labels["version"],
			time.Unix(s.ts-60, 0).UTC().Format(time.RFC3339))
		r := metrics[k]
		if r == nil {
			r = &omRow{p50: math.NaN(), p95: math.NaN(), p99: math.NaN()}
			metrics[k] = r
		}
		return r
	}
	for _, s := range samples {
		switch s.name {
		case OMRequests + "_total", OMSignatures + "_total":
			p, ok := prev[s.key]
			prev[s.key] = s
			if !ok || p.ts != s.ts-60 {
				continue
			}
			n := s.value - p.value
			if n == 0 {
				continue
			}
			if s.name == OMSignatures+"_total" {
				k := fmt.Sprintf("%s,%s,%s,%s,%s,%d,%s,%s,%s", s.labels["service"], s.labels["environment"], s.labels["version"],
					time.Unix(s.ts-60, 0).UTC().Format(time.RFC3339), s.labels["fingerprint"], int64(n),
					s.labels["error_type"], s.labels["endpoint"], s.labels["status_code"])
				sigs[k]++
				continue
			}
			r := row(s)
			r.requests += n
			if s.labels["code"] == "500" {
				r.errors += n
			}
		case OMDuration:
			r := row(s)
			switch s.labels["quantile"] {
			case "0.5":
				r.p50 = s.value
			case "0.95":
				r.p95 = s.value
			case "0.99":
				r.p99 = s.value
			}
		}
	}
	return metrics, sigs
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs[1:]
}

// near is exact equality: the latencies go through unchanged.
func near(a, b float64) bool { return a == b }

func writeOM(t *testing.T, cfg Config) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.om")
	if _, err := WriteOpenMetrics(context.Background(), cfg, path, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("%d files beside the output, want none (temporary files left?)", len(entries)-1)
	}
	return path, b
}

// TestOpenMetricsCarriesTheFiles: the OpenMetrics history holds exactly the
// metrics and error-signature rows of WriteFiles for the same config.
func TestOpenMetricsCarriesTheFiles(t *testing.T) {
	cfg := omConfig()
	files := writeAll(t, cfg)
	_, om := writeOM(t, cfg)
	metrics, sigs := rowsFromOM(parseOM(t, om))

	want := readCSV(t, files["metrics.csv"])
	if len(metrics) != len(want) {
		t.Errorf("%d metric rows from OpenMetrics, %d in metrics.csv", len(metrics), len(want))
	}
	for _, r := range want {
		k := strings.Join(r[:4], ",")
		got := metrics[k]
		if got == nil {
			t.Fatalf("metrics.csv row %v missing from OpenMetrics", r)
		}
		req, _ := strconv.ParseFloat(r[4], 64)
		errs, _ := strconv.ParseFloat(r[5], 64)
		p50, _ := strconv.ParseFloat(r[6], 64)
		p95, _ := strconv.ParseFloat(r[7], 64)
		p99, _ := strconv.ParseFloat(r[8], 64)
		if got.requests != req || got.errors != errs || !near(got.p50, p50) || !near(got.p95, p95) || !near(got.p99, p99) {
			t.Fatalf("row %s: OpenMetrics gives %+v, metrics.csv %v", k, *got, r)
		}
	}
	wantSigs := readCSV(t, files["error_signatures.csv"])
	if len(wantSigs) == 0 {
		t.Fatal("no signatures simulated: the test checks nothing")
	}
	n := 0
	for _, c := range sigs {
		n += int(c)
	}
	if n != len(wantSigs) {
		t.Errorf("%d signature rows from OpenMetrics, %d in error_signatures.csv", n, len(wantSigs))
	}
	for _, r := range wantSigs {
		k := strings.Join(r, ",")
		if sigs[k] == 0 {
			t.Fatalf("error_signatures.csv row %v missing from OpenMetrics", r)
		}
	}
}

// TestOpenMetricsAggregateRealValued: with aggregate metrics and
// real-valued counts, the aggregate series have no version label (the
// signatures keep theirs), and every minute's increase gives the count of
// metrics.csv within float rounding of the running total.
func TestOpenMetricsAggregateRealValued(t *testing.T) {
	cfg := omConfig()
	cfg.AggregateMetrics, cfg.RealValuedCounts = true, true
	files := writeAll(t, cfg)
	_, om := writeOM(t, cfg)
	samples := parseOM(t, om)
	fractional := 0
	for _, s := range samples {
		_, hasVersion := s.labels["version"]
		if isMetric := s.name != OMSignatures+"_total"; isMetric == hasVersion {
			t.Fatalf("sample %s: version label present %v, want it on signatures only", s.key, hasVersion)
		}
		if s.value != math.Trunc(s.value) {
			fractional++
		}
	}
	if fractional == 0 {
		t.Fatal("no fractional value: the real-valued counts were not written as such")
	}
	metrics, _ := rowsFromOM(samples)
	want := readCSV(t, files["metrics.csv"])
	if len(metrics) != len(want) {
		t.Errorf("%d metric rows from OpenMetrics, %d in metrics.csv", len(metrics), len(want))
	}
	for _, r := range want {
		if r[2] != "" {
			t.Fatalf("metrics.csv row %v has a version; want aggregate rows only", r)
		}
		k := strings.Join(r[:4], ",")
		got := metrics[k]
		if got == nil {
			t.Fatalf("metrics.csv row %v missing from OpenMetrics", r)
		}
		req, _ := strconv.ParseFloat(r[4], 64)
		errs, _ := strconv.ParseFloat(r[5], 64)
		if math.Abs(got.requests-req) > 1e-9*req || math.Abs(got.errors-errs) > 1e-9*max(req, 1) {
			t.Fatalf("row %s: OpenMetrics gives %v requests %v errors, metrics.csv %v", k, got.requests, got.errors, r)
		}
	}
}

func TestOpenMetricsKeepsFilesIdentical(t *testing.T) {
	cfg := omConfig()
	before := writeAll(t, cfg)
	writeOM(t, cfg)
	after := writeAll(t, cfg)
	for name, b := range before {
		if !bytes.Equal(b, after[name]) {
			t.Errorf("%s changed after writing OpenMetrics", name)
		}
	}
}

// TestOpenMetricsGolden pins the head of the tiny fleet's OpenMetrics file;
// accept an intended change with -update.
func TestOpenMetricsGolden(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Services = 3
	cfg.Days = 2
	cfg.FaultRate = 0.3
	cfg.AnnotationRate = 0.3
	_, om := writeOM(t, cfg)
	got := headLines(om, 40)
	path := filepath.Join("testdata", "tiny", "history.om.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("history.om differs from %s; review and run with -update if intended", path)
	}
}

// TestOpenMetricsBackfill: promtool accepts the file and Prometheus returns
// each minute's requests and errors with increase(...[1m]) at its end.
func TestOpenMetricsBackfill(t *testing.T) {
	cfg := omConfig()
	cfg.Services = 2
	files := writeAll(t, cfg)
	path, _ := writeOM(t, cfg)
	srv := promtest.Start(t, path)
	c, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, files["metrics.csv"])
	// A few minutes spread over the day, each checked for every version.
	for _, i := range []int{0, len(rows) / 3, len(rows) / 2, len(rows) - 1} {
		r := rows[i]
		m, err := time.Parse(time.RFC3339, r[3])
		if err != nil {
			t.Fatal(err)
		}
		sel := fmt.Sprintf(`{service=%q,environment=%q,version=%q}`, r[0], r[1], r[2])
		q := fmt.Sprintf(`sum(increase(http_requests_total%s[1m])) or vector(-1)`, sel)
		v, _, _, err := v1.NewAPI(c).Query(context.Background(), q, m.Add(time.Minute))
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		got := v.(model.Vector)[0].Value
		if want, _ := strconv.ParseFloat(r[4], 64); float64(got) != want {
			t.Errorf("%s at %s: requests %v, metrics.csv %v", sel, r[3], got, want)
		}
	}
}
