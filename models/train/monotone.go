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
// the checks' verdicts, and the before/after level and sustained
// statistics, each oriented so that positive is worse in its series' bad
// direction (the burst and spread tests, which restart transients fire as
// often as faults, are left free). docs/models.md gives the reason for
// each; context (traffic, baseline and raw rates, change size, time, fleet
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
		// the before/after checks (changes without a canary): how far the
		// service's level moved against its own past, and stayed moved,
		// every statistic oriented (positive is worse)
		"ba_err_log_ratio", "ba_err_late_z", "ba_err_level_change", "ba_lat_level_change",
		"ba_err_shift_z", "ba_err_sustained_z", "ba_err_shift_pass", "ba_err_sustained_pass",
		"ba_lat_shift_z", "ba_lat_sustained_z", "ba_lat_shift_pass", "ba_lat_sustained_pass",
		"ba_tput_shift_z", "ba_tput_sustained_z", "ba_tput_shift_pass", "ba_tput_sustained_pass",
		"ba_kpi_shift_z", "ba_kpi_sustained_z", "ba_kpi_shift_pass", "ba_kpi_sustained_pass",
	}
}

// DefaultMonotoneDecreasing returns the default of
// Config.MonotoneDecreasing: the features whose lower values are, by their
// definition, more evidence that the new version is faulty — the replay
// p-values of the before/after level and sustained tests (a smaller
// p-value is a shift less likely in the service's own history).
func DefaultMonotoneDecreasing() []string {
	var names []string
	for _, g := range []features.BAGroup{features.BAErrGroup, features.BALatGroup, features.BATputGroup, features.BAKPIGroup} {
		names = append(names, features.Schema[g.ShiftP].Name, features.Schema[g.SustainedP].Name)
	}
	return names
}

// validateMonotone checks that every name of Config.Monotone and
// Config.MonotoneDecreasing is a feature of the schema, named once in the
// two lists; it returns a *config.FieldError for each that is not.
func validateMonotone(up, down []string) []error {
	var errs []error
	seen := make(map[string]string, len(up)+len(down))
	for _, l := range []struct {
		key   string
		names []string
	}{{"monotone", up}, {"monotone_decreasing", down}} {
		for i, n := range l.names {
			path := fmt.Sprintf("train.%s[%d]", l.key, i)
			prev, dup := seen[n]
			switch {
			case features.Index(n) < 0:
				errs = append(errs, config.Errorf(path, "unknown feature %q (not in feature schema %s)", n, features.SchemaVersion))
			case dup && prev == l.key:
				errs = append(errs, config.Errorf(path, "feature %q listed twice", n))
			case dup:
				errs = append(errs, config.Errorf(path, "feature %q is also in train.%s: it cannot be both", n, prev))
			default:
				seen[n] = l.key
			}
		}
	}
	return errs
}

// monotoneConstraints returns models.Params.Monotone for a model reading
// the features names, in that order: +1 for every one of them in
// cfg.Monotone, −1 for every one in cfg.MonotoneDecreasing, 0 for the
// others; nil when none is constrained.
func monotoneConstraints(cfg Config, names []string) []int8 {
	want := make(map[string]int8, len(cfg.Monotone)+len(cfg.MonotoneDecreasing))
	for _, n := range cfg.Monotone {
		want[n] = 1
	}
	for _, n := range cfg.MonotoneDecreasing {
		want[n] = -1
	}
	var mono []int8
	for f, n := range names {
		if c := want[n]; c != 0 {
			if mono == nil {
				mono = make([]int8, len(names))
			}
			mono[f] = c
		}
	}
	return mono
}
