package labeling

import (
	"math"
	"slices"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
)

// FnBeforeAfterHealthy names the before/after healthy function.
const FnBeforeAfterHealthy = "before_after_healthy"

// The features columns the function reads besides the series groups'.
var (
	baErrShiftZColumn      = features.Schema[features.BAErrShiftStat].Name
	baLatShiftZColumn      = features.Schema[features.BALatShiftStat].Name
	baChecksFiredColumn    = features.Schema[features.BAChecksFired].Name
	baselineErrorColumn    = features.Schema[features.BaselineErrorRate].Name
	sincePrevDeployColumn  = features.Schema[features.MinutesSincePrevDeploy].Name
	baHealthyLevelColumns  = []string{baErrSeries.level, baLatSeries.level, baTputSeries.level}
	baHealthyShiftZColumns = []string{baErrShiftZColumn, baLatShiftZColumn, baTputShiftZColumn}
)

// BeforeAfterHealthyLF is the before/after healthy function and its
// settings (labeling.before_after_healthy). It votes healthy on positive
// evidence, from the before/after checks alone — no canary, no version in
// the metrics — when:
//
//   - no canary ran: the new and the previous version both served in at
//     most MaxOverlapMinutes minutes of the first horizon (a canary's share
//     of the service's series can hide its fault);
//   - the version served the whole last of Horizons alone (overlap_deploy =
//     0), and no other deploy of the stream started in the MinQuietMinutes
//     before it (minutes_since_prev_deploy), so the baseline is one
//     version's steady state and not the recovery from another's;
//   - at every horizon the error-rate and throughput checks judged (enough
//     history to replay them) and no before/after check fired
//     (ba_checks_fired = 0, KPIs included), and no fleet event
//     (MaxFleetShare);
//   - at the last horizon the level changes rule out, each with one-sided
//     Confidence, a material change: the error rate's upper bound at most
//     (MaxErrorRatio − 1) × the baseline error rate above it, the p95
//     latency's upper bound at most ×MaxLatencyRatio (when latency is
//     recorded), the throughput's lower bound at least ÷MaxThroughputDropRatio.
//     A bound is the level change plus or minus z standard errors, the
//     standard error being the level change over its level statistic
//     (ba_*_level_change / ba_*_shift_z, oriented back).
//
// Anything else abstains: too little history to judge, a change too noisy to
// bound, a version replaced within the hour. It never votes faulty.
type BeforeAfterHealthyLF struct {
	Enabled bool `yaml:"enabled" json:"enabled"` // default true
	// Horizons are the looks, in minutes, at which no check may fire; the
	// bounds are read at the last. Default [10, 20, 60].
	Horizons []int `yaml:"horizons" json:"horizons"`
	// Confidence is the one-sided confidence of the bounds, in (0.5, 1).
	// Default 0.95.
	Confidence float64 `yaml:"confidence" json:"confidence"`
	// MaxErrorRatio: the error rate's upper bound rules out this factor
	// over the baseline rate. Default 1.5, the impact check's min_ratio (as
	// statistical_ensemble's healthy_max_error_ratio).
	MaxErrorRatio float64 `yaml:"max_error_ratio" json:"max_error_ratio"`
	// MaxLatencyRatio: the p95 latency's upper bound rules out this factor.
	// Default 1.3, the latency flag's min_ratio.
	MaxLatencyRatio float64 `yaml:"max_latency_ratio" json:"max_latency_ratio"`
	// MaxThroughputDropRatio: the throughput's lower bound rules out a fall
	// by this factor. Default 1.3, as latency.
	MaxThroughputDropRatio float64 `yaml:"max_throughput_drop_ratio" json:"max_throughput_drop_ratio"`
	// MinQuietMinutes is the least time since the stream's previous
	// deploy. Default 60, the features' default baseline_minutes.
	MinQuietMinutes float64 `yaml:"min_quiet_minutes" json:"min_quiet_minutes"`
	// MaxFleetShare: abstain when at least this share of the environment's
	// other services was elevated in one minute of a horizon (see
	// fleetEvent); 0 turns the guard off. Default 0.1.
	MaxFleetShare float64 `yaml:"max_fleet_share" json:"max_fleet_share"`
	// MaxOverlapMinutes: abstain when the new and the previous version
	// both served in more than this many minutes of the first horizon (a
	// canary). Default 0.
	MaxOverlapMinutes float64 `yaml:"max_overlap_minutes" json:"max_overlap_minutes"`
}

func (BeforeAfterHealthyLF) defaults() Function {
	return BeforeAfterHealthyLF{Enabled: true, Horizons: []int{10, 20, 60}, Confidence: 0.95, MaxErrorRatio: 1.5,
		MaxLatencyRatio: 1.3, MaxThroughputDropRatio: 1.3, MinQuietMinutes: 60, MaxFleetShare: 0.1}
}

// Name implements Function.
func (BeforeAfterHealthyLF) Name() string { return FnBeforeAfterHealthy }

func (BeforeAfterHealthyLF) measuresHealth() {}

// Description implements Function.
func (BeforeAfterHealthyLF) Description() string {
	return "healthy: a change without a canary whose version served the last of before_after_healthy.horizons alone after a quiet hour, no " +
		"before/after check fired at any horizon, and the level changes rule out a material rise of the error rate " +
		"or latency and a material fall of the throughput"
}

// Assumption implements Function.
func (BeforeAfterHealthyLF) Assumption() string {
	return "a fault shows in the service's own series within the last horizon: a version that served it alone, after " +
		"an hour without other deploys, with no before/after check firing and level changes that rule out (with " +
		"confidence) max_error_ratio more errors, max_latency_ratio more p95 latency and a fall of throughput by " +
		"max_throughput_drop_ratio, was healthy; checks that could not judge, changes too noisy to bound, canaries " +
		"(whose share can hide in the service's series) and versions replaced sooner say nothing: abstain"
}

// Validate implements Function.
func (f BeforeAfterHealthyLF) Validate() error {
	if err := validHorizons("horizons", f.Horizons); err != nil {
		return err
	}
	if c := f.Confidence; !(c > 0.5 && c < 1) {
		return config.Errorf("confidence", "%v must be in (0.5, 1)", c)
	}
	for _, c := range []struct {
		key string
		v   float64
	}{{"max_error_ratio", f.MaxErrorRatio}, {"max_latency_ratio", f.MaxLatencyRatio},
		{"max_throughput_drop_ratio", f.MaxThroughputDropRatio}} {
		if !(c.v > 1) {
			return config.Errorf(c.key, "%v must be > 1", c.v)
		}
	}
	if !(f.MinQuietMinutes >= 0) {
		return config.Errorf("min_quiet_minutes", "%v must be ≥ 0", f.MinQuietMinutes)
	}
	return validateBAGuards(f.MaxFleetShare, f.MaxOverlapMinutes)
}

func (f BeforeAfterHealthyLF) enabled() bool { return f.Enabled }

func (f BeforeAfterHealthyLF) needs() needs {
	if len(f.Horizons) == 0 {
		return needs{} // invalid: Validate says so
	}
	var cols []featureColumn
	for _, h := range f.Horizons {
		cols = append(cols, featureColumn{horizon: h, column: baErrSeries.shiftP}, featureColumn{horizon: h, column: baTputSeries.shiftP},
			featureColumn{horizon: h, column: baChecksFiredColumn})
		if f.MaxFleetShare > 0 {
			cols = append(cols, featureColumn{horizon: h, column: fleetMaxColumn})
		}
	}
	last := slices.Max(f.Horizons)
	cols = append(cols, featureColumn{horizon: slices.Min(f.Horizons), column: overlapMinutesColumn},
		featureColumn{horizon: last, column: overlapColumn, allowed: []float64{0, 1}},
		featureColumn{horizon: last, column: sincePrevDeployColumn}, featureColumn{horizon: last, column: baselineErrorColumn})
	for i := range baHealthyLevelColumns {
		cols = append(cols, featureColumn{horizon: last, column: baHealthyLevelColumns[i]},
			featureColumn{horizon: last, column: baHealthyShiftZColumns[i]})
	}
	return needs{features: cols}
}

func (f BeforeAfterHealthyLF) vote(d *deploy) int8 {
	if f.clean(d) {
		return healthy
	}
	return abstain
}

// clean reports the rule of BeforeAfterHealthyLF. Every comparison is
// written so that a NaN or a missing row fails it.
func (f BeforeAfterHealthyLF) clean(d *deploy) bool {
	col := func(h int, c string) float64 {
		v, ok := d.feature(h, c)
		if !ok {
			return math.NaN()
		}
		return v
	}
	if col(slices.Min(f.Horizons), overlapMinutesColumn) > f.MaxOverlapMinutes {
		return false // a canary (NaN: no per-version data, no canary seen)
	}
	last := slices.Max(f.Horizons)
	if !(col(last, overlapColumn) == 0 && col(last, sincePrevDeployColumn) >= f.MinQuietMinutes) {
		return false
	}
	for _, h := range f.Horizons {
		if math.IsNaN(col(h, baErrSeries.shiftP)) || math.IsNaN(col(h, baTputSeries.shiftP)) || !(col(h, baChecksFiredColumn) == 0) {
			return false
		}
		if f.MaxFleetShare > 0 && fleetEvent(d, h, f.MaxFleetShare) {
			return false
		}
	}
	z := zOf(f.Confidence)
	// bound returns the level change of a series at the last horizon and
	// its one-sided bound in the bad direction (up, or down when down is
	// the bad direction: the statistic is then oriented the other way).
	bound := func(level, stat string, down bool) (float64, float64) {
		l, s := col(last, level), col(last, stat)
		if down {
			s = -s
		}
		if l == 0 || s == 0 {
			return l, math.NaN() // no standard error to derive
		}
		se := l / s
		if down {
			return l, l - z*se
		}
		return l, l + z*se
	}
	if _, up := bound(baErrSeries.level, baErrShiftZColumn, false); !(up <= (f.MaxErrorRatio-1)*col(last, baselineErrorColumn)) {
		return false
	}
	if l, up := bound(baLatSeries.level, baLatShiftZColumn, false); !math.IsNaN(l) && !(up <= math.Log(f.MaxLatencyRatio)) {
		return false // NaN level: the history records no latency, nothing to bound
	}
	_, lo := bound(baTputSeries.level, baTputShiftZColumn, true)
	return lo >= -math.Log(f.MaxThroughputDropRatio)
}
