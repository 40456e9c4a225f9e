package features

import "fmt"

// Direction says which way a KPI moves when something is wrong. The values
// are those of internal/history's KPI directions (package features does not
// import the history model: detectors use it without a store).
type Direction string

// KPI directions.
const (
	HigherIsWorse Direction = "higher_is_worse" // latency, saturation, error rate
	LowerIsWorse  Direction = "lower_is_worse"  // success ratio, throughput
	BothWorse     Direction = "both"            // a move either way is suspect
)

// KPIKind says what a KPI measures; the before/after checks compare rates
// and latencies on a log scale, ratios and gauges on their own scale.
type KPIKind string

// KPI kinds (internal/history's).
const (
	KindRate    KPIKind = "rate"    // events per unit of time, ≥ 0
	KindRatio   KPIKind = "ratio"   // a fraction in [0, 1]
	KindLatency KPIKind = "latency" // a duration, ≥ 0
	KindGauge   KPIKind = "gauge"   // any finite level
)

// KPISeries is one declared KPI of the deploy's service in its environment:
// its per-minute values over all versions (the aggregate series), sorted by
// minute (Unix minutes, strictly ascending). A minute absent has no value.
// Per-version KPI values are not an input: the before/after checks judge
// the service, and a canary's comparison uses the request series.
type KPISeries struct {
	Name      string
	Direction Direction
	Kind      KPIKind
	Minutes   []int64
	Values    []float64
}

// logScale reports whether the before/after checks compare values of kind
// k on a log scale (rates and latencies: multiplicative changes and daily
// cycles become additive).
func (k KPIKind) logScale() bool { return k == KindRate || k == KindLatency }

// orient turns a statistic z, positive when the value rose, into one that
// is positive when it moved the worse way: as is for higher_is_worse,
// negated for lower_is_worse, its magnitude for both.
func (d Direction) orient(z float64) float64 {
	switch d {
	case LowerIsWorse:
		return -z
	case BothWorse:
		if z < 0 {
			return -z
		}
	}
	return z
}

func checkKPI(k *KPISeries) error {
	switch k.Direction {
	case HigherIsWorse, LowerIsWorse, BothWorse:
	default:
		return fmt.Errorf("KPI %q: direction %q is not one of higher_is_worse, lower_is_worse, both", k.Name, k.Direction)
	}
	switch k.Kind {
	case KindRate, KindRatio, KindLatency, KindGauge:
	default:
		return fmt.Errorf("KPI %q: kind %q is not one of rate, ratio, latency, gauge", k.Name, k.Kind)
	}
	if len(k.Values) != len(k.Minutes) {
		return fmt.Errorf("KPI %q: minutes and values of different lengths", k.Name)
	}
	return nil
}
