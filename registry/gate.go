package registry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Config is the "registry" section of the settings file.
type Config struct {
	// Model is the default model name (default "faultline").
	Model string `yaml:"model"`
	// Gate are the promotion rules; every rule must pass (default:
	// DefaultRules).
	Gate []Rule `yaml:"gate"`
	// GatedAliases are the aliases whose moves go through the gate (default
	// ["production"]; "*" gates every alias). Other aliases, such as the
	// nightly "candidate", move freely; their moves are recorded all the
	// same.
	GatedAliases []string `yaml:"gated_aliases"`
}

// Gated reports whether moves of alias go through the gate.
func (c *Config) Gated(alias string) bool {
	for _, a := range c.GatedAliases {
		if a == alias || a == "*" {
			return true
		}
	}
	return false
}

// Rule compares one metric of a candidate with the current alias holder's,
// both measured on the same evaluation set.
type Rule struct {
	// Metric names a key of Metrics.Values.
	Metric string `yaml:"metric" json:"metric"`
	// Better is "higher" (default) or "lower": which direction is an
	// improvement.
	Better string `yaml:"better" json:"better"`
	// Tolerance is how much worse the candidate may be: for "higher", the
	// candidate passes when candidate >= current - tolerance; for "lower",
	// when candidate <= current + tolerance. Default 0.
	Tolerance float64 `yaml:"tolerance" json:"tolerance"`
	// Optional rules pass when both versions lack the metric.
	Optional bool `yaml:"optional" json:"optional,omitempty"`
}

// DefaultRules, on the sequential policy against the evaluation's headline
// reference (metric names as MetricsFromReport writes them): recall — at the
// target precision the thresholds were chosen for — may not drop by more
// than 0.01, precision may not drop by more than 0.02, and the mean time to
// detection may not increase.
func DefaultRules() []Rule {
	return []Rule{
		{Metric: "policy.recall", Better: "higher", Tolerance: 0.01},
		{Metric: "policy.precision", Better: "higher", Tolerance: 0.02},
		{Metric: "policy.mttd_min", Better: "lower", Tolerance: 0},
	}
}

// DefaultConfig returns the defaults of the "registry" section.
func DefaultConfig() Config {
	return Config{Model: "faultline", Gate: DefaultRules(), GatedAliases: []string{"production"}}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := ValidName("model", c.Model); err != nil {
		return fmt.Errorf("registry.model: %w", err)
	}
	for i, a := range c.GatedAliases {
		if a != "*" {
			if err := ValidName("alias", a); err != nil {
				return fmt.Errorf("registry.gated_aliases[%d]: %w", i, err)
			}
		}
	}
	for i, r := range c.Gate {
		if r.Metric == "" {
			return fmt.Errorf("registry.gate[%d]: no metric", i)
		}
		if r.Better != "" && r.Better != "higher" && r.Better != "lower" {
			return fmt.Errorf("registry.gate[%d]: better must be higher or lower, not %q", i, r.Better)
		}
		if r.Tolerance < 0 || math.IsNaN(r.Tolerance) {
			return fmt.Errorf("registry.gate[%d]: tolerance must be >= 0", i)
		}
	}
	return nil
}

// RuleResult is the outcome of one rule.
type RuleResult struct {
	Rule
	Candidate *float64 `json:"candidate"`
	Current   *float64 `json:"current"`
	Passed    bool     `json:"passed"`
	Note      string   `json:"note,omitempty"`
}

// Decision is the promotion gate's verdict, recorded with the move.
type Decision struct {
	Candidate int `json:"candidate"`
	// Current is the version the alias held, 0 when none.
	Current int `json:"current"`
	// EvalSetHash is the evaluation set both were compared on.
	EvalSetHash string       `json:"eval_set_hash,omitempty"`
	Rules       []RuleResult `json:"rules,omitempty"`
	// Passed is true when every rule passed (or there was no holder).
	Passed bool `json:"passed"`
	// Forced is true when the move was made despite a refusal.
	Forced bool `json:"forced,omitempty"`
	// NotGated is true for aliases outside Config.GatedAliases: no
	// comparison was made.
	NotGated bool   `json:"not_gated,omitempty"`
	Message  string `json:"message"`
}

// Compare runs rules on cand against cur (nil when the alias holds no
// version). It never fails: refusals are in the Decision.
func Compare(cand, cur *Version, rules []Rule) Decision {
	d := Decision{Candidate: cand.Version, EvalSetHash: cand.Metrics.EvalSetHash}
	if cur == nil {
		d.Passed = true
		d.Message = "first promotion: no current holder to compare with"
		return d
	}
	d.Current = cur.Version
	if cur.Version == cand.Version {
		d.Passed = true
		d.Message = fmt.Sprintf("version %d already holds the alias", cand.Version)
		return d
	}
	cm, hm, ok := commonEvaluation(cand, cur)
	if !ok {
		d.EvalSetHash = ""
		d.Message = fmt.Sprintf("cannot compare: version %d was evaluated on %s and version %d on %s; evaluate both on the same evaluation set (a pipeline run evaluates the production model beside the candidate) or promote with --force --reason",
			cand.Version, setsOf(cand), cur.Version, setsOf(cur))
		return d
	}
	d.EvalSetHash = cm.EvalSetHash
	d.Passed = true
	var failed []string
	for _, r := range rules {
		rr := RuleResult{Rule: r}
		if rr.Better == "" {
			rr.Better = "higher"
		}
		c, okc := cm.Values[r.Metric]
		h, okh := hm.Values[r.Metric]
		if okc {
			rr.Candidate = &c
		}
		if okh {
			rr.Current = &h
		}
		switch {
		case !okc && !okh && r.Optional:
			rr.Passed = true
			rr.Note = "absent on both versions (optional rule)"
		case !okc || !okh:
			rr.Note = "metric missing on " + missingOn(okc, okh, cand.Version, cur.Version)
		case rr.Better == "higher":
			rr.Passed = c >= h-r.Tolerance
			rr.Note = fmt.Sprintf("%g vs %g (may drop by at most %g)", c, h, r.Tolerance)
		default:
			rr.Passed = c <= h+r.Tolerance
			rr.Note = fmt.Sprintf("%g vs %g (may rise by at most %g)", c, h, r.Tolerance)
		}
		if !rr.Passed {
			d.Passed = false
			failed = append(failed, r.Metric+": "+rr.Note)
		}
		d.Rules = append(d.Rules, rr)
	}
	if d.Passed {
		d.Message = fmt.Sprintf("version %d is at least as good as version %d on evaluation set %s", cand.Version, cur.Version, d.EvalSetHash)
	} else {
		d.Message = fmt.Sprintf("version %d is worse than version %d on evaluation set %s: %s", cand.Version, cur.Version, d.EvalSetHash, strings.Join(failed, "; "))
	}
	return d
}

// commonEvaluation finds an evaluation set on which both versions were
// evaluated, preferring the candidate's registration set, then its newest.
func commonEvaluation(cand, cur *Version) (cm, hm Metrics, ok bool) {
	for _, m := range cand.allEvaluations() {
		if h, found := cur.EvaluationOn(m.EvalSetHash); found {
			return m, h, true
		}
	}
	return Metrics{}, Metrics{}, false
}

func setsOf(v *Version) string {
	var hs []string
	for _, m := range v.allEvaluations() {
		hs = append(hs, m.EvalSetHash)
	}
	switch len(hs) {
	case 0:
		return "no evaluation set (no metrics recorded)"
	case 1:
		return "set " + hs[0]
	default:
		return "sets " + strings.Join(hs, ", ")
	}
}

func missingOn(okc, okh bool, c, h int) string {
	switch {
	case !okc && !okh:
		return fmt.Sprintf("both versions %d and %d", c, h)
	case !okc:
		return fmt.Sprintf("version %d", c)
	default:
		return fmt.Sprintf("version %d", h)
	}
}

// PromoteOptions control Promote.
type PromoteOptions struct {
	// By records who promoted.
	By string
	// Reason explains the move; required with Force.
	Reason string
	// Force moves the alias even when the gate refuses.
	Force bool
	// Rules override the configured gate rules when non-nil.
	Rules []Rule
}

// GateError is returned when the gate refuses a promotion; it wraps
// ErrGateRefused (and ErrEvalSetMismatch when the evaluation sets differ).
type GateError struct {
	Decision Decision
	evalSet  bool
}

func (e *GateError) Error() string {
	return "promotion refused: " + e.Decision.Message
}

// Unwrap lets errors.Is match ErrGateRefused and ErrEvalSetMismatch.
func (e *GateError) Unwrap() []error {
	if e.evalSet {
		return []error{ErrGateRefused, ErrEvalSetMismatch}
	}
	return []error{ErrGateRefused}
}

// Promote points alias of name at version when the gate allows it: for a
// gated alias (Config.GatedAliases) or when opts.Rules is set, the version's
// metrics must be at least as good as the current holder's on the same
// evaluation set under the rules. With opts.Force (and a non-empty
// Reason) a refused move is made anyway. The comparison runs under the
// backend's alias lock, against the holder at the moment of the move, and is
// recorded with the move. A refusal returns a *GateError and records
// nothing.
func (r *Registry) Promote(ctx context.Context, name string, version int, alias string, opts PromoteOptions) (*Move, error) {
	if err := ValidName("alias", alias); err != nil {
		return nil, err
	}
	if opts.Force && strings.TrimSpace(opts.Reason) == "" {
		return nil, errors.New("promote: --force needs a non-empty --reason")
	}
	cand, err := r.b.Version(ctx, name, version)
	if err != nil {
		return nil, fmt.Errorf("promote %s@%d: %w", name, version, err)
	}
	rules := opts.Rules
	gated := rules != nil || r.cfg.Gated(alias)
	if rules == nil {
		rules = r.cfg.Gate
	}
	mv, err := r.b.MoveAlias(ctx, name, alias, func(cur *Version) (*Move, error) {
		if !gated {
			d := Decision{Candidate: version, Passed: true, NotGated: true, Message: fmt.Sprintf("alias %q is not gated (registry.gated_aliases)", alias)}
			if cur != nil {
				d.Current = cur.Version
			}
			return &Move{To: version, By: opts.By, Reason: opts.Reason, Decision: &d}, nil
		}
		d := Compare(cand, cur, rules)
		if !d.Passed {
			if !opts.Force {
				return nil, &GateError{Decision: d, evalSet: d.EvalSetHash == ""}
			}
			d.Forced = true
		}
		return &Move{To: version, By: opts.By, Reason: opts.Reason, Forced: d.Forced, Decision: &d}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("promote %s@%d to %s: %w", name, version, alias, err)
	}
	return mv, nil
}

// AddEvaluation records metrics of version on another evaluation set, so
// that the gate can compare it with candidates evaluated on that set.
func (r *Registry) AddEvaluation(ctx context.Context, name string, version int, m Metrics) error {
	if m.EvalSetHash == "" {
		return errors.New("add evaluation: the metrics carry no evaluation set hash")
	}
	for k, x := range m.Values {
		if x != x {
			return fmt.Errorf("add evaluation: metric %s is NaN", k)
		}
	}
	if err := r.b.AddEvaluation(ctx, name, version, m); err != nil {
		return fmt.Errorf("add evaluation to %s@%d: %w", name, version, err)
	}
	return nil
}
