package policy

import (
	"errors"
	"fmt"
	"math"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// Target is the operating target of a policy as a whole — a deployment is
// flagged when any look flags it — set by exactly one field: the least
// precision (flagged deployments that are faulty), or the most false alarms
// per healthy deployment (healthy deployments flagged at any look).
type Target struct {
	Precision             float64 `json:"precision,omitempty"`
	FalseAlarmsPerHealthy float64 `json:"false_alarms_per_healthy,omitempty"`
}

// Target kinds (Target.Kind).
const (
	TargetPrecision             = "precision"
	TargetFalseAlarmsPerHealthy = "false_alarms_per_healthy"
)

// Validate checks that exactly one field is set: a precision in (0, 1] or
// false alarms per healthy deployment in (0, 1).
func (t Target) Validate() error {
	switch {
	case t.Precision != 0 && t.FalseAlarmsPerHealthy != 0:
		return errors.New("target: set precision or false_alarms_per_healthy, not both")
	case t.Precision != 0:
		if !(t.Precision > 0 && t.Precision <= 1) {
			return fmt.Errorf("target: precision %v outside (0, 1]", t.Precision)
		}
	case t.FalseAlarmsPerHealthy != 0:
		if !(t.FalseAlarmsPerHealthy > 0 && t.FalseAlarmsPerHealthy < 1) {
			return fmt.Errorf("target: false_alarms_per_healthy %v outside (0, 1)", t.FalseAlarmsPerHealthy)
		}
	default:
		return errors.New("target: set precision or false_alarms_per_healthy")
	}
	return nil
}

// Kind returns TargetPrecision or TargetFalseAlarmsPerHealthy.
func (t Target) Kind() string {
	if t.FalseAlarmsPerHealthy != 0 {
		return TargetFalseAlarmsPerHealthy
	}
	return TargetPrecision
}

// Value returns the target's number.
func (t Target) Value() float64 {
	if t.FalseAlarmsPerHealthy != 0 {
		return t.FalseAlarmsPerHealthy
	}
	return t.Precision
}

// String reads "precision ≥ 0.95" or "false alarms per healthy deploy ≤ 0.01".
func (t Target) String() string {
	if t.Kind() == TargetFalseAlarmsPerHealthy {
		return fmt.Sprintf("false alarms per healthy deploy ≤ %g", t.FalseAlarmsPerHealthy)
	}
	return fmt.Sprintf("precision ≥ %g", t.Precision)
}

// Verdicts of Assess.
const (
	// Met: the 95% interval of the achieved figure lies on the target's side
	// (precision: its lower bound ≥ the target; false alarms: its upper bound
	// ≤ the target).
	Met = "met"
	// Missed: the interval lies on the wrong side.
	Missed = "missed"
	// Undecided: the interval contains the target, or the figure is
	// undefined (nothing flagged, no healthy deployment).
	Undecided = "undecided"
)

// Rate is a proportion K/N with its Wilson 95% interval (metrics.Wilson),
// Value, Lo and Hi NaN (JSON null) when N is 0. Unlike metrics.Estimate it
// reads back from JSON as written.
type Rate struct {
	K     int           `json:"k"`
	N     int           `json:"n"`
	Value metrics.Float `json:"value"`
	Lo    metrics.Float `json:"lo"`
	Hi    metrics.Float `json:"hi"`
}

// NewRate returns k/n with its Wilson interval.
func NewRate(k, n int) Rate {
	e := metrics.Proportion(k, n)
	return Rate{K: k, N: n, Value: metrics.Float(e.Value), Lo: metrics.Float(e.Lo), Hi: metrics.Float(e.Hi)}
}

// Estimate returns r as a metrics.Estimate.
func (r Rate) Estimate() metrics.Estimate { return metrics.Proportion(r.K, r.N) }

// Assessment is a policy's result against its target.
type Assessment struct {
	Target Target `json:"target"`
	// Achieved is the precision TP/(TP+FP) or the false alarms per healthy
	// deployment FP/(FP+TN), as the target's kind.
	Achieved Rate   `json:"achieved"`
	Verdict  string `json:"verdict"`
}

// Assess judges a policy that flagged tp faulty and fp healthy deployments
// out of healthy healthy ones against t, by the Wilson 95% interval of the
// achieved figure (Met, Missed or Undecided). The same rule decides which
// policies Choose counts as meeting the target on validation.
func (t Target) Assess(tp, fp, healthy int) Assessment {
	a := Assessment{Target: t, Verdict: Undecided}
	if t.Kind() == TargetFalseAlarmsPerHealthy {
		a.Achieved = NewRate(fp, healthy)
		switch {
		case healthy == 0:
		case float64(a.Achieved.Hi) <= t.FalseAlarmsPerHealthy:
			a.Verdict = Met
		case float64(a.Achieved.Lo) > t.FalseAlarmsPerHealthy:
			a.Verdict = Missed
		}
		return a
	}
	a.Achieved = NewRate(tp, tp+fp)
	switch {
	case tp+fp == 0:
	case float64(a.Achieved.Lo) >= t.Precision:
		a.Verdict = Met
	case float64(a.Achieved.Hi) < t.Precision:
		a.Verdict = Missed
	}
	return a
}

// precisionLowerBound is the lower end of the Wilson 95% interval of
// tp/(tp+fp), the ordering of Choose's fallback.
func precisionLowerBound(tp, fp int) float64 {
	if tp+fp == 0 {
		return math.Inf(-1)
	}
	return metrics.Wilson(tp, tp+fp).Lo
}
