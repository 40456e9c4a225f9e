// Package labeling turns a deploy history into weak labels: labeling
// functions vote faulty, healthy or abstain on every deployment, a label model
// (package labelmodel) learns how far to trust each function without ground
// truth and combines the votes into P(faulty), and the result is written as
// labels.parquet with a per-function report, lf_report.json.
//
// Labeling functions may use hindsight — what happened hours or days after a
// deploy — because labels are not features. They never read annotations:
// only the report reads them, to measure the functions against human
// verdicts. See docs/labeling.md.
package labeling

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

// Config is the "labeling" section of the pipeline settings. DefaultConfig
// documents the defaults.
type Config struct {
	// Model configures the label model.
	Model labelmodel.Config `yaml:"model" json:"model"`
	// Built-in labeling functions.
	Rollback      RollbackConfig      `yaml:"rollback" json:"rollback"`
	ShortLived    ShortLivedConfig    `yaml:"short_lived" json:"short_lived"`
	NewSignatures NewSignaturesConfig `yaml:"new_error_signatures" json:"new_error_signatures"`
	Ensemble      EnsembleConfig      `yaml:"statistical_ensemble" json:"statistical_ensemble"`
	Incident      IncidentConfig      `yaml:"incident" json:"incident"`
	Latency       LatencyConfig       `yaml:"latency_degradation" json:"latency_degradation"`
	Healthy       HealthyConfig       `yaml:"healthy_evidence" json:"healthy_evidence"`
	// SQLFunctions are user-defined labeling functions run against the
	// PostgreSQL history (they need --db). Default none.
	SQLFunctions []SQLFunction `yaml:"sql_functions" json:"sql_functions,omitempty"`
	// SQLTimeoutSeconds is the statement timeout of each SQL function.
	// Default 30.
	SQLTimeoutSeconds float64 `yaml:"sql_timeout_seconds" json:"sql_timeout_seconds"`
}

// RollbackConfig configures the rollback function: a deployment votes faulty
// when the next deployment of another version on the same service and
// environment is a rollback (explicit kind, or a return to a version
// deployed before it) started within WithinHours. Rollback deployments
// themselves (explicit or inferred) abstain.
type RollbackConfig struct {
	Enabled     bool    `yaml:"enabled" json:"enabled"`
	WithinHours float64 `yaml:"within_hours" json:"within_hours"` // default 48
}

// ShortLivedConfig configures the short-lived-version function: a deployment
// votes faulty when it is replaced within WithinHours by a deployment of
// another version that is not a rollback (a fix rolled forward). Rollback
// deployments themselves abstain.
type ShortLivedConfig struct {
	Enabled     bool    `yaml:"enabled" json:"enabled"`
	WithinHours float64 `yaml:"within_hours" json:"within_hours"` // default 2
}

// NewSignaturesConfig configures the new-error-signatures function: a
// deployment votes faulty when its version shows, within WindowMinutes of the
// start, at least MinErrors errors with fingerprints not seen on the service
// and environment in the LookbackHours before, and those errors persist: they
// occur in at least MinPersist of the minutes from their first appearance to
// the end of the window, and amount to at least MinPerMille errors per 1000
// requests of the version.
type NewSignaturesConfig struct {
	Enabled       bool    `yaml:"enabled" json:"enabled"`
	WindowMinutes int     `yaml:"window_minutes" json:"window_minutes"` // default 120
	LookbackHours float64 `yaml:"lookback_hours" json:"lookback_hours"` // default 168
	MinErrors     int64   `yaml:"min_errors" json:"min_errors"`         // default 20
	MinPersist    float64 `yaml:"min_persist" json:"min_persist"`       // default 0.3
	// MinPerMille is the least rate of new-fingerprint errors per 1000
	// requests of the version in the window, so that a rare harmless new
	// error does not count; 0 turns the check off. Default 1.
	MinPerMille float64 `yaml:"min_per_mille" json:"min_per_mille"`
}

// EnsembleConfig configures the statistical-ensemble function: the unanimous
// vote of the impact, temporal and persistence checks at HorizonMinutes, read
// from features_hH.parquet (column ensemble_faulty): 1 votes faulty, 0 votes
// healthy (when VoteHealthy), NaN (inconclusive) and deployments absent from
// the file abstain.
type EnsembleConfig struct {
	Enabled        bool `yaml:"enabled" json:"enabled"`
	HorizonMinutes int  `yaml:"horizon_minutes" json:"horizon_minutes"` // default 60
	VoteHealthy    bool `yaml:"vote_healthy" json:"vote_healthy"`       // default true
}

// IncidentConfig configures the incident function: a deployment votes faulty
// when an incident was linked to it (when Linked), or when an incident on
// its service, in its environment or in all environments, was opened within
// WindowMinutes after it started and it is the latest deployment of that
// service and environment started before the incident opened.
type IncidentConfig struct {
	Enabled       bool `yaml:"enabled" json:"enabled"`
	WindowMinutes int  `yaml:"window_minutes" json:"window_minutes"` // default 120
	Linked        bool `yaml:"linked" json:"linked"`                 // default true
}

// LatencyConfig configures the performance-degradation function: a
// deployment votes faulty when its version's request-weighted p95 latency
// over WindowMinutes after the start is at least P95Ratio times (or its p99
// at least P99Ratio times) that of the other versions over BaselineMinutes
// before the start, and higher by at least MinIncreaseMs, with at least
// MinRequests requests in at least MinMinutes minutes of latency data. It
// never votes healthy.
type LatencyConfig struct {
	Enabled         bool    `yaml:"enabled" json:"enabled"`
	WindowMinutes   int     `yaml:"window_minutes" json:"window_minutes"`     // default 60
	BaselineMinutes int     `yaml:"baseline_minutes" json:"baseline_minutes"` // default 120
	P95Ratio        float64 `yaml:"p95_ratio" json:"p95_ratio"`               // default 1.5
	P99Ratio        float64 `yaml:"p99_ratio" json:"p99_ratio"`               // default 2
	MinIncreaseMs   float64 `yaml:"min_increase_ms" json:"min_increase_ms"`   // default 10
	MinRequests     int64   `yaml:"min_requests" json:"min_requests"`         // default 300
	MinMinutes      int     `yaml:"min_minutes" json:"min_minutes"`           // default 10
}

// HealthyConfig configures the healthy-evidence function: a deployment votes
// healthy when its version served the service for at least MinHours (no
// deployment of another version started sooner, and the history extends that
// far), was not then rolled back, no incident was linked to it or opened on
// its service and environment during those hours, it served at least
// MinRequests requests in them, and over them its error rate stayed within
// MaxErrorRatio of the service's over the same length of time before the
// deploy and its p95 latency within MaxLatencyRatio. It never votes faulty.
type HealthyConfig struct {
	Enabled         bool    `yaml:"enabled" json:"enabled"`
	MinHours        float64 `yaml:"min_hours" json:"min_hours"`                 // default 6
	MinRequests     int64   `yaml:"min_requests" json:"min_requests"`           // default 1000
	MaxErrorRatio   float64 `yaml:"max_error_ratio" json:"max_error_ratio"`     // default 1.5
	MaxLatencyRatio float64 `yaml:"max_latency_ratio" json:"max_latency_ratio"` // default 1.3
}

// SQLFunction is a user-defined labeling function: a query against the
// PostgreSQL history returning rows (deployment_id, vote), where vote is
// 1/0/-1, 'faulty'/'healthy'/'abstain', or NULL (abstain). Deployments the
// query does not return abstain. It runs in a read-only transaction with a
// statement timeout, and must not read the annotations or simulation_truth
// tables.
type SQLFunction struct {
	// Name names the function and its column lf_NAME: lower-case letters,
	// digits and underscores, starting with a letter.
	Name string `yaml:"name" json:"name"`
	SQL  string `yaml:"sql" json:"sql"`
	// Description is shown in the report; optional.
	Description string `yaml:"description" json:"description,omitempty"`
}

// DefaultConfig returns the default settings.
func DefaultConfig() Config {
	mc := labelmodel.DefaultConfig()
	// rollback, short_lived and healthy_evidence are all read off the same
	// event — when, and by what, the version was replaced — so they are
	// exclusive by construction and must be one factor (docs/labeling.md).
	mc.Groups = [][]string{{FnRollback, FnShortLived, FnHealthy}}
	return Config{
		Model:         mc,
		Rollback:      RollbackConfig{Enabled: true, WithinHours: 48},
		ShortLived:    ShortLivedConfig{Enabled: true, WithinHours: 2},
		NewSignatures: NewSignaturesConfig{Enabled: true, WindowMinutes: 120, LookbackHours: 168, MinErrors: 20, MinPersist: 0.3, MinPerMille: 1},
		Ensemble:      EnsembleConfig{Enabled: true, HorizonMinutes: 60, VoteHealthy: true},
		Incident:      IncidentConfig{Enabled: true, WindowMinutes: 120, Linked: true},
		Latency: LatencyConfig{Enabled: true, WindowMinutes: 60, BaselineMinutes: 120, P95Ratio: 1.5, P99Ratio: 2,
			MinIncreaseMs: 10, MinRequests: 300, MinMinutes: 10},
		Healthy:           HealthyConfig{Enabled: true, MinHours: 6, MinRequests: 1000, MaxErrorRatio: 1.5, MaxLatencyRatio: 1.3},
		SQLTimeoutSeconds: 30,
	}
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Built-in function names, in column order.
const (
	FnRollback      = "rollback"
	FnShortLived    = "short_lived"
	FnNewSignatures = "new_error_signatures"
	FnEnsemble      = "statistical_ensemble"
	FnIncident      = "incident"
	FnLatency       = "latency_degradation"
	FnHealthy       = "healthy_evidence"
)

// Validate checks the settings; errors name the offending key.
func (c *Config) Validate() error {
	pos := func(key string, v float64) error {
		if !(v > 0) {
			return fmt.Errorf("labeling.%s: %v must be > 0", key, v)
		}
		return nil
	}
	checks := []error{
		pos("rollback.within_hours", c.Rollback.WithinHours),
		pos("short_lived.within_hours", c.ShortLived.WithinHours),
		pos("new_error_signatures.window_minutes", float64(c.NewSignatures.WindowMinutes)),
		pos("new_error_signatures.lookback_hours", c.NewSignatures.LookbackHours),
		pos("new_error_signatures.min_errors", float64(c.NewSignatures.MinErrors)),
		pos("statistical_ensemble.horizon_minutes", float64(c.Ensemble.HorizonMinutes)),
		pos("incident.window_minutes", float64(c.Incident.WindowMinutes)),
		pos("latency_degradation.window_minutes", float64(c.Latency.WindowMinutes)),
		pos("latency_degradation.baseline_minutes", float64(c.Latency.BaselineMinutes)),
		pos("latency_degradation.p95_ratio", c.Latency.P95Ratio),
		pos("latency_degradation.p99_ratio", c.Latency.P99Ratio),
		pos("healthy_evidence.min_hours", c.Healthy.MinHours),
		pos("healthy_evidence.max_error_ratio", c.Healthy.MaxErrorRatio),
		pos("healthy_evidence.max_latency_ratio", c.Healthy.MaxLatencyRatio),
		pos("sql_timeout_seconds", c.SQLTimeoutSeconds),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if c.NewSignatures.MinPerMille < 0 {
		return fmt.Errorf("labeling.new_error_signatures.min_per_mille: %v must be ≥ 0", c.NewSignatures.MinPerMille)
	}
	if p := c.NewSignatures.MinPersist; p < 0 || p > 1 {
		return fmt.Errorf("labeling.new_error_signatures.min_persist: %v must be in [0, 1]", p)
	}
	seen := map[string]bool{}
	for _, n := range []string{FnRollback, FnShortLived, FnNewSignatures, FnEnsemble, FnIncident, FnLatency, FnHealthy} {
		seen[n] = true
	}
	for i, f := range c.SQLFunctions {
		if !nameRE.MatchString(f.Name) {
			return fmt.Errorf("labeling.sql_functions[%d]: name %q must be lower-case letters, digits and underscores, starting with a letter", i, f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("labeling.sql_functions[%d]: name %q is already used by another labeling function", i, f.Name)
		}
		seen[f.Name] = true
		if strings.TrimSpace(f.SQL) == "" {
			return fmt.Errorf("labeling.sql_functions[%d] (%s): sql is empty", i, f.Name)
		}
		if forbiddenTable(f.SQL) != "" {
			return fmt.Errorf("labeling.sql_functions[%d] (%s): reads table %s; labeling functions must not read human or simulated labels", i, f.Name, forbiddenTable(f.SQL))
		}
	}
	if len(c.enabledNames()) == 0 {
		return fmt.Errorf("labeling: every labeling function is disabled")
	}
	return nil
}

var forbiddenRE = regexp.MustCompile(`(?i)\b(annotations|simulation_truth)\b`)

// forbiddenTable returns the name of a label table that sql mentions, or "".
// It is a guard against mistakes, not a security boundary.
func forbiddenTable(sql string) string {
	return strings.ToLower(forbiddenRE.FindString(sql))
}

// enabledNames returns the names of the enabled functions in column order:
// built-ins first, then SQL functions in configuration order.
func (c *Config) enabledNames() []string {
	var out []string
	add := func(on bool, name string) {
		if on {
			out = append(out, name)
		}
	}
	add(c.Rollback.Enabled, FnRollback)
	add(c.ShortLived.Enabled, FnShortLived)
	add(c.NewSignatures.Enabled, FnNewSignatures)
	add(c.Ensemble.Enabled, FnEnsemble)
	add(c.Incident.Enabled, FnIncident)
	add(c.Latency.Enabled, FnLatency)
	add(c.Healthy.Enabled, FnHealthy)
	for _, f := range c.SQLFunctions {
		out = append(out, f.Name)
	}
	return out
}
