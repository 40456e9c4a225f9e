package history

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Direction says which way a KPI moves when something is wrong.
type Direction string

// KPI directions.
const (
	HigherIsWorse Direction = "higher_is_worse" // e.g. latency, saturation, error rate
	LowerIsWorse  Direction = "lower_is_worse"  // e.g. success ratio, throughput of a batch job
	BothWorse     Direction = "both"            // e.g. throughput: a drop or a surge is suspect
)

// Directions lists the valid directions.
var Directions = []Direction{HigherIsWorse, LowerIsWorse, BothWorse}

// KPIKind says what a KPI measures, and so which values it may take
// (KPIKind.CheckValue).
type KPIKind string

// KPI kinds.
const (
	KPIRate    KPIKind = "rate"    // events per unit of time, ≥ 0 (throughput, errors per second)
	KPIRatio   KPIKind = "ratio"   // a fraction in [0, 1] (success ratio; not a percentage)
	KPILatency KPIKind = "latency" // a duration, ≥ 0 (any unit; Unit says which)
	KPIGauge   KPIKind = "gauge"   // any finite level (saturation, queue depth, CPU %)
)

// KPIKinds lists the valid kinds.
var KPIKinds = []KPIKind{KPIRate, KPIRatio, KPILatency, KPIGauge}

// ValidDirection reports whether d is one of Directions.
func ValidDirection(d Direction) bool {
	return d == HigherIsWorse || d == LowerIsWorse || d == BothWorse
}

// ValidKPIKind reports whether k is one of KPIKinds.
func ValidKPIKind(k KPIKind) bool {
	return k == KPIRate || k == KPIRatio || k == KPILatency || k == KPIGauge
}

// CheckValue returns why v is not a value a KPI of kind k may take, or "".
// Every kind needs a finite number; rate and latency need v ≥ 0; ratio
// needs 0 ≤ v ≤ 1. This is the one rule of KPI values: the importer and
// both stores apply it.
func (k KPIKind) CheckValue(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "not a finite number"
	}
	switch k {
	case KPIRate, KPILatency:
		if v < 0 {
			return fmt.Sprintf("a %s must be >= 0, got %g", k, v)
		}
	case KPIRatio:
		if v < 0 || v > 1 {
			return fmt.Sprintf("a ratio must be in [0, 1] (a fraction, not a percentage), got %g", v)
		}
	}
	return ""
}

// KPI declares a named KPI of a service: what it measures and which way is
// worse. Natural key: (Service, Environment, Name).
type KPI struct {
	Service string
	// Environment is the one environment the declaration is for, or ""
	// for every environment of the service. A declaration for an
	// environment overrides the service's "" one there (KPIOf).
	Environment string
	Name        string
	Direction   Direction
	Kind        KPIKind
	Unit        string // free text, e.g. "req/s", "ms", "%"; "" when not given
}

// KPIValue is one minute of a KPI of a service in one environment, of one
// version or of all versions (Version AggregateVersion). Natural key:
// (Service, Environment, Version, Name, Minute).
type KPIValue struct {
	Service     string
	Environment string
	Version     string // AggregateVersion ("") for all versions
	Name        string
	Minute      time.Time // the minute the value covers; stores keep its start
	Value       float64   // finite; the KPI's kind may narrow it (KPIKind.CheckValue)
}

// KPISeries is the per-minute values of one KPI of one version (or of all
// versions) of a stream, sorted by minute. A minute absent from Minutes has
// no value. Both slices have the same length.
type KPISeries struct {
	Name    string
	Version string    // AggregateVersion ("") for all versions
	Minutes []int64   // Unix minutes, strictly ascending
	Values  []float64 // finite
}

// Len returns the number of minutes in s.
func (s *KPISeries) Len() int { return len(s.Minutes) }

// KPIReader reads KPI declarations and values. Every Store implements it;
// it is apart from Reader so that in-memory Readers of tests need not.
//
// To compare a service before and after a change on a KPI: find the
// stream's declarations with KPIs and KPIOf (direction and kind), then read
// the values around the change with KPIValues, like Reader.Metrics.
type KPIReader interface {
	// KPIs returns every KPI declaration, ordered by service, environment
	// (the "" declarations of all environments first), name.
	KPIs(ctx context.Context) ([]KPI, error)
	// KPIValues returns the KPI series of stream s with minutes in r,
	// ordered by name, then version (byte order: the aggregate series,
	// Version "", first within a name).
	KPIValues(ctx context.Context, s Stream, r Range) ([]KPISeries, error)
}

// KPIOf returns the declaration in force for KPI name on stream s among
// decls: the one declared for s's environment, else the service's
// all-environment one. ok is false when there is none.
func KPIOf(decls []KPI, s Stream, name string) (k KPI, ok bool) {
	for _, d := range decls {
		if d.Service != s.Service || d.Name != name {
			continue
		}
		if d.Environment == s.Environment {
			return d, true
		}
		if d.Environment == "" {
			k, ok = d, true
		}
	}
	return k, ok
}

// CompareKPIs orders declarations by service, environment, name: the order
// of KPIReader.KPIs.
func CompareKPIs(a, b KPI) int {
	if c := strings.Compare(a.Service, b.Service); c != 0 {
		return c
	}
	if c := strings.Compare(a.Environment, b.Environment); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// KPIValuesOf groups KPI value rows of one stream into series, sorted by
// name, then version; rows keep their order within a series (callers pass
// them sorted by minute).
func KPIValuesOf(rows []KPIValue) []KPISeries {
	type key struct{ name, version string }
	by := map[key]*KPISeries{}
	var keys []key
	for _, v := range rows {
		k := key{v.Name, v.Version}
		s := by[k]
		if s == nil {
			s = &KPISeries{Name: v.Name, Version: v.Version}
			by[k] = s
			keys = append(keys, k)
		}
		s.Minutes = append(s.Minutes, UnixMinute(v.Minute))
		s.Values = append(s.Values, v.Value)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].name != keys[j].name {
			return keys[i].name < keys[j].name
		}
		return keys[i].version < keys[j].version
	})
	out := make([]KPISeries, 0, len(keys))
	for _, k := range keys {
		out = append(out, *by[k])
	}
	return out
}

// KPISpans accumulates, per KPI of a stream, the smallest and largest
// value an import adds, so that Commit can check the values against the
// declarations in force (CheckKPISpans) without another pass over them.
type KPISpans map[KPISpanKey]*KPISpan

// KPISpanKey names one KPI of one stream.
type KPISpanKey struct {
	Service, Environment, Name string
}

// KPISpan is the range of the values added for one KPI of one stream.
type KPISpan struct {
	Min, Max float64
	Rows     int64
}

// Add records v.
func (s KPISpans) Add(v *KPIValue) {
	k := KPISpanKey{v.Service, v.Environment, v.Name}
	sp := s[k]
	if sp == nil {
		s[k] = &KPISpan{Min: v.Value, Max: v.Value, Rows: 1}
		return
	}
	sp.Min, sp.Max = math.Min(sp.Min, v.Value), math.Max(sp.Max, v.Value)
	sp.Rows++
}

// KPIProblem is one KPI of one stream whose values an import may not add.
type KPIProblem struct {
	Service, Environment, Name string
	// Undeclared: no declaration of the KPI is in force for the stream.
	Undeclared bool
	// Value is a value the declaration's kind does not allow (the span's
	// smallest or largest), when not Undeclared.
	Value  float64
	Reason string
}

// KPIValueError reports KPI values that name no declared KPI or that the
// declared kind does not allow. Nothing of the import was committed.
type KPIValueError struct {
	Problems []KPIProblem // sorted by service, environment, name
}

func (e *KPIValueError) Error() string {
	p := e.Problems[0]
	msg := fmt.Sprintf("KPI %q of %s/%s: %s", p.Name, p.Service, p.Environment, p.Reason)
	if len(e.Problems) > 1 {
		msg += fmt.Sprintf(" (and %d more KPIs)", len(e.Problems)-1)
	}
	return msg
}

// CheckKPISpans checks the spans of the values an import adds against
// decls, the declarations in force after the import. It returns nil or a
// *KPIValueError. Both stores call it at Commit.
func CheckKPISpans(decls []KPI, spans KPISpans) error {
	var ps []KPIProblem
	for k, sp := range spans {
		d, ok := KPIOf(decls, Stream{Service: k.Service, Environment: k.Environment}, k.Name)
		p := KPIProblem{Service: k.Service, Environment: k.Environment, Name: k.Name}
		switch {
		case !ok:
			p.Undeclared = true
			p.Reason = "not declared for this service and environment (kpis.csv)"
		case d.Kind.CheckValue(sp.Min) != "":
			p.Value, p.Reason = sp.Min, d.Kind.CheckValue(sp.Min)
		case d.Kind.CheckValue(sp.Max) != "":
			p.Value, p.Reason = sp.Max, d.Kind.CheckValue(sp.Max)
		default:
			continue
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil
	}
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		return CompareKPIs(KPI{Service: a.Service, Environment: a.Environment, Name: a.Name},
			KPI{Service: b.Service, Environment: b.Environment, Name: b.Name}) < 0
	})
	return &KPIValueError{Problems: ps}
}
