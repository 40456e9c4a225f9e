package train

import (
	"fmt"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
)

// DefaultMonotone returns the default of Config.Monotone: the features
// whose higher values are, by their definition, more evidence that the
// new version is faulty — impact against the expected and the seasonal
// rate, the temporal checks, persistence, new error signatures, latency,
// and the checks' verdicts. docs/models.md gives the reason for each;
// context (traffic, baseline and raw rates, change size, time, fleet
// shares) is left free.
func DefaultMonotone() []string {
	return []string{
		// impact: the new version's errors against the expected rate
		"impact_ratio", "impact_log_ratio", "impact_excess", "impact_z", "impact_neglog10_p", "impact_pass",
		"impact_vs_seasonal_ratio", "fleet_adjusted_log_ratio",
		// temporal: an upward change point, new worse than previous in the same minutes
		"cp_llr", "cp_ratio", "vs_prev_ratio", "vs_prev_neglog10_p", "temporal_pass",
		// persistence of the elevation
		"elevated_minutes_frac", "elevated_max_run", "persistence_frac", "first_bucket_ratio", "last_bucket_ratio",
		"persistence_pass",
		// the statistical ensemble's verdict
		"ensemble_faulty", "checks_passed",
		// new error signatures
		"new_sig_fingerprints", "new_sig_errors", "new_sig_share", "new_sig_rate", "new_sig_persist", "new_sig_pass",
		// latency
		"p95_ratio", "p99_ratio", "p95_vs_prev_ratio", "p95_z", "latency_pass",
	}
}

// validateMonotone checks that every name of Config.Monotone is a feature
// of the schema, once; it returns a *config.FieldError for each that is not.
func validateMonotone(names []string) []error {
	var errs []error
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		path := fmt.Sprintf("train.monotone[%d]", i)
		switch {
		case features.Index(n) < 0:
			errs = append(errs, config.Errorf(path, "unknown feature %q (not in feature schema %s)", n, features.SchemaVersion))
		case seen[n]:
			errs = append(errs, config.Errorf(path, "feature %q listed twice", n))
		}
		seen[n] = true
	}
	return errs
}

// monotoneConstraints returns models.Params.Monotone for a model reading
// the features names, in that order: +1 for every one of them in
// cfg.Monotone, 0 for the others; nil when none is constrained.
func monotoneConstraints(cfg Config, names []string) []int8 {
	want := make(map[string]bool, len(cfg.Monotone))
	for _, n := range cfg.Monotone {
		want[n] = true
	}
	var mono []int8
	for f, n := range names {
		if want[n] {
			if mono == nil {
				mono = make([]int8, len(names))
			}
			mono[f] = 1
		}
	}
	return mono
}
