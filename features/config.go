package features

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"

	"gopkg.in/yaml.v3"
)

// Config holds the settings of feature computation: the "features" section
// of the pipeline configuration. DefaultConfig documents every default.
// Detectors and the offline extractor must use the same Config for their
// numbers to agree; ConfigHash identifies it.
type Config struct {
	// Horizons are the minutes after a deploy's start at which features are
	// computed (default 10, 20, 60).
	Horizons []int `yaml:"horizons"`
	// BaselineMinutes is the length of the pre-deploy baseline of the
	// service, ending at the deploy's start minute (default 60).
	BaselineMinutes int `yaml:"baseline_minutes"`
	// SeasonalDays is how many previous days are compared at the same time
	// of day for the seasonality-aware baseline (default 7; 0 disables).
	SeasonalDays int `yaml:"seasonal_days"`
	// SignatureLookbackMinutes: a fingerprint seen on the stream within this
	// many minutes before the deploy is known, otherwise it is new (default
	// 10080, one week).
	SignatureLookbackMinutes int `yaml:"signature_lookback_minutes"`
	// MinRequests is the number of requests the new version must have served
	// in the window for the checks to judge; below it the deploy is
	// inconclusive (default 300).
	MinRequests float64 `yaml:"min_requests"`
	// MinBaselineRequests is the number of requests the service must have
	// served in the baseline for the checks to judge (default 300).
	MinBaselineRequests float64 `yaml:"min_baseline_requests"`
	// PriorErrors is the strength, in pseudo-errors at the expected rate, of
	// the shrinkage applied to every rate ratio: a ratio is
	// (errors + PriorErrors) / (expected errors + PriorErrors), so sparse
	// counts cannot produce huge ratios (default 5).
	PriorErrors float64 `yaml:"prior_errors"`
	// PrevDeployCapMinutes caps minutes_since_prev_deploy; a stream with no
	// earlier deploy within the cap gets the cap (default 10080).
	PrevDeployCapMinutes int `yaml:"prev_deploy_cap_minutes"`

	Impact      ImpactConfig      `yaml:"impact"`
	Temporal    TemporalConfig    `yaml:"temporal"`
	Persistence PersistenceConfig `yaml:"persistence"`
	Signatures  SignatureConfig   `yaml:"signatures"`
	Latency     LatencyConfig     `yaml:"latency"`
	Traffic     TrafficConfig     `yaml:"traffic"`
	Fleet       FleetConfig       `yaml:"fleet"`
	BeforeAfter BeforeAfterConfig `yaml:"before_after"`

	// BlockDays is used by the offline extractor only: each stream is read
	// in blocks of deploy start times this many days long, so memory stays
	// bounded whatever the history's length (default 28).
	BlockDays int `yaml:"block_days"`

	// EnsembleHorizon is the horizon, in minutes, whose statistical
	// ensemble verdict (column ensemble_faulty of features_hH.parquet) the
	// offline pipeline uses wherever it needs one: the statistical_ensemble
	// labeling function, the ensemble label source of training and the
	// unsupervised baseline of evaluation (default 60). It must be one of
	// Horizons (CheckEnsembleHorizon). It does not change feature values:
	// ConfigHash leaves it out, as it does BlockDays.
	EnsembleHorizon int `yaml:"ensemble_horizon,omitempty"`
}

// ImpactConfig sets the impact check.
type ImpactConfig struct {
	// Alpha is the p-value below which the new version's error rate is
	// significantly above the expected rate (default 0.001).
	Alpha float64 `yaml:"alpha"`
	// MinRatio is the smallest shrunk rate ratio that counts (default 1.5).
	MinRatio float64 `yaml:"min_ratio"`
	// MinExcess is the smallest absolute excess error rate, errors per
	// request, that counts (default 0.002).
	MinExcess float64 `yaml:"min_excess"`
	// MaxSeasonalFactor caps how much the seasonal pattern may raise the
	// expected error rate (default 3).
	MaxSeasonalFactor float64 `yaml:"max_seasonal_factor"`
}

// TemporalConfig sets the temporal-correlation check.
type TemporalConfig struct {
	// Alpha is the p-value for the new-vs-previous-version test (default 0.01).
	Alpha float64 `yaml:"alpha"`
	// MinLLR is the log-likelihood ratio a change point needs (default 10).
	MinLLR float64 `yaml:"min_llr"`
	// MinutesBefore is how many minutes before the start the change point
	// may lie and still align with the deploy (default 3).
	MinutesBefore int `yaml:"minutes_before"`
	// MinutesAfter is how many minutes after the start it may lie (default 45).
	MinutesAfter int `yaml:"minutes_after"`
}

// PersistenceConfig sets the persistence check.
type PersistenceConfig struct {
	// Buckets splits the window into this many equal parts (default 5).
	Buckets int `yaml:"buckets"`
	// MinFraction is the share of parts, from the first elevated one to the
	// end, that must be elevated (default 0.6).
	MinFraction float64 `yaml:"min_fraction"`
	// Alpha is the per-part and per-minute p-value for "elevated" (default 0.05).
	Alpha float64 `yaml:"alpha"`
	// MinServedMinutes: a new version that served fewer minutes than this
	// (or than H when H is shorter) cannot show persistence (default 10).
	MinServedMinutes int `yaml:"min_served_minutes"`
}

// SignatureConfig sets the new-error-signature check.
type SignatureConfig struct {
	// MinErrors is how many errors with new fingerprints make the check
	// pass (default 5).
	MinErrors float64 `yaml:"min_errors"`
}

// LatencyConfig sets the latency-regression check.
type LatencyConfig struct {
	// MinRatio is the new version's p95 over the baseline p95 that counts
	// as a regression (default 1.3).
	MinRatio float64 `yaml:"min_ratio"`
	// MinZ is the z-score of the new p95 against the baseline minutes that
	// counts (default 3).
	MinZ float64 `yaml:"min_z"`
}

// TrafficConfig sets the traffic-change check.
type TrafficConfig struct {
	// Ratio: a service rate (requests per minute) more than Ratio times or
	// less than 1/Ratio times the baseline is a change (default 2).
	Ratio float64 `yaml:"ratio"`
}

// FleetConfig sets per-minute elevation (used for the fleet control) and
// the fleet-outage flag.
type FleetConfig struct {
	// ElevatedRatio is the shrunk ratio of a minute's error rate to the
	// trailing baseline above which the minute may be elevated (default 2).
	ElevatedRatio float64 `yaml:"elevated_ratio"`
	// ElevatedAlpha is the Poisson p-value a minute needs to be elevated
	// (default 0.001).
	ElevatedAlpha float64 `yaml:"elevated_alpha"`
	// OutageShare is the mean share of other services elevated during the
	// window above which fleet_outage is 1 (default 0.3).
	OutageShare float64 `yaml:"outage_share"`
	// ChangePointShare: when the temporal check rests on the change point
	// and at least this share of the other services was elevated within 2
	// minutes of it, the check fails (default 0.05).
	ChangePointShare float64 `yaml:"change_point_share"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Horizons:                 []int{10, 20, 60},
		BaselineMinutes:          60,
		SeasonalDays:             7,
		SignatureLookbackMinutes: 7 * 24 * 60,
		MinRequests:              300,
		MinBaselineRequests:      300,
		PriorErrors:              5,
		PrevDeployCapMinutes:     7 * 24 * 60,
		Impact:                   ImpactConfig{Alpha: 0.001, MinRatio: 1.5, MinExcess: 0.002, MaxSeasonalFactor: 3},
		Temporal:                 TemporalConfig{Alpha: 0.01, MinLLR: 10, MinutesBefore: 3, MinutesAfter: 45},
		Persistence:              PersistenceConfig{Buckets: 5, MinFraction: 0.6, Alpha: 0.05, MinServedMinutes: 10},
		Signatures:               SignatureConfig{MinErrors: 5},
		Latency:                  LatencyConfig{MinRatio: 1.3, MinZ: 3},
		Traffic:                  TrafficConfig{Ratio: 2},
		Fleet:                    FleetConfig{ElevatedRatio: 2, ElevatedAlpha: 0.001, OutageShare: 0.3, ChangePointShare: 0.05},
		BeforeAfter:              defaultBeforeAfter(),
		BlockDays:                28,
		EnsembleHorizon:          60,
	}
}

// Validate reports every invalid setting, as errors (joined) in the form
// "features.key.path: reason" that internal/config reads as key paths:
// package features is on the detectors' serving path and does not import
// the configuration loader.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("features.%s: %s", path, fmt.Sprintf(format, a...)))
	}
	if len(c.Horizons) == 0 {
		bad("horizons", "at least one horizon is needed")
	}
	seen := map[int]bool{}
	for i, h := range c.Horizons {
		if h <= 0 || h > 24*60 {
			bad(fmt.Sprintf("horizons[%d]", i), "%d is not in 1..1440 minutes", h)
		}
		if seen[h] {
			bad(fmt.Sprintf("horizons[%d]", i), "%d given twice", h)
		}
		seen[h] = true
	}
	if c.BaselineMinutes < 5 {
		bad("baseline_minutes", "must be at least 5, not %d", c.BaselineMinutes)
	}
	if c.SeasonalDays < 0 || c.SeasonalDays > 28 {
		bad("seasonal_days", "must be in 0..28, not %d", c.SeasonalDays)
	}
	if c.SignatureLookbackMinutes < 0 {
		bad("signature_lookback_minutes", "must be ≥ 0, not %d", c.SignatureLookbackMinutes)
	}
	for _, v := range []struct {
		path string
		v    float64
	}{{"min_requests", c.MinRequests}, {"min_baseline_requests", c.MinBaselineRequests}, {"signatures.min_errors", c.Signatures.MinErrors}} {
		if !(v.v >= 0) {
			bad(v.path, "must be ≥ 0, not %v", v.v)
		}
	}
	if !(c.PriorErrors > 0) {
		bad("prior_errors", "must be > 0, not %v", c.PriorErrors)
	}
	if c.PrevDeployCapMinutes <= 0 {
		bad("prev_deploy_cap_minutes", "must be > 0, not %d", c.PrevDeployCapMinutes)
	}
	for _, a := range []struct {
		path string
		v    float64
	}{{"impact.alpha", c.Impact.Alpha}, {"temporal.alpha", c.Temporal.Alpha}, {"persistence.alpha", c.Persistence.Alpha}, {"fleet.elevated_alpha", c.Fleet.ElevatedAlpha}} {
		if !(a.v > 0 && a.v < 1) {
			bad(a.path, "%v is not in (0, 1)", a.v)
		}
	}
	for _, r := range []struct {
		path string
		v    float64
	}{{"impact.min_ratio", c.Impact.MinRatio}, {"fleet.elevated_ratio", c.Fleet.ElevatedRatio}, {"latency.min_ratio", c.Latency.MinRatio},
		{"traffic.ratio", c.Traffic.Ratio}, {"impact.max_seasonal_factor", c.Impact.MaxSeasonalFactor}} {
		if !(r.v >= 1) {
			bad(r.path, "must be ≥ 1, not %v", r.v)
		}
	}
	if !(c.Impact.MinExcess >= 0) {
		bad("impact.min_excess", "must be ≥ 0, not %v", c.Impact.MinExcess)
	}
	if !(c.Temporal.MinLLR >= 0) {
		bad("temporal.min_llr", "must be ≥ 0, not %v", c.Temporal.MinLLR)
	}
	if !(c.Latency.MinZ >= 0) {
		bad("latency.min_z", "must be ≥ 0, not %v", c.Latency.MinZ)
	}
	if c.Persistence.MinServedMinutes < 0 {
		bad("persistence.min_served_minutes", "must be ≥ 0, not %d", c.Persistence.MinServedMinutes)
	}
	if c.Persistence.Buckets < 1 {
		bad("persistence.buckets", "must be ≥ 1, not %d", c.Persistence.Buckets)
	}
	for _, f := range []struct {
		path string
		v    float64
	}{{"persistence.min_fraction", c.Persistence.MinFraction}, {"fleet.outage_share", c.Fleet.OutageShare}, {"fleet.change_point_share", c.Fleet.ChangePointShare}} {
		if !(f.v > 0 && f.v <= 1) {
			bad(f.path, "%v is not in (0, 1]", f.v)
		}
	}
	if c.Temporal.MinutesBefore < 0 {
		bad("temporal.minutes_before", "must be ≥ 0, not %d", c.Temporal.MinutesBefore)
	}
	if c.Temporal.MinutesAfter < 0 {
		bad("temporal.minutes_after", "must be ≥ 0, not %d", c.Temporal.MinutesAfter)
	}
	if c.BlockDays < 1 {
		bad("block_days", "must be ≥ 1, not %d", c.BlockDays)
	}
	c.BeforeAfter.validate(bad)
	return errors.Join(errs...)
}

// CheckEnsembleHorizon checks that EnsembleHorizon is one of Horizons: the
// pipeline reads that horizon's features. It is separate from Validate,
// which detectors run on the settings of a bundle and which does not
// concern them.
func (c *Config) CheckEnsembleHorizon() error {
	if !slices.Contains(c.Horizons, c.EnsembleHorizon) {
		return fmt.Errorf("features.ensemble_horizon: %d is not one of features.horizons %v: labeling, training and evaluation read the ensemble verdict of that horizon's features",
			c.EnsembleHorizon, c.SortedHorizons())
	}
	return nil
}

// MaxHorizon returns the largest configured horizon.
func (c *Config) MaxHorizon() int {
	m := 0
	for _, h := range c.Horizons {
		m = max(m, h)
	}
	return m
}

// SortedHorizons returns the horizons in ascending order.
func (c *Config) SortedHorizons() []int {
	hs := append([]int(nil), c.Horizons...)
	sort.Ints(hs)
	return hs
}

// ConfigHash identifies the settings that change feature values (all of
// them but BlockDays, EnsembleHorizon and BeforeAfter.MinErrorRise), so
// that a model can refuse features computed with other thresholds.
func (c *Config) ConfigHash() string {
	cc := *c
	cc.BlockDays, cc.EnsembleHorizon, cc.BeforeAfter.MinErrorRise = 0, 0, 0
	cc.Horizons = cc.SortedHorizons()
	b, err := yaml.Marshal(cc)
	if err != nil { // cannot happen for this plain struct
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
