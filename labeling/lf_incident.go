package labeling

import (
	"time"

	"github.com/faultline-dev/faultline/internal/config"
)

// FnIncident names the incident function.
const FnIncident = "incident"

// IncidentLF is the incident function and its settings (labeling.incident):
// a deployment votes faulty when an incident was linked to it (when Linked),
// or when an incident on its service, in its environment or in all
// environments, was opened within WindowMinutes after it started and it is
// the deployment the incident is attributed to by time:
//
//   - the latest deployment of that service and environment started before
//     the incident opened — unless that deployment is a rollback and the
//     incident opened within WindowMinutes of the deployment the rollback
//     replaced: such an incident belongs to the rolled-back version, so
//   - the deployment a rollback replaced also gets the incidents opened
//     after the rollback started, within its own window.
//
// An incident opened while incidents were opened on at least
// OutageServices distinct services of its environment within
// OutageMinutes of it (a fleet-wide outage) is attributed to no deployment
// by time. An incident linked to a deployment is, when Linked, attributed by
// its link only. With Symptom enabled (not the default) the version must
// also have shown a symptom the detectors can see, or none could be
// measured, or have been rolled back: see SymptomGate. With HealthGate
// (the default) a vote that is the deployment's only reaction yields to
// a measurement of the version's health. It never votes healthy.
type IncidentLF struct {
	Enabled       bool `yaml:"enabled" json:"enabled"`               // default true
	WindowMinutes int  `yaml:"window_minutes" json:"window_minutes"` // default 120
	Linked        bool `yaml:"linked" json:"linked"`                 // default true
	// OutageServices is the number of distinct services of an environment
	// with an incident within OutageMinutes of one another from which
	// those incidents are a fleet-wide outage, not one deployment's fault;
	// 0 turns the rule off. Default 3: two services can fail together by
	// chance or through one dependency, three at once rarely do.
	OutageServices int `yaml:"outage_services" json:"outage_services"`
	// OutageMinutes is how close in time (either way) incidents of
	// different services must open to count together. Default 10.
	OutageMinutes int `yaml:"outage_minutes" json:"outage_minutes"`
	// Symptom is the symptom gate (labeling.incident.symptom); off by
	// default (Symptom.Enabled false, the other settings as rollback's).
	Symptom SymptomGate `yaml:"symptom" json:"symptom"`
	// HealthGate: a faulty vote abstains when a function that measures
	// the version's health over its own traffic (healthy_evidence,
	// before_after_healthy: a Poisson or replay bound that rules out a
	// higher error rate and latency over the version's hours or
	// horizons) votes healthy on the deployment, unless the version was
	// also rolled back (two reactions stand, as for the symptom gate). An
	// incident blamed by time or by habit on a version whose own metrics
	// bound its errors and latency is another system's trouble or a
	// functional report the detectors cannot learn from. Default true;
	// the measurement, not the label model, settles that conflict
	// (docs/labeling.md, "The health gate of incident").
	HealthGate bool `yaml:"health_gate" json:"health_gate"`
}

func (IncidentLF) defaults() Function {
	// The gate is off by default: measured at 40 services × 14 days it
	// cleaned the incident votes where unrelated incidents are common, but
	// cost the aggregate fleets more faults than it saved (docs/labeling.md,
	// "The symptom gate of rollback and incident").
	g := defaultSymptomGate()
	g.Enabled = false
	return IncidentLF{Enabled: true, WindowMinutes: 120, Linked: true, OutageServices: 3, OutageMinutes: 10, Symptom: g, HealthGate: true}
}

// Name implements Function.
func (IncidentLF) Name() string { return FnIncident }

// Description implements Function.
func (IncidentLF) Description() string {
	return "an incident linked to the deployment or opened on its service soon after (not one of a fleet-wide burst of incidents; " +
		"a rollback's incidents go to the version it rolled back)"
}

// Assumption implements Function.
func (f IncidentLF) Assumption() string {
	return "an incident names the deployment that caused it, or, unlinked, was caused by the latest deployment of its " +
		"service and environment when it opened within window_minutes of that deployment — or, when that deployment is a " +
		"rollback, by the version it rolled back; incidents opened on outage_services services of an environment within " +
		"outage_minutes come from a shared cause, not a deployment" +
		f.Symptom.assumption("the incident had another cause") + f.healthGateAssumption()
}

func (f IncidentLF) healthGateAssumption() string {
	if !f.HealthGate {
		return ""
	}
	return "; when a function measuring the version's own health (healthy_evidence, before_after_healthy) votes healthy " +
		"and the version was not also rolled back, the measurement bounds its errors and latency and the incident had " +
		"another cause: abstain"
}

func (f IncidentLF) yieldsToHealth() bool { return f.HealthGate }

// Validate implements Function.
func (f IncidentLF) Validate() error {
	if err := positive("window_minutes", float64(f.WindowMinutes)); err != nil {
		return err
	}
	if f.OutageServices < 0 || f.OutageServices == 1 {
		return config.Errorf("outage_services", "%d must be 0 (off) or ≥ 2", f.OutageServices)
	}
	if f.OutageServices > 0 {
		if err := positive("outage_minutes", float64(f.OutageMinutes)); err != nil {
			return err
		}
	}
	return f.Symptom.validate()
}

func (f IncidentLF) enabled() bool { return f.Enabled }
func (f IncidentLF) needs() needs {
	return needs{incidents: true, features: f.Symptom.columns()}
}

func (IncidentLF) featuresSwitch() string { return "symptom.enabled" }
func (IncidentLF) reaction()              {}

func (f IncidentLF) vote(d *deploy) int8 {
	if f.blamed(d) {
		return f.Symptom.gate(d)
	}
	return abstain
}

// blamed reports whether an incident is attributed to d (the rule above,
// before the symptom gate).
func (f IncidentLF) blamed(d *deploy) bool {
	if f.Linked && d.fleet.linked[d.ID] {
		return true
	}
	window := time.Duration(f.WindowMinutes) * time.Minute
	var outage []bool
	if f.OutageServices > 0 {
		outage = d.fleet.incidentBursts(f.OutageServices, time.Duration(f.OutageMinutes)*time.Minute)
	}
	from, until := d.fleet.incidentRange(d.StartedAt, d.StartedAt.Add(window))
	for k := from; k < until; k++ {
		in := d.fleet.incidents[k]
		if f.Linked && in.DeploymentID != "" {
			continue // attributed by its link only
		}
		if in.Service != d.Service || (in.Environment != "" && in.Environment != d.Environment) {
			continue
		}
		if outage != nil && outage[k] {
			continue
		}
		j := d.stream.latestBefore(in.OpenedAt)
		switch {
		case j == d.i && isRollback(d.Deployment) && d.i > 0 &&
			in.OpenedAt.Sub(d.stream.ds[d.i-1].StartedAt) <= window:
			// The rolled-back version's incident, not the rollback's.
		case j == d.i:
			return true
		case j == d.i+1 && isRollback(d.stream.ds[j]):
			// Opened after the rollback of this deployment started, within
			// this deployment's window: its version's incident.
			return true
		}
	}
	return false
}
