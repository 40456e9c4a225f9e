package promsource

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/importer"
)

// kpiKeyer keys KPI series by service, environment and version; a series
// without the version label is the stream's aggregate, of all versions.
func (m *Mapping) kpiKeyer() keyer { return m.metricKeyer() }

// kpiStreams returns, for each KPI of the mapping, the streams (of wt) its
// expression returns a series for in some minute of [from, to): a `count
// by (service, environment)` of the expression over every chunk.
func (c *Client) kpiStreams(ctx context.Context, from, to int64, wt want) ([]map[history.Stream]bool, error) {
	m := c.m
	f := c.filterFor(wt)
	exprs := make([]string, len(m.KPIs))
	for i, k := range m.KPIs {
		exprs[i] = fmt.Sprintf("count by (%s, %s) (%s)", m.Labels.Service, m.Labels.Environment, expand(k.Query, f))
	}
	kr := keyer{names: [7]string{m.Labels.Service, m.Labels.Environment}, need: 2}
	out := make([]map[history.Stream]bool, len(m.KPIs))
	for i := range out {
		out[i] = map[history.Stream]bool{}
	}
	chunks := c.chunks(from, to)
	err := c.fetch(ctx, exprs, chunks, func(i int, res []model.Matrix) error {
		for j := range res {
			g, err := collect(res[j], kr, wt, chunks[i], m.KPIs[j].Query)
			if err != nil {
				return err
			}
			for k := range g {
				out[j][k.stream()] = true
			}
		}
		return nil
	})
	return out, err
}

// kpiDeclarations declares every KPI of the mapping for each stream whose
// values the import reads (streams[j] for KPI j), in that stream's
// environment, ordered by service, environment, name.
func (m *Mapping) kpiDeclarations(streams []map[history.Stream]bool) []history.KPI {
	var out []history.KPI
	for j, k := range m.KPIs {
		for s := range streams[j] {
			out = append(out, history.KPI{Service: s.Service, Environment: s.Environment, Name: k.Name, Direction: k.Direction,
				Kind: k.Kind, Unit: k.Unit})
		}
	}
	sort.Slice(out, func(a, b int) bool { return history.CompareKPIs(out[a], out[b]) < 0 })
	return out
}

// kpiDeclRecords declares the mapping's KPIs (the kpis table) for the
// streams the KPI expressions return over w.
func (c *Client) kpiDeclRecords(w *window) importer.Records {
	return importer.Records{
		Table:  "kpis",
		Name:   "prometheus kpis",
		Header: []string{"service", "environment", "name", "direction", "kind", "unit"},
		Where:  func(rec []string) string { return fmt.Sprintf("prometheus KPI %s of %s/%s", rec[2], rec[0], rec[1]) },
		Produce: func(ctx context.Context, emit func([][]string, int64) error) error {
			streams, err := c.kpiStreams(ctx, w.from, w.to, want{})
			if err != nil {
				return err
			}
			var recs [][]string
			for _, d := range c.m.kpiDeclarations(streams) {
				recs = append(recs, []string{d.Service, d.Environment, d.Name, string(d.Direction), string(d.Kind), d.Unit})
			}
			return emit(recs, 0)
		},
	}
}

// kpiValueRecords are the values of the mapping's KPIs over w (the
// kpi_values table) restricted to wt: a record per minute a KPI's series
// has a value that is not NaN, from its stream's start on. A finite value
// the KPI's kind does not allow (history.KPIKind.CheckValue against the
// mapping's declaration, the one in force for the stream) is not emitted:
// the first of each series is reported, by series and minute, in the
// *importer.ValidationError Produce returns at the end (at most
// maxKPIProblems of them).
func (c *Client) kpiValueRecords(w *window, wt want) importer.Records {
	m := c.m
	f := c.filterFor(wt)
	exprs := make([]string, len(m.KPIs))
	for i, k := range m.KPIs {
		exprs[i] = expand(k.Query, f)
	}
	return importer.Records{
		Table:  "kpi_values",
		Name:   "prometheus kpi_values",
		Header: []string{"service", "environment", "version", "minute", "name", "value"},
		Where:  whereKPI,
		Total:  w.to - w.from,
		Produce: func(ctx context.Context, emit func([][]string, int64) error) error {
			chunks := c.chunks(w.from, w.to)
			kr := m.kpiKeyer()
			bad := &importer.ValidationError{}
			reported := map[[4]string]bool{}
			err := c.fetch(ctx, exprs, chunks, func(i int, res []model.Matrix) error {
				sp := chunks[i]
				var recs [][]string
				for j := range res {
					g, err := collect(res[j], kr, wt, sp, m.KPIs[j].Query)
					if err != nil {
						return err
					}
					kp := &m.KPIs[j]
					kpiRows(sp, g, w.startOf, func(k key, minute int64, v float64) {
						rec := []string{k[0], k[1], k[2], minuteText(minute), kp.Name, kpiValue(v)}
						if why := kp.Kind.CheckValue(v); why != "" && !math.IsInf(v, 0) {
							id := [4]string{k[0], k[1], k[2], kp.Name}
							if !reported[id] && len(bad.Problems) < maxKPIProblems {
								reported[id] = true
								bad.Problems = append(bad.Problems, importer.Problem{File: whereKPI(rec), Column: "value",
									Reason: fmt.Sprintf("KPI %q is declared a %s in the mapping: %s", kp.Name, kp.Kind, why)})
							} else if !reported[id] {
								bad.Truncated = true
							}
							return
						}
						recs = append(recs, rec)
					})
				}
				return emit(recs, sp.to-w.from)
			})
			if err != nil {
				return err
			}
			if len(bad.Problems) > 0 {
				return bad
			}
			return nil
		},
	}
}

// whereKPI names a kpi_values record in problems, e.g. "prometheus
// checkout/prod-us1 all versions KPI success_ratio at 2026-01-05T10:00:00Z".
func whereKPI(rec []string) string {
	v := "version " + rec[2]
	if rec[2] == history.AggregateVersion {
		v = "all versions"
	}
	return fmt.Sprintf("prometheus %s/%s %s KPI %s at %s", rec[0], rec[1], v, rec[4], rec[3])
}

// maxKPIProblems bounds the KPI values a failed import reports (the
// importer's default max_errors).
const maxKPIProblems = 20

// kpiRows turns one KPI's grid of a span into rows: every minute with a
// value that is not NaN (no value: absent), from the stream's start on.
func kpiRows(sp span, g grid, start func(history.Stream) int64, emit func(k key, minute int64, v float64)) {
	for _, k := range sortedKeys(g) {
		first := start(k.stream())
		for i, v := range g[k] {
			if m := sp.from + int64(i); m >= first && !math.IsNaN(v) {
				emit(k, m, v)
			}
		}
	}
}

// kpiValue renders a KPI value as it is; ±Inf is rendered as such, for the
// import's validation to reject (a value must be finite).
func kpiValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
