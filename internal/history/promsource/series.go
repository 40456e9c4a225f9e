package promsource

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/internal/history"
)

// key identifies one result series: service, environment, version, then
// for signatures fingerprint, error type, endpoint and status code.
type key [7]string

func (k key) stream() history.Stream { return history.Stream{Service: k[0], Environment: k[1]} }

func lessKey(a, b key) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// want restricts results to one environment and, optionally, one service
// (empty: any). Series of other streams are dropped (expressions without
// $filter return them).
type want struct{ service, environment string }

// keyer turns a result series' labels into its key.
type keyer struct {
	names [7]string // label names; "" for an absent attribute
	need  int       // names[:need] are required
}

// metricKeyer keys metric series by service, environment and version; a
// series without the version label (or with it empty: Prometheus does not
// tell them apart) is the stream's aggregate series, of all versions
// (history.AggregateVersion).
func (m *Mapping) metricKeyer() keyer {
	return keyer{names: [7]string{m.Labels.Service, m.Labels.Environment, m.Labels.Version}, need: 2}
}

// deployKeyer keys the deployments recipe's series: a version change needs
// the version label.
func (m *Mapping) deployKeyer() keyer {
	return keyer{names: [7]string{m.Labels.Service, m.Labels.Environment, m.Labels.Version}, need: 3}
}

func (m *Mapping) signatureKeyer() keyer {
	s := m.Signatures
	return keyer{names: [7]string{m.Labels.Service, m.Labels.Environment, m.Labels.Version, s.FingerprintLabel,
		s.ErrorTypeLabel, s.EndpointLabel, s.StatusCodeLabel}, need: 4}
}

// grid holds one expression's values per key over the minutes of a span;
// NaN where the series had no point.
type grid map[key][]float64

// collect maps a range query's result onto the minutes of sp.
func collect(res model.Matrix, kr keyer, w want, sp span, expr string) (grid, error) {
	g := grid{}
	n := sp.to - sp.from
	for _, s := range res {
		var k key
		for i, name := range kr.names {
			if name == "" {
				continue
			}
			v, ok := s.Metric[model.LabelName(name)]
			if !ok && i < kr.need {
				return nil, fmt.Errorf("query %s: series %s has no %q label: keep it in the result (e.g. sum by (%s) (…))",
					expr, s.Metric, name, joinNames(kr.names[:kr.need]))
			}
			k[i] = string(v)
		}
		if w.environment != "" && k[1] != w.environment || w.service != "" && k[0] != w.service {
			continue
		}
		if g[k] != nil {
			return nil, fmt.Errorf("query %s: several series for %s: aggregate them (e.g. sum by (%s) (…))",
				expr, describeKey(kr, k), joinNames(kr.names[:kr.need]))
		}
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = math.NaN()
		}
		for _, p := range s.Values {
			m := p.Timestamp.Unix()/60 - 1 - sp.from
			if m >= 0 && m < n {
				vals[m] = float64(p.Value)
			}
		}
		g[k] = vals
	}
	return g, nil
}

func joinNames(ns []string) string {
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

func describeKey(kr keyer, k key) string {
	s := "{"
	for i, n := range kr.names {
		if n == "" {
			continue
		}
		if len(s) > 1 {
			s += ", "
		}
		s += n + "=" + strconv.Quote(k[i])
	}
	return s + "}"
}

// sortedKeys returns the keys of the grids, sorted.
func sortedKeys(gs ...grid) []key {
	seen := map[key]bool{}
	var out []key
	for _, g := range gs {
		for k := range g {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessKey(out[i], out[j]) })
	return out
}

// amount renders a per-minute request or error count as it is: counts are
// real-valued (increase() extrapolates, rate() divides). NaN and ±Inf are
// rendered as such, for the import's validation to reject.
func amount(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// count renders a per-minute error-signature count: rounded to an integer
// (signature counts count events; extrapolated increases are fractional).
// NaN and ±Inf are rendered as such, for the import's validation to
// reject.
func count(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatInt(int64(math.Round(v)), 10)
}

// latency renders a latency: NaN (no observations) is absent.
func latency(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func minuteText(m int64) string { return history.MinuteTime(m).Format(time.RFC3339) }

// at returns g[k][i], NaN when k has no series.
func (g grid) at(k key, i int64) float64 {
	if v := g[k]; v != nil {
		return v[i]
	}
	return math.NaN()
}

// metricRows turns the grids of one span into metric rows (records in the
// import's text form, or typed rows through add). A minute is a row when
// its requests or errors are non-zero; a missing errors value is 0. Errors
// above requests by no more than float noise (a relative 1e-9: the two
// expressions sum their series in their own order) are set to requests.
// start gives each stream's first minute to keep.
func metricRows(sp span, req, errs, p50, p95, p99 grid, start func(history.Stream) int64, emit func(k key, minute int64, req, errs, p50, p95, p99 float64)) {
	for _, k := range sortedKeys(req, errs) {
		first := start(k.stream())
		for i := int64(0); i < sp.to-sp.from; i++ {
			m := sp.from + i
			if m < first {
				continue
			}
			r, e := req.at(k, i), errs.at(k, i)
			if math.IsNaN(r) && math.IsNaN(e) {
				continue
			}
			if math.IsNaN(r) {
				r = 0
			}
			if math.IsNaN(e) {
				e = 0
			}
			if r == 0 && e == 0 {
				continue // no traffic
			}
			if e > r && e-r <= 1e-9*r {
				e = r
			}
			emit(k, m, r, e, p50.at(k, i), p95.at(k, i), p99.at(k, i))
		}
	}
}

// signatureRows turns a signature grid into rows with a non-zero count.
func signatureRows(sp span, g grid, start func(history.Stream) int64, emit func(k key, minute int64, n float64)) {
	for _, k := range sortedKeys(g) {
		first := start(k.stream())
		vals := g[k]
		for i, v := range vals {
			m := sp.from + int64(i)
			if m < first || math.IsNaN(v) || math.Round(v) == 0 {
				continue
			}
			emit(k, m, v)
		}
	}
}
