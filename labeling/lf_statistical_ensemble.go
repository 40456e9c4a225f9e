package labeling

import (
	"math"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
)

// FnEnsemble names the statistical-ensemble function.
const FnEnsemble = "statistical_ensemble"

// The features columns the function reads.
var (
	ensembleColumn  = features.Schema[features.EnsembleFaulty].Name
	overlapColumn   = features.Schema[features.OverlapDeploy].Name
	newErrorsColumn = features.Schema[features.NewErrors].Name
	newReqColumn    = features.Schema[features.NewRequests].Name
	expectedColumn  = features.Schema[features.ExpectedErrorRate].Name
	p95RatioColumn  = features.Schema[features.P95Ratio].Name
	newSigRate      = features.Schema[features.NewSigRate].Name
)

// EnsembleLF is the statistical-ensemble function and its settings
// (labeling.statistical_ensemble), read from features_hH.parquet at
// HorizonMinutes. It votes faulty when the impact, temporal and persistence
// checks are unanimous (ensemble_faulty = 1) and, when MaterialConfidence
// is set (off by default), the version's excess error rate is material
// with confidence: the lower one-sided MaterialConfidence bound of its
// error count (Poisson), over its requests, minus the expected rate, is at
// least MinExcess. The impact check judges materiality on its point
// estimate; a harmless new error just below the floor crosses it by chance
// in a few thousand requests. docs/labeling.md gives the measured cost of
// asking for more: fewer false votes, and fewer faults found. A faulty vote
// abstains during a fleet event (MaxFleetShare).
//
// It votes healthy (when VoteHealthy) only on positive evidence of health,
// never because the checks were not unanimous: the ensemble ran
// conclusively (ensemble_faulty = 0); the version served the whole horizon
// (no other deploy of its stream started within it, overlap_deploy = 0); its
// errors rule out a material impact — the upper one-sided HealthyConfidence
// bound of the ratio of its error rate to the expected one (a Poisson bound
// on its error count) is at most HealthyMaxErrorRatio, which needs enough
// traffic; its p95 latency is below HealthyMaxP95Ratio times the
// baseline's (when the history records latency); and it logged fewer than
// HealthyMaxNewSigPerMille errors with new fingerprints per 1000 requests.
// Anything else abstains: a version replaced early, thin traffic, a missing
// column value.
type EnsembleLF struct {
	Enabled        bool `yaml:"enabled" json:"enabled"`           // default true
	HorizonMinutes int  `yaml:"-" json:"horizon_minutes"`         // features.ensemble_horizon (default 60), set by Config.WithEnsembleHorizon
	VoteHealthy    bool `yaml:"vote_healthy" json:"vote_healthy"` // default true
	// HealthyMaxErrorRatio is the largest upper confidence bound of the
	// error-rate ratio (version / expected) that counts as no impact.
	// Default 1.5, the impact check's default min_ratio: a healthy vote
	// rules out the smallest impact that the check calls material.
	HealthyMaxErrorRatio float64 `yaml:"healthy_max_error_ratio" json:"healthy_max_error_ratio"`
	// HealthyConfidence is the one-sided confidence of that bound, in
	// (0.5, 1). Default 0.95.
	HealthyConfidence float64 `yaml:"healthy_confidence" json:"healthy_confidence"`
	// HealthyMaxP95Ratio: the version's p95 latency over the baseline's
	// (p95_ratio) must be below it. Default 1.3, the latency flag's default
	// min_ratio.
	HealthyMaxP95Ratio float64 `yaml:"healthy_max_p95_ratio" json:"healthy_max_p95_ratio"`
	// HealthyMaxNewSigPerMille: the version's errors with new fingerprints
	// per 1000 requests (new_sig_rate) must be below it. Default 1: no
	// noticeable new errors (half the new_error_signatures function's
	// default min_per_mille).
	HealthyMaxNewSigPerMille float64 `yaml:"healthy_max_new_sig_per_mille" json:"healthy_max_new_sig_per_mille"`
	// MinExcess is the least excess error rate, errors per request, a
	// faulty vote needs shown with MaterialConfidence. Default 0.002, the
	// impact check's default min_excess.
	MinExcess float64 `yaml:"min_excess" json:"min_excess"`
	// MaterialConfidence is the one-sided confidence of that bound, in
	// [0, 1); 0 leaves materiality to the impact check's point estimate.
	// Default 0 (off): measured at 0.95, the production policy lost 2.4
	// faults found for each false alarm it shed (docs/labeling.md).
	MaterialConfidence float64 `yaml:"material_confidence" json:"material_confidence"`
	// ExcludeNewSigErrors: a faulty vote abstains when the version's
	// excess error rate at the horizon falls below MinExcess once the
	// errors with fingerprints new in the window (new_sig_errors) are taken
	// out — the rise is then the new errors', which new_error_signatures
	// judges (a harmless new error lifts the error rate for good and passes
	// the three checks). Where the history records no fingerprints there
	// is nothing to take out. Default true (docs/labeling.md, "Errors of
	// new fingerprints in the ensemble's vote", gives the measurement).
	ExcludeNewSigErrors bool `yaml:"exclude_new_sig_errors" json:"exclude_new_sig_errors"`
	// MaxFleetShare: a faulty vote abstains when at least this share of the
	// environment's other services was elevated in one minute of the
	// horizon (fleetEvent, as the other symptom functions): an outage of a
	// shared dependency passes the three checks on the versions it hits.
	// 0 turns the guard off. Default 0.1. Healthy votes are not guarded: a
	// version measured clean during an outage was clean.
	MaxFleetShare float64 `yaml:"max_fleet_share" json:"max_fleet_share"`
}

func (EnsembleLF) defaults() Function {
	return EnsembleLF{Enabled: true, HorizonMinutes: 60, VoteHealthy: true,
		HealthyMaxErrorRatio: 1.5, HealthyConfidence: 0.95, HealthyMaxP95Ratio: 1.3, HealthyMaxNewSigPerMille: 1,
		MinExcess: 0.002, MaxFleetShare: 0.1, ExcludeNewSigErrors: true}
}

// Name implements Function.
func (EnsembleLF) Name() string { return FnEnsemble }

// Description implements Function.
func (EnsembleLF) Description() string {
	return "faulty: the unanimous impact/temporal/persistence ensemble at features.ensemble_horizon " +
		"(with material_confidence set, a material excess error rate shown with that confidence), " +
		"no fleet event (max_fleet_share); " +
		"healthy: the version served the whole horizon with enough traffic to rule out a material error-rate impact, " +
		"no latency rise and no noticeable new error fingerprints"
}

// Assumption implements Function.
func (EnsembleLF) Assumption() string {
	return "when the impact, temporal-correlation and persistence checks all pass at the ensemble horizon (and, with " +
		"material_confidence set, its error rate exceeds the expected one by min_excess with that confidence) while " +
		"fewer than max_fleet_share of the environment's other services were elevated, the version is faulty (an " +
		"outage of a shared dependency passes the checks on every version it hits: abstain); a version that served " +
		"the whole horizon with an error rate shown (with confidence) to be within healthy_max_error_ratio of the " +
		"expected one, no p95 rise and no new error fingerprints was healthy. " +
		"Checks that are not unanimous, and versions replaced or too thin to judge, say nothing: abstain"
}

// Validate implements Function.
func (f EnsembleLF) Validate() error {
	if err := positive("horizon_minutes", float64(f.HorizonMinutes)); err != nil {
		return err
	}
	if !(f.HealthyMaxErrorRatio >= 1) {
		return config.Errorf("healthy_max_error_ratio", "%v must be ≥ 1", f.HealthyMaxErrorRatio)
	}
	if c := f.HealthyConfidence; !(c > 0.5 && c < 1) {
		return config.Errorf("healthy_confidence", "%v must be in (0.5, 1)", c)
	}
	if err := positive("healthy_max_p95_ratio", f.HealthyMaxP95Ratio); err != nil {
		return err
	}
	if err := positive("healthy_max_new_sig_per_mille", f.HealthyMaxNewSigPerMille); err != nil {
		return err
	}
	if e := f.MinExcess; !(e >= 0 && e <= 1) {
		return config.Errorf("min_excess", "%v must be in [0, 1] (errors per request)", e)
	}
	if c := f.MaterialConfidence; !(c >= 0 && c < 1) {
		return config.Errorf("material_confidence", "%v must be in [0, 1) (0: the impact check's point estimate)", c)
	}
	if err := validFleetShare(f.MaxFleetShare); err != nil {
		return err
	}
	return nil
}

func (f EnsembleLF) enabled() bool { return f.Enabled }

func (f EnsembleLF) needs() needs {
	h := f.HorizonMinutes
	cols := []featureColumn{{horizon: h, column: ensembleColumn, allowed: []float64{0, 1}}}
	if f.MaxFleetShare > 0 {
		cols = append(cols, featureColumn{horizon: h, column: fleetMaxColumn})
	}
	if f.ExcludeNewSigErrors {
		cols = append(cols, featureColumn{horizon: h, column: newSigErrorsColumn})
	}
	if f.VoteHealthy || f.MaterialConfidence > 0 || f.ExcludeNewSigErrors {
		cols = append(cols, featureColumn{horizon: h, column: newErrorsColumn}, featureColumn{horizon: h, column: newReqColumn},
			featureColumn{horizon: h, column: expectedColumn})
	}
	if f.VoteHealthy {
		cols = append(cols, featureColumn{horizon: h, column: overlapColumn, allowed: []float64{0, 1}},
			featureColumn{horizon: h, column: p95RatioColumn}, featureColumn{horizon: h, column: newSigRate})
	}
	return needs{features: cols}
}

func (f EnsembleLF) vote(d *deploy) int8 {
	v, ok := d.feature(f.HorizonMinutes, ensembleColumn)
	switch {
	case !ok || math.IsNaN(v):
		return abstain
	case v == 1:
		if f.MaterialConfidence > 0 && !f.material(d) {
			return abstain
		}
		if f.ExcludeNewSigErrors && f.newErrorsExplain(d) {
			return abstain
		}
		if f.MaxFleetShare > 0 && fleetEvent(d, f.HorizonMinutes, f.MaxFleetShare) {
			return abstain
		}
		return faulty
	case v == 0 && f.VoteHealthy && f.clean(d):
		return healthy
	}
	return abstain
}

// material reports whether the version's excess error rate at the horizon
// is at least MinExcess with MaterialConfidence (see EnsembleLF). A NaN
// fails it.
func (f EnsembleLF) material(d *deploy) bool {
	errs, req, rate, ok := f.counts(d)
	if !ok {
		return false
	}
	return shownCount(errs, f.MaterialConfidence)/req-rate >= f.MinExcess
}

// counts returns the version's errors and requests at the horizon and the
// expected error rate; ok is false when a column is absent or the counts
// are unusable (no requests, NaN). The rate may be NaN: a comparison with
// it fails.
func (f EnsembleLF) counts(d *deploy) (errs, req, rate float64, ok bool) {
	h := f.HorizonMinutes
	errs, okE := d.feature(h, newErrorsColumn)
	req, okR := d.feature(h, newReqColumn)
	rate, okX := d.feature(h, expectedColumn)
	return errs, req, rate, okE && okR && okX && errs >= 0 && req > 0
}

// newErrorsExplain reports whether the version's excess error rate at the
// horizon, without its errors with new fingerprints, is below MinExcess
// (see ExcludeNewSigErrors). A missing count explains nothing: the checks
// passed on what there is.
func (f EnsembleLF) newErrorsExplain(d *deploy) bool {
	errs, req, rate, ok := f.counts(d)
	ns, okN := d.feature(f.HorizonMinutes, newSigErrorsColumn)
	if !ok || !okN || !(ns > 0) {
		return false
	}
	return (errs-ns)/req-rate < f.MinExcess
}

// clean reports positive evidence of health at the horizon (see EnsembleLF).
// Every comparison is written so that a NaN fails it.
func (f EnsembleLF) clean(d *deploy) bool {
	h := f.HorizonMinutes
	col := func(c string) float64 {
		v, ok := d.feature(h, c)
		if !ok {
			return math.NaN()
		}
		return v
	}
	if !(col(overlapColumn) == 0) {
		return false // replaced (or redeployed) within the horizon
	}
	errs, req, rate := col(newErrorsColumn), col(newReqColumn), col(expectedColumn)
	expected := rate * req
	if !(errs >= 0 && expected > 0) {
		return false
	}
	if !(poissonUpper(errs, zOf(f.HealthyConfidence))/expected <= f.HealthyMaxErrorRatio) {
		return false
	}
	if p := col(p95RatioColumn); !math.IsNaN(p) && !(p < f.HealthyMaxP95Ratio) {
		return false // NaN: the history records no latency, nothing to check
	}
	return col(newSigRate) < f.HealthyMaxNewSigPerMille
}
