package promsource

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/importer"
)

// Live is a history.Reader for judging one deploy while it happens: the
// per-minute series (metrics, error signatures, the mapping's KPIs) and the
// streams come from the server, read when asked for and only for minutes
// before At, through the import's validation; deployments, services,
// incidents and annotations come from a base reader (the history store,
// which may be empty) with the judged deployment added. Features computed
// over a Live reader are those an import of the same minutes would give.
// As a history.KPIReader it offers the mapping's KPIs only, declared for
// every stream it knows: KPIs declared in the base store alone are not read
// (their stored values stop before the deploy and would judge a partial
// window), so their checks abstain.
type Live struct {
	c    *Client
	base history.Reader
	dep  history.Deployment
	at   int64 // Unix minute: only minutes before it are read

	mu      sync.Mutex
	streams []history.Stream
}

var (
	_ history.Reader    = (*Live)(nil)
	_ history.KPIReader = (*Live)(nil)
)

// NewLive returns a reader of the server as of at (minutes before at are
// complete), for judging dep. base gives the deployments around it; nil
// is an empty history.
func NewLive(c *Client, base history.Reader, dep history.Deployment, at time.Time) *Live {
	if base == nil {
		base = emptyReader{}
	}
	return &Live{c: c, base: base, dep: dep, at: history.UnixMinute(at)}
}

// At returns the first minute not read.
func (l *Live) At() time.Time { return history.MinuteTime(l.at) }

// Services implements history.Reader (from the base).
func (l *Live) Services(ctx context.Context) ([]history.Service, error) { return l.base.Services(ctx) }

// Incidents implements history.Reader (from the base).
func (l *Live) Incidents(ctx context.Context, r history.Range) ([]history.Incident, error) {
	return l.base.Incidents(ctx, r)
}

// Annotations implements history.Reader (from the base).
func (l *Live) Annotations(ctx context.Context) ([]history.Annotation, error) {
	return l.base.Annotations(ctx)
}

// Deployments implements history.Reader: the base's, with the judged
// deployment (replacing one of the same id).
func (l *Live) Deployments(ctx context.Context, r history.Range) ([]history.Deployment, error) {
	deps, err := l.base.Deployments(ctx, r)
	if err != nil {
		return nil, err
	}
	out := deps[:0:0]
	for _, d := range deps {
		if d.ID != l.dep.ID {
			out = append(out, d)
		}
	}
	if r.Contains(l.dep.StartedAt) {
		out = append(out, l.dep)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.Before(out[j].StartedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// DeploymentByID finds a deployment by id (the judged one, or the base's
// when it can look one up).
func (l *Live) DeploymentByID(ctx context.Context, id string) (history.Deployment, bool, error) {
	if id == l.dep.ID {
		return l.dep, true, nil
	}
	if f, ok := l.base.(interface {
		DeploymentByID(ctx context.Context, id string) (history.Deployment, bool, error)
	}); ok {
		return f.DeploymentByID(ctx, id)
	}
	deps, err := l.base.Deployments(ctx, history.Range{})
	if err != nil {
		return history.Deployment{}, false, err
	}
	for _, d := range deps {
		if d.ID == id {
			return d, true, nil
		}
	}
	return history.Deployment{}, false, nil
}

// streamWindow is how long before the deploy streams are looked for.
const streamWindow = 6 * 60

// Streams implements history.Reader: the base's streams and those with
// traffic on the server in the judged deploy's environment in the hours
// around it.
func (l *Live) Streams(ctx context.Context) ([]history.Stream, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams != nil {
		return l.streams, nil
	}
	base, err := l.base.Streams(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[history.Stream]bool{}
	for _, s := range base {
		seen[s] = true
	}
	out := append([]history.Stream(nil), base...)
	m := l.c.m
	from := history.UnixMinute(l.dep.StartedAt) - streamWindow
	w := want{environment: l.dep.Environment}
	expr := fmt.Sprintf("count by (%s, %s) (%s)", m.Labels.Service, m.Labels.Environment, expand(m.Series.Requests, l.c.filterFor(w)))
	kr := keyer{names: [7]string{m.Labels.Service, m.Labels.Environment}, need: 2}
	chunks := l.c.chunks(from, l.at)
	err = l.c.fetch(ctx, []string{expr}, chunks, func(i int, res []model.Matrix) error {
		g, err := collect(res[0], kr, w, chunks[i], expr)
		if err != nil {
			return err
		}
		for k := range g {
			if s := k.stream(); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("streams of %s: %w", l.dep.Environment, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Environment < out[j].Environment
	})
	l.streams = out
	return out, nil
}

// span of r clipped to the minutes before at; an open start reads from
// eight days before the deploy (the seasonal baseline's reach).
func (l *Live) span(r history.Range) (int64, int64) {
	from := history.UnixMinute(l.dep.StartedAt) - 8*1440
	if !r.From.IsZero() {
		from = history.UnixMinute(r.From)
		if r.From.After(history.MinuteTime(from)) {
			from++
		}
	}
	to := l.at
	if !r.Until.IsZero() {
		u := history.UnixMinute(r.Until)
		if r.Until.After(history.MinuteTime(u)) {
			u++
		}
		to = min(to, u)
	}
	return from, to
}

// Metrics implements history.Reader: the mapping's series of s over r
// (before At), validated as an import validates them.
func (l *Live) Metrics(ctx context.Context, s history.Stream, r history.Range) ([]history.Series, error) {
	tx, err := l.fetch(ctx, s, r, func(w *window, q want) []importer.Records { return l.c.records(w, q, false) })
	if tx == nil || err != nil {
		return nil, err
	}
	return history.SeriesOf(tx.metrics), nil
}

// fetch queries the records recs names for s over r (before At) and
// validates them as an import does, into memory. It returns nil when the
// range is empty.
func (l *Live) fetch(ctx context.Context, s history.Stream, r history.Range, recs func(*window, want) []importer.Records) (*memTx, error) {
	from, to := l.span(r)
	if from >= to {
		return nil, nil
	}
	tx := &memTx{}
	rs := recs(&window{from: from, to: to}, want{service: s.Service, environment: s.Environment})
	if _, err := importer.ImportTables(ctx, tx, nil, rs, importer.Options{Workers: 1}); err != nil {
		return nil, fmt.Errorf("%s/%s from %s: %w", s.Service, s.Environment, l.c.url, err)
	}
	return tx, nil
}

// Signatures implements history.Reader: the mapping's signatures of s over
// r (before At), ordered by minute, version, fingerprint; none when the
// mapping has no signatures query.
func (l *Live) Signatures(ctx context.Context, s history.Stream, r history.Range) ([]history.Signature, error) {
	if l.c.m.Signatures == nil {
		return nil, nil
	}
	tx, err := l.fetch(ctx, s, r, func(w *window, q want) []importer.Records { return l.c.records(w, q, true) })
	if tx == nil || err != nil {
		return nil, err
	}
	out := tx.signatures
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if !a.Minute.Equal(b.Minute) {
			return a.Minute.Before(b.Minute)
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Fingerprint < b.Fingerprint
	})
	return out, nil
}

// KPIs implements history.KPIReader: the mapping's KPIs, declared for the
// environment of every stream Streams lists; none without KPI queries.
func (l *Live) KPIs(ctx context.Context) ([]history.KPI, error) {
	if len(l.c.m.KPIs) == 0 {
		return nil, nil
	}
	streams, err := l.Streams(ctx)
	if err != nil {
		return nil, err
	}
	all := make([]map[history.Stream]bool, len(l.c.m.KPIs))
	for j := range all {
		all[j] = map[history.Stream]bool{}
		for _, s := range streams {
			all[j][s] = true
		}
	}
	return l.c.m.kpiDeclarations(all), nil
}

// KPIValues implements history.KPIReader: the values of the mapping's KPIs
// for s over r (before At), validated as an import validates them (each
// within its declared kind: kpiValueRecords), as series ordered by name,
// then version.
func (l *Live) KPIValues(ctx context.Context, s history.Stream, r history.Range) ([]history.KPISeries, error) {
	if len(l.c.m.KPIs) == 0 {
		return nil, nil
	}
	tx, err := l.fetch(ctx, s, r, func(w *window, q want) []importer.Records {
		return []importer.Records{l.c.kpiValueRecords(w, q)}
	})
	if tx == nil || err != nil {
		return nil, err
	}
	vals := tx.kpiValues
	sort.SliceStable(vals, func(i, j int) bool { return vals[i].Minute.Before(vals[j].Minute) })
	return history.KPIValuesOf(vals), nil
}

// memTx collects validated rows in memory.
type memTx struct {
	metrics    []history.Metric
	signatures []history.Signature
	kpiValues  []history.KPIValue
}

var errNotLive = errors.New("not read from Prometheus")

func (t *memTx) AddServices(context.Context, []history.Service) error       { return errNotLive }
func (t *memTx) AddDeployments(context.Context, []history.Deployment) error { return errNotLive }
func (t *memTx) AddIncidents(context.Context, []history.Incident) error     { return errNotLive }
func (t *memTx) AddAnnotations(context.Context, []history.Annotation) error { return errNotLive }
func (t *memTx) AddKPIs(context.Context, []history.KPI) error               { return errNotLive }

func (t *memTx) AddMetrics(_ context.Context, rows []history.Metric) error {
	t.metrics = append(t.metrics, rows...)
	return nil
}
func (t *memTx) AddSignatures(_ context.Context, rows []history.Signature) error {
	t.signatures = append(t.signatures, rows...)
	return nil
}
func (t *memTx) AddKPIValues(_ context.Context, rows []history.KPIValue) error {
	t.kpiValues = append(t.kpiValues, rows...)
	return nil
}
func (t *memTx) Commit(context.Context) (history.ImportSummary, error) {
	return history.ImportSummary{Metrics: int64(len(t.metrics)), Signatures: int64(len(t.signatures)),
		KPIValues: int64(len(t.kpiValues))}, nil
}
func (t *memTx) Rollback(context.Context) error { return nil }

// emptyReader is an empty history.
type emptyReader struct{}

func (emptyReader) Services(context.Context) ([]history.Service, error) { return nil, nil }
func (emptyReader) Deployments(context.Context, history.Range) ([]history.Deployment, error) {
	return nil, nil
}
func (emptyReader) Streams(context.Context) ([]history.Stream, error) { return nil, nil }
func (emptyReader) Metrics(context.Context, history.Stream, history.Range) ([]history.Series, error) {
	return nil, nil
}
func (emptyReader) Signatures(context.Context, history.Stream, history.Range) ([]history.Signature, error) {
	return nil, nil
}
func (emptyReader) Incidents(context.Context, history.Range) ([]history.Incident, error) {
	return nil, nil
}
func (emptyReader) Annotations(context.Context) ([]history.Annotation, error) { return nil, nil }
