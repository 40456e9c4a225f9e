package labeling

import (
	"math"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
)

// FnKPIBurst names the KPI burst function.
const FnKPIBurst = "kpi_burst"

// The columns kpi_burst reads besides those of kpi_breach.
var (
	baKPIBurstPColumn      = features.Schema[features.BAKPIBurstP].Name
	baKPILevelChangeColumn = features.Schema[features.BAKPILevelChange].Name
)

// KPIBurstLF is the KPI burst function and its settings
// (labeling.kpi_burst): a deployment votes faulty when, in the first
// Horizon minutes the version served alone, one of the KPIs the team
// declared for the service broke out in its bad direction for a few
// minutes — the burst test of the before/after checks (ba_kpi_burst_p, the
// largest excess over burst_minutes consecutive minutes, replayed on the
// service's own history; the p-value already accounts for the number of
// KPIs) at p ≤ MaxP — and moved the KPI's mean over the whole window by at
// least MinLevelChange (ba_kpi_level_change, in the KPI's scale: a log
// ratio for rates and latencies, the value itself for ratios and gauges).
// It is for faults that hit hard and briefly: a burst of errors or a drop
// in throughput that is over, or rolled back, before the persistence that
// kpi_breach asks for. It never votes healthy.
type KPIBurstLF struct {
	Enabled bool `yaml:"enabled" json:"enabled"` // default true
	// Horizon is the look, in minutes, whose window is judged; the version
	// must have served all of it alone (overlap_deploy 0). Default 10.
	Horizon int `yaml:"horizon" json:"horizon"`
	// MaxP is the largest replay p-value of the KPI burst test. Default
	// 0.0001: a short window is judged once, with no later look to confirm
	// it, so the bar is a hundred times the before/after budget's.
	MaxP float64 `yaml:"max_p" json:"max_p"`
	// MinLevelChange is the least absolute change of the KPI's mean over
	// the window (ba_kpi_level_change). Default 0.05: five points of a
	// ratio or gauge, about 5% of a rate or latency. A restart's transient
	// of errors, decaying within a few minutes, moves a ten-minute mean by
	// less; a burst of a few minutes that takes a tenth of the successes or
	// the traffic moves it by more.
	MinLevelChange float64 `yaml:"min_level_change" json:"min_level_change"`
	// MaxFleetShare: abstain when at least this share of the environment's
	// other services was elevated in one minute of the window (fleetEvent);
	// 0 turns the guard off. Default 0.1.
	MaxFleetShare float64 `yaml:"max_fleet_share" json:"max_fleet_share"`
	// MaxOverlapMinutes: abstain when the new and the previous version both
	// served in more than this many minutes of the window (a canary: the
	// version-level functions judge it). Default 0.
	MaxOverlapMinutes float64 `yaml:"max_overlap_minutes" json:"max_overlap_minutes"`
	// TrafficGuard: abstain when the service's throughput rose as clearly
	// as kpi_breach's guard asks (trafficRose at p MaxP): load moves the
	// KPIs that follow it. Default true.
	TrafficGuard bool `yaml:"traffic_guard" json:"traffic_guard"`
}

func (KPIBurstLF) defaults() Function {
	return KPIBurstLF{Enabled: true, Horizon: 10, MaxP: 1e-4, MinLevelChange: 0.05, MaxFleetShare: 0.1, TrafficGuard: true}
}

// Name implements Function.
func (KPIBurstLF) Name() string { return FnKPIBurst }

// Description implements Function.
func (KPIBurstLF) Description() string {
	return "a change without a canary: in the first kpi_burst.horizon minutes the version served alone, a declared KPI " +
		"broke out in its bad direction for a few minutes (before/after burst test) and moved the window's mean by at " +
		"least min_level_change, while the environment was not elevated and the traffic did not rise as clearly"
}

// Assumption implements Function.
func (KPIBurstLF) Assumption() string {
	return "a declared KPI that breaks out in its bad direction within minutes of a change — a burst beyond what its own " +
		"history makes likely at that hour (p ≤ max_p over the KPIs) and large enough to move the KPI's mean over the " +
		"window by min_level_change, more than a restart's transient does — while the environment was not elevated " +
		"and the traffic did not rise as clearly, was caused by the version, even when it is over by the next look; " +
		"no such burst says nothing (the fault may be small, slow, or elsewhere): abstain. Changes with a canary are " +
		"left to the version-level functions"
}

// Validate implements Function.
func (f KPIBurstLF) Validate() error {
	if f.Horizon < 1 {
		return config.Errorf("horizon", "%d must be ≥ 1", f.Horizon)
	}
	if p := f.MaxP; !(p > 0 && p <= 1) {
		return config.Errorf("max_p", "%v must be in (0, 1]", p)
	}
	if !(f.MinLevelChange >= 0) {
		return config.Errorf("min_level_change", "%v must be ≥ 0", f.MinLevelChange)
	}
	return validateBAGuards(f.MaxFleetShare, f.MaxOverlapMinutes)
}

func (f KPIBurstLF) enabled() bool { return f.Enabled }

func (f KPIBurstLF) needs() needs {
	h := f.Horizon
	cols := []featureColumn{
		{horizon: h, column: overlapColumn, allowed: []float64{0, 1}},
		{horizon: h, column: overlapMinutesColumn},
		{horizon: h, column: baKPIBurstPColumn},
		{horizon: h, column: baKPILevelChangeColumn},
	}
	if f.MaxFleetShare > 0 {
		cols = append(cols, featureColumn{horizon: h, column: fleetMaxColumn})
	}
	if f.TrafficGuard {
		cols = append(cols, featureColumn{horizon: h, column: baTputShiftZColumn}, featureColumn{horizon: h, column: baTputSustainedZColumn})
	}
	return needs{features: cols}
}

// vote: every comparison is written so that a NaN or a missing row fails
// it (abstains).
func (f KPIBurstLF) vote(d *deploy) int8 {
	h := f.Horizon
	col := func(c string) float64 {
		v, ok := d.feature(h, c)
		if !ok {
			return math.NaN()
		}
		return v
	}
	switch {
	case !(col(overlapColumn) == 0): // replaced within the window, or unknown
		return abstain
	case col(overlapMinutesColumn) > f.MaxOverlapMinutes: // a canary (NaN: none seen)
		return abstain
	case f.MaxFleetShare > 0 && fleetEvent(d, h, f.MaxFleetShare):
		return abstain
	case f.TrafficGuard && trafficRose(d, []int{h}, f.MaxP):
		return abstain
	}
	if col(baKPIBurstPColumn) <= f.MaxP && math.Abs(col(baKPILevelChangeColumn)) >= f.MinLevelChange {
		return faulty
	}
	return abstain
}
