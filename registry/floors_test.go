package registry

import (
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

// The recall floor against the statistical baseline binds only when the
// baseline meets the precision floor itself.
func TestRecallVsBaselineFloor(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cand, base Scored
		wantPass   bool
		wantNote   string
	}{
		{"baseline precise, candidate finds fewer", scored(40, 2), scored(50, 3), false, "below the statistical baseline's"},
		{"baseline precise, candidate finds as many", scored(50, 2), scored(50, 3), true, "≥ the statistical baseline's"},
		{"baseline imprecise: not binding", scored(40, 2), scored(50, 20), true, "not binding"},
		{"baseline flags nothing", scored(40, 2), scored(0, 0), true, "≥ the statistical baseline's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &Evidence{Candidate: tc.cand, Baseline: tc.base}
			var got *FloorResult
			for _, r := range checkFloors(ev, DefaultFloors()) {
				if r.Floor == "recall_vs_baseline" {
					got = &r
				}
			}
			if got == nil {
				t.Fatal("no recall_vs_baseline floor")
			}
			if got.Passed != tc.wantPass || !strings.Contains(got.Note, tc.wantNote) {
				t.Errorf("passed %v, note %q; want %v and %q", got.Passed, got.Note, tc.wantPass, tc.wantNote)
			}
		})
	}
}
