package labeling

import (
	"math"
	"time"

	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/internal/metrics"
)

// FnLatency names the performance-degradation function.
const FnLatency = "latency_degradation"

// LatencyLF is the performance-degradation function and its settings
// (labeling.latency_degradation): a deployment votes faulty when its
// version's request-weighted p95 latency over WindowMinutes after the start
// is at least P95Ratio times (or its p99 at least P99Ratio times) that of
// the other versions over BaselineMinutes before the start, and higher by at
// least MinIncreaseMs, with at least MinMinutes minutes of latency data on
// both sides and either at least MinRequests requests or, on less traffic,
// a rise the per-minute values show clearly: the version's per-minute p95
// latencies above the baseline's by a one-sided rank-sum test at p ≤
// MaxRankP (a few requests a minute make each minute's p95 noisy, so the
// ratio of two such windows alone is not evidence). It abstains when other
// services of the environment were elevated together in the version's first
// hour (a fleet-wide outage slows every service: see fleetEvent). It never
// votes healthy.
type LatencyLF struct {
	Enabled         bool    `yaml:"enabled" json:"enabled"`                   // default true
	WindowMinutes   int     `yaml:"window_minutes" json:"window_minutes"`     // default 60
	BaselineMinutes int     `yaml:"baseline_minutes" json:"baseline_minutes"` // default 120
	P95Ratio        float64 `yaml:"p95_ratio" json:"p95_ratio"`               // default 1.5
	P99Ratio        float64 `yaml:"p99_ratio" json:"p99_ratio"`               // default 2
	MinIncreaseMs   float64 `yaml:"min_increase_ms" json:"min_increase_ms"`   // default 10
	MinRequests     int64   `yaml:"min_requests" json:"min_requests"`         // default 300
	MinMinutes      int     `yaml:"min_minutes" json:"min_minutes"`           // default 10
	// MaxRankP is the largest p-value of the rank-sum test of the version's
	// per-minute p95 latencies against the baseline's that lets a version
	// with fewer than MinRequests requests vote; 0 turns the test off (such
	// a version abstains). Default 1e-4: the test treats minutes as
	// independent draws, which neighbouring minutes are not quite, so its
	// nominal level is kept far below the one false alarm in a few
	// thousand deploys that would be acceptable.
	MaxRankP float64 `yaml:"max_rank_p" json:"max_rank_p"`
	// MaxFleetShare: the function abstains when, in some minute of the
	// first FleetHorizonMinutes, at least this share of the environment's
	// other services was elevated (fleet_elevated_max_frac of
	// features_hH.parquet); 0 turns the guard off and reads no features.
	// Default 0.1.
	MaxFleetShare       float64 `yaml:"max_fleet_share" json:"max_fleet_share"`
	FleetHorizonMinutes int     `yaml:"fleet_horizon_minutes" json:"fleet_horizon_minutes"` // default 60
}

func (LatencyLF) defaults() Function {
	return LatencyLF{Enabled: true, WindowMinutes: 60, BaselineMinutes: 120, P95Ratio: 1.5, P99Ratio: 2,
		MinIncreaseMs: 10, MinRequests: 300, MinMinutes: 10, MaxRankP: 1e-4, MaxFleetShare: 0.1, FleetHorizonMinutes: 60}
}

// Name implements Function.
func (LatencyLF) Name() string { return FnLatency }

// Description implements Function.
func (LatencyLF) Description() string {
	return "p95/p99 latency of the new version well above the baseline"
}

// Assumption implements Function.
func (LatencyLF) Assumption() string {
	return "a clear rise of the new version's p95 or p99 latency over the other versions' in the hours before the deploy " +
		"(on fewer than min_requests requests, a rise of its per-minute p95 latencies significant at max_rank_p by a rank-sum " +
		"test that takes minutes as independent) is caused by the version, not by load or a shared dependency (a rise " +
		"while max_fleet_share of the environment's other services are elevated is a shared dependency's: abstain)"
}

// Validate implements Function.
func (f LatencyLF) Validate() error {
	for _, c := range []struct {
		key string
		v   float64
	}{{"window_minutes", float64(f.WindowMinutes)}, {"baseline_minutes", float64(f.BaselineMinutes)},
		{"p95_ratio", f.P95Ratio}, {"p99_ratio", f.P99Ratio}} {
		if err := positive(c.key, c.v); err != nil {
			return err
		}
	}
	if p := f.MaxRankP; !(p >= 0 && p < 1) {
		return config.Errorf("max_rank_p", "%v must be in [0, 1) (0: off)", p)
	}
	if err := validFleetShare(f.MaxFleetShare); err != nil {
		return err
	}
	if f.MaxFleetShare > 0 {
		return positive("fleet_horizon_minutes", float64(f.FleetHorizonMinutes))
	}
	return nil
}

func (f LatencyLF) enabled() bool    { return f.Enabled }
func (LatencyLF) dependence() string { return dependenceSymptom }

func (f LatencyLF) needs() needs {
	n := needs{traffic: true,
		before: time.Duration(f.BaselineMinutes) * time.Minute, after: time.Duration(f.WindowMinutes) * time.Minute}
	if f.MaxFleetShare > 0 {
		n.features = []featureColumn{{horizon: f.FleetHorizonMinutes, column: fleetMaxColumn}}
	}
	return n
}

func (f LatencyLF) vote(d *deploy) int8 {
	sd := d.traffic
	t0 := startMinute(d.StartedAt)
	t1, b0 := t0+int64(f.WindowMinutes), t0-int64(f.BaselineMinutes)
	nw := sd.version(d.Version, t0, t1)
	few := nw.req < float64(f.MinRequests)
	if (few && f.MaxRankP == 0) || nw.latMins < int64(f.MinMinutes) {
		return abstain
	}
	base := sd.others(d.Version, b0, t0)
	if base.latMins < int64(f.MinMinutes) {
		return abstain
	}
	worse := func(n, b, ratio float64) bool {
		return !math.IsNaN(n) && !math.IsNaN(b) && b > 0 && n >= ratio*b && n-b >= f.MinIncreaseMs
	}
	if !worse(nw.p95(), base.p95(), f.P95Ratio) && !worse(nw.p99(), base.p99(), f.P99Ratio) {
		return abstain
	}
	if few && !(metrics.RankSumGreaterP(sd.versionP95(d.Version, t0, t1), sd.othersP95(d.Version, b0, t0)) <= f.MaxRankP) {
		return abstain
	}
	if f.MaxFleetShare > 0 && fleetEvent(d, f.FleetHorizonMinutes, f.MaxFleetShare) {
		return abstain
	}
	return faulty
}
