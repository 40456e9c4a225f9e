package labeling

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// simulatedFleet simulates a fleet into an embedded store and extracts its
// features into a work directory.
func simulatedFleet(t testing.TB, cfg simulate.Config) (history.Store, string) {
	t.Helper()
	ctx := context.Background()
	st, err := embedded.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tx, err := st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := simulate.Run(ctx, cfg, tx, st, nil); err != nil {
		tx.Rollback(ctx)
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if _, err := extract.Run(ctx, st, work, extract.Options{Config: features.DefaultConfig(), Workers: 2}); err != nil {
		t.Fatal(err)
	}
	return st, work
}

// FleetQuality is label quality against the simulator's truth.
type FleetQuality struct {
	Rows, Faulty      int
	LabelModel, Major LabelQuality
	Functions         []string // one line per function
}

// measureAgainstTruth compares a labeling with the simulator's truth.
func measureAgainstTruth(t testing.TB, st history.Store, res *Result) FleetQuality {
	t.Helper()
	truthRows, err := st.Truth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tm := map[string]bool{}
	for _, tr := range truthRows {
		tm[tr.DeploymentID] = tr.Faulty
	}
	truth := make([]bool, len(res.IDs))
	q := FleetQuality{Rows: len(res.IDs)}
	for i, id := range res.IDs {
		f, ok := tm[id]
		if !ok {
			t.Fatalf("no truth for %s", id)
		}
		truth[i] = f
		if f {
			q.Faulty++
		}
	}
	q.LabelModel = Quality(res.Label, res.PFaulty, truth)
	q.Major = Quality(res.MajorityLabel, res.MajorityScore, truth)
	est := res.Model.Functions()
	for j, name := range res.Votes.Names {
		var c [2][3]int
		for i, v := range res.Votes.Cols[j] {
			y := 0
			if truth[i] {
				y = 1
			}
			c[y][v+1]++
		}
		fp := float64(c[1][2]) / float64(c[1][2]+c[0][2])
		hp := float64(c[0][1]) / float64(c[0][1]+c[1][1])
		q.Functions = append(q.Functions, fmt.Sprintf("%-22s cov %.3f  P(v=1|y=1) %.3f (est %.3f)  P(v=1|y=0) %.4f (est %.4f)  P(v=0|y=0) %.3f (est %.3f)  P(v=0|y=1) %.3f (est %.3f)  prec+ %.3f (est %.3f)  prec- %.3f (est %.3f)",
			name, float64(len(truth)-c[0][0]-c[1][0])/float64(len(truth)),
			float64(c[1][2])/float64(q.Faulty), est[j].GivenPositive.Positive,
			float64(c[0][2])/float64(len(truth)-q.Faulty), est[j].GivenNegative.Positive,
			float64(c[0][1])/float64(len(truth)-q.Faulty), est[j].GivenNegative.Negative,
			float64(c[1][1])/float64(q.Faulty), est[j].GivenPositive.Negative,
			fp, est[j].PositivePrecision, hp, est[j].NegativePrecision))
	}
	return q
}

func (q LabelQuality) String() string {
	return fmt.Sprintf("AUC %.4f  precision %.3f  recall %.3f  F1 %.3f  accuracy %.4f  (tp %d fp %d fn %d tn %d, unlabelled %d)",
		q.AUC, q.Precision, q.Recall, q.F1, q.Accuracy, q.TP, q.FP, q.FN, q.TN, q.Unlabelled)
}

// TestQualityOnSimulatedFleet labels a simulated fleet and measures the
// labels against the simulator's ground truth, for the label model and for
// majority vote over the same votes.
func TestQualityOnSimulatedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a fleet")
	}
	sc := simulate.DefaultConfig()
	sc.Services = 30
	sc.Days = 14
	st, work := simulatedFleet(t, sc)
	cfg := DefaultConfig()
	res, err := Compute(context.Background(), cfg, Input{History: st, Workdir: work})
	if err != nil {
		t.Fatal(err)
	}
	q := measureAgainstTruth(t, st, res)
	t.Logf("simulated fleet: %d deployments, %d faulty (%.1f%%); estimated class balance %.4f; model %+v",
		q.Rows, q.Faulty, 100*float64(q.Faulty)/float64(q.Rows), res.Model.ClassBalance(), res.Model.Info())
	for _, l := range q.Functions {
		t.Log(l)
	}
	t.Logf("label model:   %v", q.LabelModel)
	t.Logf("majority vote: %v", q.Major)
	if a := res.Report.Annotations; a != nil {
		t.Logf("against annotations (%d): label model %v; majority vote %v", a.Deployments, a.LabelModel, a.MajorityVote)
	}
	if !(q.LabelModel.AUC > q.Major.AUC) {
		t.Errorf("label model AUC %.4f does not beat majority vote %.4f", q.LabelModel.AUC, q.Major.AUC)
	}
	if !(q.LabelModel.F1 > q.Major.F1) {
		t.Errorf("label model F1 %.4f does not beat majority vote %.4f", q.LabelModel.F1, q.Major.F1)
	}
	if !(q.LabelModel.AUC > 0.85) || !(q.LabelModel.Precision > 0.5) {
		t.Errorf("label model quality too low: %v", q.LabelModel)
	}
	if d := math.Abs(res.Model.ClassBalance() - float64(q.Faulty)/float64(q.Rows)); d > 0.03 {
		t.Errorf("estimated class balance %.4f, true %.4f", res.Model.ClassBalance(), float64(q.Faulty)/float64(q.Rows))
	}
}
