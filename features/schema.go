package features

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// SchemaVersion names the feature list below. Change it whenever a feature
// is added, removed, reordered or redefined.
const SchemaVersion = "fl-features-v6"

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

	BAPseudoPoints
	BAReferenceDays
	BAKPIs
	BAChecks
	BAChecksFired
	BAMinP
	BAPass

	BAErrLogRatio
	BAErrLateStat
	BAErrLevelChange
	BAErrShiftStat
	BAErrShiftP
	BAErrShiftPass
	BAErrSustainedStat
	BAErrSustainedP
	BAErrSustainedPass
	BAErrBurstStat
	BAErrBurstP
	BAErrBurstPass
	BAErrVarStat
	BAErrVarP
	BAErrVarPass

	BALatLevelChange
	BALatShiftStat
	BALatShiftP
	BALatShiftPass
	BALatSustainedStat
	BALatSustainedP
	BALatSustainedPass
	BALatBurstStat
	BALatBurstP
	BALatBurstPass
	BALatVarStat
	BALatVarP
	BALatVarPass

	BATputLevelChange
	BATputShiftStat
	BATputShiftP
	BATputShiftPass
	BATputSustainedStat
	BATputSustainedP
	BATputSustainedPass
	BATputBurstStat
	BATputBurstP
	BATputBurstPass
	BATputVarStat
	BATputVarP
	BATputVarPass

	BAKPILevelChange
	BAKPIShiftStat
	BAKPIShiftP
	BAKPIShiftPass
	BAKPISustainedStat
	BAKPISustainedP
	BAKPISustainedPass
	BAKPIBurstStat
	BAKPIBurstP
	BAKPIBurstPass
	BAKPIVarStat
	BAKPIVarP
	BAKPIVarPass

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

	NewSigFingerprints: {"new_sig_fingerprints", "count", "distinct fingerprints of the new version in the window not seen on the stream in the look-back; this and the other new_sig_* columns are NaN when there is one but the history does not cover the look-back (features.LookbackUnseen: metrics from its second half only, no earlier deploy in it)"},
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

	BAPseudoPoints:  {"ba_pseudo_points", "points", "pseudo-change points replayed for the request series (at most before_after.pseudo_points); with fewer than before_after.min_pseudo_points the before/after checks abstain"},
	BAReferenceDays: {"ba_reference_days", "days", "previous days whose same clock minutes form the seasonal reference at the change (request series); NaN when the change cannot be judged"},
	BAKPIs:          {"ba_kpis", "KPIs", "declared KPIs with enough data to judge the change"},
	BAChecks:        {"ba_checks", "checks", "before/after checks (4 tests of error rate, latency, throughput and KPIs) that judged: pass not NaN"},
	BAChecksFired:   {"ba_checks_fired", "checks", "before/after checks that fired; NaN when none judged"},
	BAMinP:          {"ba_min_p", "p", "smallest before/after p-value times ba_checks (Bonferroni), capped at 1; NaN when none judged"},
	BAPass:          {"ba_pass", "1/0/NaN", "1 when ba_min_p ≤ before_after.budget: a before/after check fired, the family of checks keeping the budget; NaN when none judged"},

	BAErrLogRatio:      {"ba_err_log_ratio", "ln ratio", "ln of the shrunk ratio of the service's errors in the window to those expected at its rate over the baseline (prior_errors pseudo-errors); NaN without requests on either side"},
	BAErrLateStat:      {"ba_err_late_z", "z", "count test of the service's errors from minute " + strconv.Itoa(baLateMinutes) + " after the change to the end of the window (the restart's transient left out) against those expected at its rate over the baseline: (errors − expected) / √(expected · (1 + requests / baseline requests)), expected = requests · (baseline errors + 0.5) / (baseline requests + 1); NaN with a window of " + strconv.Itoa(baLateMinutes) + " minutes or less, or without requests on either side"},
	BAErrLevelChange:   {"ba_err_level_change", "errors/request", "the service's per-minute error rate, seasonally adjusted: mean over the window minus mean over the baseline; NaN when the change cannot be judged"},
	BAErrShiftStat:     {"ba_err_shift_z", "z", "level test of the service's per-minute error rate (higher is worse): the seasonally adjusted level change over its standard error from the baseline's spread, oriented (positive is worse; the magnitude for both)"},
	BAErrShiftP:        {"ba_err_shift_p", "p", "replay p-value of ba_err_shift_z: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BAErrShiftPass:     {"ba_err_shift_pass", "1/0/NaN", "1 when ba_err_shift_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BAErrSustainedStat: {"ba_err_sustained_z", "z", "sustained test (quartile) of the service's per-minute error rate (higher is worse): the window's quartile nearest the baseline (the lower when higher is worse, the upper when lower is worse, the larger excess for both) minus the baseline mean, over σ·√(1/minutes + 1/baseline minutes) — how far three quarters of the window's minutes all moved; a burst of a few minutes barely moves it"},
	BAErrSustainedP:    {"ba_err_sustained_p", "p", "replay p-value of ba_err_sustained_z: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BAErrSustainedPass: {"ba_err_sustained_pass", "1/0/NaN", "1 when ba_err_sustained_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BAErrBurstStat:     {"ba_err_burst_z", "z", "burst test of the service's per-minute error rate (higher is worse): largest oriented sum of standardized excess over before_after.burst_minutes consecutive window minutes, over √length"},
	BAErrBurstP:        {"ba_err_burst_p", "p", "replay p-value of ba_err_burst_z: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BAErrBurstPass:     {"ba_err_burst_pass", "1/0/NaN", "1 when ba_err_burst_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BAErrVarStat:       {"ba_err_var_log_ratio", "ln ratio", "variance test of the service's per-minute error rate (higher is worse): ln of the window's standard deviation over the baseline's (each around its own mean); larger is worse in every direction"},
	BAErrVarP:          {"ba_err_var_p", "p", "replay p-value of ba_err_var_log_ratio: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BAErrVarPass:       {"ba_err_var_pass", "1/0/NaN", "1 when ba_err_var_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},

	BALatLevelChange:   {"ba_lat_level_change", "ln ratio", "the service's request-weighted p95 latency, log scale, seasonally adjusted: mean over the window minus mean over the baseline; NaN when the change cannot be judged"},
	BALatShiftStat:     {"ba_lat_shift_z", "z", "level test of the service's request-weighted p95 latency, log scale (higher is worse): the seasonally adjusted level change over its standard error from the baseline's spread, oriented (positive is worse; the magnitude for both)"},
	BALatShiftP:        {"ba_lat_shift_p", "p", "replay p-value of ba_lat_shift_z: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BALatShiftPass:     {"ba_lat_shift_pass", "1/0/NaN", "1 when ba_lat_shift_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BALatSustainedStat: {"ba_lat_sustained_z", "z", "sustained test (quartile) of the service's request-weighted p95 latency, log scale (higher is worse): the window's quartile nearest the baseline (the lower when higher is worse, the upper when lower is worse, the larger excess for both) minus the baseline mean, over σ·√(1/minutes + 1/baseline minutes) — how far three quarters of the window's minutes all moved; a burst of a few minutes barely moves it"},
	BALatSustainedP:    {"ba_lat_sustained_p", "p", "replay p-value of ba_lat_sustained_z: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BALatSustainedPass: {"ba_lat_sustained_pass", "1/0/NaN", "1 when ba_lat_sustained_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BALatBurstStat:     {"ba_lat_burst_z", "z", "burst test of the service's request-weighted p95 latency, log scale (higher is worse): largest oriented sum of standardized excess over before_after.burst_minutes consecutive window minutes, over √length"},
	BALatBurstP:        {"ba_lat_burst_p", "p", "replay p-value of ba_lat_burst_z: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BALatBurstPass:     {"ba_lat_burst_pass", "1/0/NaN", "1 when ba_lat_burst_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BALatVarStat:       {"ba_lat_var_log_ratio", "ln ratio", "variance test of the service's request-weighted p95 latency, log scale (higher is worse): ln of the window's standard deviation over the baseline's (each around its own mean); larger is worse in every direction"},
	BALatVarP:          {"ba_lat_var_p", "p", "replay p-value of ba_lat_var_log_ratio: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BALatVarPass:       {"ba_lat_var_pass", "1/0/NaN", "1 when ba_lat_var_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},

	BATputLevelChange:   {"ba_tput_level_change", "ln ratio", "the service's requests per minute, log scale, seasonally adjusted: mean over the window minus mean over the baseline; NaN when the change cannot be judged"},
	BATputShiftStat:     {"ba_tput_shift_z", "z", "level test of the service's requests per minute, log scale (lower is worse: a rise does not fire): the seasonally adjusted level change over its standard error from the baseline's spread, oriented (positive is worse; the magnitude for both)"},
	BATputShiftP:        {"ba_tput_shift_p", "p", "replay p-value of ba_tput_shift_z: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BATputShiftPass:     {"ba_tput_shift_pass", "1/0/NaN", "1 when ba_tput_shift_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BATputSustainedStat: {"ba_tput_sustained_z", "z", "sustained test (quartile) of the service's requests per minute, log scale (lower is worse: a rise does not fire): the window's quartile nearest the baseline (the lower when higher is worse, the upper when lower is worse, the larger excess for both) minus the baseline mean, over σ·√(1/minutes + 1/baseline minutes) — how far three quarters of the window's minutes all moved; a burst of a few minutes barely moves it"},
	BATputSustainedP:    {"ba_tput_sustained_p", "p", "replay p-value of ba_tput_sustained_z: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BATputSustainedPass: {"ba_tput_sustained_pass", "1/0/NaN", "1 when ba_tput_sustained_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BATputBurstStat:     {"ba_tput_burst_z", "z", "burst test of the service's requests per minute, log scale (lower is worse: a rise does not fire): largest oriented sum of standardized excess over before_after.burst_minutes consecutive window minutes, over √length"},
	BATputBurstP:        {"ba_tput_burst_p", "p", "replay p-value of ba_tput_burst_z: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BATputBurstPass:     {"ba_tput_burst_pass", "1/0/NaN", "1 when ba_tput_burst_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BATputVarStat:       {"ba_tput_var_log_ratio", "ln ratio", "variance test of the service's requests per minute, log scale (lower is worse: a rise does not fire): ln of the window's standard deviation over the baseline's (each around its own mean); larger is worse in every direction"},
	BATputVarP:          {"ba_tput_var_p", "p", "replay p-value of ba_tput_var_log_ratio: share of pseudo-change points at least as extreme, beyond the top quarter an exponential tail fitted to it; NaN with too few points"},
	BATputVarPass:       {"ba_tput_var_pass", "1/0/NaN", "1 when ba_tput_var_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},

	BAKPILevelChange:   {"ba_kpi_level_change", "KPI unit or ln ratio", "level change (as ba_tput_level_change: window minus baseline, seasonally adjusted) of the KPI the level test picked"},
	BAKPIShiftStat:     {"ba_kpi_shift_z", "z", "level test of the declared KPIs, each in its own direction and scale: the seasonally adjusted level change over its standard error from the baseline's spread, oriented (positive is worse; the magnitude for both); the statistic of the KPI with the smallest p-value of this test"},
	BAKPIShiftP:        {"ba_kpi_shift_p", "p", "replay p-value of that KPI times the KPIs judged (Bonferroni), capped at 1; NaN with too few pseudo-change points"},
	BAKPIShiftPass:     {"ba_kpi_shift_pass", "1/0/NaN", "1 when ba_kpi_shift_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BAKPISustainedStat: {"ba_kpi_sustained_z", "z", "sustained test (quartile) of the declared KPIs, each in its own direction and scale: the window's quartile nearest the baseline (the lower when higher is worse, the upper when lower is worse, the larger excess for both) minus the baseline mean, over σ·√(1/minutes + 1/baseline minutes) — how far three quarters of the window's minutes all moved; a burst of a few minutes barely moves it; the statistic of the KPI with the smallest p-value of this test"},
	BAKPISustainedP:    {"ba_kpi_sustained_p", "p", "replay p-value of that KPI times the KPIs judged (Bonferroni), capped at 1; NaN with too few pseudo-change points"},
	BAKPISustainedPass: {"ba_kpi_sustained_pass", "1/0/NaN", "1 when ba_kpi_sustained_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BAKPIBurstStat:     {"ba_kpi_burst_z", "z", "burst test of the declared KPIs, each in its own direction and scale: largest oriented sum of standardized excess over before_after.burst_minutes consecutive window minutes, over √length; the statistic of the KPI with the smallest p-value of this test"},
	BAKPIBurstP:        {"ba_kpi_burst_p", "p", "replay p-value of that KPI times the KPIs judged (Bonferroni), capped at 1; NaN with too few pseudo-change points"},
	BAKPIBurstPass:     {"ba_kpi_burst_pass", "1/0/NaN", "1 when ba_kpi_burst_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
	BAKPIVarStat:       {"ba_kpi_var_log_ratio", "ln ratio", "variance test of the declared KPIs, each in its own direction and scale: ln of the window's standard deviation over the baseline's (each around its own mean); larger is worse in every direction; the statistic of the KPI with the smallest p-value of this test"},
	BAKPIVarP:          {"ba_kpi_var_p", "p", "replay p-value of that KPI times the KPIs judged (Bonferroni), capped at 1; NaN with too few pseudo-change points"},
	BAKPIVarPass:       {"ba_kpi_var_pass", "1/0/NaN", "1 when ba_kpi_var_p ≤ before_after.budget (the check fired), 0 when not, NaN when it abstains"},
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
