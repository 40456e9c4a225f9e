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
	c := Config{Model: "m", Gate: []Rule{{Metric: "policy.mttd_min", Better: "lower", Interval: true}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "interval") {
		t.Errorf("interval on a time: %v, want an error", err)
	}
}
