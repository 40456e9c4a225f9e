package labeling

import "github.com/faultline-dev/faultline/features"

// FnKPIBreach names the KPI breach function.
const FnKPIBreach = "kpi_breach"

// KPIBreachLF is the KPI breach function and its settings
// (labeling.kpi_breach): a deployment votes faulty when one of the KPIs the
// team declared for the service (a success ratio, a saturation, …) moved in
// its declared bad direction at the change and stayed there — the rule of
// before_after_shift (baShift) on the KPI group of the before/after checks,
// whose p-values already account for the number of KPIs — unless the
// service's traffic rose as clearly at the same time (TrafficGuard). It
// never votes healthy; a service without declared KPIs abstains.
type KPIBreachLF struct {
	Enabled bool `yaml:"enabled" json:"enabled"` // default true
	baShift `yaml:",inline"`
	// TrafficGuard: abstain when, at a horizon judged, the service's
	// throughput rose at least as clearly as a breach must show — its level
	// and sustained statistics (ba_tput_shift_z, ba_tput_sustained_z,
	// positive when it falls) both at most −z, z the standard normal
	// quantile of 1 − max_p. Load moves the KPIs that follow it
	// (saturation, latency) and a throughput declared "both" fires on a
	// rise; traffic returning after an earlier fault is not a breach.
	// Default true.
	TrafficGuard bool `yaml:"traffic_guard" json:"traffic_guard"`
}

func (KPIBreachLF) defaults() Function {
	return KPIBreachLF{Enabled: true, baShift: defaultBAShift(), TrafficGuard: true}
}

// Name implements Function.
func (KPIBreachLF) Name() string { return FnKPIBreach }

// Description implements Function.
func (KPIBreachLF) Description() string {
	return "a change without a canary: a declared KPI moved in its bad direction, by the level and sustained before/after tests " +
		"at every kpi_breach.horizons the version served, did not fade, and the traffic did not rise as clearly"
}

// Assumption implements Function.
func (KPIBreachLF) Assumption() string {
	return "a KPI the team declared moves in its declared bad direction only when something is wrong: when one does at " +
		"the change — beyond what its own history makes likely at that hour (p ≤ max_p over the KPIs), at every horizon " +
		"the version served alone, without fading — while the environment was not elevated and the service's traffic " +
		"did not rise as clearly (load moves saturation and latency, and traffic returning after an earlier fault is " +
		"not a breach), the version caused it; no breach says nothing: abstain"
}

// Validate implements Function.
func (f KPIBreachLF) Validate() error { return f.baShift.validate() }

func (f KPIBreachLF) enabled() bool { return f.Enabled }

// baKPIGroup is the series kpi_breach reads.
var baKPIGroup = []baSeries{baKPISeries}

func (f KPIBreachLF) needs() needs {
	var extra []string
	if f.TrafficGuard {
		extra = []string{baTputShiftZColumn, baTputSustainedZColumn}
	}
	return needs{features: f.baShift.columns(baKPIGroup, extra)}
}

func (f KPIBreachLF) vote(d *deploy) int8 {
	var guard func(*deploy, []int, float64) bool
	if f.TrafficGuard {
		guard = trafficRose
	}
	if f.baShift.fires(d, baKPIGroup, guard) {
		return faulty
	}
	return abstain
}

// trafficRose reports whether, at one of the looks, the service's
// throughput rose at least as clearly as a shift at p-value threshold p
// must show (features.BATrafficRose). Without throughput statistics (NaN)
// it reports false.
func trafficRose(d *deploy, looks []int, p float64) bool {
	for _, h := range looks {
		level, ok1 := d.feature(h, baTputShiftZColumn)
		sustained, ok2 := d.feature(h, baTputSustainedZColumn)
		if ok1 && ok2 && features.BATrafficRose(level, sustained, p) {
			return true
		}
	}
	return false
}
