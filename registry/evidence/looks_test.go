package evidence

import (
	"math"
	"testing"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/detector/batch"
)

// TestLooksAloneSkipFleetEvents: the per-look measures (hH.*) read no
// probability at a look the policy skips for a fleet event — also one after
// the flagging look — and leave the row's own probabilities untouched.
func TestLooksAloneSkipFleetEvents(t *testing.T) {
	r := batch.Row{P: map[int]float64{10: 0.9, 20: 0.8, 60: 0.95},
		Result: &detector.Result{Verdict: detector.Faulty, DetectedAt: 10, FleetEventLooks: []int{60}}}
	p := looksAlone(r)
	if p[10] != 0.9 || p[20] != 0.8 || !math.IsNaN(p[60]) {
		t.Errorf("looks alone %v, want 60 skipped", p)
	}
	if r.P[60] != 0.95 {
		t.Errorf("the row's probabilities changed: %v", r.P)
	}
	r.Result.FleetEventLooks = nil
	if p := looksAlone(r); p[60] != 0.95 {
		t.Errorf("no fleet event: %v", p)
	}
}
