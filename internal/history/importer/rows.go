package importer

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// rowReader gives typed, validated access to the fields of one record and
// collects the problems found in it.
type rowReader struct {
	file     string
	cols     []string // column names of the table
	idx      []int    // column id -> field position in the record, -1 absent
	fields   []string
	line     int64
	problems []Problem
	intern   map[string]string
	// where, when set, names each record's place instead of file.
	where func(rec []string) string
}

func (r *rowReader) problem(col int, format string, a ...any) {
	r.problems = append(r.problems, Problem{File: r.file, Line: r.line, Column: r.cols[col], Reason: fmt.Sprintf(format, a...)})
}

// raw returns the field of column col, "" when the column is absent.
func (r *rowReader) raw(col int) string {
	if p := r.idx[col]; p >= 0 {
		return r.fields[p]
	}
	return ""
}

// validText reports text that PostgreSQL cannot store or that is not UTF-8.
func (r *rowReader) validText(col int, s string) bool {
	if why := history.CheckText(s); why != "" {
		r.problem(col, "%s", why)
		return false
	}
	return true
}

// validKey reports an identifier or name that breaks history.CheckKey
// (too long, not storable); s is not empty.
func (r *rowReader) validKey(col int, s string) bool {
	if why := history.CheckOptionalKey(s); why != "" {
		r.problem(col, "%s", why)
		return false
	}
	return true
}

// text returns an optional text field.
func (r *rowReader) text(col int) string {
	s := r.raw(col)
	if s != "" && !r.validText(col, s) {
		return ""
	}
	return s
}

// key returns an optional identifier (an incident's deployment_id, an
// annotator): storable text of at most history.MaxKeyBytes.
func (r *rowReader) key(col int) string {
	s := r.raw(col)
	if s != "" && !r.validKey(col, s) {
		return ""
	}
	return s
}

// req returns a required identifier (deployment_id, incident_id).
func (r *rowReader) req(col int) string {
	s := r.raw(col)
	if s == "" {
		r.problem(col, "required value is empty")
		return ""
	}
	if !r.validKey(col, s) {
		return ""
	}
	return s
}

// name returns a required text field that repeats across many rows
// (service, environment, version, fingerprint): it is interned, so rows
// share one copy and the file buffer can be freed.
func (r *rowReader) name(col int) string {
	s := r.raw(col)
	if v, ok := r.intern[s]; ok {
		return v
	}
	if s == "" {
		r.problem(col, "required value is empty")
		return ""
	}
	if !r.validKey(col, s) {
		return ""
	}
	v := strings.Clone(s)
	r.intern[v] = v
	return v
}

// timestamp parses an RFC 3339 timestamp (any offset) to UTC. Empty gives
// the zero time, and a problem when required.
func (r *rowReader) timestamp(col int, required bool) time.Time {
	s := r.raw(col)
	if s == "" {
		if required {
			r.problem(col, "required value is empty")
		}
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		r.problem(col, "not an RFC 3339 timestamp: %q", s)
		return time.Time{}
	}
	if why := history.CheckTime(t); why != "" {
		r.problem(col, "%s", why)
		return time.Time{}
	}
	return t.UTC()
}

// minute parses the required timestamp of a per-minute row and floors it
// to the start of its minute (UTC): a row stamped 03:37:50 covers the
// minute 03:37 (docs/history-import.md, "Timestamps").
func (r *rowReader) minute(col int) time.Time {
	t := r.timestamp(col, true)
	if t.IsZero() {
		return t
	}
	return history.FloorMinute(t)
}

// amount parses a required real-valued count: a finite number ≥ 0
// (history.CheckCount). Prometheus increase() and rate() give such values.
func (r *rowReader) amount(col int) float64 {
	s := r.raw(col)
	if s == "" {
		r.problem(col, "required value is empty")
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		r.problem(col, "not a number: %q", s)
		return 0
	}
	if history.CheckCount(v) != "" {
		if v < 0 {
			r.problem(col, "must be >= 0, got %s", s)
		} else {
			r.problem(col, "not a finite number: %q", s)
		}
		return 0
	}
	return v
}

// number parses a required finite number.
func (r *rowReader) number(col int) float64 {
	s := r.raw(col)
	if s == "" {
		r.problem(col, "required value is empty")
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		r.problem(col, "not a number: %q", s)
		return 0
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		r.problem(col, "not a finite number: %q", s)
		return 0
	}
	return v
}

// isRangeErr reports a number too large for a float64 (ParseFloat then
// returns ±Inf, which the finiteness checks refuse).
func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// count parses an integer ≥ lo. Empty gives def, and a problem when
// required.
func (r *rowReader) count(col int, lo int64, required bool, def int64) int64 {
	s := r.raw(col)
	if s == "" {
		if required {
			r.problem(col, "required value is empty")
		}
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		r.problem(col, "not an integer: %q", s)
		return def
	}
	if v < lo {
		r.problem(col, "must be >= %d, got %d", lo, v)
		return def
	}
	return v
}

// latency parses an optional float ≥ 0; empty is NaN.
func (r *rowReader) latency(col int) float64 {
	s := r.raw(col)
	if s == "" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		r.problem(col, "not a finite number: %q", s)
		return math.NaN()
	}
	if why := history.CheckLatency(v); why != "" {
		r.problem(col, "%s", why)
		return math.NaN()
	}
	return v
}

// Column ids of each table, in the order of the spec.
const (
	svcService = iota
	svcTeam
	svcTier
)

var servicesCols = []column{{"service", true}, {"team", false}, {"tier", false}}

func buildService(r *rowReader, v *history.Service) {
	v.Name = r.name(svcService)
	v.Team = r.text(svcTeam)
	v.Tier = r.text(svcTier)
}

const (
	depID = iota
	depService
	depEnvironment
	depVersion
	depStartedAt
	depFinishedAt
	depCommitSHA
	depAuthor
	depFilesChanged
	depLinesAdded
	depLinesDeleted
	depKind
)

var deploymentsCols = []column{{"deployment_id", true}, {"service", true}, {"environment", true}, {"version", true},
	{"started_at", true}, {"finished_at", false}, {"commit_sha", false}, {"author", false},
	{"files_changed", false}, {"lines_added", false}, {"lines_deleted", false}, {"kind", false}}

func buildDeployment(r *rowReader, v *history.Deployment) {
	v.ID = r.req(depID)
	v.Service = r.name(depService)
	v.Environment = r.name(depEnvironment)
	v.Version = r.name(depVersion)
	v.StartedAt = r.timestamp(depStartedAt, true)
	v.FinishedAt = r.timestamp(depFinishedAt, false)
	if !v.StartedAt.IsZero() && !v.FinishedAt.IsZero() && v.FinishedAt.Before(v.StartedAt) {
		r.problem(depFinishedAt, "%s", history.FinishedBeforeStarted(v.StartedAt, v.FinishedAt))
	}
	v.CommitSHA = r.text(depCommitSHA)
	v.Author = r.text(depAuthor)
	v.FilesChanged = r.count(depFilesChanged, 0, false, -1)
	v.LinesAdded = r.count(depLinesAdded, 0, false, -1)
	v.LinesDeleted = r.count(depLinesDeleted, 0, false, -1)
	switch k := r.raw(depKind); k {
	case "":
	case string(history.KindDeploy), string(history.KindRollback):
		v.Kind = history.Kind(k)
	default:
		r.problem(depKind, "must be deploy or rollback, not %q", k)
	}
}

const (
	metService = iota
	metEnvironment
	metVersion
	metMinute
	metRequests
	metErrors
	metP50
	metP95
	metP99
)

// metricsCols: version is optional; a row without one (column absent or
// value empty) is the aggregate row of all versions.
var metricsCols = []column{{"service", true}, {"environment", true}, {"version", false}, {"minute", true},
	{"requests", true}, {"errors", true}, {"latency_p50_ms", false}, {"latency_p95_ms", false}, {"latency_p99_ms", false}}

func buildMetric(r *rowReader, v *history.Metric) {
	v.Service = r.name(metService)
	v.Environment = r.name(metEnvironment)
	v.Version = r.name0(metVersion)
	v.Minute = r.minute(metMinute)
	n := len(r.problems)
	v.Requests = r.amount(metRequests)
	v.Errors = r.amount(metErrors)
	if len(r.problems) == n && v.Errors > v.Requests {
		r.problem(metErrors, "%s", history.ErrorsAboveRequests(v.Errors, v.Requests))
	}
	v.LatencyP50 = r.latency(metP50)
	v.LatencyP95 = r.latency(metP95)
	v.LatencyP99 = r.latency(metP99)
}

const (
	sigService = iota
	sigEnvironment
	sigVersion
	sigMinute
	sigFingerprint
	sigCount
	sigErrorType
	sigEndpoint
	sigStatusCode
)

var signaturesCols = []column{{"service", true}, {"environment", true}, {"version", true}, {"minute", true},
	{"fingerprint", true}, {"count", true}, {"error_type", false}, {"endpoint", false}, {"status_code", false}}

func buildSignature(r *rowReader, v *history.Signature) {
	v.Service = r.name(sigService)
	v.Environment = r.name(sigEnvironment)
	v.Version = r.name(sigVersion)
	v.Minute = r.minute(sigMinute)
	v.Fingerprint = r.name(sigFingerprint)
	v.Count = r.count(sigCount, 1, true, 0)
	v.ErrorType = r.name0(sigErrorType)
	v.Endpoint = r.name0(sigEndpoint)
	if c := r.count(sigStatusCode, 0, false, 0); c > math.MaxInt32 {
		r.problem(sigStatusCode, "too large: %d", c)
	} else {
		v.StatusCode = int32(c)
	}
}

// name0 is name for an optional field.
func (r *rowReader) name0(col int) string {
	if r.raw(col) == "" {
		return ""
	}
	return r.name(col)
}

const (
	incID = iota
	incService
	incEnvironment
	incOpenedAt
	incResolvedAt
	incSeverity
	incDeploymentID
)

var incidentsCols = []column{{"incident_id", true}, {"service", true}, {"environment", false}, {"opened_at", true},
	{"resolved_at", false}, {"severity", false}, {"deployment_id", false}}

func buildIncident(r *rowReader, v *history.Incident) {
	v.ID = r.req(incID)
	v.Service = r.name(incService)
	v.Environment = r.name0(incEnvironment)
	v.OpenedAt = r.timestamp(incOpenedAt, true)
	v.ResolvedAt = r.timestamp(incResolvedAt, false)
	v.Severity = r.text(incSeverity)
	v.DeploymentID = r.key(incDeploymentID)
}

const (
	annDeploymentID = iota
	annLabel
	annAnnotator
	annAnnotatedAt
	annNote
)

var annotationsCols = []column{{"deployment_id", true}, {"label", true}, {"annotator", false}, {"annotated_at", false}, {"note", false}}

func buildAnnotation(r *rowReader, v *history.Annotation) {
	v.DeploymentID = r.req(annDeploymentID)
	switch l := r.raw(annLabel); l {
	case history.LabelFaulty, history.LabelHealthy:
		v.Label = l
	case "":
		r.problem(annLabel, "required value is empty")
	default:
		r.problem(annLabel, "must be faulty or healthy, not %q", l)
	}
	v.Annotator = r.key(annAnnotator)
	v.AnnotatedAt = r.timestamp(annAnnotatedAt, false)
	v.Note = r.text(annNote)
}

const (
	kpiService = iota
	kpiEnvironment
	kpiName
	kpiDirection
	kpiKind
	kpiUnit
)

// kpisCols: environment is optional; empty declares the KPI for every
// environment of the service.
var kpisCols = []column{{"service", true}, {"environment", false}, {"name", true}, {"direction", true}, {"kind", true}, {"unit", false}}

func buildKPI(r *rowReader, v *history.KPI) {
	v.Service = r.name(kpiService)
	v.Environment = r.name0(kpiEnvironment)
	v.Name = r.name(kpiName)
	switch d := history.Direction(r.raw(kpiDirection)); {
	case d == "":
		r.problem(kpiDirection, "required value is empty")
	case history.ValidDirection(d):
		v.Direction = d
	default:
		r.problem(kpiDirection, "must be higher_is_worse, lower_is_worse or both, not %q", d)
	}
	switch k := history.KPIKind(r.raw(kpiKind)); {
	case k == "":
		r.problem(kpiKind, "required value is empty")
	case history.ValidKPIKind(k):
		v.Kind = k
	default:
		r.problem(kpiKind, "must be rate, ratio, latency or gauge, not %q", k)
	}
	v.Unit = r.text(kpiUnit)
}

const (
	kvService = iota
	kvEnvironment
	kvVersion
	kvMinute
	kvName
	kvValue
)

// kpiValuesCols: version is optional; empty is the aggregate of all
// versions.
var kpiValuesCols = []column{{"service", true}, {"environment", true}, {"version", false}, {"minute", true}, {"name", true}, {"value", true}}

func buildKPIValue(r *rowReader, v *history.KPIValue) {
	v.Service = r.name(kvService)
	v.Environment = r.name(kvEnvironment)
	v.Version = r.name0(kvVersion)
	v.Minute = r.minute(kvMinute)
	v.Name = r.name(kvName)
	v.Value = r.number(kvValue)
}
