package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// Evaluator computes the promotion gate's evidence: it scores the
// candidate and the version the alias holds now (cur, nil when none) — and
// the statistical baseline — on one evaluation set it builds itself from
// the history store. Nothing a version carries about itself (registration
// metrics, an imported bundle's metrics.json) enters the evidence. Package
// registry/evidence implements it; an error means no evidence, and the
// gate refuses unless the promotion is forced.
type Evaluator interface {
	Evaluate(ctx context.Context, cand, cur *Version) (*Evidence, error)
}

// Evidence is what the gate computed for one promotion.
type Evidence struct {
	// Set is the evaluation set every contender was scored on.
	Set EvalSet `json:"set"`
	// Candidate and Current (nil without a holder) are the versions'
	// scores; Baseline is the statistical checks' unanimous ensemble at
	// the baseline horizon, scored on the same deploys.
	Candidate Scored  `json:"candidate"`
	Current   *Scored `json:"current,omitempty"`
	Baseline  Scored  `json:"baseline"`
	// Paired counts the faulty deploys of the headline reference by which
	// of the candidate and the statistical baseline flagged them: the
	// paired comparison the recall_vs_baseline floor judges (nil in
	// evidence recorded before it was kept: the floor then compares the
	// point estimates).
	Paired *Paired `json:"paired_vs_baseline,omitempty"`
	// SharedTTD compares, against each reference (the headline first), the
	// detection minute of the candidate and the current holder on the
	// faulty deploys both flagged: the paired counts a shared-time rule
	// with Rule.Interval judges (nil without a current holder, and in
	// evidence recorded before it was kept: such a rule then compares the
	// means).
	SharedTTD []SharedTTD `json:"shared_ttd,omitempty"`
	// CurrentUnscorable says why the current holder has no scores when this
	// build cannot score it at all: its bundle's feature schema is not this
	// build's (the features were redefined since it was trained), so no
	// detector of this build can load it either, and the candidate is
	// judged on the floors alone. Empty otherwise.
	CurrentUnscorable string `json:"current_unscorable,omitempty"`
	// ComputedAt is when the evidence was computed; CodeVersion by which
	// build.
	ComputedAt  time.Time `json:"computed_at"`
	CodeVersion string    `json:"code_version,omitempty"`
	// Notes are facts worth knowing about the set (deploys missing from the
	// history store, a reference with few labels, …).
	Notes []string `json:"notes,omitempty"`
}

// Paired is how a candidate and the statistical baseline did on the same
// faulty deploys: flagged by both, by the candidate only, by the baseline
// only, by neither.
type Paired struct {
	Both          int `json:"both"`
	CandidateOnly int `json:"candidate_only"`
	BaselineOnly  int `json:"baseline_only"`
	Neither       int `json:"neither"`
}

// BaselineBetterP is the one-sided p-value of the exact McNemar test that
// the baseline finds more of the faulty deploys than the candidate: the
// chance of at least BaselineOnly of the deploys only one of them flagged
// going to the baseline, were each a fair coin. 1 when none is discordant.
func (p Paired) BaselineBetterP() float64 { return signTestP(p.BaselineOnly, p.CandidateOnly) }

// signTestP is the one-sided p-value of the exact sign test that k of k +
// other discordant pairs going one way is more than chance: P(X ≥ k), X
// binomial(k + other, 1/2); 1 when there is no discordant pair.
func signTestP(k, other int) float64 {
	n := k + other
	if n == 0 {
		return 1
	}
	return metrics.BinomialUpper(float64(k), float64(n), 0.5)
}

// SharedTTD is how a candidate and the current holder compare, against
// one reference, on the faulty deploys both flagged: how many there are,
// and on how many the candidate's detection minute was later, or earlier,
// than the holder's (the rest: the same minute).
type SharedTTD struct {
	Reference string `json:"reference"`
	Shared    int    `json:"shared"`
	Later     int    `json:"later"`
	Earlier   int    `json:"earlier"`
}

// LaterP is the one-sided p-value of the exact sign test that the
// candidate detects the shared faults later than the holder: the chance of
// at least Later of the faults on which their minutes differ going to the
// holder, were each a fair coin. 1 when none differs.
func (s SharedTTD) LaterP() float64 { return signTestP(s.Later, s.Earlier) }

// sharedTTD returns the paired counts against the reference metric names
// (the headline without a REFERENCE: prefix), false when ev has none.
func (e *Evidence) sharedTTD(metric string) (SharedTTD, bool) {
	ref, _, hasRef := splitMetric(metric)
	for i, s := range e.SharedTTD {
		if judgedAgainst(i, s.Reference, ref, hasRef) {
			return s, true
		}
	}
	return SharedTTD{}, false
}

// holderUnscorable reports whether the current holder went unscored
// because this build cannot score it (CurrentUnscorable).
func (e *Evidence) holderUnscorable() bool { return e.Current == nil && e.CurrentUnscorable != "" }

// EvalSet describes the gate's evaluation set: the deploys of one split of
// a work folder (split.parquet), with reference labels from gold
// annotations where present, else the folder's weak labels
// (labels.parquet).
type EvalSet struct {
	// Hash identifies the deploys and their headline labels ("eg-…").
	Hash string `json:"hash"`
	// Workdir is the folder whose split.parquet and labels.parquet define
	// the set; RunID the pipeline run that wrote it, when known.
	Workdir string `json:"workdir"`
	RunID   string `json:"run_id,omitempty"`
	// Split is the split.parquet split the deploys come from (evaluate.split).
	Split string `json:"split"`
	// Deploys in the split, and how many of them the history store holds
	// (features extracted from the store).
	Deploys   int `json:"deploys"`
	Extracted int `json:"extracted"`
	// Reference is the headline reference the floors and rules judge on:
	// "gold_or_weak" (gold where present, else weak), "gold" or "weak".
	Reference string `json:"reference"`
	// Labeled and Faulty count the deploys with a headline label; FromGold
	// and FromWeak where those labels came from.
	Labeled  int `json:"labeled"`
	Faulty   int `json:"faulty"`
	FromGold int `json:"from_gold"`
	FromWeak int `json:"from_weak"`
	// BaselineMinutes is the horizon of the statistical baseline.
	BaselineMinutes int `json:"baseline_minutes"`
}

// Scored is one contender's scores on the evaluation set.
type Scored struct {
	// Name is "NAME@VERSION" for a model, or the baseline's description.
	Name    string `json:"name"`
	Version int    `json:"version,omitempty"`
	// Policy holds the sequential policy's confusion, precision and recall
	// (Wilson 95% intervals) against each reference: the headline first,
	// then gold and weak apart when the headline combines them.
	Policy []RefScore `json:"policy"`
	// Values are the scalar metrics by name, as the gate's rules read them:
	// "SCOPE.METRIC" against the headline reference ("policy.precision",
	// "policy.recall", "policy.false_alarm_rate", "policy.mttd_min",
	// "policy.ttd_ratio", "h10.precision", "h10.recall", "h10.pr_auc", …)
	// and "REFERENCE:SCOPE.METRIC" against every reference. Undefined
	// values (nothing flagged, no faulty deploy) are absent.
	Values map[string]float64 `json:"values"`
	// Flagged counts the deploys of the set the contender flagged, whether
	// the headline reference labels them or not: the precision floor needs
	// a share of them judged (Floors.MinJudgedShare). 0 in evidence
	// recorded before it was kept.
	Flagged int `json:"flagged,omitempty"`
}

// RefScore is a contender's sequential policy against one reference.
type RefScore struct {
	Reference string            `json:"reference"`
	Confusion metrics.Confusion `json:"confusion"`
	Precision metrics.Estimate  `json:"precision"`
	Recall    metrics.Estimate  `json:"recall"`
	// MTTD is the mean detection minute of the detected faulty deploys
	// (null when none).
	MTTD metrics.Float `json:"mttd_min"`
}

// Headline returns the contender's score against the headline reference.
func (s *Scored) Headline() (RefScore, bool) {
	if s == nil || len(s.Policy) == 0 {
		return RefScore{}, false
	}
	return s.Policy[0], true
}

// Metrics returns the scores as a version's metrics (OriginGate) on the
// evidence's set, with the scores in Detail.
func (e *Evidence) Metrics(s *Scored) Metrics {
	detail, err := json.Marshal(struct {
		Set    EvalSet    `json:"set"`
		Policy []RefScore `json:"policy"`
	}{e.Set, s.Policy})
	if err != nil { // plain structs: cannot happen
		panic(fmt.Sprintf("encode evidence: %v", err))
	}
	return Metrics{EvalSetHash: e.Set.Hash, Origin: OriginGate, At: e.ComputedAt, Values: s.Values, Detail: detail}
}
