package evidence

import (
	"math"
	"testing"

	"github.com/faultline-dev/faultline/registry"
)

// TestSharedTTD: the gate compares time to detection on the faults both
// versions flag, not each version's mean over the faults it alone found.
func TestSharedTTD(t *testing.T) {
	at := func(m map[string]int) map[string]decision {
		out := map[string]decision{}
		for id, a := range m {
			out[id] = decision{at: a}
		}
		return out
	}
	refs := []reference{
		{name: "gold_or_weak", labels: map[string]bool{"a": true, "b": true, "c": true, "h": false}},
		{name: "gold", labels: map[string]bool{"b": true, "c": true}},
	}
	ids := []string{"a", "b", "c", "h"}
	tests := []struct {
		name       string
		cand, hold map[string]int // detection minute; -1 not flagged
		want       [2]float64     // candidate, holder on the headline; NaN: absent
		wantGold   [2]float64
		wantPairs  [2]registry.SharedTTD // headline, gold
	}{
		// The candidate finds two more faults, late: its own mean rises
		// (10 → 43.3), on the fault both find it is as fast.
		{"more faults, later ones", map[string]int{"a": 10, "b": 60, "c": 60, "h": -1}, map[string]int{"a": 10, "b": -1, "c": -1, "h": 20},
			[2]float64{10, 10}, [2]float64{math.NaN(), math.NaN()},
			[2]registry.SharedTTD{{Reference: "gold_or_weak", Shared: 1}, {Reference: "gold"}}},
		{"slower on a shared fault", map[string]int{"a": 20, "b": 60, "c": -1}, map[string]int{"a": 10, "b": 20, "c": 10},
			[2]float64{40, 15}, [2]float64{60, 20},
			[2]registry.SharedTTD{{Reference: "gold_or_weak", Shared: 2, Later: 2}, {Reference: "gold", Shared: 1, Later: 1}}},
		{"later on one, earlier on another", map[string]int{"a": 20, "b": 10, "c": 20}, map[string]int{"a": 10, "b": 60, "c": 20},
			[2]float64{50.0 / 3, 30}, [2]float64{15, 40},
			[2]registry.SharedTTD{{Reference: "gold_or_weak", Shared: 3, Later: 1, Earlier: 1}, {Reference: "gold", Shared: 2, Earlier: 1}}},
		{"no fault shared", map[string]int{"a": 10}, map[string]int{"b": 10},
			[2]float64{math.NaN(), math.NaN()}, [2]float64{math.NaN(), math.NaN()},
			[2]registry.SharedTTD{{Reference: "gold_or_weak"}, {Reference: "gold"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cand := registry.Scored{Values: map[string]float64{}}
			hold := registry.Scored{Values: map[string]float64{}}
			pairs := sharedTTD(ids, refs, at(tt.cand), at(tt.hold), &cand, &hold)
			if len(pairs) != 2 || pairs[0] != tt.wantPairs[0] || pairs[1] != tt.wantPairs[1] {
				t.Errorf("paired counts %+v, want %+v", pairs, tt.wantPairs)
			}
			for i, s := range []registry.Scored{cand, hold} {
				for _, c := range []struct {
					key  string
					want float64
				}{{registry.MetricSharedMTTD, tt.want[i]}, {"gold_or_weak:" + registry.MetricSharedMTTD, tt.want[i]},
					{"gold:" + registry.MetricSharedMTTD, tt.wantGold[i]}} {
					got, ok := s.Values[c.key]
					if ok != !math.IsNaN(c.want) || ok && math.Abs(got-c.want) > 1e-9 {
						t.Errorf("%s of contender %d = %v (present %v), want %v", c.key, i, got, ok, c.want)
					}
				}
			}
		})
	}
}
