package registry

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// scored is a contender whose headline flags tp of the faulty and fp of
// the healthy deploys of 100 faulty and 900 healthy.
func scored(tp, fp int) Scored {
	c := metrics.Confusion{TP: tp, FP: fp, FN: 100 - tp, TN: 900 - fp}
	return Scored{Policy: []RefScore{{Reference: "gold_or_weak", Confusion: c,
		Precision: metrics.Proportion(tp, tp+fp), Recall: metrics.Proportion(tp, 100)}}}
}

// checkFloor judges ev by floors and checks the named floor's verdict and
// note.
func checkFloor(t *testing.T, ev *Evidence, floors Floors, name string, wantPass bool, wantNote string) {
	t.Helper()
	for _, r := range checkFloors(ev, floors) {
		if r.Floor == name {
			if r.Passed != wantPass || !strings.Contains(r.Note, wantNote) {
				t.Errorf("%s: passed %v, note %q; want %v and %q", name, r.Passed, r.Note, wantPass, wantNote)
			}
			return
		}
	}
	t.Fatalf("no %s floor", name)
}

// The recall floor against the statistical baseline binds only when the
// baseline meets the precision floor itself, and then refuses a shortfall
// only when the paired counts show it (or alpha 0 asks for the point
// estimates, or the evidence has no paired counts).
func TestRecallVsBaselineFloor(t *testing.T) {
	noise := &Paired{Both: 38, CandidateOnly: 2, BaselineOnly: 5, Neither: 55}  // p = 29/128
	shown := &Paired{Both: 39, CandidateOnly: 1, BaselineOnly: 10, Neither: 50} // p = 12/2048
	blind := &Paired{Both: 0, CandidateOnly: 0, BaselineOnly: 3, Neither: 97}   // p = 1/8
	pointOnly := DefaultFloors()
	pointOnly.RecallVsBaselineAlpha = 0
	for _, tc := range []struct {
		name       string
		cand, base Scored
		paired     *Paired
		floors     Floors
		wantPass   bool
		wantNote   string
	}{
		{"baseline precise, candidate finds fewer, no paired counts", scored(40, 2), scored(50, 3), nil, DefaultFloors(), false, "below the statistical baseline's"},
		{"baseline precise, candidate finds as many", scored(50, 2), scored(50, 3), nil, DefaultFloors(), true, "≥ the statistical baseline's"},
		{"baseline imprecise: not binding", scored(40, 2), scored(50, 20), nil, DefaultFloors(), true, "not binding"},
		{"baseline flags nothing", scored(40, 2), scored(0, 0), nil, DefaultFloors(), true, "≥ the statistical baseline's"},
		{"shortfall within chance", scored(40, 2), scored(43, 3), noise, DefaultFloors(), true, "not significantly below"},
		{"shortfall shown", scored(40, 2), scored(49, 3), shown, DefaultFloors(), false, "significantly below"},
		{"alpha 0: point estimates", scored(40, 2), scored(43, 3), noise, pointOnly, false, "below the statistical baseline's"},
		{"candidate finds none", scored(0, 0), scored(3, 0), blind, DefaultFloors(), false, "below the statistical baseline's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &Evidence{Candidate: tc.cand, Baseline: tc.base, Paired: tc.paired}
			checkFloor(t, ev, tc.floors, "recall_vs_baseline", tc.wantPass, tc.wantNote)
		})
	}
}

// BaselineBetterP is the exact binomial tail, computed by hand with exact
// integer sums.
func TestBaselineBetterP(t *testing.T) {
	for _, tc := range []struct {
		p    Paired
		want float64
	}{
		{Paired{CandidateOnly: 2, BaselineOnly: 5}, 0.2265625},
		{Paired{CandidateOnly: 1, BaselineOnly: 10}, 0.005859375},
		{Paired{BaselineOnly: 3}, 0.125},
		{Paired{CandidateOnly: 50, BaselineOnly: 50}, 0.5397946186935894},
		{Paired{CandidateOnly: 120, BaselineOnly: 160}, 0.00980336364514074},
		{Paired{CandidateOnly: 4}, 1},
		{Paired{Both: 7, Neither: 3}, 1},
	} {
		if got := tc.p.BaselineBetterP(); math.Abs(got-tc.want) > 1e-9*tc.want {
			t.Errorf("%+v: p %v, want %v", tc.p, got, tc.want)
		}
	}
}

// The precision floor is judged only when the headline reference labels
// enough of the deploys the candidate flagged (MinJudgedShare): a precision
// of 1/1 on a candidate that flagged 35 deploys says nothing of the 34
// others.
func TestPrecisionFloorNeedsJudgedFlags(t *testing.T) {
	withFlags := func(s Scored, flagged int) Scored { s.Flagged = flagged; return s }
	anyShare := DefaultFloors()
	anyShare.MinJudgedShare = 0
	for _, tc := range []struct {
		name     string
		cand     Scored
		floors   Floors
		wantPass bool
		wantNote string
	}{
		{"one flag of 35 judged", withFlags(scored(1, 0), 35), DefaultFloors(), false, "precision not measured: the reference labels 1 of the 35 deploys"},
		{"half of the flags judged", withFlags(scored(38, 2), 80), DefaultFloors(), true, "precision 0.950"},
		{"just below half", withFlags(scored(38, 2), 81), DefaultFloors(), false, "below min_judged_share 0.5"},
		{"judged but imprecise", withFlags(scored(30, 10), 40), DefaultFloors(), false, "below floor 0.9"},
		{"evidence without the count", scored(1, 0), DefaultFloors(), true, "precision 1.000"},
		{"min_judged_share 0", withFlags(scored(1, 0), 35), anyShare, true, "precision 1.000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFloor(t, &Evidence{Candidate: tc.cand, Baseline: scored(0, 0)}, tc.floors, "precision", tc.wantPass, tc.wantNote)
		})
	}
}

func TestMinJudgedShareValidated(t *testing.T) {
	c := DefaultConfig()
	for _, v := range []float64{-0.1, 1.5} {
		c.Floors.MinJudgedShare = v
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "registry.floors.min_judged_share") {
			t.Errorf("min_judged_share %v: error %v, want one naming registry.floors.min_judged_share", v, err)
		}
	}
	c.Floors.MinJudgedShare = 0
	if err := c.Validate(); err != nil {
		t.Errorf("min_judged_share 0: %v", err)
	}
}

// The default precision rule judges the candidate by its interval: a few
// flags of a holder do not refuse a candidate that is not shown to be less
// precise; a drop the evaluation set shows still does. Without Interval the
// point estimates decide.
func TestPrecisionRuleInterval(t *testing.T) {
	withValues := func(tp, fp int) Scored {
		s := scored(tp, fp)
		s.Values = map[string]float64{"policy.precision": float64(tp) / float64(tp+fp), "gold_or_weak:policy.precision": float64(tp) / float64(tp+fp)}
		return s
	}
	interval := Rule{Metric: "policy.precision", Better: "higher", Tolerance: 0.02, Interval: true}
	point := Rule{Metric: "policy.precision", Better: "higher", Tolerance: 0.02}
	for _, tc := range []struct {
		name      string
		cand, cur Scored
		rule      Rule
		wantPass  bool
	}{
		{"38/39 vs 11/11, interval", withValues(38, 1), withValues(11, 0), interval, true},
		{"38/39 vs 11/11, point", withValues(38, 1), withValues(11, 0), point, false},
		{"80/100 vs 97/100: shown", withValues(80, 20), withValues(97, 3), interval, false},
		{"as precise", withValues(50, 1), withValues(50, 1), interval, true},
		{"by reference", withValues(38, 1), withValues(11, 0), Rule{Metric: "gold_or_weak:policy.precision", Better: "higher", Tolerance: 0.02, Interval: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := tc.cur
			ev := &Evidence{Candidate: tc.cand, Current: &cur, Baseline: scored(0, 0)}
			d := Judge(&Version{Version: 2}, &Version{Version: 1}, ev, nil, []Rule{tc.rule}, Floors{})
			if len(d.Rules) != 1 || d.Rules[0].Passed != tc.wantPass {
				t.Fatalf("rules %+v, want passed %v", d.Rules, tc.wantPass)
			}
		})
	}
	if !slices.ContainsFunc(DefaultRules(), func(r Rule) bool { return r.Metric == "policy.precision" && r.Interval }) {
		t.Error("the default precision rule does not judge on the interval")
	}
	for _, r := range []Rule{{Metric: "policy.mttd_min", Better: "lower", Interval: true}, {Metric: MetricSharedMTTD, Better: "higher", Interval: true}} {
		c := Config{Model: "m", Gate: []Rule{r}}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "interval") {
			t.Errorf("interval on %s (better %s): %v, want an error", r.Metric, r.Better, err)
		}
	}
	c := Config{Model: "m", Gate: []Rule{{Metric: "gold:" + MetricSharedMTTD, Better: "lower", Interval: true}}}
	if err := c.Validate(); err != nil {
		t.Errorf("interval on the shared time to detection: %v", err)
	}
}

// TestSharedTTDRuleInterval: with Interval, a candidate whose mean shared
// time to detection is higher is refused only when the sign test shows it
// later on the shared faults; without the paired counts (evidence recorded
// before they were kept), or without Interval, the means decide.
func TestSharedTTDRuleInterval(t *testing.T) {
	interval := Rule{Metric: MetricSharedMTTD, Better: "lower", Interval: true}
	byRef := Rule{Metric: "gold:" + MetricSharedMTTD, Better: "lower", Interval: true}
	point := Rule{Metric: MetricSharedMTTD, Better: "lower"}
	values := func(c, h float64) (map[string]float64, map[string]float64) {
		return map[string]float64{MetricSharedMTTD: c, "gold:" + MetricSharedMTTD: c}, map[string]float64{MetricSharedMTTD: h, "gold:" + MetricSharedMTTD: h}
	}
	pairs := func(later, earlier int) []SharedTTD {
		return []SharedTTD{{Reference: "gold_or_weak", Shared: 35, Later: later, Earlier: earlier}, {Reference: "gold", Shared: 12, Later: 9}}
	}
	for _, tc := range []struct {
		name     string
		rule     Rule
		c, h     float64
		pairs    []SharedTTD
		wantPass bool
	}{
		{"later on 3, earlier on 1: not shown", interval, 30, 28.06, pairs(3, 1), true},
		{"later on 3, earlier on 1, point estimate", point, 30, 28.06, pairs(3, 1), false},
		{"later on 9, earlier on 0: shown (p = 1/512)", interval, 40, 20, pairs(9, 0), false},
		{"later on 6, earlier on 0: p = 1/64, shown", interval, 30, 20, pairs(6, 0), false},
		{"later on 5, earlier on 0: p = 1/32, not shown", interval, 30, 20, pairs(5, 0), true},
		{"no paired counts: the means", interval, 30, 28.06, nil, false},
		{"not slower", interval, 20, 28, pairs(0, 4), true},
		{"by reference: gold later on 9 of 12", byRef, 40, 20, pairs(0, 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cv, hv := values(tc.c, tc.h)
			ev := &Evidence{Candidate: Scored{Values: cv}, Current: &Scored{Values: hv}, Baseline: scored(0, 0), SharedTTD: tc.pairs}
			d := Judge(&Version{Version: 2}, &Version{Version: 1}, ev, nil, []Rule{tc.rule}, Floors{})
			if len(d.Rules) != 1 || d.Rules[0].Passed != tc.wantPass {
				t.Fatalf("rules %+v, want passed %v", d.Rules, tc.wantPass)
			}
		})
	}
	if !slices.ContainsFunc(DefaultRules(), func(r Rule) bool { return r.Metric == MetricSharedMTTD && r.Interval }) {
		t.Error("the default shared time rule does not judge on the sign test")
	}
	c := Config{Model: "m", Gate: []Rule{{Metric: "policy.mttd_min", Better: "lower", Interval: true}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "interval") {
		t.Errorf("interval on a time: %v, want an error", err)
	}
}
