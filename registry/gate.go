package registry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// Config is the "registry" section of the settings file.
type Config struct {
	// Model is the default model name (default "faultline").
	Model string `yaml:"model"`
	// Gate are the rules comparing a candidate with the current alias
	// holder, both scored by the gate on the same evaluation set; every
	// rule must pass (default: DefaultRules).
	Gate []Rule `yaml:"gate"`
	// GatedAliases are the aliases whose moves go through the gate (default
	// ["production"]; "*" gates every alias). Other aliases, such as the
	// nightly "candidate", move freely; their moves are recorded all the
	// same.
	GatedAliases []string `yaml:"gated_aliases"`
	// Floors are the least quality a version must show on the gate's
	// evaluation set to become the holder of a gated alias, whatever the
	// current holder (also for the first promotion).
	Floors Floors `yaml:"floors"`
}

// Floors are absolute quality floors on the gate's own evidence: the
// candidate's sequential policy against the evaluation set's headline
// reference (gold annotations where present, else weak labels). They are
// judged on point estimates, except that a recall shortfall against the
// statistical baseline must also be significant (RecallVsBaselineAlpha);
// the Wilson 95% intervals are stated with the decision.
type Floors struct {
	// Precision is the least policy precision (default 0.9; 0 turns the
	// floor off). A candidate that flags nothing has no precision and fails.
	Precision float64 `yaml:"precision" json:"precision"`
	// RecallVsBaseline: the policy recall may not be below the statistical
	// baseline's — the unanimous ensemble of the statistical checks at the
	// ensemble horizon (features.ensemble_horizon), the canary half of what
	// check and predict fall back to without a production model — on the
	// same deploys (default true). It binds only when the baseline itself
	// meets the precision floor: a baseline below it buys its recall with
	// false alarms no version may have, and is no alternative to prefer.
	// (The whole fallback, before/after checks included, is not the
	// baseline: judged on weak labels made partly by the same before/after
	// rule it looked better than it is; docs/registry.md.)
	RecallVsBaseline bool `yaml:"recall_vs_baseline" json:"recall_vs_baseline"`
	// RecallVsBaselineAlpha: a candidate whose recall is below the
	// baseline's fails that floor only when the shortfall is significant:
	// the exact McNemar test on the faulty deploys only one of the two
	// flagged (Paired.BaselineBetterP) at p ≤ this (default 0.05). On an
	// evaluation set of a few dozen faulty deploys a difference of two or
	// three is what chance gives, and a refusal there hands detection to
	// the statistical checks on noise. A candidate that flagged none of the
	// faulty deploys fails whenever the baseline flagged some. 0 judges the
	// point estimates (any shortfall fails), as evidence recorded without
	// the paired counts is judged.
	RecallVsBaselineAlpha float64 `yaml:"recall_vs_baseline_alpha" json:"recall_vs_baseline_alpha"`
	// Recall is an absolute least policy recall (default 0: none).
	Recall float64 `yaml:"recall" json:"recall"`
	// MinJudgedShare: the precision floor is met only when the headline
	// reference labels at least this share of the deploys the candidate
	// flagged on the evaluation set (default 0.5; 0: any share). Precision
	// is measured on the flags the reference judges; where every labeling
	// function abstained and nobody annotated, a flag is judged by nothing.
	// Seen on a history whose only evidence function voted on 20 of 240
	// changes: the first version flagged 234 of them, 112 healthy; the
	// reference labelled 1 of its 33 flags on the evaluation set (faulty),
	// and it was promoted on that precision of 1/1, which is not the
	// policy's.
	MinJudgedShare float64 `yaml:"min_judged_share" json:"min_judged_share"`
}

// DefaultFloors: precision ≥ 0.9, judged when the reference labels at least
// half of the candidate's flags, and recall not significantly below the
// statistical baseline's (p ≤ 0.05).
func DefaultFloors() Floors {
	return Floors{Precision: 0.9, RecallVsBaseline: true, RecallVsBaselineAlpha: 0.05, MinJudgedShare: 0.5}
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
	// Optional is kept for configurations written for earlier versions:
	// a metric undefined for both versions passes anyway (see Judge).
	Optional bool `yaml:"optional" json:"optional,omitempty"`
	// Interval judges a metric by what the evaluation set shows rather
	// than by the point estimate, where a few deploys can move it by
	// chance. On a proportion — policy.precision or policy.recall, of any
	// reference — the candidate fails only when its Wilson 95% interval's
	// upper bound is below the holder's value minus Tolerance (a holder that
	// flagged 11 deploys, all faulty, has precision 1; a candidate right on
	// 38 of 39, 0.974, is not shown to be less precise). On
	// policy.shared_mttd_min it fails only when its mean is above the
	// holder's plus Tolerance and, of the shared faults on which their
	// detection minutes differ, it was later on significantly more: the
	// exact sign test (Evidence.SharedTTD) at one-sided p ≤
	// IntervalSignAlpha, the level of the 95% interval's side (a candidate
	// later on 3 of 35 shared faults and earlier on 1, 30 against 28.1
	// minutes, is not shown to be slower). Default false (DefaultRules sets
	// it for precision and the shared time).
	Interval bool `yaml:"interval" json:"interval,omitempty"`
}

// IntervalSignAlpha is the one-sided level of the sign test of a shared
// time-to-detection rule with Interval: 0.025, one side of a 95% interval.
const IntervalSignAlpha = 0.025

// MetricSharedMTTD is the mean detection minute, on the gate's evaluation
// set, of the faulty deploys both the candidate and the current holder
// flagged (evidence only: it needs both versions' decisions).
const MetricSharedMTTD = "policy.shared_mttd_min"

// DefaultRules, on the sequential policy against the evaluation's headline
// reference (metric names as MetricsFromReport writes them): recall — at the
// target precision the thresholds were chosen for — may not drop by more
// than 0.01, precision may not drop by more than 0.02 (judged on the
// candidate's interval: the two versions' flags differ in number, often
// few), and on the faults both versions find the mean time to detection
// may not increase unless the sign test does not show the candidate later
// (MetricSharedMTTD with Interval; each version's own mean,
// policy.mttd_min, is over different faults when their recalls differ).
func DefaultRules() []Rule {
	return []Rule{
		{Metric: "policy.recall", Better: "higher", Tolerance: 0.01},
		{Metric: "policy.precision", Better: "higher", Tolerance: 0.02, Interval: true},
		{Metric: MetricSharedMTTD, Better: "lower", Tolerance: 0, Interval: true},
	}
}

// DefaultConfig returns the defaults of the "registry" section.
func DefaultConfig() Config {
	return Config{Model: "faultline", Gate: DefaultRules(), GatedAliases: []string{"production"}, Floors: DefaultFloors()}
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
	for _, f := range []struct {
		key string
		v   float64
	}{{"precision", c.Floors.Precision}, {"recall", c.Floors.Recall}, {"min_judged_share", c.Floors.MinJudgedShare}} {
		if !(f.v >= 0 && f.v <= 1) {
			return fmt.Errorf("registry.floors.%s: must be in [0, 1], not %g", f.key, f.v)
		}
	}
	if a := c.Floors.RecallVsBaselineAlpha; !(a >= 0 && a < 1) {
		return fmt.Errorf("registry.floors.recall_vs_baseline_alpha: must be in [0, 1) (0: any shortfall fails), not %g", a)
	}
	for i, r := range c.Gate {
		if r.Metric == "" {
			return fmt.Errorf("registry.gate[%d]: no metric", i)
		}
		if !gateMetricRE.MatchString(r.Metric) {
			return fmt.Errorf("registry.gate[%d]: metric %q is not one the gate computes: [REFERENCE:]policy.{precision,recall,false_alarm_rate,mttd_min,shared_mttd_min,ttd_ratio} or [REFERENCE:]hH.{precision,recall,false_alarm_rate}, REFERENCE gold_or_weak, gold or weak", i, r.Metric)
		}
		if r.Better != "" && r.Better != "higher" && r.Better != "lower" {
			return fmt.Errorf("registry.gate[%d]: better must be higher or lower, not %q", i, r.Better)
		}
		if r.Tolerance < 0 || math.IsNaN(r.Tolerance) {
			return fmt.Errorf("registry.gate[%d]: tolerance must be >= 0", i)
		}
		if r.Interval && !intervalJudges(r) {
			return fmt.Errorf("registry.gate[%d]: interval judges a proportion that is better higher ([REFERENCE:]policy.precision or policy.recall) or the shared time to detection, better lower ([REFERENCE:]policy.shared_mttd_min), not %s (better %s)", i, r.Metric, r.Better)
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

// FloorResult is the outcome of one floor.
type FloorResult struct {
	// Floor is "precision", "recall" or "recall_vs_baseline".
	Floor string `json:"floor"`
	// Metric is the policy metric judged, e.g. "policy.precision".
	Metric string `json:"metric"`
	// Min is the floor: the configured value, or the baseline's recall.
	Min float64 `json:"min"`
	// Candidate is the candidate's estimate with its Wilson 95% interval;
	// Baseline the statistical baseline's, for recall_vs_baseline.
	Candidate metrics.Estimate  `json:"candidate"`
	Baseline  *metrics.Estimate `json:"baseline,omitempty"`
	Passed    bool              `json:"passed"`
	Note      string            `json:"note"`
}

// Decision is the promotion gate's verdict, recorded with the move.
type Decision struct {
	Candidate int `json:"candidate"`
	// Current is the version the alias held, 0 when none.
	Current int `json:"current"`
	// EvalSetHash is the evaluation set the gate scored both on.
	EvalSetHash string `json:"eval_set_hash,omitempty"`
	// Evidence is what the gate computed (nil when it could not).
	Evidence *Evidence `json:"evidence,omitempty"`
	// Floors and Rules are the outcomes of the floors and of the
	// comparison with the current holder.
	Floors []FloorResult `json:"floors,omitempty"`
	Rules  []RuleResult  `json:"rules,omitempty"`
	// Passed is true when every floor and rule passed.
	Passed bool `json:"passed"`
	// Forced is true when the move was made despite a refusal.
	Forced bool `json:"forced,omitempty"`
	// NotGated is true for aliases outside Config.GatedAliases: no
	// comparison was made.
	NotGated bool   `json:"not_gated,omitempty"`
	Message  string `json:"message"`
}

// Judge decides whether cand may take over an alias from cur (nil when the
// alias holds no version) on the gate's evidence ev (nil when none could be
// computed; evErr says why): cand must meet floors on ev, and every rule
// comparing it with cur on ev must pass. It never fails: refusals are in
// the Decision.
func Judge(cand, cur *Version, ev *Evidence, evErr error, rules []Rule, floors Floors) Decision {
	d := Decision{Candidate: cand.Version}
	if cur != nil {
		d.Current = cur.Version
		if cur.Version == cand.Version {
			d.Passed = true
			d.Message = fmt.Sprintf("version %d already holds the alias", cand.Version)
			return d
		}
	}
	if ev == nil {
		why := "no evaluator"
		if evErr != nil {
			why = strings.TrimPrefix(evErr.Error(), ErrNoEvidence.Error()+": ")
		}
		d.Message = fmt.Sprintf("no computed evidence for version %d (%s): the gate judges only on scores it computes itself from the history store; promote with --force --reason to override", cand.Version, why)
		return d
	}
	d.Evidence, d.EvalSetHash = ev, ev.Set.Hash
	d.Passed = true
	var failed []string
	d.Floors = checkFloors(ev, floors)
	for _, f := range d.Floors {
		if !f.Passed {
			d.Passed = false
			failed = append(failed, f.Note)
		}
	}
	switch {
	case cur != nil && ev.holderUnscorable():
		// Nothing to compare with: the holder cannot serve under this build.
	case cur != nil && ev.Current != nil:
		for _, r := range rules {
			iv := intervalEvidence{hi: math.NaN()}
			if r.Interval {
				iv.hi = ev.Candidate.upperBound(r.Metric)
				if isSharedTTD(r.Metric) {
					iv.sign, iv.hasSign = ev.sharedTTD(r.Metric)
				}
			}
			rr := compareRule(r, ev.Candidate.Values, ev.Current.Values, cand.Version, cur.Version, iv)
			if !rr.Passed {
				d.Passed = false
				failed = append(failed, r.Metric+": "+rr.Note)
			}
			d.Rules = append(d.Rules, rr)
		}
	case cur != nil:
		d.Passed = false
		failed = append(failed, fmt.Sprintf("the current version %d was not scored", cur.Version))
	}
	set := fmt.Sprintf("evaluation set %s (%s split of %s: %d labeled deploys, %s labels)", ev.Set.Hash, ev.Set.Split, ev.Set.Workdir, ev.Set.Labeled, ev.Set.Reference)
	vs := "it meets the floors"
	switch {
	case cur != nil && ev.holderUnscorable():
		vs = fmt.Sprintf("it meets the floors (version %d was not compared: %s)", cur.Version, ev.CurrentUnscorable)
	case cur != nil:
		vs = fmt.Sprintf("it meets the floors and is at least as good as version %d", cur.Version)
	}
	if d.Passed {
		d.Message = fmt.Sprintf("version %d passes: %s on %s", cand.Version, vs, set)
	} else {
		d.Message = fmt.Sprintf("version %d refused on %s: %s", cand.Version, set, strings.Join(failed, "; "))
	}
	return d
}

// checkFloors judges the candidate's headline policy scores against floors.
func checkFloors(ev *Evidence, f Floors) []FloorResult {
	hc, _ := ev.Candidate.Headline()
	var out []FloorResult
	if f.Precision > 0 {
		r := FloorResult{Floor: "precision", Metric: "policy.precision", Min: f.Precision, Candidate: hc.Precision}
		flagged := ev.Candidate.Flagged
		switch {
		case hc.Precision.N == 0:
			r.Note = fmt.Sprintf("precision undefined: the candidate flagged none of the %d deploys (floor %g)", hc.Confusion.N(), f.Precision)
		case flagged > 0 && float64(hc.Precision.N) < f.MinJudgedShare*float64(flagged):
			r.Note = fmt.Sprintf("precision not measured: the reference labels %d of the %d deploys the candidate flagged (%.2f, below min_judged_share %g), "+
				"so %s on them is not the policy's precision (floor %g); annotate the evaluation set or add labeling functions that vote on such deploys",
				hc.Precision.N, flagged, float64(hc.Precision.N)/float64(flagged), f.MinJudgedShare, hc.Precision.Decimal(3), f.Precision)
		default:
			r.Passed = hc.Precision.Value >= f.Precision
			r.Note = fmt.Sprintf("precision %s %s floor %g", hc.Precision.Decimal(3), cmpWord(r.Passed), f.Precision)
		}
		out = append(out, r)
	}
	if f.Recall > 0 {
		r := FloorResult{Floor: "recall", Metric: "policy.recall", Min: f.Recall, Candidate: hc.Recall}
		if hc.Recall.N == 0 {
			r.Note = "recall undefined: the evaluation set has no faulty deploy"
		} else {
			r.Passed = hc.Recall.Value >= f.Recall
			r.Note = fmt.Sprintf("recall %s %s floor %g", hc.Recall.Decimal(3), cmpWord(r.Passed), f.Recall)
		}
		out = append(out, r)
	}
	if f.RecallVsBaseline {
		hb, _ := ev.Baseline.Headline()
		b := hb.Recall
		r := FloorResult{Floor: "recall_vs_baseline", Metric: "policy.recall", Candidate: hc.Recall, Baseline: &b}
		switch {
		case hc.Recall.N == 0:
			r.Note = "recall undefined: the evaluation set has no faulty deploy, so the candidate cannot be shown to detect faults"
		case f.Precision > 0 && hb.Precision.N > 0 && hb.Precision.Value < f.Precision:
			// The baseline's recall is bought with false alarms that the
			// precision floor would not let a version have: it is no
			// alternative to judge recall against.
			r.Passed = true
			r.Note = fmt.Sprintf("not binding: the statistical baseline's precision %s is below floor %g (its recall %s)",
				hb.Precision.Decimal(3), f.Precision, b.Decimal(3))
		case hc.Recall.Value >= b.Value:
			r.Min, r.Passed = b.Value, true
			r.Note = fmt.Sprintf("recall %s %s the statistical baseline's %s", hc.Recall.Decimal(3), cmpWord(true), b.Decimal(3))
		case ev.Paired != nil && f.RecallVsBaselineAlpha > 0 && hc.Recall.K > 0:
			pr := *ev.Paired
			p := pr.BaselineBetterP()
			r.Min, r.Passed = b.Value, p > f.RecallVsBaselineAlpha
			verdict := "not significantly"
			if !r.Passed {
				verdict = "significantly"
			}
			r.Note = fmt.Sprintf("recall %s %s below the statistical baseline's %s: of the faulty deploys only one of them flagged, "+
				"the baseline alone flagged %d and the candidate alone %d (exact McNemar p = %.3g, alpha %g)",
				hc.Recall.Decimal(3), verdict, b.Decimal(3), pr.BaselineOnly, pr.CandidateOnly, p, f.RecallVsBaselineAlpha)
		default:
			r.Min = b.Value
			r.Note = fmt.Sprintf("recall %s %s the statistical baseline's %s", hc.Recall.Decimal(3), cmpWord(false), b.Decimal(3))
		}
		out = append(out, r)
	}
	return out
}

func cmpWord(passed bool) string {
	if passed {
		return "≥"
	}
	return "below"
}

// intervalEvidence is what a rule with Interval is judged on besides the
// point estimates: hi, the upper bound of the candidate's Wilson 95%
// interval of a proportion (NaN: none); sign, the paired counts of a
// shared time-to-detection rule (hasSign false: none). Without either the
// rule compares the point estimates.
type intervalEvidence struct {
	hi      float64
	sign    SharedTTD
	hasSign bool
}

// intervalJudges reports whether Interval applies to r's metric and
// direction.
func intervalJudges(r Rule) bool {
	if isSharedTTD(r.Metric) {
		return r.Better == "lower"
	}
	return proportionOf(r.Metric) != "" && r.Better != "lower"
}

// isSharedTTD reports whether metric is [REFERENCE:]policy.shared_mttd_min.
func isSharedTTD(metric string) bool {
	_, name, _ := splitMetric(metric)
	return name == MetricSharedMTTD
}

// splitMetric splits a rule's metric, [REFERENCE:]NAME, into the reference
// it names (hasRef false: none, the headline) and the metric's name.
func splitMetric(metric string) (ref, name string, hasRef bool) {
	if ref, name, hasRef = strings.Cut(metric, ":"); !hasRef {
		name = metric
	}
	return ref, name, hasRef
}

// judgedAgainst reports whether the i-th reference of a version's scores,
// named name, is the one a metric split by splitMetric is judged against:
// the one it names, or without a name the first (the headline).
func judgedAgainst(i int, name, ref string, hasRef bool) bool {
	return hasRef && name == ref || !hasRef && i == 0
}

// compareRule runs one rule on the candidate's and the current holder's
// computed values, with iv for a rule judged on Rule.Interval.
func compareRule(r Rule, cand, cur map[string]float64, cv, hv int, iv intervalEvidence) RuleResult {
	hi := iv.hi
	rr := RuleResult{Rule: r}
	if rr.Better == "" {
		rr.Better = "higher"
	}
	c, okc := cand[r.Metric]
	h, okh := cur[r.Metric]
	if okc {
		rr.Candidate = &c
	}
	if okh {
		rr.Current = &h
	}
	switch {
	case !okc && !okh:
		rr.Passed = true
		rr.Note = fmt.Sprintf("undefined for both versions %d and %d: nothing to compare", cv, hv)
	case !okc:
		rr.Note = "undefined for " + missingOn(okc, okh, cv, hv)
	case !okh:
		rr.Passed = true
		rr.Note = fmt.Sprintf("%.4g; undefined for the current version %d", c, hv)
	case rr.Better == "higher" && r.Interval && !math.IsNaN(hi):
		rr.Passed = hi >= h-r.Tolerance
		rr.Note = fmt.Sprintf("%.4g (95%% interval up to %.4g) vs %.4g (may drop by at most %g unless the interval rules it out)", c, hi, h, r.Tolerance)
	case rr.Better == "higher":
		rr.Passed = c >= h-r.Tolerance
		rr.Note = fmt.Sprintf("%.4g vs %.4g (may drop by at most %g)", c, h, r.Tolerance)
	case r.Interval && iv.hasSign:
		p := iv.sign.LaterP()
		rr.Passed = c <= h+r.Tolerance || p > IntervalSignAlpha
		rr.Note = fmt.Sprintf("%.4g vs %.4g (may rise by at most %g unless the candidate is shown later: of %d faults both flagged it was later on %d, earlier on %d, sign test p = %.3g, alpha %g)",
			c, h, r.Tolerance, iv.sign.Shared, iv.sign.Later, iv.sign.Earlier, p, IntervalSignAlpha)
	default:
		rr.Passed = c <= h+r.Tolerance
		rr.Note = fmt.Sprintf("%.4g vs %.4g (may rise by at most %g)", c, h, r.Tolerance)
	}
	return rr
}

func missingOn(okc, okh bool, c, h int) string {
	if !okc {
		return fmt.Sprintf("version %d", c)
	}
	return fmt.Sprintf("version %d", h)
}

// gateMetricRE matches the metric names the gate computes (Scored.Values).
var gateMetricRE = regexp.MustCompile(`^((gold_or_weak|gold|weak):)?(policy\.(precision|recall|false_alarm_rate|mttd_min|shared_mttd_min|ttd_ratio)|h[0-9]+\.(precision|recall|false_alarm_rate))$`)

// PromoteOptions control Promote.
type PromoteOptions struct {
	// By records who promoted.
	By string
	// Reason explains the move; required with Force.
	Reason string
	// Force moves the alias even when the gate refuses; the refusal and
	// the reason are recorded with the move.
	Force bool
	// Rules override the configured gate rules when non-nil (and gate the
	// move even for an alias outside Config.GatedAliases).
	Rules []Rule
	// Floors override the configured floors when non-nil.
	Floors *Floors
	// Evaluator computes the gate's evidence. Without one no evidence can
	// be computed, and a gated move is refused unless forced.
	Evaluator Evaluator
}

// GateError is returned when the gate refuses a promotion; it wraps
// ErrGateRefused (and ErrNoEvidence when no evidence could be computed).
type GateError struct {
	Decision   Decision
	noEvidence bool
}

func (e *GateError) Error() string {
	return "promotion refused: " + e.Decision.Message
}

// Unwrap lets errors.Is match ErrGateRefused and ErrNoEvidence.
func (e *GateError) Unwrap() []error {
	if e.noEvidence {
		return []error{ErrGateRefused, ErrNoEvidence}
	}
	return []error{ErrGateRefused}
}

// errHolderMoved: the alias moved while the gate computed its evidence.
var errHolderMoved = errors.New("the alias moved while the gate computed its evidence")

// maxGateAttempts bounds how often Promote recomputes its evidence when
// the alias keeps moving under it.
const maxGateAttempts = 3

// Promote points alias of name at version when the gate allows it. For a
// gated alias (Config.GatedAliases, or any alias when opts.Rules is set)
// the gate computes its own evidence with opts.Evaluator — the candidate,
// the current holder and the statistical baseline scored on one evaluation
// set from the history store — and records it on both versions
// (AddEvaluation, OriginGate); the candidate must meet the floors on it and
// pass every rule against the holder (Judge). Nothing a version says about
// itself is judged on. Without evidence the move is refused. With
// opts.Force (and a non-empty Reason) a refused move is made anyway and
// marked forced. The evidence is computed outside the backend's alias
// lock; the decision is made under it, against the holder at the moment of
// the move (evidence is recomputed when the alias moved meanwhile), and is
// recorded with the move. A refusal returns a *GateError and moves
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
	floors := r.cfg.Floors
	if opts.Floors != nil {
		floors = *opts.Floors
	}
	if !gated {
		mv, err := r.b.MoveAlias(ctx, name, alias, func(cur *Version) (*Move, error) {
			d := Decision{Candidate: version, Passed: true, NotGated: true, Message: fmt.Sprintf("alias %q is not gated (registry.gated_aliases)", alias)}
			if cur != nil {
				d.Current = cur.Version
			}
			return &Move{To: version, By: opts.By, Reason: opts.Reason, Decision: &d}, nil
		})
		if err != nil {
			return nil, fmt.Errorf("promote %s@%d to %s: %w", name, version, alias, err)
		}
		return mv, nil
	}
	for attempt := 1; ; attempt++ {
		holder, err := r.holder(ctx, name, alias)
		if err != nil {
			return nil, fmt.Errorf("promote %s@%d to %s: %w", name, version, alias, err)
		}
		var (
			ev    *Evidence
			evErr error
		)
		if holder == nil || holder.Version != version {
			ev, evErr = r.evidence(ctx, opts.Evaluator, cand, holder)
			if ev != nil {
				if err := r.recordEvidence(ctx, cand, holder, ev); err != nil {
					return nil, fmt.Errorf("promote %s@%d to %s: %w", name, version, alias, err)
				}
			}
		}
		mv, err := r.b.MoveAlias(ctx, name, alias, func(cur *Version) (*Move, error) {
			if ev != nil && versionOf(cur) != versionOf(holder) {
				return nil, errHolderMoved
			}
			d := Judge(cand, cur, ev, evErr, rules, floors)
			if !d.Passed {
				if !opts.Force {
					return nil, &GateError{Decision: d, noEvidence: ev == nil}
				}
				d.Forced = true
			}
			return &Move{To: version, By: opts.By, Reason: opts.Reason, Forced: d.Forced, Decision: &d}, nil
		})
		if errors.Is(err, errHolderMoved) && attempt < maxGateAttempts {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("promote %s@%d to %s: %w", name, version, alias, err)
		}
		return mv, nil
	}
}

// holder returns the version alias points at now, nil when none.
func (r *Registry) holder(ctx context.Context, name, alias string) (*Version, error) {
	v, err := r.Resolve(ctx, Ref{Name: name, Alias: alias})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return v, err
}

func versionOf(v *Version) int {
	if v == nil {
		return 0
	}
	return v.Version
}

// evidence runs the evaluator; a nil result always comes with the reason.
func (r *Registry) evidence(ctx context.Context, ev Evaluator, cand, cur *Version) (*Evidence, error) {
	if ev == nil {
		return nil, fmt.Errorf("%w: no evaluator (the gate needs the history store to score versions)", ErrNoEvidence)
	}
	e, err := ev.Evaluate(ctx, cand, cur)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("%w: the evaluator returned nothing", ErrNoEvidence)
	}
	if e.Set.Hash == "" || e.Candidate.Version != cand.Version || (cur != nil && !e.holderUnscorable() && (e.Current == nil || e.Current.Version != cur.Version)) {
		return nil, fmt.Errorf("%w: the evaluator's evidence does not cover versions %d and %d", ErrNoEvidence, cand.Version, versionOf(cur))
	}
	return e, nil
}

// recordEvidence stores the gate's scores as evaluations of the versions.
func (r *Registry) recordEvidence(ctx context.Context, cand, cur *Version, ev *Evidence) error {
	if err := r.AddEvaluation(ctx, cand.Name, cand.Version, ev.Metrics(&ev.Candidate)); err != nil {
		return err
	}
	if cur != nil && ev.Current != nil {
		return r.AddEvaluation(ctx, cur.Name, cur.Version, ev.Metrics(ev.Current))
	}
	return nil
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

// proportionOf returns "precision" or "recall" for a metric
// [REFERENCE:]policy.precision or policy.recall, else "".
func proportionOf(metric string) string {
	_, name, _ := splitMetric(metric)
	switch name {
	case "policy.precision":
		return "precision"
	case "policy.recall":
		return "recall"
	}
	return ""
}

// upperBound returns the upper bound of the Wilson 95% interval of the
// proportion metric names (proportionOf) against its reference (the
// headline without a REFERENCE: prefix), NaN when the scores do not have
// it.
func (s *Scored) upperBound(metric string) float64 {
	ref, _, hasRef := splitMetric(metric)
	for i, rs := range s.Policy {
		if !judgedAgainst(i, rs.Reference, ref, hasRef) {
			continue
		}
		var e metrics.Estimate
		switch proportionOf(metric) {
		case "precision":
			e = rs.Precision
		case "recall":
			e = rs.Recall
		default:
			return math.NaN()
		}
		if e.N == 0 {
			return math.NaN()
		}
		return e.Hi
	}
	return math.NaN()
}
