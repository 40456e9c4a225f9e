package labeling

import (
	"math"
	"time"

	"github.com/faultline-dev/faultline/internal/config"
)

// FnHealthy names the healthy-evidence function.
const FnHealthy = "healthy_evidence"

// HealthyLF is the healthy-evidence function and its settings
// (labeling.healthy_evidence): a deployment votes healthy when its version
// served the service for at least MinHours (no deployment of another version
// started sooner, and the history extends that far), was not then rolled
// back, it served at least MinRequests requests in them, and over them its
// error count rules out (with Confidence, a Poisson bound) an error rate
// above MaxErrorRatio times the service's over the same length of time
// before the deploy, and its p95 latency stayed within MaxLatencyRatio of
// the service's then (when the history records latency). Each condition is
// positive evidence: no baseline (no requests or no errors before the
// deploy), too little traffic to bound the ratio, or a history that ends
// sooner abstains. It never votes faulty.
//
// An incident linked to the version or opened on its stream in those hours
// does not stop the vote unless IncidentAbstains: the incident function
// votes on it, and its health gate (IncidentLF.HealthGate, on by default)
// settles the conflict for this measurement; without the gate the label
// model weighs the two. Incidents are claims,
// often unrelated (an outage elsewhere, a noisy alert) or linked to the
// latest deploy by habit; the version's own traffic over hours is a
// measurement. Read off the incidents as well, this function would abstain
// exactly where the incident function errs, and the label model could not
// learn how often it does.
type HealthyLF struct {
	Enabled         bool    `yaml:"enabled" json:"enabled"`                     // default true
	MinHours        float64 `yaml:"min_hours" json:"min_hours"`                 // default 6
	MinRequests     int64   `yaml:"min_requests" json:"min_requests"`           // default 1000
	MaxErrorRatio   float64 `yaml:"max_error_ratio" json:"max_error_ratio"`     // default 1.5
	MaxLatencyRatio float64 `yaml:"max_latency_ratio" json:"max_latency_ratio"` // default 1.3
	// Confidence is the one-sided confidence with which the version's
	// error count must rule out a rate above MaxErrorRatio times the
	// stream's before the deploy, in (0.5, 1). Default 0.95.
	Confidence float64 `yaml:"confidence" json:"confidence"`
	// IncidentAbstains: abstain when an incident was linked to the version
	// or opened on its stream within MinHours of its start. Default false
	// (docs/labeling.md, "Measured against the simulator's truth", gives
	// the measurement).
	IncidentAbstains bool `yaml:"incident_abstains" json:"incident_abstains"`
}

func (HealthyLF) defaults() Function {
	return HealthyLF{Enabled: true, MinHours: 6, MinRequests: 1000, MaxErrorRatio: 1.5, MaxLatencyRatio: 1.3, Confidence: 0.95}
}

// Name implements Function.
func (HealthyLF) Name() string { return FnHealthy }

func (HealthyLF) measuresHealth() {}

// Description implements Function.
func (HealthyLF) Description() string {
	return "served for healthy_evidence.min_hours without rollback, error or latency degradation"
}

// Assumption implements Function.
func (HealthyLF) Assumption() string {
	return "a fault shows within min_hours — as a rollback, a higher error rate or a higher p95 latency than the " +
		"stream's before the deploy — so a version that served that long without any of them, with enough traffic to " +
		"rule out a higher error rate, was healthy; an incident in those hours is weighed by the label model against " +
		"this vote (unless incident_abstains), not taken as a measurement; too little traffic or no baseline says " +
		"nothing: abstain"
}

// Validate implements Function.
func (f HealthyLF) Validate() error {
	for _, c := range []struct {
		key string
		v   float64
	}{{"min_hours", f.MinHours}, {"max_error_ratio", f.MaxErrorRatio}, {"max_latency_ratio", f.MaxLatencyRatio}} {
		if err := positive(c.key, c.v); err != nil {
			return err
		}
	}
	if c := f.Confidence; !(c > 0.5 && c < 1) {
		return config.Errorf("confidence", "%v must be in (0.5, 1)", c)
	}
	return nil
}

func (f HealthyLF) enabled() bool    { return f.Enabled }
func (HealthyLF) dependence() string { return dependenceReplacement }

func (f HealthyLF) needs() needs {
	return needs{incidents: f.IncidentAbstains, traffic: true, before: hours(f.MinHours), after: hours(f.MinHours) + time.Minute}
}

func (f HealthyLF) vote(d *deploy) int8 {
	sd := d.traffic
	life := hours(f.MinHours)
	if succ, ok := d.successor(); ok {
		if succ.StartedAt.Sub(d.StartedAt) < life || isRollback(succ) {
			return abstain
		}
	}
	t0 := startMinute(d.StartedAt)
	t1 := t0 + int64(math.Round(f.MinHours*60))
	if sd.lastMinute < t1-1 {
		return abstain // the history does not reach that far
	}
	if f.IncidentAbstains && d.fleet.incidentDuring(d.Deployment, d.StartedAt, d.StartedAt.Add(life)) {
		return abstain
	}
	nw := sd.version(d.Version, t0, t1)
	if nw.req < float64(f.MinRequests) {
		return abstain
	}
	if !ruledOut(nw, sd.others(d.Version, t0-(t1-t0), t0), f.MaxErrorRatio, f.MaxLatencyRatio, f.Confidence) {
		return abstain
	}
	return healthy
}

// ruledOut is the healthy functions' positive evidence on a version's
// window nw against a baseline window: the baseline's error rate is known
// (it served requests and logged errors), the version's error count rules
// out, with one-sided confidence conf (a Poisson bound), a rate above
// maxErr times it, and the version's p95 latency is within maxLat times
// the baseline's (when both record latency). Too little traffic or no
// baseline rules nothing out.
func ruledOut(nw, base window, maxErr, maxLat, conf float64) bool {
	if !(base.req > 0 && base.errs > 0 && nw.req > 0) {
		return false
	}
	expected := nw.req * base.errs / base.req
	if poissonUpper(nw.errs, zOf(conf))/expected > maxErr {
		return false
	}
	n, b := nw.p95(), base.p95()
	return math.IsNaN(n) || math.IsNaN(b) || b <= 0 || n <= maxLat*b
}
