package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/labeling"
)

// TestLabelReportShowsLoneVotes: label's table gives each function's
// faulty votes cast alone with the label model's p_faulty and what
// annotators said of them, and "-" for a function that never voted alone.
func TestLabelReportShowsLoneVotes(t *testing.T) {
	var out bytes.Buffer
	rep := &labeling.Report{Rows: 10, Labelled: 4, Faulty: 2, ClassBalance: 0.2, Functions: []labeling.FunctionReport{
		{Name: "rollback", Lone: &labeling.LoneVotes{Deployments: 24, PFaulty: metrics.Float(0.943), Annotated: 8, AnnotatedFaulty: 3}},
		{Name: "healthy_evidence"},
	}}
	if err := printLabelReport(&env{stdout: &out}, "dir", rep); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	var rb, he string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "rollback "):
			rb = l
		case strings.HasPrefix(l, "healthy_evidence "):
			he = l
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(rb), "24: 94.3% (3/8)") {
		t.Errorf("rollback row %q, want it to end with its lone votes 24: 94.3%% (3/8)", rb)
	}
	if !strings.HasSuffix(strings.TrimSpace(he), "-") {
		t.Errorf("healthy_evidence row %q, want - for no lone vote", he)
	}
}
