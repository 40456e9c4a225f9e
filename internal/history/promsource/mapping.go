// Package promsource reads deploy history from a Prometheus-compatible query
// API (Prometheus, Thanos, Cortex, Mimir, VictoriaMetrics) with the
// client_golang API client: `faultline import prometheus` loads it into the
// history store through the file import's validation (Import), and
// `faultline check --prometheus` judges a live deploy from it (Live, a
// history.Reader over the server).
//
// A Mapping (YAML, docs/prometheus.md) says which PromQL expressions give,
// per service, environment and version, the requests and errors of every
// minute, latency percentiles and, optionally, error signatures, extra named
// KPIs (with the direction that is worse and their kind) and deploy
// events. Expressions are evaluated at a 1-minute step; the value at time t
// is the minute [t-1m, t). Requests and errors are real-valued, as
// increase() and rate() give them. A metrics series without the version
// label is the stream's aggregate series (all versions,
// history.AggregateVersion), for teams without per-version data.
package promsource

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/internal/history"
)

// Mapping says where the history is and how to read it. Zero values take
// the defaults documented on each field (see Defaults).
type Mapping struct {
	Server Server `yaml:"server"`
	// Labels name the result labels that carry the stream and version.
	Labels Labels `yaml:"labels"`
	// Filter is extra label matchers put in place of $filter in every
	// expression, e.g. `job="api", cluster=~"prod-.*"` (default none).
	Filter string `yaml:"filter"`
	// Series are the per-minute expressions of the metrics table.
	Series Series `yaml:"series"`
	// Signatures, when set, fills the error_signatures table.
	Signatures *Signatures `yaml:"signatures"`
	// KPIs are extra named KPIs of the services (the kpis and kpi_values
	// tables), one expression each (default none).
	KPIs []KPIQuery `yaml:"kpis"`
	// Deployments, when set, detects deploy events from version changes
	// (used when no deployments file is given).
	Deployments *DeploymentRecipe `yaml:"deployments"`
	// Query tunes how queries are run.
	Query QueryOptions `yaml:"query"`
}

// Server is the query API's address and credentials. Secrets come from
// files or environment variables, never from the mapping itself.
type Server struct {
	// URL of the API root, e.g. http://prometheus:9090 or
	// https://mimir.example.com/prometheus. The --prometheus flag
	// overrides it.
	URL string `yaml:"url"`
	// BearerTokenFile holds a token sent as "Authorization: Bearer …".
	BearerTokenFile string `yaml:"bearer_token_file"`
	// BearerTokenEnv names an environment variable holding the token.
	BearerTokenEnv string `yaml:"bearer_token_env"`
	// BasicAuth sends a user name and password.
	BasicAuth *BasicAuth `yaml:"basic_auth"`
	// CAFile is a PEM bundle of certificate authorities to trust instead of
	// the system's.
	CAFile string `yaml:"ca_file"`
	// Headers are sent with every request, e.g. X-Scope-OrgID: tenant-1
	// for Cortex or Mimir.
	Headers map[string]string `yaml:"headers"`
	// Compression asks for gzip-compressed answers: "on", "off", or "auto"
	// (default): on, except for a server on this machine (localhost or a
	// loopback address), where compressing costs both sides more CPU than
	// it saves (measured: 1.7 s vs 1.0 s for a week of one series type).
	Compression string `yaml:"compression"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// Labels name the labels of the expressions' results.
type Labels struct {
	Service     string `yaml:"service"`     // default "service"
	Environment string `yaml:"environment"` // default "environment"
	Version     string `yaml:"version"`     // default "version"
}

// Series are PromQL expressions giving one series per (service,
// environment, version), evaluated at the end of each minute. A series
// without the version label (e.g. sum by (service, environment) (…)) is
// the stream's aggregate series, of all versions.
type Series struct {
	// Requests per minute (required), e.g.
	// sum by (service, environment, version) (increase(http_requests_total{$filter}[1m])).
	Requests string `yaml:"requests"`
	// Errors per minute (required). A minute with requests but no errors
	// value has 0 errors.
	Errors string `yaml:"errors"`
	// Latency percentiles in milliseconds (optional); NaN is absent.
	LatencyP50 string `yaml:"latency_p50_ms"`
	LatencyP95 string `yaml:"latency_p95_ms"`
	LatencyP99 string `yaml:"latency_p99_ms"`
}

// Signatures gives per-minute error counts by fingerprint.
type Signatures struct {
	// Query returns one series per (service, environment, version,
	// fingerprint[, error_type, endpoint, status_code]).
	Query string `yaml:"query"`
	// FingerprintLabel names the fingerprint label (default "fingerprint").
	FingerprintLabel string `yaml:"fingerprint_label"`
	// Optional attribute labels; empty: not imported.
	ErrorTypeLabel  string `yaml:"error_type_label"`
	EndpointLabel   string `yaml:"endpoint_label"`
	StatusCodeLabel string `yaml:"status_code_label"`
}

// KPIQuery is one extra named KPI: its declaration and the PromQL
// expression of its per-minute value. Every (service, environment) the
// expression returns a series for declares the KPI for that environment
// (history.KPI) and gets its values (history.KPIValue): a series without
// the version label (e.g. avg by (service, environment) (…)) is the
// aggregate of all versions — what the before/after checks judge — and one
// with it is that version's.
type KPIQuery struct {
	// Name of the KPI (required), e.g. success_ratio, db_saturation; unique
	// in the mapping.
	Name string `yaml:"name"`
	// Query gives the value of each minute (required); NaN is absent.
	Query string `yaml:"query"`
	// Direction that is worse: higher_is_worse, lower_is_worse or both
	// (default both: a move either way is suspect).
	Direction history.Direction `yaml:"direction"`
	// Kind of value: rate (≥ 0), ratio (in [0, 1]), latency (≥ 0) or gauge
	// (any finite level; default gauge). Rates and latencies are compared
	// on a log scale, ratios and gauges on their own.
	Kind history.KPIKind `yaml:"kind"`
	// Unit is free text for reports, e.g. req/s, ms, % (default none).
	Unit string `yaml:"unit"`
}

// DeploymentRecipe detects deployments from version changes: Query returns
// a series per (service, environment, version) while that version runs (or
// serves traffic). A deployment starts in the first minute a version has a
// value after MinGap without one, while another version of the same
// stream had a value in the MinGap before.
type DeploymentRecipe struct {
	Query string `yaml:"query"`
	// MinGap: absences shorter than this are not redeploys (default 30m).
	MinGap model.Duration `yaml:"min_gap"`
}

// QueryOptions tune the queries.
type QueryOptions struct {
	// MaxPoints is the most points per series one range query may ask for
	// (default 11000, Prometheus's limit).
	MaxPoints int `yaml:"max_points"`
	// Chunk is the time span of one range query (default 1d; at most
	// MaxPoints minutes are asked).
	Chunk model.Duration `yaml:"chunk"`
	// Concurrency is the most queries in flight (default 4).
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one query, also sent to the server (default 2m).
	Timeout model.Duration `yaml:"timeout"`
	// Retries of a query after a 5xx answer, a timeout or a connection
	// failure (default 4), waiting Backoff, then twice as long each time.
	Retries int            `yaml:"retries"`
	Backoff model.Duration `yaml:"backoff"` // default 1s
	// Delay: the newest minute treated as complete ends this long before
	// now, to let scrapes and rule evaluations land (default 2m).
	Delay model.Duration `yaml:"delay"`
}

// Defaults fills the zero fields with their defaults.
func (m *Mapping) Defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&m.Labels.Service, "service")
	def(&m.Labels.Environment, "environment")
	def(&m.Labels.Version, "version")
	def(&m.Server.Compression, "auto")
	if m.Signatures != nil {
		def(&m.Signatures.FingerprintLabel, "fingerprint")
	}
	for i := range m.KPIs {
		k := &m.KPIs[i]
		if k.Direction == "" {
			k.Direction = history.BothWorse
		}
		if k.Kind == "" {
			k.Kind = history.KPIGauge
		}
	}
	if m.Deployments != nil && m.Deployments.MinGap == 0 {
		m.Deployments.MinGap = model.Duration(30 * time.Minute)
	}
	q := &m.Query
	if q.MaxPoints == 0 {
		q.MaxPoints = 11000
	}
	if q.Chunk == 0 {
		q.Chunk = model.Duration(24 * time.Hour)
	}
	if q.Concurrency == 0 {
		q.Concurrency = 4
	}
	if q.Timeout == 0 {
		q.Timeout = model.Duration(2 * time.Minute)
	}
	if q.Retries == 0 {
		q.Retries = 4
	}
	if q.Backoff == 0 {
		q.Backoff = model.Duration(time.Second)
	}
	if q.Delay == 0 {
		q.Delay = model.Duration(2 * time.Minute)
	}
}

// Validate reports every unusable setting.
func (m *Mapping) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	label := func(key, v string) {
		if v != "" && !model.LabelName(v).IsValidLegacy() {
			bad("%s: %q is not a label name", key, v)
		}
	}
	label("labels.service", m.Labels.Service)
	label("labels.environment", m.Labels.Environment)
	label("labels.version", m.Labels.Version)
	if m.Labels.Service == m.Labels.Environment || m.Labels.Service == m.Labels.Version || m.Labels.Environment == m.Labels.Version {
		bad("labels: service, environment and version must be three different labels")
	}
	if m.Series.Requests == "" {
		bad("series.requests: required")
	}
	if m.Series.Errors == "" {
		bad("series.errors: required")
	}
	if s := m.Signatures; s != nil {
		if s.Query == "" {
			bad("signatures.query: required when signatures is given")
		}
		label("signatures.fingerprint_label", s.FingerprintLabel)
		label("signatures.error_type_label", s.ErrorTypeLabel)
		label("signatures.endpoint_label", s.EndpointLabel)
		label("signatures.status_code_label", s.StatusCodeLabel)
	}
	names := map[string]bool{}
	for i, k := range m.KPIs {
		key := fmt.Sprintf("kpis[%d]", i)
		switch why := history.CheckKey(k.Name); {
		case k.Name == "":
			bad("%s.name: required", key)
		case why != "":
			bad("%s.name: %s", key, why)
		case names[k.Name]:
			bad("%s.name: %q is given twice", key, k.Name)
		}
		names[k.Name] = true
		if k.Query == "" {
			bad("%s.query: required", key)
		}
		if !history.ValidDirection(k.Direction) {
			bad("%s.direction: higher_is_worse, lower_is_worse or both, not %q", key, k.Direction)
		}
		if !history.ValidKPIKind(k.Kind) {
			bad("%s.kind: rate, ratio, latency or gauge, not %q", key, k.Kind)
		}
		if why := history.CheckText(k.Unit); why != "" {
			bad("%s.unit: %s", key, why)
		}
	}
	if d := m.Deployments; d != nil {
		if d.Query == "" {
			bad("deployments.query: required when deployments is given")
		}
		if d.MinGap < model.Duration(time.Minute) {
			bad("deployments.min_gap: at least 1m, not %s", d.MinGap)
		}
	}
	for _, e := range m.expressions() {
		for _, p := range placeholder.FindAllString(e.expr, -1) {
			if p != "$filter" {
				bad("%s: unknown placeholder %s (only $filter is replaced; $1 and ${1} in label_replace are kept)", e.key, p)
			}
		}
	}
	q := m.Query
	if q.MaxPoints < 1 {
		bad("query.max_points: at least 1, not %d", q.MaxPoints)
	}
	if q.Chunk < model.Duration(time.Minute) || time.Duration(q.Chunk)%time.Minute != 0 {
		bad("query.chunk: whole minutes, at least 1m, not %s", q.Chunk)
	}
	if q.Concurrency < 1 || q.Concurrency > 64 {
		bad("query.concurrency: 1 to 64, not %d", q.Concurrency)
	}
	if q.Retries < 0 {
		bad("query.retries: at least 0, not %d", q.Retries)
	}
	if c := m.Server.Compression; c != "auto" && c != "on" && c != "off" {
		bad("server.compression: auto, on or off, not %q", c)
	}
	if s := m.Server; s.BearerTokenFile != "" && s.BearerTokenEnv != "" {
		bad("server: bearer_token_file and bearer_token_env are exclusive")
	}
	if b := m.Server.BasicAuth; b != nil {
		if b.Username == "" {
			bad("server.basic_auth.username: required")
		}
		if b.PasswordFile != "" && b.PasswordEnv != "" {
			bad("server.basic_auth: password_file and password_env are exclusive")
		}
		if m.Server.BearerTokenFile != "" || m.Server.BearerTokenEnv != "" {
			bad("server: basic_auth and a bearer token are exclusive")
		}
	}
	return errors.Join(errs...)
}

type namedExpr struct{ key, expr string }

// expressions lists every expression with its key.
func (m *Mapping) expressions() []namedExpr {
	out := []namedExpr{{"series.requests", m.Series.Requests}, {"series.errors", m.Series.Errors},
		{"series.latency_p50_ms", m.Series.LatencyP50}, {"series.latency_p95_ms", m.Series.LatencyP95},
		{"series.latency_p99_ms", m.Series.LatencyP99}}
	if m.Signatures != nil {
		out = append(out, namedExpr{"signatures.query", m.Signatures.Query})
	}
	for i, k := range m.KPIs {
		out = append(out, namedExpr{fmt.Sprintf("kpis[%d].query", i), k.Query})
	}
	if m.Deployments != nil {
		out = append(out, namedExpr{"deployments.query", m.Deployments.Query})
	}
	return out
}

// ParseMapping reads a mapping from YAML, rejecting unknown keys, fills the
// defaults and validates it.
func ParseMapping(b []byte) (*Mapping, error) {
	var m Mapping
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	m.Defaults()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// LoadMapping reads and validates the mapping file at path.
func LoadMapping(path string) (*Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	m, err := ParseMapping(b)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return m, nil
}

// matchers renders label matchers for $filter: the mapping's Filter, then
// name="value" for each pair of kv.
func (m *Mapping) matchers(kv ...string) string {
	parts := []string{}
	if f := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m.Filter), ",")); f != "" {
		parts = append(parts, f)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+strconv.Quote(kv[i+1]))
	}
	return strings.Join(parts, ",")
}

// placeholder matches $name (not $1 nor ${1}, label_replace's references).
var placeholder = regexp.MustCompile(`\$[A-Za-z_][A-Za-z0-9_]*`)

// expand puts matchers in place of $filter (validated: no other $name).
func expand(expr, matchers string) string {
	return strings.ReplaceAll(expr, "$filter", matchers)
}
