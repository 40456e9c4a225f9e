package labeling

import (
	"math"
	"time"

	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/internal/history"
)

// FnReplacedHealthy names the replaced-healthy function.
const FnReplacedHealthy = "replaced_healthy"

// ReplacedHealthyLF is the replaced-healthy function and its settings
// (labeling.replaced_healthy): the evidence of health of a version that
// was replaced — rolled back, fixed forward or simply followed by the next
// deploy — before healthy_evidence could judge it. It votes healthy when
// another version replaced it within MaxLifeMinutes but after at least
// MinMinutes of its own, and over those own minutes (from its start to the
// minute its successor started):
//   - it served at least MinRequests requests, and its error count rules
//     out, with Confidence (a Poisson bound), an error rate above
//     MaxErrorRatio times the stream's other versions' over the
//     BaselineMinutes before the deploy (or as long as its own life, when
//     longer);
//   - its p95 latency stayed within MaxLatencyRatio of theirs, when the
//     history records latency;
//   - it logged no error fingerprint that the stream had not logged in the
//     LookbackHours before the deploy;
//   - no incident was linked to it or opened on its service and
//     environment from its start to IncidentGraceMinutes after its
//     successor's.
//
// Each condition is positive evidence. Too little traffic or time, no
// baseline, or a version that was never replaced (healthy_evidence's case)
// abstains. It never votes faulty.
//
// A stream with aggregate metrics only (no per-version series) has no
// version's own minutes, except after a rollout that switched all traffic:
// from the minute the rollout finished (its recorded finish, which must be
// known) to the successor's start, the aggregate series is the version's
// alone, and the rules above are judged on it against the aggregate before
// the deploy. Every KPI the service declares must then also rule out, with
// Confidence (a normal bound on the difference of means, minutes taken as
// independent), a move in its bad direction of more than MaxKPIShift of its
// level before the deploy; a declared KPI without aggregate values, or a
// history that cannot give KPIs, abstains.
//
// Why: the rollback and short-lived functions take a quick replacement as
// a fault, and operators also roll back healthy versions (out of caution,
// or for a fault elsewhere). Without positive evidence the other way, such
// versions are taught as faults, and a model learns that a version replaced
// within the hour is faulty whatever its minutes showed.
type ReplacedHealthyLF struct {
	Enabled         bool    `yaml:"enabled" json:"enabled"`                     // default true
	MinMinutes      int     `yaml:"min_minutes" json:"min_minutes"`             // default 5
	MaxLifeMinutes  int     `yaml:"max_life_minutes" json:"max_life_minutes"`   // default 360 (healthy_evidence.min_hours)
	MinRequests     int64   `yaml:"min_requests" json:"min_requests"`           // default 1000
	MaxErrorRatio   float64 `yaml:"max_error_ratio" json:"max_error_ratio"`     // default 1.5
	MaxLatencyRatio float64 `yaml:"max_latency_ratio" json:"max_latency_ratio"` // default 1.3
	// Confidence is the one-sided confidence with which the version's
	// error count must rule out a rate above MaxErrorRatio times the
	// baseline's, in (0.5, 1). Default 0.95.
	Confidence float64 `yaml:"confidence" json:"confidence"`
	// BaselineMinutes is the least length of the baseline before the
	// deploy. Default 60.
	BaselineMinutes int `yaml:"baseline_minutes" json:"baseline_minutes"`
	// LookbackHours is how far back a fingerprint must not occur to count
	// as new (as in new_error_signatures). Default 168.
	LookbackHours float64 `yaml:"lookback_hours" json:"lookback_hours"`
	// IncidentGraceMinutes extends the incident check past the
	// successor's start: incidents are often opened after the rollback
	// that answers them. Default 60.
	IncidentGraceMinutes int `yaml:"incident_grace_minutes" json:"incident_grace_minutes"`
	// MaxKPIShift is the largest move of a KPI in its bad direction,
	// relative to its level before the deploy, that the version's minutes
	// must rule out (aggregate metrics only). Default 0.1.
	MaxKPIShift float64 `yaml:"max_kpi_shift" json:"max_kpi_shift"`
	// SettleMinutes are left out of the start of the version's own
	// minutes for the error-rate and latency bounds of the per-version
	// series, when it served at least MinMinutes more: a restart
	// transient (cold caches, connections re-established) is not the
	// version's steady state. 0 judges every minute. Default 5
	// (docs/labeling.md, "Measured against the simulator's truth", gives
	// the measurement). The aggregate path already starts when the
	// rollout finished.
	SettleMinutes int `yaml:"settle_minutes" json:"settle_minutes"`
}

func (ReplacedHealthyLF) defaults() Function {
	return ReplacedHealthyLF{Enabled: true, MinMinutes: 5, MaxLifeMinutes: 360, MinRequests: 1000, MaxErrorRatio: 1.5,
		MaxLatencyRatio: 1.3, Confidence: 0.95, BaselineMinutes: 60, LookbackHours: 168, IncidentGraceMinutes: 60,
		MaxKPIShift: 0.1, SettleMinutes: 5}
}

// Name implements Function.
func (ReplacedHealthyLF) Name() string { return FnReplacedHealthy }

// Description implements Function.
func (ReplacedHealthyLF) Description() string {
	return "replaced (rolled back included) after own minutes without a higher error rate, p95 latency, new fingerprint or incident"
}

// Assumption implements Function.
func (ReplacedHealthyLF) Assumption() string {
	return "a fault shows in the version's own minutes before it is replaced — as a higher error rate, a higher p95 " +
		"latency or a new error fingerprint, the first two past its first settle_minutes, whose restart transient is not " +
		"its steady state (a fault that shows only in them and vanishes is missed) — so a version replaced after minutes " +
		"that rule all three out, with enough traffic and no incident, was replaced for another reason; with aggregate " +
		"metrics only, the minutes after a rollout " +
		"that switched all traffic are the version's own, and every declared KPI must rule out a move in its bad direction too; " +
		"a fault that shows only elsewhere (an undeclared KPI, an onset after the replacement) is missed; too little traffic, " +
		"time or baseline, a canary seen only in aggregate, or an unknown rollout end say nothing: abstain"
}

// Validate implements Function.
func (f ReplacedHealthyLF) Validate() error {
	for _, c := range []struct {
		key string
		v   float64
	}{{"min_minutes", float64(f.MinMinutes)}, {"max_life_minutes", float64(f.MaxLifeMinutes)},
		{"max_error_ratio", f.MaxErrorRatio}, {"max_latency_ratio", f.MaxLatencyRatio},
		{"baseline_minutes", float64(f.BaselineMinutes)}, {"lookback_hours", f.LookbackHours},
		{"max_kpi_shift", f.MaxKPIShift}} {
		if err := positive(c.key, c.v); err != nil {
			return err
		}
	}
	if f.MaxLifeMinutes < f.MinMinutes {
		return config.Errorf("max_life_minutes", "%d is below min_minutes %d", f.MaxLifeMinutes, f.MinMinutes)
	}
	if f.MinRequests < 0 {
		return config.Errorf("min_requests", "%d must not be negative", f.MinRequests)
	}
	if f.IncidentGraceMinutes < 0 {
		return config.Errorf("incident_grace_minutes", "%d must not be negative", f.IncidentGraceMinutes)
	}
	if f.SettleMinutes < 0 {
		return config.Errorf("settle_minutes", "%d must not be negative", f.SettleMinutes)
	}
	if c := f.Confidence; !(c > 0.5 && c < 1) {
		return config.Errorf("confidence", "%v must be in (0.5, 1)", c)
	}
	return nil
}

func (f ReplacedHealthyLF) enabled() bool { return f.Enabled }

func (f ReplacedHealthyLF) needs() needs {
	before := max(hours(f.LookbackHours), time.Duration(max(f.BaselineMinutes, f.MaxLifeMinutes))*time.Minute)
	return needs{incidents: true, traffic: true, signatures: true, kpis: true, before: before,
		after: time.Duration(f.MaxLifeMinutes+1) * time.Minute}
}

func (f ReplacedHealthyLF) vote(d *deploy) int8 {
	succ, ok := d.successor()
	if !ok {
		return abstain
	}
	sd := d.traffic
	t0 := startMinute(d.StartedAt)
	t1 := history.UnixMinute(succ.StartedAt) // the successor may serve from this minute on
	if life := t1 - t0; life < int64(f.MinMinutes) || life > int64(f.MaxLifeMinutes) {
		return abstain
	}
	grace := time.Duration(f.IncidentGraceMinutes) * time.Minute
	if d.fleet.incidentDuring(d.Deployment, d.StartedAt, succ.StartedAt.Add(grace)) {
		return abstain
	}
	if !f.ownRuledOut(d, t0, t1) {
		return abstain
	}
	newFP := false
	sd.newSignatures(d.Version, t0, t1, t0-int64(math.Round(f.LookbackHours*60)), func(_, count int64) bool {
		newFP = count > 0
		return !newFP
	})
	if newFP {
		return abstain
	}
	return healthy
}

// ownRuledOut reports whether the version's own minutes, from its start
// minute t0 to its successor's t1, rule out a higher error rate and p95
// latency than before the deploy (and, on aggregate metrics, a bad move of
// every declared KPI).
func (f ReplacedHealthyLF) ownRuledOut(d *deploy, t0, t1 int64) bool {
	sd := d.traffic
	minReq := float64(max(f.MinRequests, 1))
	if !sd.aggregateOnly() {
		s0 := t0 // the settle minutes left out, when the version served long enough
		if st := int64(f.SettleMinutes); st > 0 && t1-t0 >= int64(f.MinMinutes)+st {
			s0 = t0 + st
		}
		nw := sd.version(d.Version, s0, t1)
		b := max(int64(f.BaselineMinutes), t1-t0)
		return nw.req >= minReq && ruledOut(nw, sd.others(d.Version, t0-b, t0), f.MaxErrorRatio, f.MaxLatencyRatio, f.Confidence)
	}
	// Aggregate only: the version's own minutes start when its rollout
	// finished.
	if d.FinishedAt.IsZero() {
		return false
	}
	a0 := max(t0, startMinute(d.FinishedAt))
	if t1-a0 < int64(f.MinMinutes) {
		return false
	}
	b := max(int64(f.BaselineMinutes), t1-a0)
	nw := sd.agg.sum(a0, t1)
	if nw.req < minReq || !ruledOut(nw, sd.agg.sum(t0-b, t0), f.MaxErrorRatio, f.MaxLatencyRatio, f.Confidence) {
		return false
	}
	if !sd.kpisKnown {
		return false
	}
	z := zOf(f.Confidence)
	for i := range sd.kpis {
		k := &sd.kpis[i]
		if !kpiRuledOut(k.dir, k.sum(a0, t1), k.sum(t0-b, t0), f.MaxKPIShift, z) {
			return false
		}
	}
	return true
}

// kpiRuledOut reports whether a KPI's own window rules out, with the
// normal quantile z, a move in direction dir of more than maxShift times
// the baseline's level (Welch's standard error, minutes taken as
// independent). Fewer than two minutes on either side, or a zero level,
// cannot rule anything out.
func kpiRuledOut(dir history.Direction, own, base kpiWindow, maxShift, z float64) bool {
	if own.n < 2 || base.n < 2 || base.mean == 0 {
		return false
	}
	diff := own.mean - base.mean
	bound := z * math.Sqrt(own.variance/own.n+base.variance/base.n)
	tol := maxShift * math.Abs(base.mean)
	switch dir {
	case history.HigherIsWorse:
		return diff+bound <= tol
	case history.LowerIsWorse:
		return -diff+bound <= tol
	default: // both
		return math.Abs(diff)+bound <= tol
	}
}
