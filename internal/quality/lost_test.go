package quality

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// labelsFixture: faults f1–f6, healthy h1–h5; f6 and h5 have no labels row.
// Functions a and b; votes 1 faulty, 0 healthy, -1 abstain.
func labelsFixture() (*workdir.Labels, map[string]history.Truth) {
	truth := map[string]history.Truth{}
	for _, id := range []string{"f1", "f2", "f3", "f4", "f5", "f6"} {
		truth[id] = history.Truth{DeploymentID: id, Faulty: true, Severity: 3}
	}
	for _, id := range []string{"h1", "h2", "h3", "h4", "h5"} {
		truth[id] = history.Truth{DeploymentID: id}
	}
	nan := math.NaN()
	rows := []struct {
		id    string
		a, b  int8
		p     float64
		label int8
	}{
		{"f1", 1, -1, 0.9, 1},   // labelled faulty: a voted faulty
		{"f2", 0, 1, 0.5, 1},    // labelled faulty at exactly the threshold
		{"f3", 0, 0, 0.1, 0},    // labelled healthy, both voted healthy
		{"f4", -1, -1, nan, -1}, // every function abstained
		{"f5", -1, -1, 0.9, -1}, // abstained: not faulty whatever p_faulty says
		{"h1", 1, -1, 0.8, 1},   // false weak label
		{"h2", 0, 0, 0.2, 0},    // right
		{"h3", -1, 0, 0.49, 0},  // just below the threshold
		{"h4", 1, 1, 0.95, 1},   // false weak label, both voted faulty
	}
	l := &workdir.Labels{Functions: []string{"a", "b"}, Votes: [][]int8{nil, nil}}
	for _, r := range rows {
		l.IDs = append(l.IDs, r.id)
		l.Votes[0] = append(l.Votes[0], r.a)
		l.Votes[1] = append(l.Votes[1], r.b)
		l.PFaulty = append(l.PFaulty, r.p)
		l.Label = append(l.Label, r.label)
	}
	return l, truth
}

func TestTallyLabels(t *testing.T) {
	l, truth := labelsFixture()
	c, err := TallyLabels(l, truth)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Score()
	if len(s.Functions) != 2 {
		t.Fatalf("%d functions, want 2", len(s.Functions))
	}
	a, b := s.Functions[0], s.Functions[1]
	tests := []struct {
		name      string
		got, want float64
	}{
		{"deployments", float64(s.Deployments), 11},
		{"missing", float64(s.Missing), 2},
		{"TP", float64(s.Confusion.TP), 2},
		{"FP", float64(s.Confusion.FP), 2},
		{"FN", float64(s.Confusion.FN), 4},
		{"TN", float64(s.Confusion.TN), 3},
		{"precision", s.Precision.Value, 2.0 / 4},
		{"recall", s.Recall.Value, 2.0 / 6},
		{"coverage", s.Coverage.Value, 2.0 / 6},
		{"all abstained", s.Abstained.Value, 3.0 / 6},
		{"a faulty votes", float64(a.Faulty), 3},
		{"a precision", a.Precision().Value, 1.0 / 3},
		{"a healthy votes", float64(a.Healthy), 3},
		{"a healthy on faults", float64(a.HealthyOnFaults), 2},
		{"b faulty votes", float64(b.Faulty), 2},
		{"b precision", s.FunctionPrecision["b"].Value, 1.0 / 2},
		{"b healthy votes", float64(b.Healthy), 3},
		{"b healthy on faults", float64(b.HealthyOnFaults), 1},
	}
	for _, tc := range tests {
		if !near(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if a.Function != "a" || b.Function != "b" {
		t.Errorf("functions %q, %q; want a, b in labels order", a.Function, b.Function)
	}
	if want := metrics.Proportion(2, 4); s.Precision != want {
		t.Errorf("precision %+v, want the Wilson estimate %+v", s.Precision, want)
	}
}

func TestTallyLabelsErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*workdir.Labels)
		want   string
	}{
		{"row without truth", func(l *workdir.Labels) { l.IDs[0] = "ghost" }, "ghost"},
		{"duplicate row", func(l *workdir.Labels) { l.IDs[1] = l.IDs[0] }, "twice"},
		{"short votes", func(l *workdir.Labels) { l.Votes[1] = l.Votes[1][:3] }, "votes of b"},
		{"short p_faulty", func(l *workdir.Labels) { l.PFaulty = l.PFaulty[:3] }, "p_faulty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, truth := labelsFixture()
			tc.mutate(l)
			if _, err := TallyLabels(l, truth); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLabelCountsAddMatchesFunctionsByName(t *testing.T) {
	l, truth := labelsFixture()
	one, _ := TallyLabels(l, truth)
	other := LabelCounts{Deployments: 3, Confusion: metrics.Confusion{TP: 1, FN: 1, TN: 1}, FaultsVotedFaulty: 1, FaultsAbstained: 1,
		Functions: []FunctionVotes{{Function: "c", Faulty: 4, FaultyOnFaults: 4}, {Function: "b", Faulty: 1, FaultyOnFaults: 1, Healthy: 2, HealthyOnFaults: 1}}}
	var sum LabelCounts
	sum.Add(one)
	sum.Add(other)
	s := sum.Score()
	var names []string
	for _, f := range s.Functions {
		names = append(names, f.Function)
	}
	if got := strings.Join(names, ","); got != "a,b,c" {
		t.Errorf("functions %s, want a,b,c", got)
	}
	tests := []struct {
		name      string
		got, want float64
	}{
		{"deployments", float64(s.Deployments), 14},
		{"recall", s.Recall.Value, 3.0 / 8},
		{"coverage", s.Coverage.Value, 3.0 / 8},
		{"abstained", s.Abstained.Value, 4.0 / 8},
		{"b faulty votes", float64(s.Functions[1].Faulty), 3},
		{"b precision", s.FunctionPrecision["b"].Value, 2.0 / 3},
		{"b healthy on faults", float64(s.Functions[1].HealthyOnFaults), 2},
		{"c precision", s.FunctionPrecision["c"].Value, 1},
	}
	for _, tc := range tests {
		if !near(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// oracleRows: faults F1–F4 and healthy H1–H10 scored at horizons 10 and 60.
// F1 tops the 10-minute ranking, F2 the 60-minute one; F3 ranks below H2 at
// 60 minutes and F4 has no score.
func oracleRows() ([]batch.Row, map[string]history.Truth) {
	nan := math.NaN()
	truth := map[string]history.Truth{}
	rows := []batch.Row{
		{DeploymentID: "F1", P: map[int]float64{10: 0.9, 60: 0.05}},
		{DeploymentID: "F2", P: map[int]float64{10: 0.2, 60: 0.8}},
		{DeploymentID: "F3", P: map[int]float64{10: 0.1, 60: 0.3}},
		{DeploymentID: "F4", P: map[int]float64{10: nan, 60: nan}},
		{DeploymentID: "H1", P: map[int]float64{10: 0.85, 60: 0.1}},
		{DeploymentID: "H2", P: map[int]float64{10: 0.3}}, // 60 absent: no score
	}
	for _, id := range []string{"F1", "F2", "F3", "F4"} {
		truth[id] = history.Truth{DeploymentID: id, Faulty: true}
	}
	truth["H1"], truth["H2"] = history.Truth{DeploymentID: "H1"}, history.Truth{DeploymentID: "H2"}
	for _, id := range []string{"H3", "H4", "H5", "H6", "H7", "H8", "H9", "H10"} {
		rows = append(rows, batch.Row{DeploymentID: id, P: map[int]float64{10: 0.05, 60: 0.05}})
		truth[id] = history.Truth{DeploymentID: id}
	}
	return rows, truth
}

func TestTallyOracle(t *testing.T) {
	rows, truth := oracleRows()
	// H2 outranks F3 at 10 minutes only when scored at 60: give it a 60-minute score.
	withH2 := func(rows []batch.Row) []batch.Row {
		out := append([]batch.Row(nil), rows...)
		out[5] = batch.Row{DeploymentID: "H2", P: map[int]float64{10: 0.3, 60: 0.7}}
		return out
	}
	reversed := func(rows []batch.Row) []batch.Row {
		out := make([]batch.Row, len(rows))
		for i, r := range rows {
			p := 0.1
			if !truth[r.DeploymentID].Faulty {
				p = 0.9
			}
			out[i] = batch.Row{DeploymentID: r.DeploymentID, P: map[int]float64{10: p, 60: p}}
		}
		return out
	}
	tests := []struct {
		name           string
		rows           []batch.Row
		floor          float64
		met            int
		tp, fp, fn, tn int
	}{
		// F1 at 10 minutes (above H1) and F2 at 60 (above H2): F3 would bring H2.
		{"floor 0.9", withH2(rows), 0.9, 1, 2, 0, 2, 10},
		// F3 at 60 minutes with H2: 3 of 4 flags are faults.
		{"floor 0.75", withH2(rows), 0.75, 1, 3, 1, 1, 9},
		// H2 unscored at 60: F3 comes free.
		{"H2 unscored at 60", rows, 0.9, 1, 3, 0, 1, 10},
		// Every healthy deploy outranks every fault: nothing reaches the floor.
		{"unreachable", reversed(rows), 0.9, 0, 0, 0, 4, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := TallyOracle([]int{10, 60}, tc.rows, truth, tc.floor)
			if err != nil {
				t.Fatal(err)
			}
			want := metrics.Confusion{TP: tc.tp, FP: tc.fp, FN: tc.fn, TN: tc.tn}
			if c.Confusion != want || c.Met != tc.met || c.Fleets != 1 || c.Floor != tc.floor {
				t.Errorf("oracle %+v, want met %d and %+v", c, tc.met, want)
			}
			if (tc.met == 1) != (len(c.Thresholds) == 2) {
				t.Errorf("thresholds %v with met %d", c.Thresholds, tc.met)
			}
			s := c.Score()
			if s.Recall != metrics.Proportion(tc.tp, tc.tp+tc.fn) {
				t.Errorf("recall %+v, want %d/%d", s.Recall, tc.tp, tc.tp+tc.fn)
			}
			if tc.met == 1 && s.Precision.Value < tc.floor {
				t.Errorf("precision %v below the floor %v", s.Precision.Value, tc.floor)
			}
		})
	}

	if _, err := TallyOracle([]int{10, 60}, append(rows, batch.Row{DeploymentID: "ghost"}), truth, 0.9); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("error %v, want one naming ghost", err)
	}

	// Pooling a fleet that met the floor with one that did not.
	met, _ := TallyOracle([]int{10, 60}, withH2(rows), truth, 0.9)
	unmet, _ := TallyOracle([]int{10, 60}, reversed(rows), truth, 0.9)
	var sum OracleCounts
	sum.Add(met)
	sum.Add(unmet)
	if s := sum.Score(); sum.Fleets != 2 || sum.Met != 1 || sum.Thresholds != nil || s.Recall.K != 2 || s.Recall.N != 8 || s.Precision.Value != 1 {
		t.Errorf("pooled %+v, recall %+v", sum, s.Recall)
	}
}

func TestLostTables(t *testing.T) {
	l, truth := labelsFixture()
	lc, _ := TallyLabels(l, truth)
	ls := lc.Score()
	rows, otruth := oracleRows()
	rows[5].P[60] = 0.7 // H2 above F3: the oracle stops at F1 and F2
	oc, _ := TallyOracle([]int{10, 60}, rows, otruth, 0.9)
	os := oc.Score()
	preds, ptruth := fixture()
	preds[3] = Prediction{DeploymentID: "f4"} // production: precision 2/3, recall 2/4
	c, _ := Tally(preds, ptruth, nil, 1.5)
	r := &Result{Regimes: []string{"high-cadence", "silent"}, Seeds: []int64{1}, Services: 5, Days: 2, Floors: DefaultFloors(),
		Fleets: []Fleet{
			{Regime: "high-cadence", Seed: 1, Production: "faultline@1", Scores: map[string]Score{ScopeAll: c.Score(), ScopeTest: c.Score()}, WeakLabels: &ls, Oracle: &os},
			{Regime: "silent", Seed: 1, Production: Fallback, Scores: map[string]Score{ScopeAll: c.Score(), ScopeTest: c.Score()}, WeakLabels: &ls},
		}}
	ev := EvidenceCounts{Judged: 10, Poor: 4, RichFlagged: 5, PoorFlagged: 1, CeilingFaults: 8, CeilingFound: 6}.Score()
	r.Fleets[0].Evidence = &ev
	r.Fleets[0].Thresholds = []float64{0.42, 1} // the 60-minute look switched off
	md := string(r.Markdown())
	for _, want := range []string{
		"## Where recall is lost",
		"| regime | weak-label precision | weak-label recall | faults with a faulty vote | faults all abstained | oracle recall at precision ≥ 0.9 | production recall | production precision |",
		"| `high-cadence` | 0.50 [0.15, 0.85] (2/4) | 0.33 [0.10, 0.70] (2/6) | 0.33 [0.10, 0.70] (2/6) | 0.50 [0.19, 0.81] (3/6) | 0.50 [0.15, 0.85] (2/4) | 0.50 [0.15, 0.85] (2/4) | 0.67 [0.21, 0.94] (2/3) |",
		"| `silent` | 0.50 [0.15, 0.85] (2/4) | 0.33 [0.10, 0.70] (2/6) | 0.33 [0.10, 0.70] (2/6) | 0.50 [0.19, 0.81] (3/6) | – (no production model) | 0.50 [",
		"`silent` seed 1: no production model: no oracle",
		"| a | 3 | 0.33 [0.06, 0.79] (1/3) | 3 | 2 |",
		"**Where recall is lost.**",
		"### Evidence in the window",
		"| `high-cadence` | 10 | 0.40 [0.17, 0.69] (4/10) | 0.83 [0.44, 0.97] (5/6) | 0.25 [0.05, 0.70] (1/4) | 0.75 | " + c.Score().RecallFloored.Decimal(2) + " |",
		"| `silent` | – | – | – | – | – | – |",
		"The error-count ceiling is 0.75 pooled over every fleet (6 of 8 faults), 0.75 as the mean of 1 regimes.",
		"### Thresholds of the looks",
		fmt.Sprintf("| `high-cadence` | 1 | 10 / 60 | 0.42 / off | %.2f / %.2f |", os.Thresholds[0], os.Thresholds[1]),
		"Of 1 fleets, the production policy switched off the 60-minute look on 1.",
		"## False alarms per confounder",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if i, j := strings.Index(md, "## False alarms per confounder"), strings.Index(md, "## Where recall is lost"); i > j {
		t.Error("the new section must come after the existing ones")
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"weak_labels_vs_truth":{`, `"oracle_vs_truth":{`, `"faults_all_abstained":3`, `"floor_met":1`, `"thresholds":[0.42,1]`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	if strings.Count(string(js), `"oracle_vs_truth"`) != 1 {
		t.Error("the fallback fleet must have no oracle")
	}
}
