// Package simulate generates a realistic, reproducible deploy history for a
// fleet of services — deployments, per-minute per-version metrics, error
// signatures, incidents and human annotations — together with the ground
// truth of every deployment, kept apart from the history.
//
// Generation is deterministic for a seed and streams one (service,
// environment) at a time, so memory stays bounded whatever the fleet size.
//
// The model, per service: a traffic pattern (steady; seasonal with a daily
// cycle and quieter weekends; low traffic, a few requests a minute with many
// empty and zero-error minutes; bursty, with bursts of 2–8× for minutes), a
// base error rate (0.02–0.6%) with gamma-Poisson (overdispersed) noise, a
// latency profile (p50, p95, p99, noisier at low traffic) and a stable set of
// background error fingerprints. Per stream: planned deploys (Poisson, mostly
// working hours, a quarter on weekends), each a canary-like rollout of 1–30
// minutes during which old and new versions share traffic; a third of deploys
// cause a restart blip (errors decaying within minutes); fleet-wide
// dependency outages raise errors and latency of many services of an
// environment at once regardless of version. A share of planned deploys
// (FaultRate) is faulty: step, ramp (10–40 min), delayed (onset 15–40 min),
// new_signature (a new fingerprint on 0.1–2% of requests) or latency (p95/p99
// ×1.5–4, errors mostly unchanged). Operators roll most faulty versions back
// (a deployment of the previous version), fix some by a hotfix version, and
// miss the rest; they also roll back a few healthy versions and follow some
// healthy deploys quickly by another. Incidents are opened on noticed faults
// (some linked to the deployment), around outages and at random; a small
// random sample of deployments is annotated, with some annotator noise.
// Ground truth (history.Truth) is produced for every deployment: it is the
// truth about the deployed version, so a faulty version replaced before its
// onset (OnsetMinute) is faulty without symptoms, and a rollback to a faulty
// version is faulty again. Truth also lists each deployment's confounders
// (ConfounderNames): what could mislead a detector or a labeling function
// about it, such as being replaced within the hour, being a rollback, a
// benign new fingerprint or an unrelated incident.
//
// Knobs vary the fleet beyond the defaults — per-stream deploy cadence,
// the operators' reaction culture, the share of low-traffic services,
// unrelated and misattributed incidents, outages that open incidents on
// many streams, benign new signatures, fault severities down to 1.2×, and
// deploys without canary — and give data as most teams have it: aggregate
// metrics without a version, real-valued counts, four KPIs per service of
// every kind and direction, and faults that are a moderate shift (10–30%)
// or a short burst (5–15 minutes) of one KPI, up or down, recorded in
// truth (history.Truth.KPI, Direction). Regimes name sets of them for the
// detection-quality benchmark (internal/quality). At their defaults the
// history is unchanged (TestDefaultChecksum); the knobs that only change
// what is exported (RealValuedCounts, KPIs) draw from generators of their
// own, so they leave the simulated traffic as it is.
package simulate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Config describes the simulated fleet. Zero values are not defaults: start
// from DefaultConfig and override.
type Config struct {
	// Services is the number of services (default 40).
	Services int `yaml:"services"`
	// Environments every service runs in (default prod-us1, prod-eu1).
	Environments []string `yaml:"environments"`
	// Days of history (default 14).
	Days int `yaml:"days"`
	// Start is the first minute of history, UTC (default 2026-01-05T00:00:00Z, a Monday).
	Start time.Time `yaml:"start"`
	// Seed makes the history reproducible (default 1).
	Seed int64 `yaml:"seed"`
	// DeploysPerDay is the mean number of planned deploys per service per
	// environment per weekday; weekends see a quarter of it (default 4).
	// Operators' reactions (rollbacks, hotfixes, follow-ups) come on top.
	DeploysPerDay float64 `yaml:"deploys_per_day"`
	// FaultRate is the share of planned deploys whose version is faulty (default 0.05).
	FaultRate float64 `yaml:"fault_rate"`
	// AnnotationRate is the share of deployments a human annotated (default 0.03).
	AnnotationRate float64 `yaml:"annotation_rate"`
	// AnnotationNoise is the share of annotations whose label is wrong (default 0.05).
	AnnotationNoise float64 `yaml:"annotation_noise"`
	// KindOmittedRate is the share of deployments exported without a kind,
	// so that importers must infer rollbacks (default 0.3).
	KindOmittedRate float64 `yaml:"kind_omitted_rate"`
	// OutagesPerDay is the mean number of fleet-wide dependency outages per
	// environment per day (default 0.3).
	OutagesPerDay float64 `yaml:"outages_per_day"`
	// Signatures turns the error-signature table on (default true).
	Signatures bool `yaml:"signatures"`
	// Workers is the number of streams generated in parallel (default 2;
	// output is identical for any value).
	Workers int `yaml:"workers"`

	// The knobs below vary the fleet for the detection-quality benchmark
	// (Regimes, docs/quality.md). At their defaults the history is the
	// one described in the package comment, unchanged.

	// DeploysPerDayMax, when above DeploysPerDay, makes cadence vary per
	// stream: each (service, environment) draws its own mean planned
	// deploys per weekday log-uniformly from [DeploysPerDay,
	// DeploysPerDayMax] (default 0: every stream at DeploysPerDay).
	DeploysPerDayMax float64 `yaml:"deploys_per_day_max"`
	// Reactions is the operators' reaction culture (default "mixed"):
	//   - mixed: faulty versions are mostly rolled back (65%; latency
	//     faults 45%), some fixed by a hotfix (20%; 15%), the rest missed;
	//     noticed 4–90 minutes after onset; an incident on 60% of noticed
	//     faults; 1.5% of healthy versions rolled back anyway, 3% followed
	//     within half an hour by another version.
	//   - rollback-heavy: 85% (70%) rolled back, 5% hotfixed, noticed in
	//     3–40 minutes; 6% of healthy versions rolled back too.
	//   - roll-forward: 10% (5%) rolled back, 70% (60%) fixed by a hotfix
	//     10–60 minutes after noticing; 12% of healthy versions quickly
	//     followed by another.
	//   - silent: 15% (5%) rolled back, 10% (5%) hotfixed, noticed in
	//     20–240 minutes, an incident on 10% of noticed faults, a third of
	//     the unrelated incidents of mixed.
	Reactions string `yaml:"reactions"`
	// LowTrafficShare is the share of services with low traffic (a few
	// requests a minute); the other patterns share the rest in the
	// proportions 40:30:15 of steady, seasonal and bursty (default 0.15).
	LowTrafficShare float64 `yaml:"low_traffic_share"`
	// OfficeHoursShare is the share of services whose traffic follows
	// office hours: on weekdays only, from a start hour in 07:00–09:00 to
	// an end hour in 17:00–19:00 UTC, it is 2 to 4 times what it is
	// otherwise — a weekly shape, not only a level, which a seasonal
	// reference made of the previous days misreads on the weekdays after
	// a weekend (default 0). Drawn apart from the other traits, so the
	// fleet is otherwise the same.
	OfficeHoursShare float64 `yaml:"office_hours_share"`
	// NoiseIncidentsPerDay is the mean number of incidents unrelated to any
	// deploy per stream per day (default 0.05; the silent culture has a
	// third of it).
	NoiseIncidentsPerDay float64 `yaml:"noise_incidents_per_day"`
	// NoiseIncidentLinkRate is the share of those unrelated incidents that
	// responders link to the stream's latest deploy anyway (default 0).
	NoiseIncidentLinkRate float64 `yaml:"noise_incident_link_rate"`
	// OutageIncidents is the most services on which an incident is opened
	// for one fleet-wide outage (default 2). A large value makes outages
	// open incidents on many streams at once.
	OutageIncidents int `yaml:"outage_incidents"`
	// BenignSignatureRate is the share of healthy planned deploys that
	// bring a new but harmless error fingerprint (0.02–0.2% of requests;
	// default 0.1).
	BenignSignatureRate float64 `yaml:"benign_signature_rate"`
	// SeverityMin and SeverityMax, when set (1 < min ≤ max), draw every
	// fault's severity log-uniformly from [min, max] whatever its shape:
	// the error-rate multiplier of step, ramp and delayed faults, (p0 +
	// share) / p0 of new_signature faults, the p95 factor of latency
	// faults. Default 0 and 0: each shape's own range (2–25×; a new
	// fingerprint on 0.1–2% of requests; p95 ×1.5–4).
	SeverityMin float64 `yaml:"severity_min"`
	SeverityMax float64 `yaml:"severity_max"`
	// NoCanaryRate is the share of deployments that switch all traffic at
	// once (no canary: finished_at = started_at, the old version serves no
	// minute after the start; per-version series still exist) (default 0).
	NoCanaryRate float64 `yaml:"no_canary_rate"`

	// The knobs below give data as most teams have it (issue 13,
	// docs/history-import.md): no per-version series, real-valued counts,
	// named KPIs, and faults that show as a moderate shift or a short
	// burst of one KPI, up or down.

	// AggregateMetrics writes one metrics row per minute per stream, of
	// all versions (version empty): requests and errors summed over the
	// versions serving, latencies their request-weighted means. Error
	// signatures stay per version (default false).
	AggregateMetrics bool `yaml:"aggregate_metrics"`
	// RealValuedCounts exports requests and errors as Prometheus
	// increase() over a minute gives them: each count times an
	// extrapolation factor in [0.98, 1.02], to four decimals, errors never
	// above requests (default false).
	RealValuedCounts bool `yaml:"real_valued_counts"`
	// KPIs declares four KPIs per service, one of every kind, and writes
	// their per-minute aggregate values per stream: success_ratio (ratio,
	// lower_is_worse: 1 − errors/requests), throughput (rate, both:
	// requests per second), latency_p95 (latency, higher_is_worse, ms:
	// the request-weighted p95) and saturation (gauge, higher_is_worse, %:
	// a utilisation that follows traffic) (default false).
	KPIs bool `yaml:"kpis"`
	// ShiftRate is the share of faulty versions whose fault is a moderate,
	// sustained shift of one KPI (shape "shift"): the KPI's value moves by
	// a relative ShiftMin–ShiftMax in its worse direction from the onset
	// on — success ratio down (an added failure share), throughput down
	// (or up: ThroughputUpShare), latency up, saturation up (default 0).
	ShiftRate float64 `yaml:"shift_rate"`
	// BurstRate is the share of faulty versions whose fault is a short,
	// large burst of one KPI (shape "burst"): 5–15 minutes starting up to
	// 8 minutes after the deploy, then the version behaves (success ratio
	// −20–60%, throughput −40–80% or +50–200%, latency +100–300%,
	// saturation +30–80%) (default 0).
	BurstRate float64 `yaml:"burst_rate"`
	// ShiftMin and ShiftMax bound the relative size of shifts (defaults
	// 0.1 and 0.3: +10% to +30%).
	ShiftMin float64 `yaml:"shift_min"`
	ShiftMax float64 `yaml:"shift_max"`
	// ThroughputUpShare is the share of shift and burst faults of
	// throughput that raise it (a retry storm) rather than drop it
	// (default 0.25).
	ThroughputUpShare float64 `yaml:"throughput_up_share"`
	// FaultKPIs lists the KPIs that shift and burst faults may hit, among
	// success_ratio, throughput, latency_p95 and saturation (saturation
	// only with KPIs on). Default empty: all of them.
	FaultKPIs []string `yaml:"fault_kpis"`
}

// KPI names of the simulated fleet (Config.KPIs, history.Truth.KPI).
const (
	KPISuccessRatio = "success_ratio"
	KPIThroughput   = "throughput"
	KPILatencyP95   = "latency_p95"
	KPISaturation   = "saturation"
)

// KPINames lists the simulated KPIs.
var KPINames = []string{KPISuccessRatio, KPIThroughput, KPILatencyP95, KPISaturation}

// Reaction cultures (Config.Reactions).
const (
	ReactionsMixed         = "mixed"
	ReactionsRollbackHeavy = "rollback-heavy"
	ReactionsRollForward   = "roll-forward"
	ReactionsSilent        = "silent"
)

// culture holds the probabilities of a reaction culture.
type culture struct {
	rollback, hotfix       float64 // faulty versions (error and signature faults): rolled back, hotfixed; the rest are missed
	latRollback, latHotfix float64 // the same for latency faults
	detectMin, detectMax   float64 // minutes from onset until operators notice (log-uniform)
	fixMin, fixSpan        int64   // a hotfix comes fixMin + [0, fixSpan) minutes after noticing
	healthyRollback        float64 // healthy versions rolled back anyway
	followUpCum            float64 // healthyRollback + share of healthy versions quickly followed by another
	incident, linked       float64 // an incident on a noticed fault; the incident names the deployment
	noise                  float64 // factor on NoiseIncidentsPerDay
}

var cultures = map[string]culture{
	ReactionsMixed: {rollback: 0.65, hotfix: 0.2, latRollback: 0.45, latHotfix: 0.15, detectMin: 4, detectMax: 90,
		fixMin: 5, fixSpan: 26, healthyRollback: 0.015, followUpCum: 0.045, incident: 0.6, linked: 0.6, noise: 1},
	ReactionsRollbackHeavy: {rollback: 0.85, hotfix: 0.05, latRollback: 0.7, latHotfix: 0.05, detectMin: 3, detectMax: 40,
		fixMin: 5, fixSpan: 26, healthyRollback: 0.06, followUpCum: 0.09, incident: 0.5, linked: 0.6, noise: 1},
	ReactionsRollForward: {rollback: 0.1, hotfix: 0.7, latRollback: 0.05, latHotfix: 0.6, detectMin: 4, detectMax: 90,
		fixMin: 10, fixSpan: 51, healthyRollback: 0.005, followUpCum: 0.125, incident: 0.6, linked: 0.5, noise: 1},
	ReactionsSilent: {rollback: 0.15, hotfix: 0.1, latRollback: 0.05, latHotfix: 0.05, detectMin: 20, detectMax: 240,
		fixMin: 5, fixSpan: 26, healthyRollback: 0.005, followUpCum: 0.035, incident: 0.1, linked: 0.3, noise: 1.0 / 3},
}

// ReactionCultures lists the values of Config.Reactions.
var ReactionCultures = []string{ReactionsMixed, ReactionsRollbackHeavy, ReactionsRollForward, ReactionsSilent}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Services:        40,
		Environments:    []string{"prod-us1", "prod-eu1"},
		Days:            14,
		Start:           time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC),
		Seed:            1,
		DeploysPerDay:   4,
		FaultRate:       0.05,
		AnnotationRate:  0.03,
		AnnotationNoise: 0.05,
		KindOmittedRate: 0.3,
		OutagesPerDay:   0.3,
		Signatures:      true,
		Workers:         2,

		Reactions:            ReactionsMixed,
		LowTrafficShare:      defaultLowTrafficShare,
		NoiseIncidentsPerDay: 0.05,
		OutageIncidents:      2,
		BenignSignatureRate:  0.1,

		ShiftMin:          0.1,
		ShiftMax:          0.3,
		ThroughputUpShare: 0.25,
	}
}

// defaultLowTrafficShare is the default Config.LowTrafficShare.
const defaultLowTrafficShare = 0.15

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	var errs []error
	if c.Services < 1 {
		errs = append(errs, fmt.Errorf("services must be at least 1, not %d", c.Services))
	}
	if len(c.Environments) == 0 {
		errs = append(errs, errors.New("environments must name at least one environment"))
	}
	seen := map[string]bool{}
	for _, e := range c.Environments {
		if e == "" || seen[e] {
			errs = append(errs, fmt.Errorf("environment %q is empty or repeated", e))
		}
		seen[e] = true
	}
	if c.Days < 1 {
		errs = append(errs, fmt.Errorf("days must be at least 1, not %d", c.Days))
	}
	if c.Start.IsZero() || c.Start.Second() != 0 || c.Start.Nanosecond() != 0 {
		errs = append(errs, fmt.Errorf("start must be a whole minute, not %v", c.Start))
	}
	if c.DeploysPerDay <= 0 || c.DeploysPerDay > 200 {
		errs = append(errs, fmt.Errorf("deploys_per_day must be in (0, 200], not %g", c.DeploysPerDay))
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"fault_rate", c.FaultRate}, {"annotation_rate", c.AnnotationRate}, {"annotation_noise", c.AnnotationNoise}, {"kind_omitted_rate", c.KindOmittedRate},
		{"low_traffic_share", c.LowTrafficShare}, {"office_hours_share", c.OfficeHoursShare}, {"noise_incident_link_rate", c.NoiseIncidentLinkRate},
		{"benign_signature_rate", c.BenignSignatureRate}, {"no_canary_rate", c.NoCanaryRate},
		{"shift_rate", c.ShiftRate}, {"burst_rate", c.BurstRate}, {"throughput_up_share", c.ThroughputUpShare}} {
		if p.v < 0 || p.v > 1 {
			errs = append(errs, fmt.Errorf("%s must be in [0, 1], not %g", p.name, p.v))
		}
	}
	if c.OutagesPerDay < 0 {
		errs = append(errs, fmt.Errorf("outages_per_day must be ≥ 0, not %g", c.OutagesPerDay))
	}
	if c.DeploysPerDayMax != 0 && (c.DeploysPerDayMax < c.DeploysPerDay || c.DeploysPerDayMax > 200) {
		errs = append(errs, fmt.Errorf("deploys_per_day_max must be 0 or in [deploys_per_day, 200], not %g", c.DeploysPerDayMax))
	}
	if _, ok := cultures[c.Reactions]; !ok {
		errs = append(errs, fmt.Errorf("reactions must be one of %s, not %q", strings.Join(ReactionCultures, ", "), c.Reactions))
	}
	if c.NoiseIncidentsPerDay < 0 || c.NoiseIncidentsPerDay > 100 {
		errs = append(errs, fmt.Errorf("noise_incidents_per_day must be in [0, 100], not %g", c.NoiseIncidentsPerDay))
	}
	if c.OutageIncidents < 0 {
		errs = append(errs, fmt.Errorf("outage_incidents must be ≥ 0, not %d", c.OutageIncidents))
	}
	if (c.SeverityMin != 0 || c.SeverityMax != 0) && !(c.SeverityMin > 1 && c.SeverityMin <= c.SeverityMax && c.SeverityMax <= 1000) {
		errs = append(errs, fmt.Errorf("severity_min and severity_max must both be 0 or satisfy 1 < min ≤ max ≤ 1000, not %g and %g", c.SeverityMin, c.SeverityMax))
	}
	if c.ShiftRate+c.BurstRate > 1 {
		errs = append(errs, fmt.Errorf("shift_rate + burst_rate must be at most 1, not %g", c.ShiftRate+c.BurstRate))
	}
	if !(c.ShiftMin > 0 && c.ShiftMin <= c.ShiftMax && c.ShiftMax < 1) {
		errs = append(errs, fmt.Errorf("shift_min and shift_max must satisfy 0 < min ≤ max < 1, not %g and %g", c.ShiftMin, c.ShiftMax))
	}
	for _, k := range c.FaultKPIs {
		switch {
		case !slices.Contains(KPINames, k):
			errs = append(errs, fmt.Errorf("fault_kpis: unknown KPI %q (want %s)", k, strings.Join(KPINames, ", ")))
		case k == KPISaturation && !c.KPIs:
			errs = append(errs, errors.New("fault_kpis: saturation shows only as a KPI value: set kpis too"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("simulate config: %w", err)
	}
	return nil
}

// faultKPIs returns the KPIs shift and burst faults may hit.
func (c *Config) faultKPIs() []string {
	if len(c.FaultKPIs) > 0 {
		return c.FaultKPIs
	}
	if c.KPIs {
		return KPINames
	}
	return KPINames[:3]
}

// kpiFaults reports whether shift or burst faults are on: truth then
// carries the kpi and direction columns.
func (c *Config) kpiFaults() bool { return c.ShiftRate > 0 || c.BurstRate > 0 }
