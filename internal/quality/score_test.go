package quality

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// fixture: 4 faults (severities 1.3, 2, 5, 10) and 6 healthy deploys.
func fixture() ([]Prediction, map[string]history.Truth) {
	truth := map[string]history.Truth{
		"f1": {DeploymentID: "f1", Faulty: true, Shape: "step", Severity: 1.3},
		"f2": {DeploymentID: "f2", Faulty: true, Shape: "ramp", Severity: 2},
		"f3": {DeploymentID: "f3", Faulty: true, Shape: "step", Severity: 5, Confounders: "overlap"},
		"f4": {DeploymentID: "f4", Faulty: true, Shape: "latency", Severity: 10},
		"h1": {DeploymentID: "h1", Confounders: "rollback,outage"},
		"h2": {DeploymentID: "h2", Confounders: "rollback"},
		"h3": {DeploymentID: "h3", Confounders: "overlap"},
		"h4": {DeploymentID: "h4"},
		"h5": {DeploymentID: "h5"},
		"h6": {DeploymentID: "h6", Confounders: "benign_signature"},
	}
	preds := []Prediction{
		{"f1", false, 0}, {"f2", true, 20}, {"f3", true, 10}, {"f4", true, 60},
		{"h1", true, 10}, {"h2", false, 0}, {"h3", false, 0}, {"h4", false, 0}, {"h5", false, 0}, {"h6", false, 0},
	}
	return preds, truth
}

func TestTally(t *testing.T) {
	preds, truth := fixture()
	c, err := Tally(preds, truth, nil, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Score()
	tests := []struct {
		name      string
		got, want float64
	}{
		{"deployments", float64(s.Deployments), 10},
		{"precision", s.Precision.Value, 3.0 / 4},
		{"recall", s.Recall.Value, 3.0 / 4},
		{"recall ≥ 1.5×", s.RecallFloored.Value, 1},
		{"floored faults", float64(s.RecallFloored.N), 3},
		{"false alarms", s.FalseAlarms.Value, 1.0 / 6},
		{"TTD ratio", s.TTDRatio.Value, (20.0 + 10 + 60) / 3 / 60},
		{"band < 1.5×", s.BandRecall[0].Value, 0},
		{"band 1.5–3×", s.BandRecall[1].Value, 1},
		{"band ≥ 3×", s.BandRecall[2].Value, 1},
		{"band ≥ 3× n", float64(s.BandRecall[2].N), 2},
		{"rollback alarms", s.ConfounderAlarms["rollback"].Value, 0.5},
		{"outage alarms", s.ConfounderAlarms["outage"].Value, 1},
		{"overlap healthy only", float64(s.ConfounderAlarms["overlap"].N), 1},
	}
	for _, tc := range tests {
		if !near(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if s.Precision.Lo >= s.Precision.Value || s.Precision.Hi <= s.Precision.Value {
		t.Errorf("precision interval %v–%v does not surround %v", s.Precision.Lo, s.Precision.Hi, s.Precision.Value)
	}
	if s.TTDRatio.Lo >= s.TTDRatio.Value || s.TTDRatio.Hi <= s.TTDRatio.Value {
		t.Errorf("TTD interval %v–%v does not surround %v", s.TTDRatio.Lo, s.TTDRatio.Hi, s.TTDRatio.Value)
	}
	p, r := s.Meets(DefaultFloors())
	if p || !r {
		t.Errorf("meets precision %v recall %v; want false, true (0.75 < 0.90; 3/3 ≥ 0.70)", p, r)
	}

	// Only some deploys: the test-split scope.
	c, err = Tally(preds, truth, func(id string) bool { return id == "f1" || id == "h4" }, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Score(); s.Deployments != 2 || s.Precision.Defined() || s.Recall.Value != 0 || s.RecallFloored.Defined() {
		t.Errorf("restricted: %+v", s)
	}
	if p, r := c.Score().Meets(DefaultFloors()); p || r {
		t.Error("undefined precision and recall must not meet the floors")
	}

	// A prediction without truth is an error naming it.
	if _, err := Tally(append(preds, Prediction{DeploymentID: "ghost"}), truth, nil, 1.5); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("error %v, want one naming ghost", err)
	}
}

func TestCountsAddPools(t *testing.T) {
	preds, truth := fixture()
	all, _ := Tally(preds, truth, nil, 1.5)
	a, _ := Tally(preds[:5], truth, nil, 1.5)
	b, _ := Tally(preds[5:], truth, nil, 1.5)
	var sum Counts
	sum.Add(a)
	sum.Add(b)
	if got, want := sum.Score(), all.Score(); got.Confusion != want.Confusion || got.TTDRatio != want.TTDRatio ||
		got.RecallFloored != want.RecallFloored || got.ConfounderAlarms["rollback"] != want.ConfounderAlarms["rollback"] {
		t.Errorf("pooled halves %+v, whole %+v", got, want)
	}
}

func TestResultTables(t *testing.T) {
	preds, truth := fixture()
	c, _ := Tally(preds, truth, nil, 1.5)
	perfect := make([]Prediction, len(preds))
	for i, p := range preds {
		perfect[i] = Prediction{DeploymentID: p.DeploymentID, Flagged: truth[p.DeploymentID].Faulty, DetectedAt: 10}
	}
	c2, _ := Tally(perfect, truth, nil, 1.5)
	r := &Result{Regimes: []string{"high-cadence", "silent"}, Seeds: []int64{1, 2}, Services: 5, Days: 2, Floors: DefaultFloors(),
		Fleets: []Fleet{
			{Regime: "high-cadence", Seed: 1, Deployments: 10, Faulty: 4, Production: "faultline@1", Scores: map[string]Score{ScopeAll: c.Score(), ScopeTest: c.Score()}},
			{Regime: "high-cadence", Seed: 2, Deployments: 10, Faulty: 4, Decision: "gate refused: precision 0.3 < 0.9"},
			{Regime: "silent", Seed: 1, Deployments: 10, Faulty: 4, Production: "faultline@1", Scores: map[string]Score{ScopeAll: c2.Score(), ScopeTest: c2.Score()}},
			{Regime: "silent", Seed: 2, Error: "pipeline: stage train-weak: boom"},
		}}
	m := r.MeanOfRegimes(ScopeAll)
	if m.Regimes != 2 || !near(m.Precision, (0.75+1)/2) || !near(m.TTDRatio, ((90.0/3/60)+10.0/60)/2) {
		t.Errorf("mean of regimes %+v", m)
	}
	if p := r.Pooled(ScopeAll); p.Deployments != 20 || p.Confusion.TP != 7 {
		t.Errorf("pooled %+v", p.Confusion)
	}
	if len(r.Failed()) != 1 {
		t.Errorf("failed fleets %d, want 1", len(r.Failed()))
	}
	md := string(r.Markdown())
	for _, want := range []string{
		"| `high-cadence` | 1 | faultline@1 | 10 | 4 | 0.75 [",
		"| `high-cadence` | 2 | none |",
		"no production model (gate refused: precision 0.3 < 0.9)",
		"`silent` seed 2 failed: pipeline: stage train-weak: boom",
		"| **mean of 2 regimes** | | | | | 0.88 |",
		"| rollback | 0.25 [",
		"not met: precision",
		"| `silent` | 1 | faultline@1 | 10 | 4 | 1.00 [",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if string(r.Markdown()) != md {
		t.Error("markdown differs between two renderings")
	}

	// JSON carries undefined figures (nothing flagged: no TTD) as null.
	none, _ := Tally([]Prediction{{"f1", false, 0}, {"h4", false, 0}}, truth, nil, 1.5)
	r.Fleets[0].Scores[ScopeTest] = none.Score()
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ttd_ratio":{"value":null,"lo":null,"hi":null,"n":0}`, `"precision":{"value":0.75,`, `"decision":"gate refused`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s: %s", want, js)
		}
	}
}
