package labeling

import (
	"math"
	"slices"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
)

// FnBeforeAfterShift names the before/after shift function.
const FnBeforeAfterShift = "before_after_shift"

// baSeries is one series group of the before/after checks of
// features_hH.parquet: the columns of its level (shift) test, its sustained
// (quartile) test and its level change.
type baSeries struct {
	shiftP, sustainedP, level string
	// minLevel, when > 0, is the least level change (in the series' bad
	// direction, up) the group must show at every look: materiality.
	minLevel float64
	// errorRate: the level is the error rate's, judged by
	// features.BAErrorMaterial with minLevel as the absolute floor and
	// minRise as the relative one.
	errorRate bool
	minRise   float64
}

func baSeriesOf(g features.BAGroup) baSeries {
	return baSeries{shiftP: features.Schema[g.ShiftP].Name, sustainedP: features.Schema[g.SustainedP].Name, level: features.Schema[g.Level].Name}
}

// The series groups the before/after functions read, and the other columns.
var (
	baErrSeries  = baSeriesOf(features.BAErrGroup)
	baLatSeries  = baSeriesOf(features.BALatGroup)
	baTputSeries = baSeriesOf(features.BATputGroup)
	baKPISeries  = baSeriesOf(features.BAKPIGroup)

	baTputShiftZColumn      = features.Schema[features.BATputShiftStat].Name
	baTputSustainedZColumn  = features.Schema[features.BATputSustainedStat].Name
	overlapMinutesColumn    = features.Schema[features.OverlapMinutes].Name
	baselineErrorRateColumn = features.Schema[features.BaselineErrorRate].Name
	newSigErrorsColumn      = features.Schema[features.NewSigErrors].Name
)

// BeforeAfterShiftLF is the before/after shift function and its settings
// (labeling.before_after_shift): a deployment votes faulty when one of the
// service's own series — its error rate, p95 latency or throughput, each in
// its bad direction — shifted at the change, against its own past, and
// stayed shifted (see baShift for the rule). It needs no canary, no version
// in the metrics and no fleet: the before/after checks of
// docs/features.md compare the service after the change with its own
// recent past, calibrated by replay on its history. It never votes healthy:
// a missing look, a check that could not judge, or no shift abstains.
type BeforeAfterShiftLF struct {
	Enabled bool `yaml:"enabled" json:"enabled"` // default true
	baShift `yaml:",inline"`
	// MinErrorExcess is the least rise of the service's error rate, in
	// errors per request (ba_err_level_change: the window's mean minus the
	// baseline's, seasonally adjusted), at every look for the error-rate
	// series to count: the impact check's materiality
	// (features.impact.min_excess, 0.002), so that a harmless new error
	// that lifts a small error rate for good — a real shift, significant on
	// heavy traffic — is not a fault. 0 turns it off. The latency and
	// throughput series have no such floor.
	MinErrorExcess float64 `yaml:"min_error_excess" json:"min_error_excess"`
	// MinErrorRise is the relative materiality of the error rate's rise:
	// a rise of at least this share of baseline_error_rate counts too,
	// below MinErrorExcess, when the window logged no error with a new
	// fingerprint (new_sig_errors 0) — the rise then comes from errors the
	// service already had, not from a harmless new one
	// (features.BAErrorMaterial; the features' before_after.min_error_rise,
	// 0.1, which the detector's fallback applies). For error rates of any
	// scale: a 0.1 % rate up by a third, a KPI mapped to error counts. 0
	// leaves MinErrorExcess alone.
	MinErrorRise float64 `yaml:"min_error_rise" json:"min_error_rise"`
}

// baShift is the rule of the before/after evidence functions
// (before_after_shift and kpi_breach), over the series groups they read.
// For one series group:
//
//   - no canary: the new version served beside the previous one in at
//     most MaxOverlapMinutes minutes of the first horizon (overlap_minutes;
//     aggregate metrics have none). Where a canary ran, the version-level
//     functions judge the version itself, and the service's series mix
//     both versions;
//   - served: the version served the whole first of Horizons alone (no
//     other deploy of the stream started in it, overlap_deploy = 0). It is
//     judged at every horizon it served whole; later horizons in which
//     another deploy started are skipped (a version replaced at minute 45
//     is judged at 20 minutes);
//   - shifted: at each of those horizons, the level (shift) test and the
//     sustained (quartile) test of the group have replay p-values ≤ MaxP / n,
//     n being the groups of the function that judged at the first horizon
//     (Bonferroni: the function keeps MaxP per deployment over its groups,
//     as ba_min_p keeps the features' budget over the checks);
//   - material: a group with a least level (minLevel: the error rate's,
//     before_after_shift's MinErrorExcess) rose by at least that at each
//     of those horizons — the error rate also when it rose by MinErrorRise
//     of its baseline rate without a new fingerprint
//     (features.BAErrorMaterial);
//   - not decaying: between consecutive looks a < b (EarlyMinutes, then
//     the horizons judged), the mean level of the minutes after a, derived
//     from the two window means as (b·level_b − a·level_a)/(b − a), is at
//     least MinLateToEarly times level_a, both oriented by the sign of the
//     level at the first horizon (a later look that is not worse is never
//     decaying). A restart blip or a burst that fades fails it;
//   - no fleet event at any horizon judged (fleetEvent, MaxFleetShare).
//
// Every comparison is written so that a NaN or a missing row fails it.
type baShift struct {
	// Horizons are the looks, in minutes, at which the shift must show;
	// features_hH.parquet must exist for each. Default [20, 60]: at 10
	// minutes restart blips are still under way, and a version that served
	// the hour must still be shifted at its end.
	Horizons []int `yaml:"horizons" json:"horizons"`
	// EarlyMinutes is an earlier look used only to check that the shift
	// is not decaying by the first horizon; 0 turns it off. Default 10.
	EarlyMinutes int `yaml:"early_minutes" json:"early_minutes"`
	// MaxP is the largest replay p-value, shared by the function's series
	// groups (Bonferroni), of both tests at every horizon. Default 0.01,
	// the features' default before_after.budget: each function keeps it
	// per deployment.
	MaxP float64 `yaml:"max_p" json:"max_p"`
	// MinLateToEarly is the least ratio of the level after a look to the
	// level up to it. Default 0.5, as early_impact's min_last_to_first.
	MinLateToEarly float64 `yaml:"min_late_to_early" json:"min_late_to_early"`
	// MaxFleetShare: abstain when at least this share of the environment's
	// other services was elevated in one minute of a horizon judged (see
	// fleetEvent); 0 turns the guard off. Default 0.1.
	MaxFleetShare float64 `yaml:"max_fleet_share" json:"max_fleet_share"`
	// MaxOverlapMinutes: abstain when the new and the previous version
	// both served in more than this many minutes of the first horizon (a
	// canary). Default 0: only changes without a canary, as the
	// before/after checks are meant for.
	MaxOverlapMinutes float64 `yaml:"max_overlap_minutes" json:"max_overlap_minutes"`
}

func defaultBAShift() baShift {
	return baShift{Horizons: []int{20, 60}, EarlyMinutes: 10, MaxP: 0.01, MinLateToEarly: 0.5, MaxFleetShare: 0.1}
}

func (BeforeAfterShiftLF) defaults() Function {
	return BeforeAfterShiftLF{Enabled: true, baShift: defaultBAShift(), MinErrorExcess: 0.002, MinErrorRise: 0.1}
}

// Name implements Function.
func (BeforeAfterShiftLF) Name() string { return FnBeforeAfterShift }

// Description implements Function.
func (BeforeAfterShiftLF) Description() string {
	return "a change without a canary: the service's error rate, p95 latency or throughput shifted in its bad direction, " +
		"by the level and sustained before/after tests at every before_after_shift.horizons the version served, " +
		"and did not fade"
}

// Assumption implements Function.
func (BeforeAfterShiftLF) Assumption() string {
	return "when the service's error rate, p95 latency or throughput moves in its bad direction at the change — " +
		"beyond what its own history makes likely at that hour (the level and sustained tests, at p ≤ max_p shared by " +
		"the three series; the error rate also by a material amount: at least min_error_excess, or min_error_rise of its " +
		"baseline rate when the window logged no new error fingerprint), at every horizon the " +
		"version served alone, without fading like a restart blip, while " +
		"the rest of the environment was not elevated — the version caused it; no such shift says nothing " +
		"(the fault may be small, short, delayed or elsewhere): abstain. Changes with a canary are left to the " +
		"version-level functions"
}

// Validate implements Function.
func (f BeforeAfterShiftLF) Validate() error {
	if e := f.MinErrorExcess; !(e >= 0 && e <= 1) {
		return config.Errorf("min_error_excess", "%v must be in [0, 1] (errors per request)", e)
	}
	if r := f.MinErrorRise; !(r >= 0 && r <= 100) {
		return config.Errorf("min_error_rise", "%v must be in [0, 100] (a share of the baseline's error rate)", r)
	}
	return f.baShift.validate()
}

func (f baShift) validate() error {
	if err := validHorizons("horizons", f.Horizons); err != nil {
		return err
	}
	if e := f.EarlyMinutes; e < 0 || (e > 0 && e >= slices.Min(f.Horizons)) {
		return config.Errorf("early_minutes", "%d must be 0 (off) or between 0 and the first horizon (%d)", e, slices.Min(f.Horizons))
	}
	if p := f.MaxP; !(p > 0 && p <= 1) {
		return config.Errorf("max_p", "%v must be in (0, 1]", p)
	}
	if !(f.MinLateToEarly >= 0) {
		return config.Errorf("min_late_to_early", "%v must be ≥ 0", f.MinLateToEarly)
	}
	return validateBAGuards(f.MaxFleetShare, f.MaxOverlapMinutes)
}

func (f BeforeAfterShiftLF) enabled() bool { return f.Enabled }

func (f BeforeAfterShiftLF) needs() needs {
	return needs{features: f.baShift.columns(f.series(), nil)}
}

// series returns the groups f reads, the error rate's with its
// materiality floor.
func (f BeforeAfterShiftLF) series() []baSeries {
	err := baErrSeries
	err.minLevel, err.errorRate, err.minRise = f.MinErrorExcess, true, f.MinErrorRise
	return []baSeries{err, baLatSeries, baTputSeries}
}

func (f BeforeAfterShiftLF) vote(d *deploy) int8 {
	if f.baShift.fires(d, f.series(), nil) {
		return faulty
	}
	return abstain
}

// columns returns the features columns the rule reads for the series, and
// extra columns at every horizon.
func (f baShift) columns(series []baSeries, extra []string) []featureColumn {
	if len(f.Horizons) == 0 {
		return nil // invalid: Validate says so
	}
	var cols []featureColumn
	for _, h := range f.Horizons {
		cols = append(cols, featureColumn{horizon: h, column: overlapColumn, allowed: []float64{0, 1}})
		if f.MaxFleetShare > 0 {
			cols = append(cols, featureColumn{horizon: h, column: fleetMaxColumn})
		}
		for _, s := range series {
			cols = append(cols, featureColumn{horizon: h, column: s.shiftP}, featureColumn{horizon: h, column: s.sustainedP},
				featureColumn{horizon: h, column: s.level})
			if s.errorRate {
				cols = append(cols, featureColumn{horizon: h, column: baselineErrorRateColumn},
					featureColumn{horizon: h, column: newSigErrorsColumn})
			}
		}
		for _, c := range extra {
			cols = append(cols, featureColumn{horizon: h, column: c})
		}
	}
	if f.EarlyMinutes > 0 {
		for _, s := range series {
			cols = append(cols, featureColumn{horizon: f.EarlyMinutes, column: s.level})
		}
	}
	return append(cols, featureColumn{horizon: slices.Min(f.Horizons), column: overlapMinutesColumn})
}

// fires reports the rule of baShift on d for the series. guard, when not
// nil, is given the horizons judged and the per-group p-value threshold,
// and vetoes the vote when it returns true.
func (f baShift) fires(d *deploy, series []baSeries, guard func(d *deploy, looks []int, p float64) bool) bool {
	col := func(h int, c string) float64 {
		v, ok := d.feature(h, c)
		if !ok {
			return math.NaN()
		}
		return v
	}
	hs := slices.Sorted(slices.Values(f.Horizons))
	if col(hs[0], overlapMinutesColumn) > f.MaxOverlapMinutes {
		return false // a canary (NaN: no per-version data, no canary seen)
	}
	var looks []int
	for _, h := range hs {
		if col(h, overlapColumn) != 0 {
			break // another deploy started within h: it and the later horizons are not the version's alone
		}
		if f.MaxFleetShare > 0 && fleetEvent(d, h, f.MaxFleetShare) {
			return false
		}
		looks = append(looks, h)
	}
	if len(looks) == 0 {
		return false // replaced (or redeployed) within the first horizon
	}
	judged := 0
	for _, s := range series {
		if !math.IsNaN(col(looks[0], s.shiftP)) {
			judged++
		}
	}
	if judged == 0 {
		return false
	}
	p := f.MaxP / float64(judged)
	if guard != nil && guard(d, looks, p) {
		return false
	}
	points := looks
	if f.EarlyMinutes > 0 {
		points = append([]int{f.EarlyMinutes}, looks...)
	}
	for _, s := range series {
		if f.shifted(col, s, looks, points, p) {
			return true
		}
	}
	return false
}

// shifted reports whether series s passes both tests at every look, is
// material there, and does not decay between consecutive points: features'
// before/after shift rule (features.BAShifted, BAMaterial, BADecayed),
// oriented by the sign of the level at the first look.
func (f baShift) shifted(col func(int, string) float64, s baSeries, looks, points []int, p float64) bool {
	for _, h := range looks {
		if !features.BAShifted(col(h, s.shiftP), col(h, s.sustainedP), p) {
			return false
		}
		if s.errorRate {
			if !features.BAErrorMaterial(col(h, s.level), col(h, baselineErrorRateColumn), col(h, newSigErrorsColumn), s.minLevel, s.minRise) {
				return false
			}
		} else if !features.BAMaterial(col(h, s.level), s.minLevel) {
			return false
		}
	}
	sign := 1.0
	if col(looks[0], s.level) < 0 {
		sign = -1 // a series whose bad direction is down (throughput, a lower-is-worse KPI)
	}
	for i := 1; i < len(points); i++ {
		a, b := points[i-1], points[i]
		if features.BADecayed(a, b, col(a, s.level), col(b, s.level), sign, f.MinLateToEarly) {
			return false
		}
	}
	return true
}

// validateBAGuards checks the guards the before/after functions share:
// max_fleet_share (the fleet-event guard) in [0, 1] and
// max_overlap_minutes (the canary guard) ≥ 0.
func validateBAGuards(maxFleetShare, maxOverlapMinutes float64) error {
	if err := validFleetShare(maxFleetShare); err != nil {
		return err
	}
	if !(maxOverlapMinutes >= 0) {
		return config.Errorf("max_overlap_minutes", "%v must be ≥ 0", maxOverlapMinutes)
	}
	return nil
}
