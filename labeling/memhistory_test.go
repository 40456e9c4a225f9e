package labeling

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// memHistory is an in-memory history.Reader for unit tests of the labeling
// functions (the PostgreSQL paths are tested against a real server). Like a
// store after import, it gives every deployment a kind: fixtures state it
// (a store keeps a given kind and infers a missing one at import), and
// Deployments refuses a deployment without one.
type memHistory struct {
	deps      []history.Deployment
	incidents []history.Incident
	metrics   []history.Metric
	sigs      []history.Signature
	anns      []history.Annotation
	annReads  int
	kpiDecls  []history.KPI
	kpiVals   []history.KPIValue
}

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func at(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }

func dep(id, version string, h float64, kind history.Kind) history.Deployment {
	return history.Deployment{ID: id, Service: "svc", Environment: "prod", Version: version, StartedAt: at(h), Kind: kind,
		FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1}
}

// traffic adds per-minute metrics of version on svc/prod over [from, to)
// hours: rpm requests a minute, errPerMin errors, p95 latency.
func (m *memHistory) traffic(version string, from, to float64, rpm, errPerMin int64, p95 float64) {
	m.trafficP95(version, from, to, rpm, errPerMin, func(int) float64 { return p95 })
}

// trafficP95 is traffic with the p95 latency of the i-th minute p95(i).
func (m *memHistory) trafficP95(version string, from, to float64, rpm, errPerMin int64, p95 func(i int) float64) {
	i := 0
	for t := at(from); t.Before(at(to)); t = t.Add(time.Minute) {
		l := p95(i)
		m.metrics = append(m.metrics, history.Metric{Service: "svc", Environment: "prod", Version: version, Minute: t,
			Requests: float64(rpm), Errors: float64(errPerMin), LatencyP50: l / 2, LatencyP95: l, LatencyP99: l * 1.5})
		i++
	}
}

// signature adds count errors of fingerprint fp to version every minute of
// [from, to) hours.
func (m *memHistory) signature(version, fp string, from, to float64, count int64) {
	for t := at(from); t.Before(at(to)); t = t.Add(time.Minute) {
		m.sigs = append(m.sigs, history.Signature{Service: "svc", Environment: "prod", Version: version, Minute: t,
			Fingerprint: fp, Count: count})
	}
}

func (m *memHistory) Services(ctx context.Context) ([]history.Service, error) {
	return []history.Service{{Name: "svc"}}, nil
}

func (m *memHistory) Deployments(ctx context.Context, r history.Range) ([]history.Deployment, error) {
	var out []history.Deployment
	for _, d := range m.deps {
		if d.Kind == "" {
			return nil, fmt.Errorf("memHistory: deployment %s has no kind; a store always sets one", d.ID)
		}
		if r.Contains(d.StartedAt) {
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if !out[a].StartedAt.Equal(out[b].StartedAt) {
			return out[a].StartedAt.Before(out[b].StartedAt)
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
}

func (m *memHistory) Streams(ctx context.Context) ([]history.Stream, error) {
	seen := map[history.Stream]bool{}
	var out []history.Stream
	for _, d := range m.deps {
		k := history.Stream{Service: d.Service, Environment: d.Environment}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// inStream returns the rows of stream s with minutes in r, in minute order
// (stable); at gives a row's stream and minute.
func inStream[T any](rows []T, s history.Stream, r history.Range, at func(T) (history.Stream, time.Time)) []T {
	var out []T
	for _, x := range rows {
		if k, m := at(x); k == s && r.Contains(m) {
			out = append(out, x)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		_, ma := at(out[a])
		_, mb := at(out[b])
		return ma.Before(mb)
	})
	return out
}

func (m *memHistory) Metrics(ctx context.Context, s history.Stream, r history.Range) ([]history.Series, error) {
	return history.SeriesOf(inStream(m.metrics, s, r, func(x history.Metric) (history.Stream, time.Time) {
		return history.Stream{Service: x.Service, Environment: x.Environment}, x.Minute
	})), nil
}

func (m *memHistory) Signatures(ctx context.Context, s history.Stream, r history.Range) ([]history.Signature, error) {
	return inStream(m.sigs, s, r, func(x history.Signature) (history.Stream, time.Time) {
		return history.Stream{Service: x.Service, Environment: x.Environment}, x.Minute
	}), nil
}

// kpi declares KPI name on svc/prod and adds its aggregate values over
// [from, to) hours, value(i) at the i-th minute.
func (m *memHistory) kpi(name string, dir history.Direction, from, to float64, value func(i int) float64) {
	if !slices.ContainsFunc(m.kpiDecls, func(k history.KPI) bool { return k.Name == name }) {
		m.kpiDecls = append(m.kpiDecls, history.KPI{Service: "svc", Environment: "prod", Name: name, Direction: dir, Kind: history.KPIRatio})
	}
	i := 0
	for t := at(from); t.Before(at(to)); t = t.Add(time.Minute) {
		m.kpiVals = append(m.kpiVals, history.KPIValue{Service: "svc", Environment: "prod", Name: name, Minute: t, Value: value(i)})
		i++
	}
}

func (m *memHistory) KPIs(ctx context.Context) ([]history.KPI, error) {
	return slices.Clone(m.kpiDecls), nil
}

func (m *memHistory) KPIValues(ctx context.Context, s history.Stream, r history.Range) ([]history.KPISeries, error) {
	return history.KPIValuesOf(inStream(m.kpiVals, s, r, func(x history.KPIValue) (history.Stream, time.Time) {
		return history.Stream{Service: x.Service, Environment: x.Environment}, x.Minute
	})), nil
}

func (m *memHistory) Incidents(ctx context.Context, r history.Range) ([]history.Incident, error) {
	var out []history.Incident
	for _, x := range m.incidents {
		if r.Contains(x.OpenedAt) {
			out = append(out, x)
		}
	}
	return out, nil
}

func (m *memHistory) Annotations(ctx context.Context) ([]history.Annotation, error) {
	m.annReads++
	return slices.Clone(m.anns), nil
}

// only returns a configuration with just the named built-in functions
// enabled. The symptom gates of rollback and incident are off: they read
// features files that most tests do not write (TestSymptomGate tests them).
func only(names ...string) Config {
	c := DefaultConfig()
	for i, f := range c.Functions {
		switch g := f.(type) {
		case RollbackLF:
			g.Symptom.Enabled = false
			f = g
		case IncidentLF:
			g.Symptom.Enabled = false
			f = g
		}
		c.Functions[i] = setEnabled(f, slices.Contains(names, f.Name()))
	}
	return c
}

// setEnabled returns f with its "enabled" setting set to on.
func setEnabled(f Function, on bool) Function {
	p := reflect.New(reflect.TypeOf(f))
	p.Elem().Set(reflect.ValueOf(f))
	p.Elem().FieldByName("Enabled").SetBool(on)
	return p.Elem().Interface().(Function)
}

// with returns c with the settings of its function of type T changed by mod.
func with[T Function](t testing.TB, c Config, mod func(*T)) Config {
	t.Helper()
	for _, f := range c.Functions {
		if v, ok := f.(T); ok {
			mod(&v)
			return c.With(v)
		}
	}
	t.Fatalf("no function of type %T in the configuration", *new(T))
	return c
}

var nan = math.NaN()
