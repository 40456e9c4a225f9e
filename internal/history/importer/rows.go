package importer

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	if !utf8.ValidString(s) {
		r.problem(col, "not valid UTF-8")
		return false
	}
	if strings.IndexByte(s, 0) >= 0 {
		r.problem(col, "contains a NUL byte")
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

// req returns a required text field.
func (r *rowReader) req(col int) string {
	s := r.raw(col)
	if s == "" {
		r.problem(col, "required value is empty")
		return ""
	}
	if !r.validText(col, s) {
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
	if !r.validText(col, s) {
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
	return t.UTC()
}

// minute parses a required timestamp that must start a minute.
func (r *rowReader) minute(col int) time.Time {
	n := len(r.problems)
	t := r.timestamp(col, true)
	if len(r.problems) == n && (t.Second() != 0 || t.Nanosecond() != 0) {
		r.problem(col, "seconds must be 0: %q", r.raw(col))
	}
	return t
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
	if v < 0 {
		r.problem(col, "must be >= 0, got %s", s)
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

var metricsCols = []column{{"service", true}, {"environment", true}, {"version", true}, {"minute", true},
	{"requests", true}, {"errors", true}, {"latency_p50_ms", false}, {"latency_p95_ms", false}, {"latency_p99_ms", false}}

func buildMetric(r *rowReader, v *history.Metric) {
	v.Service = r.name(metService)
	v.Environment = r.name(metEnvironment)
	v.Version = r.name(metVersion)
	v.Minute = r.minute(metMinute)
	n := len(r.problems)
	v.Requests = r.count(metRequests, 0, true, 0)
	v.Errors = r.count(metErrors, 0, true, 0)
	if len(r.problems) == n && v.Errors > v.Requests {
		r.problem(metErrors, "%d exceeds requests (%d)", v.Errors, v.Requests)
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
	v.DeploymentID = r.text(incDeploymentID)
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
	v.Annotator = r.text(annAnnotator)
	v.AnnotatedAt = r.timestamp(annAnnotatedAt, false)
	v.Note = r.text(annNote)
}
