package simulate

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Regime is a named set of knob values: one kind of fleet on which the
// detection-quality benchmark (internal/quality, docs/quality.md) scores
// the production policy. A regime changes the kind of history, never its
// size or seed: Apply leaves Services, Days, Environments, Start, Seed and
// Workers alone.
type Regime struct {
	Name string
	// About says in a sentence what the regime stresses.
	About string
	apply func(*Config)
}

// Apply sets the regime's knobs on c.
func (r Regime) Apply(c *Config) { r.apply(c) }

// Knobs returns the regime's settings that differ from DefaultConfig, as
// "key: value" with the YAML keys of section simulate, in field order.
func (r Regime) Knobs() []string {
	def := DefaultConfig()
	c := def
	r.apply(&c)
	return diffKnobs(def, c)
}

// Regimes are the named fleets of the benchmark, each varying the default
// fleet along the axes that mislead detectors and labeling functions. They
// are meant to be hostile and varied: none was tuned for a detector.
var Regimes = []Regime{
	{Name: "baseline-mixed", About: "a bit of everything: per-stream cadence from 1 to 10 deploys a day, more low-traffic services, " +
		"benign new signatures, outages with incidents on several streams, misattributed incidents, mild to severe faults, a tenth of deploys without canary",
		apply: func(c *Config) {
			c.DeploysPerDay, c.DeploysPerDayMax = 1, 10
			c.FaultRate = 0.06
			c.LowTrafficShare = 0.25
			c.BenignSignatureRate = 0.15
			c.OutagesPerDay, c.OutageIncidents = 0.5, 4
			c.NoiseIncidentsPerDay, c.NoiseIncidentLinkRate = 0.1, 0.1
			c.SeverityMin, c.SeverityMax = 1.2, 25
			c.NoCanaryRate = 0.1
		}},
	{Name: "high-cadence", About: "every stream deploys 4 to 10 times a day: versions are often replaced within the hour, before anyone reacts",
		apply: func(c *Config) { c.DeploysPerDay, c.DeploysPerDayMax = 4, 10 }},
	{Name: "rollback-heavy", About: "operators roll back almost every fault within minutes, and roll back 6% of healthy versions too",
		apply: func(c *Config) {
			c.DeploysPerDay, c.DeploysPerDayMax = 2, 6
			c.Reactions = ReactionsRollbackHeavy
		}},
	{Name: "roll-forward", About: "operators fix forward: faults are replaced by hotfix versions rather than rolled back, and healthy versions are often followed quickly by another",
		apply: func(c *Config) {
			c.DeploysPerDay, c.DeploysPerDayMax = 2, 6
			c.Reactions = ReactionsRollForward
		}},
	{Name: "silent", About: "few reactions: most faults are never rolled back or fixed, incidents and annotations are rare",
		apply: func(c *Config) {
			c.Reactions = ReactionsSilent
			c.AnnotationRate = 0.005
		}},
	{Name: "low-traffic", About: "mostly low traffic: 60% of services serve a few requests a minute, with many empty and zero-error minutes",
		apply: func(c *Config) { c.LowTrafficShare = 0.6 }},
	{Name: "noisy-outages", About: "fleet outages five times as often, each opening incidents on every affected stream; six times the unrelated incidents, a quarter of them linked to the latest deploy",
		apply: func(c *Config) {
			c.OutagesPerDay, c.OutageIncidents = 1.5, 1000
			c.NoiseIncidentsPerDay, c.NoiseIncidentLinkRate = 0.3, 0.25
		}},
	{Name: "benign-signatures", About: "half of the healthy deploys bring a new, harmless error fingerprint",
		apply: func(c *Config) { c.BenignSignatureRate = 0.5 }},
	{Name: "mild-faults", About: "fault severities from 1.2× to 6× for every shape, and more faults",
		apply: func(c *Config) {
			c.SeverityMin, c.SeverityMax = 1.2, 6
			c.FaultRate = 0.08
		}},
	{Name: "no-canary", About: "nine deploys in ten switch all traffic at once, so versions never serve side by side (per-version series still exist)",
		apply: func(c *Config) { c.NoCanaryRate = 0.9 }},
	{Name: "aggregate-bigbang", About: "data as most teams have it: every deploy switches all traffic at once, metrics are one real-valued aggregate series per service (no version), no error signatures; the default fault shapes at 1.3× to 8×",
		apply: aggregateBigBang},
	{Name: "kpi-shifts", About: "aggregate big-bang fleets with four KPIs per service (success ratio, throughput, latency, saturation: every kind and direction); four faults in five are a moderate sustained shift of one KPI, 10% to 30%, down for success ratio and mostly for throughput, up for latency and saturation",
		apply: func(c *Config) {
			aggregateBigBang(c)
			c.KPIs = true
			c.FaultRate = 0.1
			c.ShiftRate = 0.8
		}},
	{Name: "bursts-and-drops", About: "aggregate big-bang fleets with KPIs; faults hit success ratio or throughput only, always downwards: half are bursts of 5 to 15 minutes (−20% to −80%), half sustained drops of 10% to 30%",
		apply: func(c *Config) {
			aggregateBigBang(c)
			c.KPIs = true
			c.FaultRate = 0.1
			c.BurstRate, c.ShiftRate = 0.5, 0.5
			c.FaultKPIs = []string{KPISuccessRatio, KPIThroughput}
			c.ThroughputUpShare = 0
		}},
	{Name: "office-hours", About: "aggregate big-bang fleets in which half of the services follow office hours: on weekdays only, their traffic is 2 to 4 times higher from about 08:00 to 18:00 — a weekly shape, which the previous days, a weekend among them, misread as a change",
		apply: func(c *Config) {
			aggregateBigBang(c)
			c.OfficeHoursShare = 0.5
		}},
}

// aggregateBigBang sets the knobs of teams without canaries or
// per-version data.
func aggregateBigBang(c *Config) {
	c.NoCanaryRate = 1
	c.AggregateMetrics, c.RealValuedCounts = true, true
	c.Signatures = false
	c.FaultRate = 0.08
	c.SeverityMin, c.SeverityMax = 1.3, 8
}

// RegimeNames lists the names of Regimes in order.
func RegimeNames() []string {
	out := make([]string, len(Regimes))
	for i, r := range Regimes {
		out[i] = r.Name
	}
	return out
}

// LookupRegime returns the regime called name, or an error listing the
// regimes.
func LookupRegime(name string) (Regime, error) {
	for _, r := range Regimes {
		if r.Name == name {
			return r, nil
		}
	}
	return Regime{}, fmt.Errorf("unknown regime %q: want one of %s", name, strings.Join(RegimeNames(), ", "))
}

// diffKnobs lists the fields of b that differ from a as "yaml_key: value".
func diffKnobs(a, b Config) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	var out []string
	for i := 0; i < t.NumField(); i++ {
		fa, fb := va.Field(i), vb.Field(i)
		if reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			continue
		}
		key := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		var v string
		switch fb.Kind() {
		case reflect.Float64:
			v = strconv.FormatFloat(fb.Float(), 'g', -1, 64)
		case reflect.Slice:
			parts := make([]string, fb.Len())
			for j := range parts {
				parts[j] = fmt.Sprint(fb.Index(j).Interface())
			}
			v = "[" + strings.Join(parts, ", ") + "]"
		default:
			v = fmt.Sprint(fb.Interface())
		}
		out = append(out, key+": "+v)
	}
	return out
}
