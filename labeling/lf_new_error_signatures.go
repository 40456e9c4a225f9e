package labeling

import (
	"math"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/internal/history"
)

// FnNewSignatures names the new-error-signatures function.
const FnNewSignatures = "new_error_signatures"

// NewSignaturesLF is the new-error-signatures function and its settings
// (labeling.new_error_signatures): a deployment votes faulty when its
// version shows, within WindowMinutes of the start, at least MinErrors
// errors with fingerprints not seen on the service and environment in the
// LookbackHours before, and those errors persist: they occur in at least
// MinPersist of the minutes from their first appearance to the end of the
// window, and amount to at least MinPerMille errors per 1000 requests of
// the version. The errors of the minute holding the start count, and only
// what the stream logged before that minute is known. It abstains when other
// services of the environment were elevated together in the version's
// first hour (a fleet-wide outage brings its own new errors: see
// fleetEvent). It abstains too when the lookback was not observed: the
// stream's metrics begin in its second half and no earlier
// deployment of the stream started in it — the stream's first deployment
// in a fresh history, whose restart and startup errors no earlier restart
// logged (see lookbackUnseen). It never votes healthy.
type NewSignaturesLF struct {
	Enabled       bool    `yaml:"enabled" json:"enabled"`               // default true
	WindowMinutes int     `yaml:"window_minutes" json:"window_minutes"` // default 120
	LookbackHours float64 `yaml:"lookback_hours" json:"lookback_hours"` // default 168
	MinErrors     int64   `yaml:"min_errors" json:"min_errors"`         // default 20
	MinPersist    float64 `yaml:"min_persist" json:"min_persist"`       // default 0.3
	// MinPerMille is the least rate of new-fingerprint errors per 1000
	// requests of the version in the window, so that a rare harmless new
	// error does not count; 0 turns the check off. Default 2: the impact
	// check's default min_excess (0.002 errors per request), the least
	// error rate that a fault must add to be material.
	MinPerMille float64 `yaml:"min_per_mille" json:"min_per_mille"`
	// MaterialConfidence is the confidence with which the new errors must
	// show that rate: the lower one-sided confidence bound of their count
	// (Poisson) over the version's requests must reach MinPerMille. A
	// harmless new error just below the floor logs, by chance, a point
	// rate above it in a window of a few thousand requests; a defect far
	// above it passes at any confidence. 0 judges the point rate alone.
	// Default 0.95.
	MaterialConfidence float64 `yaml:"material_confidence" json:"material_confidence"`
	// MaxFleetShare: abstain when at least this share of the environment's
	// other services was elevated in one minute of the first
	// FleetHorizonMinutes (fleet_elevated_max_frac of
	// features_hH.parquet); 0 turns the guard off and reads no features.
	// Default 0.1.
	MaxFleetShare       float64 `yaml:"max_fleet_share" json:"max_fleet_share"`
	FleetHorizonMinutes int     `yaml:"fleet_horizon_minutes" json:"fleet_horizon_minutes"` // default 60
	// MaxImpactP: the new errors must have raised the version's error rate
	// above the expected rate, by the impact test at
	// ImpactHorizonMinutes (impact_neglog10_p of features_hH.parquet ≥
	// −log10 MaxImpactP); otherwise abstain. A new fingerprint that leaves
	// the error rate where it was is an old error under a new name (a
	// changed message, a new error class) as often as a defect. 0 turns
	// the check off and reads no feature. Default 0.001, the impact
	// check's default alpha.
	MaxImpactP           float64 `yaml:"max_impact_p" json:"max_impact_p"`
	ImpactHorizonMinutes int     `yaml:"impact_horizon_minutes" json:"impact_horizon_minutes"` // default 60
}

func (NewSignaturesLF) defaults() Function {
	return NewSignaturesLF{Enabled: true, WindowMinutes: 120, LookbackHours: 168, MinErrors: 20, MinPersist: 0.3, MinPerMille: 2,
		MaterialConfidence: 0.95, MaxFleetShare: 0.1, FleetHorizonMinutes: 60, MaxImpactP: 0.001, ImpactHorizonMinutes: 60}
}

// Name implements Function.
func (NewSignaturesLF) Name() string { return FnNewSignatures }

// Description implements Function.
func (NewSignaturesLF) Description() string {
	return "new error fingerprints on the stream that persist after the deploy"
}

// Assumption implements Function.
func (NewSignaturesLF) Assumption() string {
	return "errors whose fingerprints the stream had not shown for lookback_hours, and that persist after the deploy at a " +
		"material rate (min_per_mille, shown with material_confidence) and raise the version's error rate significantly " +
		"(max_impact_p), come from a defect the new version introduced; benign new errors are rare, brief or faint, " +
		"a new fingerprint that leaves the error rate where it was is an old error renamed, and new errors while the " +
		"environment's other services are elevated come from the shared cause; a missing impact test abstains, and so " +
		"does the stream's first deployment in a history that begins within the lookback (not having logged a " +
		"fingerprint before is missing evidence there: the errors every restart logs look new at the first restart it holds)"
}

// Validate implements Function.
func (f NewSignaturesLF) Validate() error {
	for _, c := range []struct {
		key string
		v   float64
	}{{"window_minutes", float64(f.WindowMinutes)}, {"lookback_hours", f.LookbackHours}, {"min_errors", float64(f.MinErrors)}} {
		if err := positive(c.key, c.v); err != nil {
			return err
		}
	}
	if f.MinPerMille < 0 {
		return config.Errorf("min_per_mille", "%v must be ≥ 0", f.MinPerMille)
	}
	if c := f.MaterialConfidence; !(c >= 0 && c < 1) {
		return config.Errorf("material_confidence", "%v must be in [0, 1) (0: the point rate)", c)
	}
	if p := f.MinPersist; p < 0 || p > 1 {
		return config.Errorf("min_persist", "%v must be in [0, 1]", p)
	}
	if err := validFleetShare(f.MaxFleetShare); err != nil {
		return err
	}
	if p := f.MaxImpactP; !(p >= 0 && p < 1) {
		return config.Errorf("max_impact_p", "%v must be in [0, 1) (0: off)", p)
	}
	if f.MaxImpactP > 0 {
		if err := positive("impact_horizon_minutes", float64(f.ImpactHorizonMinutes)); err != nil {
			return err
		}
	}
	if f.MaxFleetShare > 0 {
		return positive("fleet_horizon_minutes", float64(f.FleetHorizonMinutes))
	}
	return nil
}

func (f NewSignaturesLF) enabled() bool    { return f.Enabled }
func (NewSignaturesLF) dependence() string { return dependenceSymptom }

func (f NewSignaturesLF) needs() needs {
	n := needs{traffic: true, signatures: true,
		before: hours(f.LookbackHours), after: time.Duration(f.WindowMinutes) * time.Minute}
	if f.MaxFleetShare > 0 {
		n.features = []featureColumn{{horizon: f.FleetHorizonMinutes, column: fleetMaxColumn}}
	}
	if f.MaxImpactP > 0 {
		n.features = append(n.features, featureColumn{horizon: f.ImpactHorizonMinutes, column: impactPColumn})
	}
	return n
}

func (f NewSignaturesLF) vote(d *deploy) int8 {
	sd := d.traffic
	// The minute holding the start: the version may serve from it on, so
	// its fingerprints are looked for from it on, and only what the stream
	// logged before it is known.
	t0 := history.UnixMinute(d.StartedAt)
	end := t0 + int64(f.WindowMinutes)
	look := t0 - int64(math.Round(f.LookbackHours*60))
	if lookbackUnseen(d, look, t0) {
		return abstain
	}
	var errs int64
	first := int64(-1)
	minutes := map[int64]bool{}
	sd.newSignatures(d.Version, t0, end, look, func(m, count int64) bool {
		errs += count
		minutes[m] = true
		if first < 0 {
			first = m
		}
		return true
	})
	if errs < f.MinErrors || first < 0 {
		return abstain
	}
	last := end - 1
	w := sd.version(d.Version, t0, end)
	if w.lastMinute >= first {
		last = w.lastMinute
	}
	if f.MinPerMille > 0 && w.req > 0 && shownCount(float64(errs), f.MaterialConfidence)*1000/w.req < f.MinPerMille {
		return abstain
	}
	span := last - first + 1
	if span < 1 {
		span = 1
	}
	if float64(len(minutes))/float64(span) < f.MinPersist {
		return abstain
	}
	if f.MaxFleetShare > 0 && fleetEvent(d, f.FleetHorizonMinutes, f.MaxFleetShare) {
		return abstain
	}
	if f.MaxImpactP > 0 {
		// NaN or a missing row fails the comparison: abstain.
		if v, ok := d.feature(f.ImpactHorizonMinutes, impactPColumn); !ok || !(v >= -math.Log10(f.MaxImpactP)) {
			return abstain
		}
	}
	return faulty
}

// lookbackUnseen reports whether d's stream was not observed over the
// lookback [look, t0) well enough to call a fingerprint new
// (features.LookbackUnseen, the rule the features' new_sig_* columns
// follow): its metrics begin in the second half of it and no earlier
// deployment of the stream started in it.
func lookbackUnseen(d *deploy, look, t0 int64) bool {
	prev := int64(math.MinInt64)
	for j := d.i - 1; j >= 0; j-- {
		if m := history.UnixMinute(d.stream.ds[j].StartedAt); m < t0 {
			prev = m
			break
		}
	}
	return features.LookbackUnseen(d.traffic.firstMinute, prev, t0, int(t0-look))
}
