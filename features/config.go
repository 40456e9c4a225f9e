package features

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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

	// BlockDays is used by the offline extractor only: each stream is read
	// in blocks of deploy start times this many days long, so memory stays
	// bounded whatever the history's length (default 28).
	BlockDays int `yaml:"block_days"`
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
		BlockDays:                28,
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if len(c.Horizons) == 0 {
		return fmt.Errorf("features: horizons: at least one horizon is needed")
	}
	seen := map[int]bool{}
	for _, h := range c.Horizons {
		if h <= 0 || h > 24*60 {
			return fmt.Errorf("features: horizons: %d is not in 1..1440 minutes", h)
		}
		if seen[h] {
			return fmt.Errorf("features: horizons: %d given twice", h)
		}
		seen[h] = true
	}
	switch {
	case c.BaselineMinutes < 5:
		return fmt.Errorf("features: baseline_minutes must be at least 5, not %d", c.BaselineMinutes)
	case c.SeasonalDays < 0 || c.SeasonalDays > 28:
		return fmt.Errorf("features: seasonal_days must be in 0..28, not %d", c.SeasonalDays)
	case c.SignatureLookbackMinutes < 0:
		return fmt.Errorf("features: signature_lookback_minutes must be ≥ 0")
	case c.MinRequests < 0 || c.MinBaselineRequests < 0:
		return fmt.Errorf("features: min_requests and min_baseline_requests must be ≥ 0")
	case c.PriorErrors <= 0:
		return fmt.Errorf("features: prior_errors must be > 0")
	case c.PrevDeployCapMinutes <= 0:
		return fmt.Errorf("features: prev_deploy_cap_minutes must be > 0")
	case c.Impact.Alpha <= 0 || c.Impact.Alpha >= 1 || c.Temporal.Alpha <= 0 || c.Temporal.Alpha >= 1 ||
		c.Persistence.Alpha <= 0 || c.Persistence.Alpha >= 1 || c.Fleet.ElevatedAlpha <= 0 || c.Fleet.ElevatedAlpha >= 1:
		return fmt.Errorf("features: every alpha must lie in (0, 1)")
	case c.Impact.MinRatio < 1 || c.Fleet.ElevatedRatio < 1 || c.Latency.MinRatio < 1 || c.Traffic.Ratio < 1:
		return fmt.Errorf("features: ratio thresholds must be ≥ 1")
	case c.Impact.MaxSeasonalFactor < 1:
		return fmt.Errorf("features: impact.max_seasonal_factor must be ≥ 1")
	case c.Persistence.MinServedMinutes < 0:
		return fmt.Errorf("features: persistence.min_served_minutes must be ≥ 0")
	case c.Persistence.Buckets < 1 || c.Persistence.MinFraction <= 0 || c.Persistence.MinFraction > 1:
		return fmt.Errorf("features: persistence.buckets must be ≥ 1 and min_fraction in (0, 1]")
	case c.Temporal.MinutesBefore < 0 || c.Temporal.MinutesAfter < 0:
		return fmt.Errorf("features: temporal.minutes_before/after must be ≥ 0")
	case c.Fleet.OutageShare <= 0 || c.Fleet.ChangePointShare <= 0:
		return fmt.Errorf("features: fleet.outage_share and fleet.change_point_share must be > 0")
	case c.BlockDays < 1:
		return fmt.Errorf("features: block_days must be ≥ 1")
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
// them but BlockDays), so that a model can refuse features computed with
// other thresholds.
func (c *Config) ConfigHash() string {
	cc := *c
	cc.BlockDays = 0
	cc.Horizons = cc.SortedHorizons()
	b, err := yaml.Marshal(cc)
	if err != nil { // cannot happen for this plain struct
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
