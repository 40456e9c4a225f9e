package simulate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/progress"
)

// Metric names of the OpenMetrics history (docs/prometheus.md, "The
// simulator's metrics"). Every series has the labels service and
// environment, and version unless it is an aggregate series (of all
// versions: Config.AggregateMetrics).
const (
	// OMRequests is a counter family: http_requests_total{code="200"}
	// counts the requests that succeeded, {code="500"} those that failed,
	// so that requests = sum over codes and errors = code 5xx.
	OMRequests = "http_requests"
	// OMDuration is a summary family of request latency in milliseconds
	// (as Istio's) with quantiles 0.5, 0.95 and 0.99: latency_p50_ms,
	// _p95_ms and _p99_ms unchanged, so that the round trip is exact.
	OMDuration = "http_request_duration_milliseconds"
	// OMSignatures is a counter family: log_errors_total counts errors by
	// fingerprint, with labels fingerprint, error_type, endpoint and
	// status_code (the error_signatures table).
	OMSignatures = "log_errors"
)

// WriteOpenMetrics simulates the fleet described by cfg — the same history
// as WriteFiles writes for the same cfg — and writes its per-minute series
// (the metrics and error_signatures tables) to path in the OpenMetrics text
// format, ready for `promtool tsdb create-blocks-from openmetrics`.
// Deployments, services, KPIs (declarations and values), incidents,
// annotations and truth are not written: take them from WriteFiles.
// Aggregate metrics rows (Config.AggregateMetrics) are series without the
// version label. Counts are written as they are, real-valued with
// Config.RealValuedCounts: a counter's samples are then running sums of
// real values, whose differences give each minute's count within float
// rounding (about 1e-16 of the running total), not bit for bit.
//
// Timing: a series' value at time t covers the minute [t-1m, t). A counter
// has a sample at the end of every minute its version served (the counted
// total so far) and, before a minute whose previous minute had no row, a
// sample at the minute's start holding the unchanged total, so that the
// increase over every [t-1m, t] window is exactly that minute's count and
// minutes without a row read as zero. Latency quantiles have one sample at
// the end of each minute with a row.
//
// The file is written under a temporary name and renamed when complete.
func WriteOpenMetrics(ctx context.Context, cfg Config, path string, p progress.Func) (Summary, error) {
	dir := filepath.Dir(path)
	s := &omSink{}
	for i, fam := range []string{OMRequests, OMDuration, OMSignatures} {
		f, err := os.CreateTemp(dir, ".om-"+fam+"-*")
		if err != nil {
			s.cleanup()
			return Summary{}, fmt.Errorf("simulate: %w", err)
		}
		s.tmp[i] = f
		s.w[i] = bufio.NewWriterSize(f, 1<<20)
	}
	defer s.cleanup()
	sum, err := generate(ctx, cfg, s, p)
	if err != nil {
		return sum, err
	}
	for _, w := range s.w {
		if err := w.Flush(); err != nil {
			return sum, fmt.Errorf("simulate: write %s: %w", path, err)
		}
	}
	out, err := atomicfile.Create(path)
	if err != nil {
		return sum, fmt.Errorf("simulate: %w", err)
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	heads := [3]string{
		"# TYPE " + OMRequests + " counter\n# HELP " + OMRequests + " Requests served, by version and status code (simulated).\n",
		"# TYPE " + OMDuration + " summary\n# UNIT " + OMDuration + " milliseconds\n# HELP " + OMDuration + " Request latency quantiles per minute (simulated).\n",
		"# TYPE " + OMSignatures + " counter\n# HELP " + OMSignatures + " Errors by fingerprint (simulated).\n",
	}
	for i, f := range s.tmp {
		if i == 2 && !cfg.Signatures {
			continue
		}
		bw.WriteString(heads[i])
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			out.Abort()
			return sum, fmt.Errorf("simulate: %w", err)
		}
		if _, err := io.Copy(bw, f); err != nil {
			out.Abort()
			return sum, fmt.Errorf("simulate: write %s: %w", path, err)
		}
	}
	bw.WriteString("# EOF\n")
	if err := bw.Flush(); err != nil {
		out.Abort()
		return sum, fmt.Errorf("simulate: write %s: %w", path, err)
	}
	if err := out.Commit(); err != nil {
		return sum, fmt.Errorf("simulate: %w", err)
	}
	return sum, nil
}

// omSink writes each family to its own temporary file: OpenMetrics wants
// the samples of a family together, and streams come one at a time.
type omSink struct {
	tmp [3]*os.File
	w   [3]*bufio.Writer
	b   []byte
}

func (s *omSink) cleanup() {
	for _, f := range s.tmp {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
}

func (s *omSink) services(context.Context, []history.Service) error { return nil }

func (s *omSink) kpis(context.Context, []history.KPI) error { return nil }

func (s *omSink) finish(context.Context, []history.Incident) error { return nil }

// quantiles of OMDuration and the metric columns they come from.
var omQuantiles = []struct {
	label string
	get   func(*history.Metric) float64
}{
	{"0.5", func(m *history.Metric) float64 { return m.LatencyP50 }},
	{"0.95", func(m *history.Metric) float64 { return m.LatencyP95 }},
	{"0.99", func(m *history.Metric) float64 { return m.LatencyP99 }},
}

func (s *omSink) stream(ctx context.Context, res *streamResult) error {
	// Metrics: one series per version (rows come sorted by minute).
	byVer := map[string][]int{}
	var versions []string
	for i := range res.metrics {
		v := res.metrics[i].Version
		if byVer[v] == nil {
			versions = append(versions, v)
		}
		byVer[v] = append(byVer[v], i)
	}
	sort.Strings(versions)
	for _, v := range versions {
		idx := byVer[v]
		m0 := &res.metrics[idx[0]]
		labels := omLabels(nil, "service", m0.Service, "environment", m0.Environment)
		if v != history.AggregateVersion {
			labels = omLabels(labels, "version", v)
		}
		for _, code := range []string{"200", "500"} {
			l := omLabels(labels, "code", code)
			s.counter(OMRequests+"_total", l, len(idx),
				func(k int) int64 { return history.UnixMinute(res.metrics[idx[k]].Minute) },
				func(k int) float64 {
					m := &res.metrics[idx[k]]
					if code == "500" {
						return m.Errors
					}
					return m.Requests - m.Errors
				})
		}
		for _, q := range omQuantiles {
			l := omLabels(labels, "quantile", q.label)
			for _, i := range idx {
				m := &res.metrics[i]
				ms := q.get(m)
				if ms != ms { // NaN: absent
					continue
				}
				s.b = append(s.b[:0], OMDuration...)
				s.b = append(s.b, l...)
				s.b = append(s.b, ' ')
				s.b = strconv.AppendFloat(s.b, ms, 'g', -1, 64)
				s.b = append(s.b, ' ')
				s.b = strconv.AppendInt(s.b, (history.UnixMinute(m.Minute)+1)*60, 10)
				s.b = append(s.b, '\n')
				s.w[1].Write(s.b)
			}
		}
	}
	// Signatures: one series per (version, fingerprint, attributes).
	type sigKey struct {
		version, fp, et, ep string
		status              int32
	}
	bySig := map[sigKey][]int{}
	var keys []sigKey
	for i := range res.signatures {
		g := &res.signatures[i]
		k := sigKey{g.Version, g.Fingerprint, g.ErrorType, g.Endpoint, g.StatusCode}
		if bySig[k] == nil {
			keys = append(keys, k)
		}
		bySig[k] = append(bySig[k], i)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.version != b.version {
			return a.version < b.version
		}
		if a.fp != b.fp {
			return a.fp < b.fp
		}
		if a.et != b.et {
			return a.et < b.et
		}
		if a.ep != b.ep {
			return a.ep < b.ep
		}
		return a.status < b.status
	})
	for _, k := range keys {
		idx := bySig[k]
		g0 := &res.signatures[idx[0]]
		l := omLabels(nil, "service", g0.Service, "environment", g0.Environment, "version", k.version,
			"fingerprint", k.fp, "error_type", k.et, "endpoint", k.ep, "status_code", strconv.Itoa(int(k.status)))
		s.counterTo(2, OMSignatures+"_total", l, len(idx),
			func(j int) int64 { return history.UnixMinute(res.signatures[idx[j]].Minute) },
			func(j int) float64 { return float64(res.signatures[idx[j]].Count) })
	}
	// Write errors stick to the writers and surface at Flush.
	return ctx.Err()
}

// counter writes a requests counter series (family file 0).
func (s *omSink) counter(name string, labels []byte, n int, minute func(int) int64, count func(int) float64) {
	s.counterTo(0, name, labels, n, minute, count)
}

// counterTo writes one counter series to family file f: n minutes
// (ascending) with their counts. A minute whose previous minute is absent
// gets a sample at its start with the total so far; every minute gets one
// at its end.
func (s *omSink) counterTo(f int, name string, labels []byte, n int, minute func(int) int64, count func(int) float64) {
	var total float64
	prev := int64(-1 << 62)
	line := func(t int64, v float64) {
		s.b = append(s.b[:0], name...)
		s.b = append(s.b, labels...)
		s.b = append(s.b, ' ')
		s.b = appendNumber(s.b, v)
		s.b = append(s.b, ' ')
		s.b = strconv.AppendInt(s.b, t*60, 10)
		s.b = append(s.b, '\n')
		s.w[f].Write(s.b)
	}
	for k := 0; k < n; k++ {
		m := minute(k)
		if m != prev+1 {
			line(m, total)
		}
		total += count(k)
		line(m+1, total)
		prev = m
	}
}

// appendNumber appends v as an integer when it is one (every count of
// integer data), else in the shortest form that parses back to v.
func appendNumber(b []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// omLabels appends name="value" pairs to a label set {…} (nil starts one).
func omLabels(base []byte, kv ...string) []byte {
	var b []byte
	if len(base) == 0 {
		b = append(b, '{')
	} else {
		b = append(b, base[:len(base)-1]...) // drop '}'
		b = append(b, ',')
	}
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, kv[i]...)
		b = append(b, `="`...)
		b = append(b, omEscape.Replace(kv[i+1])...)
		b = append(b, '"')
	}
	return append(b, '}')
}

var omEscape = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
