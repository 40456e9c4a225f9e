// Package history holds the deploy-history model that every Faultline stage
// shares — services, deployments, per-minute metrics (per version, or
// aggregate over all versions), error signatures, named KPIs, incidents and
// human annotations — and the Store interfaces that the PostgreSQL backend
// (package pgstore) and the embedded, serverless backend (package embedded)
// implement. The conformance suite in package historytest is the contract
// both backends keep.
//
// All timestamps are UTC. Minutes are carried as Unix minutes (Unix seconds
// divided by 60) in columnar series, because every consumer works on
// per-minute arrays.
//
// # Data as teams have it
//
// Not every team has per-version canary series. The model also holds:
//
//   - Aggregate series: a Metric (or KPIValue) whose Version is
//     AggregateVersion ("") covers every version of the service in its
//     environment. Reader.Metrics returns it as the Series with Version "",
//     which sorts first; SplitAggregate separates it from the per-version
//     series. A stream may have an aggregate series, per-version series, or
//     both; when it has both, the aggregate is NOT the sum of the others
//     (it is whatever the team's monitoring measured), so consumers must not
//     add it to them.
//   - Real-valued counts: Requests and Errors are float64 (Prometheus
//     increase() and rate() give floats); integer data keeps its exact
//     values (every integer below 2^53 is a float64).
//   - Named KPIs: a service declares KPIs (KPI: name, Direction, KPIKind)
//     and gives per-minute values (KPIValue), aggregate or per version.
//     They are read through KPIReader (KPIs, KPIValues by stream and range,
//     like metrics), which every Store implements; KPIOf finds the
//     declaration in force for a stream.
//
// Validation rules shared by the importer and both stores (lengths of keys,
// the range of timestamps, counts) are in validate.go.
package history

import (
	"context"
	"errors"
	"sort"
	"time"
)

// Kind says whether a deployment rolls forward or back.
type Kind string

// Deployment kinds.
const (
	KindDeploy   Kind = "deploy"
	KindRollback Kind = "rollback"
)

// Annotation labels.
const (
	LabelFaulty  = "faulty"
	LabelHealthy = "healthy"
)

// Service is one service of the fleet.
type Service struct {
	Name string
	Team string // empty when unknown
	Tier string // empty when unknown
}

// Deployment is one rollout of a version of a service to an environment.
type Deployment struct {
	ID          string
	Service     string
	Environment string
	Version     string
	StartedAt   time.Time // rollout start, UTC
	FinishedAt  time.Time // 100% on the new version; zero when unknown
	CommitSHA   string
	Author      string
	// Change size; -1 when unknown.
	FilesChanged int64
	LinesAdded   int64
	LinesDeleted int64
	// Kind as imported, or inferred at import when the file had none
	// (KindInferred is then true). An empty Kind given to an ImportTx asks
	// for inference by InferKinds: a deployment of a version already
	// deployed earlier to the same service and environment is a rollback.
	// ImportTx ignores KindInferred: a Kind given is a given kind.
	Kind         Kind
	KindInferred bool
}

// AggregateVersion is the Version of a metric or KPI row (and series) that
// covers all versions of the service in its environment: the series of
// teams without per-version data.
const AggregateVersion = ""

// Metric is one minute of traffic served by one version, or by all versions
// of the service when Version is AggregateVersion.
type Metric struct {
	Service     string
	Environment string
	Version     string    // AggregateVersion ("") for all versions
	Minute      time.Time // the minute the row covers; stores keep its start (seconds floored)
	// Requests and Errors are finite, non-negative and real-valued (a
	// rate or increase over the minute), with Errors ≤ Requests.
	Requests float64
	Errors   float64
	// Latency percentiles in milliseconds; NaN when absent.
	LatencyP50 float64
	LatencyP95 float64
	LatencyP99 float64
}

// Signature is the count of one error fingerprint in one minute of one
// version. Counts stay integers: they count error events that an APM
// groups, not rates.
type Signature struct {
	Service     string
	Environment string
	Version     string
	Minute      time.Time
	Fingerprint string
	Count       int64
	ErrorType   string // empty when absent
	Endpoint    string // empty when absent
	StatusCode  int32  // 0 when absent
}

// Incident is an incident opened on a service.
type Incident struct {
	ID           string
	Service      string
	Environment  string // empty: all environments
	OpenedAt     time.Time
	ResolvedAt   time.Time // zero when unknown or open
	Severity     string
	DeploymentID string // set when responders linked it to a deployment
}

// Annotation is a human verdict on a deployment. Annotations are gold labels
// for evaluation, and targets for training (train.annotations); no feature,
// labeling function or label model may read them.
type Annotation struct {
	DeploymentID string
	Label        string // LabelFaulty or LabelHealthy
	Annotator    string // empty when absent; part of the natural key
	AnnotatedAt  time.Time
	Note         string
}

// Series is the per-minute traffic of one version of a service in one
// environment (or of all versions: Version AggregateVersion), sorted by
// minute. A minute absent from Minutes had no traffic for that version.
// All slices have the same length.
type Series struct {
	Version  string
	Minutes  []int64 // Unix minutes, strictly ascending
	Requests []float64
	Errors   []float64
	P50      []float64 // NaN when absent
	P95      []float64
	P99      []float64
}

// Len returns the number of minutes in s.
func (s *Series) Len() int { return len(s.Minutes) }

// Stream names one (service, environment) pair: the unit in which metrics are
// stored and read.
type Stream struct {
	Service     string
	Environment string
}

// Range is the half-open time interval [From, Until). A zero From or Until
// leaves that side open.
type Range struct {
	From  time.Time
	Until time.Time
}

// Contains reports whether t lies in r.
func (r Range) Contains(t time.Time) bool {
	return (r.From.IsZero() || !t.Before(r.From)) && (r.Until.IsZero() || t.Before(r.Until))
}

// UnixMinute converts t to Unix minutes (floor).
func UnixMinute(t time.Time) int64 {
	s := t.Unix()
	if s < 0 && s%60 != 0 {
		return s/60 - 1
	}
	return s / 60
}

// MinuteTime converts Unix minutes to a UTC time.
func MinuteTime(m int64) time.Time { return time.Unix(m*60, 0).UTC() }

// FloorMinute returns the start of the minute of t, in UTC: the minute a
// per-minute row stamped t covers (docs/history-import.md, "Timestamps").
func FloorMinute(t time.Time) time.Time { return MinuteTime(UnixMinute(t)) }

// Reader reads history. Both backends implement it; later stages depend on
// this interface only (KPIs are read through KPIReader, which every Store
// also implements).
type Reader interface {
	// Services lists the services, sorted by name.
	Services(ctx context.Context) ([]Service, error)
	// Deployments returns the deployments whose StartedAt lies in r, ordered
	// by StartedAt, then ID.
	Deployments(ctx context.Context, r Range) ([]Deployment, error)
	// Streams lists every (service, environment) pair that has deployments,
	// metrics or KPI values, sorted by service, then environment.
	Streams(ctx context.Context) ([]Stream, error)
	// Metrics returns the series of every version of s with minutes in r,
	// sorted by version (byte order): the aggregate series (Version
	// AggregateVersion, ""), when the stream has one, comes first.
	Metrics(ctx context.Context, s Stream, r Range) ([]Series, error)
	// Signatures returns the error-signature rows of s with minutes in r,
	// ordered by minute, version, fingerprint.
	Signatures(ctx context.Context, s Stream, r Range) ([]Signature, error)
	// Incidents returns the incidents opened in r, ordered by OpenedAt, ID.
	Incidents(ctx context.Context, r Range) ([]Incident, error)
	// Annotations returns every annotation, ordered by deployment, annotator.
	Annotations(ctx context.Context) ([]Annotation, error)
}

// ImportTx is one all-or-nothing import. Rows may be added in any number of
// batches; nothing is visible to readers until Commit returns nil, and
// Rollback (or a failed Commit) leaves the store as it was. Rows are upserted
// by their natural keys (see docs/schema.md).
type ImportTx interface {
	AddServices(ctx context.Context, rows []Service) error
	AddDeployments(ctx context.Context, rows []Deployment) error
	AddMetrics(ctx context.Context, rows []Metric) error
	AddSignatures(ctx context.Context, rows []Signature) error
	AddIncidents(ctx context.Context, rows []Incident) error
	AddAnnotations(ctx context.Context, rows []Annotation) error
	// AddKPIs adds KPI declarations, upserted by (service, environment,
	// name).
	AddKPIs(ctx context.Context, rows []KPI) error
	// AddKPIValues adds KPI values, upserted by (service, environment,
	// version, name, minute).
	AddKPIValues(ctx context.Context, rows []KPIValue) error
	// The Add methods refuse rows that break the rules of validate.go (an
	// empty or over-long key, a time outside [MinTime, MaxTime), a
	// negative or non-finite count, errors above requests, a deployment
	// finished before it started, …) with an error naming the row; the
	// import is then aborted: Commit fails, and only Rollback remains.
	//
	// Commit creates services named but not given, re-infers with
	// InferKinds the kind of every inferred deployment of the streams that
	// the added deployments touch (stored ones included), checks that every
	// annotation names an existing deployment (returning a
	// *MissingDeploymentError otherwise), checks the added KPI values
	// against the KPI declarations in force after the import (returning a
	// *KPIValueError), lists the per-version metric series whose version
	// has no deployment (ImportSummary.Undeployed), and makes the import
	// visible atomically.
	Commit(ctx context.Context) (ImportSummary, error)
	// Rollback abandons the import. It is safe to call after Commit.
	Rollback(ctx context.Context) error
}

// ImportSummary counts the rows an import wrote, by table.
type ImportSummary struct {
	Services    int64 `json:"services"`
	Deployments int64 `json:"deployments"`
	Metrics     int64 `json:"metrics"`
	Signatures  int64 `json:"error_signatures"`
	Incidents   int64 `json:"incidents"`
	Annotations int64 `json:"annotations"`
	KPIs        int64 `json:"kpis"`
	KPIValues   int64 `json:"kpi_values"`
	// RollbacksInferred counts the deployments added by this import
	// without a kind whose inferred kind is rollback. Stored deployments
	// that the import re-inferred (a backfilled earlier deployment can turn
	// a stored inferred deploy into a rollback) are not counted.
	RollbacksInferred int64 `json:"rollbacks_inferred"`
	// Undeployed lists, sorted by service, environment and version, the
	// per-version metric series (Version not AggregateVersion) that this
	// import added rows to and whose version has no deployment in its
	// stream, neither stored nor added by the import. Such rows are kept:
	// they are traffic of the stream (the version running before the
	// history's first deployment, typically), but no deployment's window
	// belongs to them (docs/history-import.md, "Versions without a
	// deployment").
	Undeployed []UndeployedSeries `json:"-"`
	// UndeployedRows is the number of rows this import added to the
	// series of Undeployed.
	UndeployedRows int64 `json:"undeployed_metric_rows"`
}

// UndeployedSeries is a per-version metric series whose version has no
// deployment in its stream, and how many rows an import added to it.
type UndeployedSeries struct {
	Service     string
	Environment string
	Version     string
	Rows        int64
}

// SortUndeployed sorts u by service, environment, version: the order of
// ImportSummary.Undeployed.
func SortUndeployed(u []UndeployedSeries) {
	sort.Slice(u, func(i, j int) bool {
		a, b := u[i], u[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Environment != b.Environment {
			return a.Environment < b.Environment
		}
		return a.Version < b.Version
	})
}

// MissingDeploymentError reports annotations that name deployments found
// neither in the import nor in the store.
type MissingDeploymentError struct {
	DeploymentIDs []string
}

func (e *MissingDeploymentError) Error() string {
	if len(e.DeploymentIDs) == 1 {
		return "unknown deployment " + e.DeploymentIDs[0]
	}
	return "unknown deployments " + e.DeploymentIDs[0] + " and others"
}

// Truth is the simulator's ground truth for one deployment. It is written
// apart from the history (see TruthStore) and no pipeline stage reads it as
// input; evaluation reads it only to check itself on simulated history.
type Truth struct {
	DeploymentID string
	Faulty       bool
	// Shape of the fault: "step", "ramp", "delayed", "new_signature",
	// "latency", or "" when healthy.
	Shape string
	// OnsetMinute is the minute after StartedAt at which the fault shows; -1 when healthy.
	OnsetMinute int64
	// Confounders present in the deploy's first hour: any of "blip",
	// "outage", "low_traffic", "seasonal", "bursty", "overlap", joined by ','.
	Confounders string
	// Severity is the fault's multiplicative error-rate increase (or latency
	// factor for "latency" faults, or the factor on KPI for "shift" and
	// "burst" faults); 0 when healthy.
	Severity float64
	// KPI names the KPI in which a "shift" or "burst" fault shows:
	// "success_ratio" (1 − errors/requests), "throughput" (requests per
	// second), "latency_p95" or "saturation" (a gauge given only as a KPI
	// value). Empty for the other shapes, whose Shape says where they show
	// (error rate, signatures, latency).
	KPI string
	// Direction is how a "shift" or "burst" fault moves its KPI: "up" or
	// "down"; empty for the other shapes.
	Direction string
}

// TruthStore stores simulator ground truth beside a history.
type TruthStore interface {
	PutTruth(ctx context.Context, rows []Truth) error
	// Truth returns the stored truth, or ErrNoTruth when the history was
	// not simulated.
	Truth(ctx context.Context) ([]Truth, error)
}

// ErrNoTruth is returned by TruthStore.Truth when no ground truth exists.
var ErrNoTruth = errors.New("no simulator ground truth in this history")

// Store is a history backend: readable, importable, closable.
type Store interface {
	Reader
	KPIReader
	TruthStore
	// DeploymentByID returns the deployment with the id; ok is false when
	// there is none. It costs one lookup, not a listing: PostgreSQL reads
	// it by primary key, the embedded store decodes only the row group
	// that holds it. (`faultline check` looks its deploy up so, through
	// the consumer's interface batch.DeploymentFinder.)
	DeploymentByID(ctx context.Context, id string) (d Deployment, ok bool, err error)
	// BeginImport starts an all-or-nothing import.
	BeginImport(ctx context.Context) (ImportTx, error)
	// Describe names the backend for messages, e.g. "postgres://host/db" or
	// "embedded:./faultline-data".
	Describe() string
	Close() error
}

// SplitAggregate separates the aggregate series (Version AggregateVersion)
// from the per-version ones of a stream's series as Reader.Metrics returns
// them. agg is nil when the stream has no aggregate series; perVersion
// shares ss's backing array.
func SplitAggregate(ss []Series) (agg *Series, perVersion []Series) {
	if len(ss) > 0 && ss[0].Version == AggregateVersion {
		return &ss[0], ss[1:]
	}
	return nil, ss
}

// SeriesOf groups metric rows into columnar series, one per version, sorted
// by version. Rows keep their given order within a series (callers pass them
// sorted by minute); rows of other streams must be filtered out first.
func SeriesOf(rows []Metric) []Series {
	by := map[string]*Series{}
	var versions []string
	for _, m := range rows {
		s := by[m.Version]
		if s == nil {
			s = &Series{Version: m.Version}
			by[m.Version] = s
			versions = append(versions, m.Version)
		}
		s.Minutes = append(s.Minutes, UnixMinute(m.Minute))
		s.Requests = append(s.Requests, m.Requests)
		s.Errors = append(s.Errors, m.Errors)
		s.P50 = append(s.P50, m.LatencyP50)
		s.P95 = append(s.P95, m.LatencyP95)
		s.P99 = append(s.P99, m.LatencyP99)
	}
	sort.Strings(versions)
	out := make([]Series, 0, len(versions))
	for _, v := range versions {
		out = append(out, *by[v])
	}
	return out
}
