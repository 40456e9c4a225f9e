package labeling

import (
	"context"
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// simulatedFleet simulates a fleet into an embedded store and extracts its
// features into a work directory.
func simulatedFleet(t testing.TB, cfg simulate.Config) (history.Store, string) {
	t.Helper()
	ctx := context.Background()
	st := embeddedtest.Open(t)
	if _, _, err := simulate.Into(ctx, cfg, st, nil); err != nil {
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
	// Counts are each function's votes by true class: Counts[name][y][v+1]
	// counts the votes v (-1, 0, 1) on deployments of class y (0 healthy,
	// 1 faulty).
	Counts map[string][2][3]int
}

// faultyByTruth returns whether each deployment is faulty by the
// simulator's truth.
func faultyByTruth(t testing.TB, st history.Store) map[string]bool {
	t.Helper()
	rows, err := st.Truth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tm := make(map[string]bool, len(rows))
	for _, r := range rows {
		tm[r.DeploymentID] = r.Faulty
	}
	return tm
}

// measureAgainstTruth compares a labeling with the simulator's truth.
func measureAgainstTruth(t testing.TB, st history.Store, res *Result) FleetQuality {
	t.Helper()
	tm := faultyByTruth(t, st)
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
	q.Counts = map[string][2][3]int{}
	for j, name := range res.Votes.Names {
		var c [2][3]int
		for i, v := range res.Votes.Cols[j] {
			y := 0
			if truth[i] {
				y = 1
			}
			c[y][v+1]++
		}
		q.Counts[name] = c
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
	// The functions rarely contradict each other now that none votes healthy
	// without positive evidence, so majority vote's hard labels can equal
	// the model's; they must not be better.
	if !(q.LabelModel.F1 >= q.Major.F1) {
		t.Errorf("label model F1 %.4f is below majority vote's %.4f", q.LabelModel.F1, q.Major.F1)
	}
	// The functions themselves, against the truth (docs/labeling.md,
	// "Measured against the simulator's truth"): faulty votes are right
	// most of the time, healthy votes nearly always, and no function votes
	// healthy on more than a few faulty deployments.
	for name, c := range q.Counts {
		if n := c[0][2] + c[1][2]; n > 0 && float64(c[1][2])/float64(n) < 0.7 {
			t.Errorf("%s: faulty votes right %d/%d times, want ≥ 70%%", name, c[1][2], n)
		}
	}
	checkHealthyVotes(t, "", q)
	if rq := regimeQuality(t, st, res); rq.RollbackIncident > 0 || rq.OutageIncident > rq.Outage/2 {
		t.Errorf("incident votes faulty on %d of %d healthy rollback deployments (want none) and on %d of %d healthy deployments near outage incidents",
			rq.RollbackIncident, rq.Rollbacks, rq.OutageIncident, rq.Outage)
	}
	if !(q.LabelModel.AUC > 0.85) || !(q.LabelModel.Precision > 0.5) {
		t.Errorf("label model quality too low: %v", q.LabelModel)
	}
	if d := math.Abs(res.Model.ClassBalance() - float64(q.Faulty)/float64(q.Rows)); d > 0.03 {
		t.Errorf("estimated class balance %.4f, true %.4f", res.Model.ClassBalance(), float64(q.Faulty)/float64(q.Rows))
	}
	// The symptom gates of rollback and incident silence reactions to
	// versions whose measured metrics showed nothing: most of them healthy.
	silenced, onFaults := symptomGated(t, cfg, st, work, res)
	t.Logf("symptom gates: %d reaction votes silenced, %d of them on faults", len(silenced), onFaults)
	if len(silenced) == 0 || 2*onFaults >= len(silenced) {
		t.Errorf("symptom gates silenced %d reaction votes, %d on faults: want some, mostly on healthy deployments", len(silenced), onFaults)
	}
	// The deployments on which every function abstained get the estimated
	// share of faulty deployments among them (docs/labeling.md, "Rows
	// without a vote"), not a class of their own. Those the gates silenced
	// are left out of the true share: a fault whose only evidence was a
	// reaction the gate refused leaves no vote that could tell the label
	// model it exists (the gates tie the reactions' votes to the symptom
	// functions', against the model's independence).
	if share, n := allAbstainShare(t, st, res, silenced); n == 0 || math.Abs(res.Model.QuietPositive()-share) > 0.02 {
		t.Errorf("%d all-abstain deployments get p_faulty %.4f, true faulty share among them %.4f", n, res.Model.QuietPositive(), share)
	}
}

// symptomGated returns the deployments on which the symptom gates of
// rollback and incident turned what would have been a faulty vote into an
// abstention (labelling again with the gates off), and how many of them
// are faulty by the simulator's truth.
func symptomGated(t *testing.T, cfg Config, st history.Store, work string, res *Result) (map[string]bool, int) {
	t.Helper()
	r := cfg.Function(FnRollback).(RollbackLF)
	r.Symptom.Enabled = false
	in := cfg.Function(FnIncident).(IncidentLF)
	in.Symptom.Enabled = false
	off, err := Compute(context.Background(), cfg.With(r).With(in), Input{History: st, Workdir: work})
	if err != nil {
		t.Fatal(err)
	}
	tm := faultyByTruth(t, st)
	gated := map[string]bool{}
	faults := 0
	for j, name := range res.Votes.Names {
		if name != FnRollback && name != FnIncident {
			continue
		}
		for i, id := range res.IDs {
			if res.Votes.Cols[j][i] == abstain && off.Votes.Cols[j][i] == faulty && !gated[id] {
				gated[id] = true
				if tm[id] {
					faults++
				}
			}
		}
	}
	return gated, faults
}

// allAbstainShare returns the share of faulty deployments, by the
// simulator's truth, among the n deployments on which every function
// abstained (except those in skip), and checks that they were given
// QuietPositive and label -1.
func allAbstainShare(t testing.TB, st history.Store, res *Result, skip map[string]bool) (share float64, n int) {
	t.Helper()
	tm := faultyByTruth(t, st)
	var faulty int
	for i, id := range res.IDs {
		quiet := true
		for _, c := range res.Votes.Cols {
			quiet = quiet && c[i] == abstain
		}
		if !quiet || skip[id] {
			continue
		}
		n++
		if tm[id] {
			faulty++
		}
		if res.Label[i] != abstain || res.PFaulty[i] != res.Model.QuietPositive() {
			t.Fatalf("%s: every function abstained, but label %d and p_faulty %v (want -1 and %v)", id, res.Label[i], res.PFaulty[i], res.Model.QuietPositive())
		}
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return float64(faulty) / float64(n), n
}

// checkHealthyVotes checks that every function's healthy votes rest on
// positive evidence: right ≥ 99 % of the time, and on at most 5 % of the
// faulty deployments.
func checkHealthyVotes(t *testing.T, fleet string, q FleetQuality) {
	t.Helper()
	for name, c := range q.Counts {
		if n := c[0][1] + c[1][1]; n > 0 && float64(c[0][1])/float64(n) < 0.99 {
			t.Errorf("%s%s: healthy votes right %d/%d times, want ≥ 99%%", fleet, name, c[0][1], n)
		}
		if float64(c[1][1]) > 0.05*float64(q.Faulty) {
			t.Errorf("%s%s: votes healthy on %d of %d faulty deployments", fleet, name, c[1][1], q.Faulty)
		}
	}
}

var (
	qualityRegimes = flag.String("quality-regimes", "", "TestQualityAcrossRegimes: comma-separated simulate regimes (\"default\" for the default fleet); empty skips the test")
	qualitySeeds   = flag.String("quality-seeds", "1,2,3", "TestQualityAcrossRegimes: comma-separated seeds")
)

// RegimeQuality is label quality against the simulator's truth on the
// failure classes of docs/labeling.md: faults replaced within the hour,
// rollback deploys, deploys near a fleet outage's incidents.
type RegimeQuality struct {
	Rows, Faulty int
	AUC          float64
	// Precision and Recall of the hard label; Recall counts a faulty
	// deployment that every function abstained on as missed.
	Precision, Recall float64
	// Replaced: faulty deployments replaced within 60 minutes (truth
	// confounder "overlap"); ReplacedFound: those labelled faulty.
	Replaced, ReplacedFound int
	// Rollbacks: healthy rollback deployments; RollbackVoted: those on
	// which a function voted faulty, RollbackIncident the incident
	// function; RollbackLabelled: labelled faulty.
	Rollbacks, RollbackVoted, RollbackIncident, RollbackLabelled int
	// Outage: healthy deployments on whose stream a fleet outage opened an
	// incident within 120 minutes; OutageIncident: those on which the
	// incident function voted faulty; OutageLabelled: labelled faulty.
	Outage, OutageIncident, OutageLabelled int
}

// regimeQuality measures a labeling against the simulator's truth.
func regimeQuality(t testing.TB, st history.Store, res *Result) RegimeQuality {
	t.Helper()
	rows, err := st.Truth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tm := make(map[string]history.Truth, len(rows))
	for _, r := range rows {
		tm[r.DeploymentID] = r
	}
	inc := slices.Index(res.Votes.Names, FnIncident)
	truth := make([]bool, len(res.IDs))
	q := RegimeQuality{Rows: len(res.IDs)}
	var tp, fp int
	for i, id := range res.IDs {
		tr, ok := tm[id]
		if !ok {
			t.Fatalf("no truth for %s", id)
		}
		truth[i] = tr.Faulty
		conf := map[string]bool{}
		for _, c := range strings.Split(tr.Confounders, ",") {
			conf[c] = true
		}
		lab := res.Label[i] == faulty
		anyFaulty := false
		for j := range res.Votes.Names {
			anyFaulty = anyFaulty || res.Votes.Cols[j][i] == faulty
		}
		switch {
		case tr.Faulty:
			q.Faulty++
			if lab {
				tp++
			}
			if conf["overlap"] {
				q.Replaced++
				if lab {
					q.ReplacedFound++
				}
			}
		default:
			if lab {
				fp++
			}
			if conf["rollback"] {
				q.Rollbacks++
				q.RollbackVoted += b2i(anyFaulty)
				q.RollbackIncident += b2i(inc >= 0 && res.Votes.Cols[inc][i] == faulty)
				q.RollbackLabelled += b2i(lab)
			}
			if conf["outage_incident"] {
				q.Outage++
				q.OutageIncident += b2i(inc >= 0 && res.Votes.Cols[inc][i] == faulty)
				q.OutageLabelled += b2i(lab)
			}
		}
	}
	q.AUC = float64(Quality(res.Label, res.PFaulty, truth).AUC)
	q.Precision = float64(tp) / float64(tp+fp)
	q.Recall = float64(tp) / float64(q.Faulty)
	return q
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// regimeRow formats q as a row of the table of docs/labeling.md.
func regimeRow(name string, seed int64, q RegimeQuality) string {
	return fmt.Sprintf("| %s | %d | %d | %d | %.3f | %.2f | %.2f | %d/%d | %d/%d | %d/%d | %d/%d | %d/%d |", name, seed, q.Rows, q.Faulty,
		q.AUC, q.Precision, q.Recall, q.ReplacedFound, q.Replaced, q.RollbackVoted, q.Rollbacks, q.RollbackLabelled, q.Rollbacks,
		q.OutageIncident, q.Outage, q.OutageLabelled, q.Outage)
}

// TestQualityAcrossRegimes labels simulated fleets of the regimes and seeds
// given by -quality-regimes and -quality-seeds (30 services × 2
// environments × 14 days each) and logs the table of docs/labeling.md
// ("Measured against the simulator's truth"). It is a measurement, run by
// hand; on every fleet it checks that healthy votes rest on positive
// evidence (checkHealthyVotes).
func TestQualityAcrossRegimes(t *testing.T) {
	if *qualityRegimes == "" {
		t.Skip("set -quality-regimes")
	}
	var seeds []int64
	for _, s := range strings.Split(*qualitySeeds, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			t.Fatalf("-quality-seeds: %v", err)
		}
		seeds = append(seeds, n)
	}
	lines := []string{"| regime | seed | deploys | faulty | AUC | precision | recall | replaced < 60 min found | " +
		"healthy rollbacks with a faulty vote | … labelled faulty | healthy near outage incidents with an incident vote | … labelled faulty |",
		"|---|---|---|---|---|---|---|---|---|---|---|---|"}
	for _, name := range strings.Split(*qualityRegimes, ",") {
		for _, seed := range seeds {
			sc := simulate.DefaultConfig()
			sc.Services, sc.Days, sc.Seed = 30, 14, seed
			if name != "default" {
				r, err := simulate.LookupRegime(name)
				if err != nil {
					t.Fatal(err)
				}
				r.Apply(&sc)
			}
			st, work := simulatedFleet(t, sc)
			res, err := Compute(context.Background(), DefaultConfig(), Input{History: st, Workdir: work})
			if err != nil {
				t.Fatal(err)
			}
			q := regimeQuality(t, st, res)
			lines = append(lines, regimeRow(name, seed, q))
			fq := measureAgainstTruth(t, st, res)
			for _, l := range fq.Functions {
				t.Logf("%s seed %d: %s", name, seed, l)
			}
			checkHealthyVotes(t, fmt.Sprintf("%s seed %d: ", name, seed), fq)
			share, quiet := allAbstainShare(t, st, res, nil)
			t.Logf("%s seed %d: class balance %.4f (true %.4f); %d all-abstain deployments, p_faulty %.4f (true %.4f); label model %v; majority vote %v",
				name, seed, res.Model.ClassBalance(), float64(fq.Faulty)/float64(fq.Rows), quiet, res.Model.QuietPositive(), share, fq.LabelModel, fq.Major)
		}
	}
	t.Log("\n" + strings.Join(lines, "\n"))
}
