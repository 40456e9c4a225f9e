package history

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// The rules of valid history rows, written once: the importer applies them
// field by field (reporting FILE:LINE: column: reason), and both stores
// apply them again in their ImportTx Add methods (through the Validate
// methods below), so that no writer — the simulator, a test, a future
// source — can store what the importer would refuse, and no bad value
// reaches PostgreSQL's COMMIT as an index or constraint error without a
// row to blame.

// MaxKeyBytes bounds the length of identifiers and names: service,
// environment, version, deployment_id, incident_id, annotator,
// fingerprint, KPI name (and the deployment_id an incident or annotation
// names). They are keys of PostgreSQL indexes, whose entries must stay far
// below a third of a page (2.7 kB), and no real identifier needs more.
const MaxKeyBytes = 200

// MinTime and MaxTime bound every timestamp of the history: [MinTime,
// MaxTime). Years 1 or 9999 are typing or export errors, and each month of
// per-minute data becomes a PostgreSQL partition.
var (
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// CheckText returns why s cannot be stored as text (not UTF-8, or a NUL
// byte, which PostgreSQL refuses), or "".
func CheckText(s string) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "contains a NUL byte"
	}
	return ""
}

// CheckKey returns why s is not a valid identifier or name (empty, longer
// than MaxKeyBytes, or not storable text), or "".
func CheckKey(s string) string {
	if s == "" {
		return "required value is empty"
	}
	return CheckOptionalKey(s)
}

// CheckOptionalKey is CheckKey for a key that may be empty (a version that
// stands for all versions, an annotator not given, an incident's
// deployment_id).
func CheckOptionalKey(s string) string {
	if len(s) > MaxKeyBytes {
		return fmt.Sprintf("longer than %d bytes (%d)", MaxKeyBytes, len(s))
	}
	return CheckText(s)
}

// CheckTime returns why t is outside [MinTime, MaxTime), or "". The zero
// time (a timestamp not given) is the caller's business.
func CheckTime(t time.Time) string {
	if t.Before(MinTime) || !t.Before(MaxTime) {
		return fmt.Sprintf("outside %d..%d: %s", MinTime.Year(), MaxTime.Year()-1, t.UTC().Format(time.RFC3339Nano))
	}
	return ""
}

// CheckCount returns why v is not a valid request or error count (not
// finite, or negative), or "". Counts are real-valued.
func CheckCount(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "not a finite number"
	}
	if v < 0 {
		return fmt.Sprintf("must be >= 0, got %g", v)
	}
	return ""
}

// CheckLatency returns why v is not a valid latency (negative or
// infinite), or "". NaN means absent and is valid.
func CheckLatency(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	if math.IsInf(v, 0) {
		return "not a finite number"
	}
	if v < 0 {
		return fmt.Sprintf("must be >= 0, got %g", v)
	}
	return ""
}

// FieldError is a rule broken by one field of a row; Field is the column
// name of the import format.
type FieldError struct {
	Row    string // the row, e.g. `deployment "d1"`
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Row + ": " + e.Field + ": " + e.Reason }

type checker struct {
	row string
	err *FieldError
}

func (c *checker) field(name, reason string) {
	if reason != "" && c.err == nil {
		c.err = &FieldError{Row: c.row, Field: name, Reason: reason}
	}
}

func (c *checker) result() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

func quoteKey(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// Validate checks a service row.
func (s *Service) Validate() error {
	c := checker{row: "service " + quoteKey(s.Name)}
	c.field("service", CheckKey(s.Name))
	c.field("team", CheckText(s.Team))
	c.field("tier", CheckText(s.Tier))
	return c.result()
}

// Validate checks a deployment row, including that it did not finish
// before it started.
func (d *Deployment) Validate() error {
	c := checker{row: "deployment " + quoteKey(d.ID)}
	c.field("deployment_id", CheckKey(d.ID))
	c.field("service", CheckKey(d.Service))
	c.field("environment", CheckKey(d.Environment))
	c.field("version", CheckKey(d.Version))
	if d.StartedAt.IsZero() {
		c.field("started_at", "required value is empty")
	}
	c.field("started_at", CheckTime(d.StartedAt))
	if !d.FinishedAt.IsZero() {
		c.field("finished_at", CheckTime(d.FinishedAt))
		if d.FinishedAt.Before(d.StartedAt) {
			c.field("finished_at", FinishedBeforeStarted(d.StartedAt, d.FinishedAt))
		}
	}
	c.field("commit_sha", CheckText(d.CommitSHA))
	c.field("author", CheckText(d.Author))
	switch d.Kind {
	case "", KindDeploy, KindRollback:
	default:
		c.field("kind", fmt.Sprintf("must be deploy or rollback, not %q", d.Kind))
	}
	return c.result()
}

// FinishedBeforeStarted is the reason given for a deployment whose
// finished_at precedes its started_at.
func FinishedBeforeStarted(started, finished time.Time) string {
	return fmt.Sprintf("before started_at (%s < %s)", finished.UTC().Format(time.RFC3339Nano), started.UTC().Format(time.RFC3339Nano))
}

// ValidateKeys checks the keys of a metric row (service, environment,
// version); stores call it once per series, and ValidateValues per row.
func (m *Metric) ValidateKeys() error {
	c := checker{row: metricRow(m)}
	c.field("service", CheckKey(m.Service))
	c.field("environment", CheckKey(m.Environment))
	c.field("version", CheckOptionalKey(m.Version))
	return c.result()
}

func metricRow(m *Metric) string {
	return fmt.Sprintf("metric %s/%s/%s at %s", m.Service, m.Environment, m.Version, m.Minute.UTC().Format(time.RFC3339))
}

// ValidateValues checks the minute and the counts of a metric row.
func (m *Metric) ValidateValues() error {
	// Fast path: every check passes (the importer validated the row).
	if !m.Minute.Before(MinTime) && m.Minute.Before(MaxTime) && m.Errors >= 0 && m.Errors <= m.Requests &&
		m.Requests < math.Inf(1) && CheckLatency(m.LatencyP50) == "" && CheckLatency(m.LatencyP95) == "" && CheckLatency(m.LatencyP99) == "" {
		return nil
	}
	c := checker{row: metricRow(m)}
	c.field("minute", CheckTime(m.Minute))
	c.field("requests", CheckCount(m.Requests))
	c.field("errors", CheckCount(m.Errors))
	if m.Errors > m.Requests {
		c.field("errors", ErrorsAboveRequests(m.Errors, m.Requests))
	}
	c.field("latency_p50_ms", CheckLatency(m.LatencyP50))
	c.field("latency_p95_ms", CheckLatency(m.LatencyP95))
	c.field("latency_p99_ms", CheckLatency(m.LatencyP99))
	return c.result()
}

// Validate checks a metric row: ValidateKeys and ValidateValues.
func (m *Metric) Validate() error {
	if err := m.ValidateKeys(); err != nil {
		return err
	}
	return m.ValidateValues()
}

// ErrorsAboveRequests is the reason given for a metric row with more
// errors than requests.
func ErrorsAboveRequests(errs, req float64) string {
	return fmt.Sprintf("%g exceeds requests (%g)", errs, req)
}

// Validate checks an error-signature row.
func (s *Signature) Validate() error {
	c := checker{row: fmt.Sprintf("signature %s/%s/%s %s", s.Service, s.Environment, s.Version, quoteKey(s.Fingerprint))}
	c.field("service", CheckKey(s.Service))
	c.field("environment", CheckKey(s.Environment))
	c.field("version", CheckKey(s.Version))
	c.field("fingerprint", CheckKey(s.Fingerprint))
	c.field("minute", CheckTime(s.Minute))
	if s.Count < 1 {
		c.field("count", fmt.Sprintf("must be >= 1, got %d", s.Count))
	}
	if s.StatusCode < 0 {
		c.field("status_code", fmt.Sprintf("must be >= 0, got %d", s.StatusCode))
	}
	c.field("error_type", CheckText(s.ErrorType))
	c.field("endpoint", CheckText(s.Endpoint))
	return c.result()
}

// Validate checks an incident row.
func (i *Incident) Validate() error {
	c := checker{row: "incident " + quoteKey(i.ID)}
	c.field("incident_id", CheckKey(i.ID))
	c.field("service", CheckKey(i.Service))
	c.field("environment", CheckOptionalKey(i.Environment))
	if i.OpenedAt.IsZero() {
		c.field("opened_at", "required value is empty")
	}
	c.field("opened_at", CheckTime(i.OpenedAt))
	if !i.ResolvedAt.IsZero() {
		c.field("resolved_at", CheckTime(i.ResolvedAt))
	}
	c.field("severity", CheckText(i.Severity))
	c.field("deployment_id", CheckOptionalKey(i.DeploymentID))
	return c.result()
}

// Validate checks an annotation row.
func (a *Annotation) Validate() error {
	c := checker{row: "annotation of " + quoteKey(a.DeploymentID)}
	c.field("deployment_id", CheckKey(a.DeploymentID))
	if a.Label != LabelFaulty && a.Label != LabelHealthy {
		c.field("label", fmt.Sprintf("must be faulty or healthy, not %q", a.Label))
	}
	c.field("annotator", CheckOptionalKey(a.Annotator))
	if !a.AnnotatedAt.IsZero() {
		c.field("annotated_at", CheckTime(a.AnnotatedAt))
	}
	c.field("note", CheckText(a.Note))
	return c.result()
}

// Validate checks a KPI declaration.
func (k *KPI) Validate() error {
	c := checker{row: fmt.Sprintf("KPI %s/%s/%s", k.Service, k.Environment, quoteKey(k.Name))}
	c.field("service", CheckKey(k.Service))
	c.field("environment", CheckOptionalKey(k.Environment))
	c.field("name", CheckKey(k.Name))
	if !ValidDirection(k.Direction) {
		c.field("direction", fmt.Sprintf("must be higher_is_worse, lower_is_worse or both, not %q", k.Direction))
	}
	if !ValidKPIKind(k.Kind) {
		c.field("kind", fmt.Sprintf("must be rate, ratio, latency or gauge, not %q", k.Kind))
	}
	c.field("unit", CheckText(k.Unit))
	return c.result()
}

// Validate checks a KPI value row; the kind's range is checked at Commit
// against the declaration in force (CheckKPISpans).
func (v *KPIValue) Validate() error {
	c := checker{row: fmt.Sprintf("KPI value %s/%s/%s %s", v.Service, v.Environment, v.Version, quoteKey(v.Name))}
	c.field("service", CheckKey(v.Service))
	c.field("environment", CheckKey(v.Environment))
	c.field("version", CheckOptionalKey(v.Version))
	c.field("name", CheckKey(v.Name))
	c.field("minute", CheckTime(v.Minute))
	if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
		c.field("value", "not a finite number")
	}
	return c.result()
}

// Validate checks a truth row's key.
func (t *Truth) Validate() error {
	c := checker{row: "truth of " + quoteKey(t.DeploymentID)}
	c.field("deployment_id", CheckKey(t.DeploymentID))
	return c.result()
}
