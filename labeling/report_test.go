package labeling

import (
	"math"
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
