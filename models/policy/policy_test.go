package policy

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

var nan = math.NaN()

func TestPolicyDecide(t *testing.T) {
	p := Policy{Horizons: []int{10, 20, 60}, Thresholds: []float64{0.9, 0.7, 0.5}}
	for _, tc := range []struct {
		name    string
		probs   []float64
		flagged bool
		at      int
	}{
		{"flag at 10", []float64{0.95, 0.1, 0.1}, true, 10},
		{"threshold inclusive", []float64{0.9, 0, 0}, true, 10},
		{"flag at 20", []float64{0.8, 0.75, 0.1}, true, 20},
		{"flag at 60", []float64{0.8, 0.6, 0.55}, true, 60},
		{"healthy", []float64{0.8, 0.6, 0.4}, false, 0},
		{"10 unavailable", []float64{nan, 0.71, 0}, true, 20},
		{"all unavailable", []float64{nan, nan, nan}, false, 0},
		{"short input", []float64{0.1}, false, 0},
		{"later high but earlier flagged", []float64{0.91, 0.99, 0.99}, true, 10},
	} {
		f, at := p.Decide(tc.probs)
		if f != tc.flagged || at != tc.at {
			t.Errorf("%s: Decide(%v) = %v, %d; want %v, %d", tc.name, tc.probs, f, at, tc.flagged, tc.at)
		}
	}
	if err := (Policy{Horizons: []int{20, 10}, Thresholds: []float64{0.5, 0.5}}).Validate(); err == nil {
		t.Error("decreasing horizons accepted")
	}
	for _, s := range []float64{-0.1, 1.5, nan} {
		if err := (Policy{Horizons: []int{10}, Thresholds: []float64{0.5}, FleetEventShare: s}).Validate(); err == nil {
			t.Errorf("fleet_event_share %v accepted", s)
		}
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

func TestEvaluate(t *testing.T) {
	p := Policy{Horizons: []int{10, 20, 60}, Thresholds: []float64{0.9, 0.7, 0.5}}
	probs := [][]float64{
		{0.95, 0.9, 0.9}, // faulty, caught at 10
		{0.5, 0.8, 0.9},  // faulty, caught at 20
		{0.1, 0.1, 0.6},  // faulty, caught at 60
		{0.1, 0.1, 0.1},  // faulty, missed
		{0.1, 0.75, 0.1}, // healthy, false alarm at 20 (2 looks)
		{0.1, 0.1, 0.1},  // healthy, 3 looks
		{nan, 0.1, nan},  // healthy, 1 look
		{0.2, 0.2, 0.2},  // unlabelled: skipped
	}
	y := []float64{1, 0.8, 1, 1, 0, 0.2, 0, nan}
	r := Evaluate(p, probs, y)
	if r.Deploys != 7 || r.Positives != 4 || r.TP != 3 || r.FP != 1 || r.FN != 1 || r.TN != 2 {
		t.Fatalf("counts %+v", r)
	}
	if float64(r.Precision) != 0.75 || float64(r.Recall) != 0.75 {
		t.Errorf("precision %v recall %v, want 0.75, 0.75", r.Precision, r.Recall)
	}
	if float64(r.MeanTimeToDetection) != 30 || float64(r.MedianTimeToDetection) != 20 {
		t.Errorf("TTD mean %v median %v, want 30, 20", r.MeanTimeToDetection, r.MedianTimeToDetection)
	}
	// 1 of 3 healthy deploys flagged; 1 false alarm over 2+3+1 = 6 looks at healthy deploys
	if math.Abs(float64(r.PerDeployFalseAlarmRate)-1.0/3) > 1e-15 || math.Abs(float64(r.PerLookFalseAlarmRate)-1.0/6) > 1e-15 {
		t.Errorf("false alarm rates per deploy %v per look %v", r.PerDeployFalseAlarmRate, r.PerLookFalseAlarmRate)
	}
	if float64(r.LooksPerHealthyDeploy) != 2 {
		t.Errorf("looks per healthy deploy %v", r.LooksPerHealthyDeploy)
	}
	want := []HorizonLooks{
		{Horizon: 10, Looks: 6, Flags: 1, TrueFlags: 1, LooksAtHealthy: 2},
		{Horizon: 20, Looks: 6, Flags: 2, TrueFlags: 1, FalseAlarms: 1, LooksAtHealthy: 3},
		{Horizon: 60, Looks: 3, Flags: 1, TrueFlags: 1, LooksAtHealthy: 1},
	}
	for i, w := range want {
		g := r.ByHorizon[i]
		g.FalseAlarmRate = 0
		if g != w {
			t.Errorf("horizon %d: %+v, want %+v", w.Horizon, g, w)
		}
	}
	// NaN metrics survive JSON as null
	empty := Evaluate(p, nil, nil)
	b, err := json.Marshal(empty)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"precision":null`) {
		t.Errorf("undefined precision not null: %s", b)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(float64(back.Precision)) {
		t.Errorf("round trip: %v, precision %v", err, back.Precision)
	}
}
