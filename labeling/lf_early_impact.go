package labeling

import (
	"math"
	"slices"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
)

// FnEarlyImpact names the early-impact function.
const FnEarlyImpact = "early_impact"

// The features columns the function reads besides fleetMaxColumn.
var (
	impactRatioColumn = features.Schema[features.ImpactRatio].Name
	impactPColumn     = features.Schema[features.ImpactNegLog10P].Name
	impactExcessCol   = features.Schema[features.ImpactExcess].Name
	firstBucketColumn = features.Schema[features.FirstBucketRatio].Name
	lastBucketColumn  = features.Schema[features.LastBucketRatio].Name
)

// EarlyImpactLF is the early-impact function and its settings
// (labeling.early_impact): a deployment votes faulty when, at one of
// Horizons (read from features_hH.parquet), its version's error rate was
// strongly, significantly, materially and durably above the expected rate:
//
//   - strong: impact_ratio ≥ MinRatio;
//   - significant: impact_neglog10_p ≥ MinNegLog10P;
//   - material: impact_excess ≥ MinExcess errors per request;
//   - durable: still elevated at the end of what it served
//     (last_bucket_ratio ≥ MinRatio), not decaying like a restart blip
//     (last_bucket_ratio ≥ MinLastToFirst × first_bucket_ratio), and the
//     version served at least MinServedMinutes before another version
//     replaced it;
//
// and no fleet-wide event coincided (fleetEvent with MaxFleetShare). It
// sees faults that were replaced before anyone reacted — the horizon's
// features judge a version on the minutes it served — and never votes
// healthy: a missing feature row or value abstains.
type EarlyImpactLF struct {
	Enabled bool `yaml:"enabled" json:"enabled"` // default true
	// Horizons are the horizons, in minutes, at which the impact is read;
	// features_hH.parquet must exist for each. Default [20]: a version
	// replaced within 20 minutes is judged by the 20-minute features on
	// everything it served; at 10 minutes restart blips are still under way.
	Horizons []int `yaml:"horizons" json:"horizons"`
	// MinRatio is the least shrunk error-rate ratio to the expected rate,
	// overall and in the last bucket. Default 2: the rate doubled.
	MinRatio float64 `yaml:"min_ratio" json:"min_ratio"`
	// MinNegLog10P is the least -log10 p-value of the impact test. Default
	// 6 (p < 1e-6: about one false alarm in a million deploys' tests, so
	// that a history's thousands of deploys yield none by chance).
	MinNegLog10P float64 `yaml:"min_neglog10_p" json:"min_neglog10_p"`
	// MinExcess is the least excess error rate, errors per request.
	// Default 0.002, the impact check's default min_excess.
	MinExcess float64 `yaml:"min_excess" json:"min_excess"`
	// MinLastToFirst is the least ratio of the last bucket's ratio to the
	// first's: below it the elevation is decaying. Default 0.5.
	MinLastToFirst float64 `yaml:"min_last_to_first" json:"min_last_to_first"`
	// MinServedMinutes is the least time the version served before it was
	// replaced. Default 10, the persistence check's default
	// min_served_minutes: a blip cut short by the next deploy is not durable.
	MinServedMinutes int `yaml:"min_served_minutes" json:"min_served_minutes"`
	// MaxFleetShare: abstain when at least this share of the environment's
	// other services was elevated in one minute of the horizon (see
	// fleetEvent); 0 turns the guard off. Default 0.1.
	MaxFleetShare float64 `yaml:"max_fleet_share" json:"max_fleet_share"`
}

func (EarlyImpactLF) defaults() Function {
	return EarlyImpactLF{Enabled: true, Horizons: []int{20}, MinRatio: 2, MinNegLog10P: 6, MinExcess: 0.002,
		MinLastToFirst: 0.5, MinServedMinutes: 10, MaxFleetShare: 0.1}
}

// Name implements Function.
func (EarlyImpactLF) Name() string { return FnEarlyImpact }

// Description implements Function.
func (EarlyImpactLF) Description() string {
	return "the version's error rate strongly, significantly and durably above the expected rate at early_impact.horizons, " +
		"even when it was replaced soon after"
}

// Assumption implements Function.
func (EarlyImpactLF) Assumption() string {
	return "an error rate that at least doubled with p < 10^-min_neglog10_p, by at least min_excess errors per request, " +
		"still elevated at the end of what the version served and not decaying, on a version that served min_served_minutes, " +
		"while the rest of the environment was not elevated, was caused by the version; no such impact says nothing " +
		"(the fault may be latency, new errors, low traffic or not yet started): abstain"
}

// Validate implements Function.
func (f EarlyImpactLF) Validate() error {
	if err := validHorizons("horizons", f.Horizons); err != nil {
		return err
	}
	for _, c := range []struct {
		key string
		v   float64
	}{{"min_ratio", f.MinRatio}, {"min_neglog10_p", f.MinNegLog10P}} {
		if err := positive(c.key, c.v); err != nil {
			return err
		}
	}
	if f.MinRatio < 1 {
		return config.Errorf("min_ratio", "%v must be ≥ 1", f.MinRatio)
	}
	if f.MinExcess < 0 || f.MinLastToFirst < 0 || f.MinServedMinutes < 0 {
		return config.Errorf("min_excess", "%v, min_last_to_first %v and min_served_minutes %d must be ≥ 0",
			f.MinExcess, f.MinLastToFirst, f.MinServedMinutes)
	}
	if err := validFleetShare(f.MaxFleetShare); err != nil {
		return err
	}
	return nil
}

func (f EarlyImpactLF) enabled() bool    { return f.Enabled }
func (EarlyImpactLF) dependence() string { return dependenceSymptom }

func (f EarlyImpactLF) needs() needs {
	var cols []featureColumn
	for _, h := range f.Horizons {
		for _, c := range []string{impactRatioColumn, impactPColumn, impactExcessCol, firstBucketColumn, lastBucketColumn} {
			cols = append(cols, featureColumn{horizon: h, column: c})
		}
		if f.MaxFleetShare > 0 {
			cols = append(cols, featureColumn{horizon: h, column: fleetMaxColumn})
		}
	}
	return needs{features: cols}
}

func (f EarlyImpactLF) vote(d *deploy) int8 {
	if succ, ok := d.successor(); ok && succ.StartedAt.Sub(d.StartedAt) < time.Duration(f.MinServedMinutes)*time.Minute {
		return abstain
	}
	for _, h := range slices.Sorted(slices.Values(f.Horizons)) {
		if f.impact(d, h) {
			return faulty
		}
	}
	return abstain
}

// impact reports the early-impact rule at horizon h. Every comparison is
// written so that a NaN or a missing row fails it.
func (f EarlyImpactLF) impact(d *deploy, h int) bool {
	col := func(c string) float64 {
		v, ok := d.feature(h, c)
		if !ok {
			return math.NaN()
		}
		return v
	}
	last := col(lastBucketColumn)
	if !(col(impactRatioColumn) >= f.MinRatio && col(impactPColumn) >= f.MinNegLog10P && col(impactExcessCol) >= f.MinExcess &&
		last >= f.MinRatio && last >= f.MinLastToFirst*col(firstBucketColumn)) {
		return false
	}
	return f.MaxFleetShare == 0 || !fleetEvent(d, h, f.MaxFleetShare)
}
