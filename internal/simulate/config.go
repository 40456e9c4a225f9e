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
// version is faulty again.
package simulate

import (
	"errors"
	"fmt"
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
}

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
	}
}

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
	}{{"fault_rate", c.FaultRate}, {"annotation_rate", c.AnnotationRate}, {"annotation_noise", c.AnnotationNoise}, {"kind_omitted_rate", c.KindOmittedRate}} {
		if p.v < 0 || p.v > 1 {
			errs = append(errs, fmt.Errorf("%s must be in [0, 1], not %g", p.name, p.v))
		}
	}
	if c.OutagesPerDay < 0 {
		errs = append(errs, fmt.Errorf("outages_per_day must be ≥ 0, not %g", c.OutagesPerDay))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("simulate config: %w", err)
	}
	return nil
}
