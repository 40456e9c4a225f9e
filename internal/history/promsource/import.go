package promsource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/importer"
)

// ImportOptions select what Import reads.
type ImportOptions struct {
	// From and To bound the minutes imported, [From, To). To is required;
	// From may be zero when Start gives every stream's start.
	From, To time.Time
	// Start, when set (see SinceLast), gives per stream the first minute to
	// import; the streams it does not name start at From (or, when From is
	// zero, at the earliest start).
	Start map[history.Stream]time.Time
	// DeploymentsFile is a deployments file (CSV or Parquet, as for
	// `faultline import`) imported with the series. Empty: deployments are
	// detected with the mapping's recipe, or not imported when it has none.
	DeploymentsFile string
	// Importer tunes validation (MaxErrors) and reports progress.
	Importer importer.Options
}

// Result is what Import did.
type Result struct {
	// Summary is the rows written per table and the import's warnings
	// (as the file import's).
	Summary importer.Summary `json:"-"`
	// From and To are the minutes queried, [From, To).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// DeploymentsFrom says where deployments came from: "file", "recipe"
	// or "none".
	DeploymentsFrom string `json:"deployments_from"`
	Stats           Stats  `json:"queries"`
}

// window is the import's time range and per-stream starts.
type window struct {
	from, to int64 // Unix minutes queried
	start    map[history.Stream]int64
}

func (w *window) startOf(s history.Stream) int64 {
	if m, ok := w.start[s]; ok {
		return m
	}
	return w.from
}

func planWindow(o ImportOptions) (*window, error) {
	if o.To.IsZero() {
		return nil, errors.New("import prometheus: no end time")
	}
	for _, t := range []time.Time{o.From, o.To} {
		if !t.IsZero() && (t.Second() != 0 || t.Nanosecond() != 0) {
			return nil, fmt.Errorf("import prometheus: %s is not a whole minute", t.Format(time.RFC3339Nano))
		}
	}
	w := &window{to: history.UnixMinute(o.To), start: map[history.Stream]int64{}, from: math.MaxInt64}
	if !o.From.IsZero() {
		w.from = history.UnixMinute(o.From)
	}
	for s, t := range o.Start {
		m := history.UnixMinute(t)
		if !o.From.IsZero() {
			m = max(m, history.UnixMinute(o.From))
		}
		w.start[s] = m
		w.from = min(w.from, m)
	}
	if w.from == math.MaxInt64 {
		return nil, errors.New("import prometheus: no start: give a start time (or --since-last with a history in the store)")
	}
	if w.from > w.to {
		w.from = w.to
	}
	return w, nil
}

// Import reads the mapping's series over the window of o from c and loads
// them, with the deployments (from o.DeploymentsFile or the recipe), into
// tx through the file import's validation, then commits: all or nothing.
// The mapping's KPIs are declared for every stream their expressions
// return a series for in the window (kpis), with their values
// (kpi_values).
// Bad values are reported as an *importer.ValidationError naming the
// series and minute; a query the server refuses, or that keeps failing, as
// a *QueryError naming the query. On error tx is rolled back.
func Import(ctx context.Context, c *Client, tx history.ImportTx, o ImportOptions) (*Result, error) {
	w, err := planWindow(o)
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	res := &Result{From: history.MinuteTime(w.from), To: history.MinuteTime(w.to), DeploymentsFrom: "none"}
	var files map[string]string
	recs := []importer.Records{c.metricRecords(w, want{})}
	if c.m.Signatures != nil {
		recs = append(recs, c.signatureRecords(w, want{}))
	}
	if len(c.m.KPIs) > 0 {
		recs = append(recs, c.kpiDeclRecords(w), c.kpiValueRecords(w, want{}))
	}
	switch {
	case o.DeploymentsFile != "":
		files = map[string]string{"deployments": o.DeploymentsFile}
		res.DeploymentsFrom = "file"
	case c.m.Deployments != nil:
		recs = append(recs, c.deploymentRecords(w))
		res.DeploymentsFrom = "recipe"
	}
	sum, err := importer.ImportTables(ctx, tx, files, recs, o.Importer)
	res.Stats = c.Stats()
	if err != nil {
		return res, err
	}
	res.Summary = sum
	return res, nil
}

// Header of the metrics records: the optional latency columns only when
// the mapping has them.
func (c *Client) metricHeader() []string {
	h := []string{"service", "environment", "version", "minute", "requests", "errors"}
	s := c.m.Series
	for _, x := range []struct{ col, expr string }{{"latency_p50_ms", s.LatencyP50}, {"latency_p95_ms", s.LatencyP95}, {"latency_p99_ms", s.LatencyP99}} {
		if x.expr != "" {
			h = append(h, x.col)
		}
	}
	return h
}

func where(rec []string) string {
	v := "version " + rec[2]
	if rec[2] == history.AggregateVersion {
		v = "all versions"
	}
	return fmt.Sprintf("prometheus %s/%s %s at %s", rec[0], rec[1], v, rec[3])
}

// records returns the metrics records of w (or its signature records,
// when sig) restricted to wt.
func (c *Client) records(w *window, wt want, sig bool) []importer.Records {
	if sig {
		return []importer.Records{c.signatureRecords(w, wt)}
	}
	return []importer.Records{c.metricRecords(w, wt)}
}

func (c *Client) metricRecords(w *window, wt want) importer.Records {
	s := c.m.Series
	f := c.filterFor(wt)
	exprs := []string{expand(s.Requests, f), expand(s.Errors, f), expand(s.LatencyP50, f), expand(s.LatencyP95, f), expand(s.LatencyP99, f)}
	raw := []string{s.Requests, s.Errors, s.LatencyP50, s.LatencyP95, s.LatencyP99}
	header := c.metricHeader()
	return importer.Records{
		Table:  "metrics",
		Name:   "prometheus metrics",
		Where:  where,
		Header: header,
		Total:  w.to - w.from,
		Produce: func(ctx context.Context, emit func([][]string, int64) error) error {
			chunks := c.chunks(w.from, w.to)
			kr := c.m.metricKeyer()
			return c.fetch(ctx, exprs, chunks, func(i int, res []model.Matrix) error {
				sp := chunks[i]
				gs := make([]grid, len(res))
				for j := range res {
					if exprs[j] == "" {
						continue
					}
					g, err := collect(res[j], kr, wt, sp, raw[j])
					if err != nil {
						return err
					}
					gs[j] = g
				}
				var recs [][]string
				metricRows(sp, gs[0], gs[1], gs[2], gs[3], gs[4], w.startOf, func(k key, m int64, r, e, p50, p95, p99 float64) {
					rec := make([]string, 0, len(header))
					rec = append(rec, k[0], k[1], k[2], minuteText(m), amount(r), amount(e))
					for j, v := range []float64{p50, p95, p99} {
						if exprs[2+j] != "" {
							rec = append(rec, latency(v))
						}
					}
					recs = append(recs, rec)
				})
				return emit(recs, sp.to-w.from)
			})
		},
	}
}

func (c *Client) signatureRecords(w *window, wt want) importer.Records {
	sg := c.m.Signatures
	expr := expand(sg.Query, c.filterFor(wt))
	header := []string{"service", "environment", "version", "minute", "fingerprint", "count"}
	attrs := []struct{ col, label string }{{"error_type", sg.ErrorTypeLabel}, {"endpoint", sg.EndpointLabel}, {"status_code", sg.StatusCodeLabel}}
	for _, a := range attrs {
		if a.label != "" {
			header = append(header, a.col)
		}
	}
	return importer.Records{
		Table:  "error_signatures",
		Name:   "prometheus error_signatures",
		Where:  func(rec []string) string { return where(rec) + " fingerprint " + rec[4] },
		Header: header,
		Total:  w.to - w.from,
		Produce: func(ctx context.Context, emit func([][]string, int64) error) error {
			chunks := c.chunks(w.from, w.to)
			kr := c.m.signatureKeyer()
			return c.fetch(ctx, []string{expr}, chunks, func(i int, res []model.Matrix) error {
				sp := chunks[i]
				g, err := collect(res[0], kr, wt, sp, sg.Query)
				if err != nil {
					return err
				}
				var recs [][]string
				signatureRows(sp, g, w.startOf, func(k key, m int64, n float64) {
					rec := []string{k[0], k[1], k[2], minuteText(m), k[3], count(n)}
					for j, a := range attrs {
						if a.label != "" {
							rec = append(rec, k[4+j])
						}
					}
					recs = append(recs, rec)
				})
				return emit(recs, sp.to-w.from)
			})
		},
	}
}

func (c *Client) deploymentRecords(w *window) importer.Records {
	return importer.Records{
		Table:  "deployments",
		Name:   "prometheus deployments",
		Header: []string{"deployment_id", "service", "environment", "version", "started_at"},
		Where:  func(rec []string) string { return "prometheus deployment " + rec[0] },
		Produce: func(ctx context.Context, emit func([][]string, int64) error) error {
			deps, err := c.DetectDeployments(ctx, w.from, w.to, want{})
			if err != nil {
				return err
			}
			var recs [][]string
			for _, d := range deps {
				if history.UnixMinute(d.StartedAt) < w.startOf(history.Stream{Service: d.Service, Environment: d.Environment}) {
					continue
				}
				recs = append(recs, []string{d.ID, d.Service, d.Environment, d.Version, d.StartedAt.Format(time.RFC3339)})
			}
			return emit(recs, 0)
		},
	}
}

// LastMinuter is implemented by stores that know the last minute with
// metrics of a stream cheaply. SinceLast uses it when the store has it.
type LastMinuter interface {
	LastMinute(ctx context.Context, s history.Stream) (minute time.Time, ok bool, err error)
}

// SinceLast returns, for every stream of r with metrics before `before`,
// the minute after its last one: where an incremental import continues.
func SinceLast(ctx context.Context, r history.Reader, before time.Time) (map[history.Stream]time.Time, error) {
	streams, err := r.Streams(ctx)
	if err != nil {
		return nil, fmt.Errorf("since-last: %w", err)
	}
	out := map[history.Stream]time.Time{}
	for _, s := range streams {
		var last time.Time
		var ok bool
		if lm, is := r.(LastMinuter); is {
			last, ok, err = lm.LastMinute(ctx, s)
		} else {
			last, ok, err = lastMinute(ctx, r, s, before)
		}
		if err != nil {
			return nil, fmt.Errorf("since-last %s/%s: %w", s.Service, s.Environment, err)
		}
		if ok {
			out[s] = last.Add(time.Minute)
		}
	}
	return out, nil
}

// lastMinute looks back from before in growing windows for the last minute
// with metrics of s.
func lastMinute(ctx context.Context, r history.Reader, s history.Stream, before time.Time) (time.Time, bool, error) {
	span := 24 * time.Hour
	for {
		from := before.Add(-span)
		if span > 20*365*24*time.Hour {
			from = time.Time{}
		}
		series, err := r.Metrics(ctx, s, history.Range{From: from, Until: before})
		if err != nil {
			return time.Time{}, false, err
		}
		last := int64(math.MinInt64)
		for _, x := range series {
			if n := x.Len(); n > 0 {
				last = max(last, x.Minutes[n-1])
			}
		}
		if last != math.MinInt64 {
			return history.MinuteTime(last), true, nil
		}
		if from.IsZero() {
			return time.Time{}, false, nil
		}
		span *= 8
	}
}

// IsQueryError reports whether err is a refused or failing query.
func IsQueryError(err error) bool {
	var qe *QueryError
	return errors.As(err, &qe)
}
