package features

import "math"

// The before/after shift rule: when the before/after checks of one series
// group are evidence that the service shifted at a change without a canary,
// rather than a restart blip, a harmless new error or load. Labeling's
// before_after_shift and kpi_breach functions and the detector's
// statistical fallback apply it, each at its own looks and with its own
// settings; the rule itself lives here, beside the columns it reads, so
// that they apply one rule. docs/features.md ("What they do not know") and
// detector/statistical.go state what each part assumes.

// BAGroup is one series group of the before/after checks: the columns of
// its level change and of the p-values of its level (shift) and sustained
// (quartile) tests.
type BAGroup struct {
	Level, ShiftP, SustainedP int
}

// The series groups of the before/after checks.
var (
	BAErrGroup  = BAGroup{BAErrLevelChange, BAErrShiftP, BAErrSustainedP}
	BALatGroup  = BAGroup{BALatLevelChange, BALatShiftP, BALatSustainedP}
	BATputGroup = BAGroup{BATputLevelChange, BATputShiftP, BATputSustainedP}
	BAKPIGroup  = BAGroup{BAKPILevelChange, BAKPIShiftP, BAKPISustainedP}
)

// BAShifted reports whether a group's level and sustained tests both have
// replay p-values at most alpha: the level moved, and three quarters of the
// minutes moved with it (a burst or a blip that fades moves the level
// alone). A NaN p-value fails it.
func BAShifted(shiftP, sustainedP, alpha float64) bool {
	return shiftP <= alpha && sustainedP <= alpha
}

// BAMaterial reports whether a level change reaches minLevel, the least
// change that matters (for the error rate, the impact check's min_excess:
// a harmless new error lifts a small error rate for good, a real shift
// that is not a fault). minLevel ≤ 0 is no floor; otherwise a NaN level
// fails it.
func BAMaterial(level, minLevel float64) bool {
	return minLevel <= 0 || level >= minLevel
}

// BAErrorMaterial reports whether a before/after rise of the service's
// error rate (level, ba_err_level_change, errors per request) is material.
// It is when it reaches minExcess, the impact check's absolute floor
// (impact.min_excess; ≤ 0: no floor at all): a harmless new error lifts a
// small error rate for good — a real shift, significant on heavy traffic —
// and logs a few errors per thousand requests at most. It is too when it
// reaches minRise times the baseline's error rate (baseline, > 0) and the
// window logged no error with a fingerprint the stream had not shown
// (newSigErrors is 0; NaN is not known to be 0): the rise then comes from
// errors the service already had, so the harmless-new-error reason for the
// absolute floor does not hold, and a moderate relative shift of a small
// rate — a KPI mapped to error counts at any scale, a 0.1 % error rate up
// by a third — is what a fault looks like. A history that records no
// fingerprints at all has no new ones either: there the rise is judged
// relative as it is. minRise ≤ 0 leaves the absolute floor alone. A NaN
// level fails.
func BAErrorMaterial(level, baseline, newSigErrors, minExcess, minRise float64) bool {
	if BAMaterial(level, minExcess) {
		return true
	}
	return minRise > 0 && baseline > 0 && newSigErrors == 0 && level >= minRise*baseline
}

// BADecayed reports whether a shift decayed between looks a < b minutes:
// with levelA and levelB the window means of the level change up to each
// look, oriented by sign (+1 when the shift's bad direction is up, −1 when
// down), the mean level of the minutes after a, (b·levelB − a·levelA)/(b −
// a), is below minLateToEarly times the level up to a while that was on
// the shift's side. A restart blip fades; a fault persists. A NaN level
// counts as decayed: it cannot show that the shift held.
func BADecayed(a, b int, levelA, levelB, sign, minLateToEarly float64) bool {
	early := sign * levelA
	late := sign * (float64(b)*levelB - float64(a)*levelA) / float64(b-a)
	if math.IsNaN(late) {
		return true
	}
	return early > 0 && late < minLateToEarly*early
}

// BATrafficRose reports whether the throughput rose at least as clearly as
// a shift at p-value threshold alpha must show: its level and sustained
// statistics (ba_tput_shift_z, ba_tput_sustained_z; positive when it falls)
// both at most −z, z the standard normal quantile of 1 − alpha. Load moves
// the KPIs that follow it (saturation, latency), so a KPI shift that comes
// with it is no evidence against the change. NaN statistics report false.
func BATrafficRose(shiftStat, sustainedStat, alpha float64) bool {
	z := math.Sqrt2 * math.Erfinv(1-2*alpha)
	return shiftStat <= -z && sustainedStat <= -z
}

// FleetEvent reports whether fleet_elevated_max_frac reached share: at
// least that share of the environment's other services were elevated in
// one minute of the window, a fleet-wide event (a shared dependency
// failing moves every service). NaN — no other service, no control — is
// not an event; a share of 0 or less turns the guard off. The labeling
// functions' max_fleet_share, the statistical fallback and the trained
// policy's fleet_event_share all judge by it.
func FleetEvent(maxFrac, share float64) bool {
	return share > 0 && maxFrac >= share
}
