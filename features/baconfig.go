package features

import "fmt"

// BeforeAfterConfig sets the before/after checks: the service after the
// change against its own recent past, for changes without a canary
// (docs/features.md, "Before/after checks").
type BeforeAfterConfig struct {
	// Budget is the false-alarm probability of each check at each look
	// (horizon): a check fires when its statistic exceeds the (1 − Budget)
	// quantile of the same statistic replayed at pseudo-change points of
	// the service's own history before the change (default 0.01).
	Budget float64 `yaml:"budget"`
	// PseudoPoints is the largest number of pseudo-change points replayed;
	// it bounds the cost (default 48).
	PseudoPoints int `yaml:"pseudo_points"`
	// MinPseudoPoints: with fewer usable pseudo-change points (too little
	// history) the checks abstain, NaN (default 20).
	MinPseudoPoints int `yaml:"min_pseudo_points"`
	// ReplayDays: pseudo-change points lie before the change on its own day
	// and on up to this many previous days (default 3).
	ReplayDays int `yaml:"replay_days"`
	// ReplaySpanMinutes and ReplayStepMinutes place the pseudo-change
	// points every step minutes within ±span minutes of the change's time
	// of day (defaults 180 and 30).
	ReplaySpanMinutes int `yaml:"replay_span_minutes"`
	ReplayStepMinutes int `yaml:"replay_step_minutes"`
	// ReferenceDays: each minute is compared after subtracting the median
	// (ReferenceStatistic) of the same clock minute on the previous
	// ReferenceDays days (those that have it; a day with no data before
	// that clock time is no reference, and with none the minute is compared
	// unadjusted), so that a daily cycle is not a change (default 3; 0 turns
	// the seasonal reference off).
	ReferenceDays int `yaml:"reference_days"`
	// ReferenceStatistic is how the reference days' values of a clock
	// minute make its reference: "median" (default) or "mean". The median
	// of three days ignores one day that was not like the others at that
	// minute — a traffic burst, an outage, an incident yesterday at the
	// same time —, which the mean carries into the change's comparison as
	// a shift of a third of its size (docs/features.md, "Seasonal
	// reference"). With one or two reference days the two are the same.
	// Empty is the mean: feature settings recorded before the setting
	// existed (DecodeConfig) computed it, and their config_hash is kept.
	ReferenceStatistic string `yaml:"reference_statistic,omitempty"`
	// ReferenceWeeks, when above 0, also tries as the seasonal reference
	// the same clock minute on the same weekday of the previous
	// ReferenceWeeks weeks (those the history has), and takes it instead
	// of the previous ReferenceDays days when it fits the service's
	// history before the change better: the adjusted values of the replay
	// days, up to the start, vary less about their own level. It serves
	// services whose weekdays and weekends differ in shape, not only in
	// level (office hours: traffic that falls at six on weekdays only);
	// the daily reference averages more days and wins otherwise. The
	// choice is made per series, for the change and every pseudo-change
	// point alike, and only when the history holds a week before every
	// replay day. It reads replay_days + 7·ReferenceWeeks days of history
	// (HistoryMinutes). Default 0, the daily reference only: with 1, the
	// nightly job's extraction took 24% longer at 100k deploys (17.9 →
	// 22.3 s), which at 1M would take it past its 10-minute target
	// (docs/performance.md).
	ReferenceWeeks int `yaml:"reference_weeks,omitempty"`
	// BurstMinutes are the lengths of the short windows the burst test
	// scans (default [5, 15]; lengths above H are left out, and H is used
	// when all are).
	BurstMinutes []int `yaml:"burst_minutes"`
	// SustainedBlockErrors: the error rate's sustained test takes its
	// quartile over blocks of minutes in which the baseline expects this
	// many errors (at most a quarter of the window each), not over single
	// minutes, so that a service logging an error every few minutes is
	// judged (default 5; 0: single minutes).
	SustainedBlockErrors float64 `yaml:"sustained_block_errors"`
	// MinErrorRise is the relative materiality of a before/after rise of
	// the error rate: a rise of at least this share of the baseline's
	// error rate (baseline_error_rate) is material even below the impact
	// check's absolute floor (impact.min_excess), provided the window
	// logged no error with a new fingerprint (BAErrorMaterial). For error
	// series at any scale — a KPI mapped to errors, a service whose error
	// rate is 0.1 % — where a moderate shift of 10–30 % is the fault
	// (default 0.1; 0: the absolute floor alone). It decides no feature
	// value — the fallback and the labeling functions apply it to them — so
	// Config.ConfigHash leaves it out, and bundles trained before it
	// existed still load.
	MinErrorRise float64 `yaml:"min_error_rise,omitempty"`
}

// The values of BeforeAfterConfig.ReferenceStatistic.
const (
	ReferenceMedian = "median"
	ReferenceMean   = "mean"
)

// referenceMedian reports whether the seasonal reference is the median of
// the reference days' values (else their mean).
func (b *BeforeAfterConfig) referenceMedian() bool { return b.ReferenceStatistic == ReferenceMedian }

// defaultBeforeAfter returns the defaults documented on BeforeAfterConfig.
func defaultBeforeAfter() BeforeAfterConfig {
	return BeforeAfterConfig{Budget: 0.01, PseudoPoints: 48, MinPseudoPoints: 20, ReplayDays: 3,
		ReplaySpanMinutes: 180, ReplayStepMinutes: 30, ReferenceDays: 3, ReferenceStatistic: ReferenceMedian, BurstMinutes: []int{5, 15},
		SustainedBlockErrors: 5, MinErrorRise: 0.1}
}

// validate reports the invalid settings through bad (Config.Validate's).
func (b *BeforeAfterConfig) validate(bad func(path, format string, a ...any)) {
	if !(b.Budget > 0 && b.Budget <= 0.5) {
		bad("before_after.budget", "%v is not in (0, 0.5]", b.Budget)
	}
	if b.PseudoPoints < 1 || b.PseudoPoints > 500 {
		bad("before_after.pseudo_points", "must be in 1..500, not %d", b.PseudoPoints)
	}
	if b.MinPseudoPoints < 2 || b.MinPseudoPoints > b.PseudoPoints {
		bad("before_after.min_pseudo_points", "must be in 2..pseudo_points (%d), not %d", b.PseudoPoints, b.MinPseudoPoints)
	}
	if b.ReplayDays < 0 || b.ReplayDays > maxDays {
		bad("before_after.replay_days", "must be in 0..%d, not %d", maxDays, b.ReplayDays)
	}
	if b.ReplaySpanMinutes < 0 || b.ReplaySpanMinutes > 720 {
		bad("before_after.replay_span_minutes", "must be in 0..720, not %d", b.ReplaySpanMinutes)
	}
	if b.ReplayStepMinutes < 1 {
		bad("before_after.replay_step_minutes", "must be ≥ 1, not %d", b.ReplayStepMinutes)
	}
	if b.ReferenceDays < 0 || b.ReferenceDays > maxDays {
		bad("before_after.reference_days", "must be in 0..%d, not %d", maxDays, b.ReferenceDays)
	}
	switch b.ReferenceStatistic {
	case ReferenceMedian, ReferenceMean, "":
	default:
		bad("before_after.reference_statistic", "must be %q or %q, not %q", ReferenceMedian, ReferenceMean, b.ReferenceStatistic)
	}
	if b.ReferenceWeeks < 0 || b.ReferenceWeeks > maxWeeks {
		bad("before_after.reference_weeks", "must be in 0..%d, not %d", maxWeeks, b.ReferenceWeeks)
	}
	if !(b.SustainedBlockErrors >= 0 && b.SustainedBlockErrors <= 1000) {
		bad("before_after.sustained_block_errors", "%v is not in [0, 1000]", b.SustainedBlockErrors)
	}
	if !(b.MinErrorRise >= 0 && b.MinErrorRise <= 100) {
		bad("before_after.min_error_rise", "%v is not in [0, 100]", b.MinErrorRise)
	}
	if len(b.BurstMinutes) == 0 {
		bad("before_after.burst_minutes", "at least one length is needed")
	}
	for i, m := range b.BurstMinutes {
		if m < 2 {
			bad(fmt.Sprintf("before_after.burst_minutes[%d]", i), "must be ≥ 2, not %d", m)
		}
	}
}

// HistoryMinutes returns how many minutes before a deploy's start minute
// its features read: the seasonal days, and the pseudo-change points of
// the before/after checks with their own reference days (with
// reference_weeks, the days a week or more before the replay days). Callers that
// build an Input (the extractor, a detector) should cover them; with less,
// the checks that need them abstain.
func (c *Config) HistoryMinutes() int {
	ba := &c.BeforeAfter
	days := ba.ReplayDays + ba.ReferenceDays
	if ba.ReferenceWeeks > 0 {
		days = max(days, ba.ReplayDays+7*ba.ReferenceWeeks)
	}
	return c.historyMinutes(days)
}

// historyMinutes returns the minutes before a deploy's start minute that
// its features read when the before/after view reaches days back.
func (c *Config) historyMinutes(days int) int {
	ba := &c.BeforeAfter
	need := days*1440 + ba.ReplaySpanMinutes + c.BaselineMinutes
	return max(need, c.SeasonalDays*1440+c.BaselineMinutes)
}

// WarmupMinutes returns how long after a history begins a deploy's
// features can be complete: HistoryMinutes without the weekly reference
// (tried where the history has it), and the signature lookback
// (a fingerprint older than the history cannot be known). Deploys in the
// first WarmupMinutes of a history have checks that abstain for want of
// data and baselines drawn from fewer days.
func (c *Config) WarmupMinutes() int {
	ba := &c.BeforeAfter
	return max(c.historyMinutes(ba.ReplayDays+ba.ReferenceDays), c.SignatureLookbackMinutes)
}

// maxDays bounds replay_days and reference_days, and maxWeeks
// reference_weeks, so that a view has at most maxSegs segments (the day of
// the change, 2·maxDays previous days, and the week-earlier days of each
// replay day).
const (
	maxDays  = 14
	maxWeeks = 4
	maxSegs  = 2*maxDays + 1 + (maxDays+1)*maxWeeks
)
