package features

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SchemaVersion names the feature list below. Change it whenever a feature
// is added, removed, reordered or redefined.
const SchemaVersion = "fl-features-v2"

// Feature describes one column of the feature vector.
type Feature struct {
	Name string // column name, snake_case
	Unit string // unit of the value
	Doc  string // definition, one sentence
}

// Indexes of the features in a vector. The order is the column order of
// features_hH.parquet and must match schemaList.
const (
	IsRollback = iota
	ChangeFiles
	ChangeLines
	LogChangeLines
	MinutesSincePrevDeploy
	HourOfDay
	DayOfWeek
	RolloutFinished
	RolloutMinutes
	NewTrafficShare
	OverlapDeploy
	BaselineRPM
	LogBaselineRPM
	NewRPM

	BaselineErrorRate
	NewErrorRate
	NewErrorRateShrunk
	PrevErrorRate
	ExpectedErrorRate
	NewRequests
	NewErrors

	ImpactRatio
	ImpactLogRatio
	ImpactExcess
	ImpactZ
	ImpactNegLog10P
	ImpactPass

	CPOffset
	CPLLR
	CPRatio
	OverlapMinutes
	VsPrevRatio
	VsPrevNegLog10P
	TemporalByChangePoint
	TemporalPass

	ElevatedMinutesFrac
	ElevatedMaxRun
	ElevatedFirstMinute
	PersistenceFrac
	FirstBucketRatio
	LastBucketRatio
	RateSlope
	PersistencePass

	Inconclusive
	EnsembleFaulty
	ChecksPassed

	NewSigFingerprints
	NewSigErrors
	NewSigShare
	NewSigRate
	NewSigPersist
	KnownFingerprints
	NewSigPass

	P95Ratio
	P99Ratio
	P95VsPrevRatio
	P95Z
	LatencyPass

	TrafficRatio
	TrafficLogRatio
	TrafficChangePass

	SeasonalDaysUsed
	SeasonalErrorFactor
	SeasonalErrorRate
	SeasonalTrafficFactor
	ImpactVsSeasonalRatio

	FleetServices
	FleetElevatedFrac
	FleetElevatedMaxFrac
	FleetElevatedBaseFrac
	FleetOutage
	FleetAdjustedLogRatio
	FleetElevatedAtCP
	ServiceElevatedFrac

	// NumFeatures is the length of a feature vector.
	NumFeatures
)

var schemaList = [NumFeatures]Feature{
	IsRollback:             {"is_rollback", "0/1", "1 when the deployment rolls back to a version deployed before (known at deploy time)"},
	ChangeFiles:            {"change_files", "files", "files changed by the deployment; NaN when unknown"},
	ChangeLines:            {"change_lines", "lines", "lines added plus lines deleted; NaN when unknown"},
	LogChangeLines:         {"log_change_lines", "ln(1+lines)", "natural log of 1 + change_lines; NaN when unknown"},
	MinutesSincePrevDeploy: {"minutes_since_prev_deploy", "minutes", "minutes from the previous deploy's start on the same service and environment, capped at prev_deploy_cap_minutes"},
	HourOfDay:              {"hour_of_day", "hour 0-23 UTC", "hour of the deploy's start"},
	DayOfWeek:              {"day_of_week", "0=Sunday..6", "weekday of the deploy's start (UTC)"},
	RolloutFinished:        {"rollout_finished", "0/1", "1 when the rollout reached 100% before start+H"},
	RolloutMinutes:         {"rollout_minutes", "minutes", "minutes from start to rollout end when it ended before start+H, else H (rollout length so far)"},
	NewTrafficShare:        {"new_traffic_share", "share 0-1", "share of the service's requests served by the new version in the last 5 minutes of the window"},
	OverlapDeploy:          {"overlap_deploy", "0/1", "1 when another deploy of the same service and environment started after this one and before start+H"},
	BaselineRPM:            {"baseline_rpm", "requests/minute", "the service's mean requests per minute over the baseline (all versions)"},
	LogBaselineRPM:         {"log_baseline_rpm", "log10(1+rpm)", "log10 of 1 + baseline_rpm: the service's traffic level"},
	NewRPM:                 {"new_rpm", "requests/minute", "the new version's mean requests per minute over the window"},

	BaselineErrorRate:  {"baseline_error_rate", "errors/request", "the service's error rate over the baseline (all versions)"},
	NewErrorRate:       {"new_error_rate", "errors/request", "the new version's raw error rate over the window; NaN without requests"},
	NewErrorRateShrunk: {"new_error_rate_shrunk", "errors/request", "the new version's error rate shrunk toward the expected rate by prior_errors pseudo-errors"},
	PrevErrorRate:      {"prev_error_rate", "errors/request", "the previous version(s)' error rate during the window; NaN when they served nothing"},
	ExpectedErrorRate:  {"expected_error_rate", "errors/request", "baseline error rate times the seasonal factor (clamped to 1..max_seasonal_factor)"},
	NewRequests:        {"new_requests", "requests", "requests served by the new version in the window"},
	NewErrors:          {"new_errors", "errors", "errors of the new version in the window"},

	ImpactRatio:     {"impact_ratio", "ratio", "(new errors + prior) / (expected errors + prior): shrunk rate ratio of the new version to the expected rate"},
	ImpactLogRatio:  {"impact_log_ratio", "ln ratio", "natural log of impact_ratio"},
	ImpactExcess:    {"impact_excess", "errors/request", "new_error_rate_shrunk minus expected_error_rate"},
	ImpactZ:         {"impact_z", "z", "(new errors - expected errors) / sqrt(expected errors + 1)"},
	ImpactNegLog10P: {"impact_neglog10_p", "-log10 p", "conditional binomial test of new-version errors against baseline errors (exposures scaled by the seasonal factor); capped at 50"},
	ImpactPass:      {"impact_pass", "1/0/NaN", "1 when p < impact.alpha, impact_ratio ≥ impact.min_ratio and impact_excess ≥ impact.min_excess; NaN when the new version or the baseline served no requests"},

	CPOffset:              {"cp_offset_min", "minutes", "offset from the start minute of the best upward change point of the service's error rate over baseline+window; NaN when none"},
	CPLLR:                 {"cp_llr", "log-likelihood ratio", "binomial log-likelihood ratio of that change point (0 when none)"},
	CPRatio:               {"cp_ratio", "ratio", "shrunk error-rate ratio after / before the change point"},
	OverlapMinutes:        {"overlap_minutes", "minutes", "window minutes in which both the new and the previous version served requests"},
	VsPrevRatio:           {"vs_prev_ratio", "ratio", "shrunk error-rate ratio of new to previous version over the overlap minutes from the new version's first elevated minute on (all overlap minutes when none); NaN without such overlap"},
	VsPrevNegLog10P:       {"vs_prev_neglog10_p", "-log10 p", "conditional binomial test new > previous over the overlap minutes; NaN without overlap"},
	TemporalByChangePoint: {"temporal_by_change_point", "1/0/NaN", "1 when the change point decided the temporal check, 0 when the same-minute comparison did, NaN when neither could"},
	TemporalPass:          {"temporal_pass", "1/0/NaN", "with enough overlap traffic, new significantly worse than previous in the same minutes passes and no sign of it (p ≥ 0.2) fails; otherwise an upward change point within [-minutes_before, +minutes_after] of the start passes, unless fleet_elevated_at_cp ≥ fleet.change_point_share (the change came with a fleet-wide event); NaN when nothing can be judged"},

	ElevatedMinutesFrac: {"elevated_minutes_frac", "share 0-1", "share of window minutes where the new version is elevated (Poisson p < persistence.alpha and shrunk ratio ≥ impact.min_ratio)"},
	ElevatedMaxRun:      {"elevated_max_run", "minutes", "longest run of consecutive elevated minutes"},
	ElevatedFirstMinute: {"elevated_first_minute", "minutes", "offset of the first elevated minute from the start; NaN when none"},
	PersistenceFrac:     {"persistence_frac", "share 0-1", "the minutes from the start to the new version's last served minute are split into persistence.buckets buckets; share of buckets elevated from the first elevated one to the last; 0 when none"},
	FirstBucketRatio:    {"first_bucket_ratio", "ratio", "shrunk ratio of the new version to the expected rate in the first bucket"},
	LastBucketRatio:     {"last_bucket_ratio", "ratio", "shrunk ratio in the last bucket (the new version's last served minutes)"},
	RateSlope:           {"rate_slope", "expected rates per 10 min", "least-squares slope of the new version's per-minute shrunk ratio, per 10 minutes"},
	PersistencePass:     {"persistence_pass", "1/0/NaN", "1 when the new version served at least min(H, persistence.min_served_minutes) minutes, persistence_frac ≥ persistence.min_fraction and the last bucket is elevated; NaN when the new version served no requests"},

	Inconclusive:   {"inconclusive", "0/1", "1 when new-version requests < min_requests or baseline requests < min_baseline_requests"},
	EnsembleFaulty: {"ensemble_faulty", "1/0/NaN", "unanimous vote: 1 when impact, temporal and persistence all pass, 0 otherwise, NaN when inconclusive"},
	ChecksPassed:   {"checks_passed", "count 0-3", "how many of impact, temporal, persistence pass"},

	NewSigFingerprints: {"new_sig_fingerprints", "count", "distinct fingerprints of the new version in the window not seen on the stream in the look-back"},
	NewSigErrors:       {"new_sig_errors", "errors", "errors of the new version in the window with new fingerprints"},
	NewSigShare:        {"new_sig_share", "share 0-1", "new_sig_errors over the new version's errors (or signature counts when larger); NaN without errors"},
	NewSigRate:         {"new_sig_rate", "per 1000 requests", "new_sig_errors per 1000 new-version requests; NaN without requests"},
	NewSigPersist:      {"new_sig_persist", "share 0-1", "share of minutes from the first new-fingerprint minute to the end of the window that have new-fingerprint errors; 0 when none"},
	KnownFingerprints:  {"known_fingerprints", "count", "distinct fingerprints seen on the stream in the look-back before the start"},
	NewSigPass:         {"new_sig_pass", "0/1", "1 when new_sig_errors ≥ signatures.min_errors"},

	P95Ratio:       {"p95_ratio", "ratio", "request-weighted mean p95 latency of the new version over the window / the service's over the baseline; NaN when absent"},
	P99Ratio:       {"p99_ratio", "ratio", "same for p99"},
	P95VsPrevRatio: {"p95_vs_prev_ratio", "ratio", "new over previous version's weighted p95 over the overlap minutes; NaN without overlap"},
	P95Z:           {"p95_z", "z", "(new mean p95 - baseline mean p95) / baseline per-minute standard deviation (floored at 1% of the mean)"},
	LatencyPass:    {"latency_pass", "0/1", "1 when p95_ratio ≥ latency.min_ratio and p95_z ≥ latency.min_z"},

	TrafficRatio:      {"traffic_ratio", "ratio", "service requests per minute in the window / baseline, divided by the seasonal traffic factor when known"},
	TrafficLogRatio:   {"traffic_log_ratio", "ln ratio", "natural log of traffic_ratio, floored at ln(1e-4) so that no traffic stays finite"},
	TrafficChangePass: {"traffic_change_pass", "0/1", "1 when traffic_ratio ≥ traffic.ratio or ≤ 1/traffic.ratio"},

	SeasonalDaysUsed:      {"seasonal_days_used", "days", "previous days with traffic at the same time of day"},
	SeasonalErrorFactor:   {"seasonal_error_factor", "ratio", "median over those days of the shrunk error-rate ratio of the same-clock window to its own baseline; 1 when no day"},
	SeasonalErrorRate:     {"seasonal_error_rate", "errors/request", "the service's pooled error rate in the same-clock window on previous days; NaN when none"},
	SeasonalTrafficFactor: {"seasonal_traffic_factor", "ratio", "median over days of the same-clock window's requests per minute over its baseline's; 1 when no day"},
	ImpactVsSeasonalRatio: {"impact_vs_seasonal_ratio", "ratio", "shrunk ratio of the new version's errors to the seasonal same-clock rate; NaN when no day"},

	FleetServices:         {"fleet_services", "services", "other services in the environment"},
	FleetElevatedFrac:     {"fleet_elevated_frac", "share 0-1", "mean over window minutes of the share of other services elevated; NaN without fleet data"},
	FleetElevatedMaxFrac:  {"fleet_elevated_max_frac", "share 0-1", "largest per-minute share of other services elevated in the window"},
	FleetElevatedBaseFrac: {"fleet_elevated_base_frac", "share 0-1", "mean share of other services elevated over the baseline"},
	FleetOutage:           {"fleet_outage", "0/1", "1 when fleet_elevated_frac ≥ fleet.outage_share"},
	FleetAdjustedLogRatio: {"fleet_adjusted_log_ratio", "ln ratio", "impact_log_ratio × (1 - fleet_elevated_frac): impact discounted by a fleet-wide problem"},
	FleetElevatedAtCP:     {"fleet_elevated_at_cp", "share 0-1", "largest share of other services elevated within 2 minutes of the change point (window minutes only); NaN without change point or fleet data"},
	ServiceElevatedFrac:   {"service_elevated_frac", "share 0-1", "share of window minutes in which the whole service is elevated by the fleet definition (same rule the fleet counts use)"},
}

// Schema is the ordered feature list of SchemaVersion.
var Schema = schemaList[:]

// Names returns the feature names in column order.
func Names() []string {
	out := make([]string, len(Schema))
	for i, f := range Schema {
		out[i] = f.Name
	}
	return out
}

// Index returns the column index of the named feature, or -1.
func Index(name string) int {
	for i, f := range Schema {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// SchemaHash is a short hash of SchemaVersion and the ordered names: two
// parties with the same hash agree on what every column means.
func SchemaHash() string {
	h := sha256.New()
	h.Write([]byte(SchemaVersion))
	h.Write([]byte{0})
	h.Write([]byte(strings.Join(Names(), "\x00")))
	return hex.EncodeToString(h.Sum(nil)[:8])
}
