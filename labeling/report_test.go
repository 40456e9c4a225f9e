package labeling

import (
	"math"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

// TestLoneVotes: a function's lone faulty votes are those no other
// function seconded and none contradicted; the report gives their number,
// the label model's mean p_faulty over them and what annotators said of
// them.
func TestLoneVotes(t *testing.T) {
	const a = labelmodel.Abstain
	cols := [][]int8{
		{faulty, faulty, faulty, a, faulty}, // alone on rows 0 and 4
		{a, faulty, a, healthy, a},          // seconds row 1: never alone
		{a, a, healthy, a, a},               // contradicts row 2
	}
	pos, neg := voteCounts(cols, len(cols[0]))
	truthRow := []int8{1, -1, -1, -1, 0}
	pf := []float64{0.9, 1, 0.5, 0.01, 0.8}
	fr := functionReport(cols[0], pos, neg, truthRow, pf, labelmodel.FunctionEstimate{})
	l := fr.Lone
	if l == nil || l.Deployments != 2 || math.Abs(float64(l.PFaulty)-0.85) > 1e-12 || l.Annotated != 2 || l.AnnotatedFaulty != 1 {
		t.Errorf("lone votes of the first function %+v, want 2 deployments, p_faulty 0.85, 1 of 2 annotated faulty", l)
	}
	for j := 1; j < len(cols); j++ {
		if fr := functionReport(cols[j], pos, neg, truthRow, pf, labelmodel.FunctionEstimate{}); fr.Lone != nil {
			t.Errorf("function %d: lone votes %+v, want none", j, fr.Lone)
		}
	}
}

// TestLoneWarning: a warning when the annotations of a function's lone
// votes put the label model's p_faulty outside their interval, either way;
// none with too few annotated or when they agree.
func TestLoneWarning(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lone  *LoneVotes
		wants string // "" for no warning
	}{
		{"none alone", nil, ""},
		{"too few annotated", &LoneVotes{Deployments: 95, PFaulty: 0.94, Annotated: 4, AnnotatedFaulty: 0}, ""},
		{"trusted beyond the annotations", &LoneVotes{Deployments: 95, PFaulty: 0.94, Annotated: 10, AnnotatedFaulty: 4}, "more"},
		{"trusted less than the annotations", &LoneVotes{Deployments: 73, PFaulty: 0.5, Annotated: 12, AnnotatedFaulty: 12}, "less"},
		{"in line with them", &LoneVotes{Deployments: 73, PFaulty: 0.93, Annotated: 12, AnnotatedFaulty: 11}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := loneWarning(FunctionReport{Name: "rollback", Lone: tc.lone})
			switch {
			case tc.wants == "" && w != "":
				t.Errorf("warning %q, want none", w)
			case tc.wants != "" && !strings.Contains(w, "trusts it alone "+tc.wants):
				t.Errorf("warning %q, want one saying it trusts it alone %s", w, tc.wants)
			}
		})
	}
}
