package policy

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSpreadAbstained(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name      string
		score, y  []float64
		abstained []bool
		want      []float64
	}{
		{
			name:      "nothing abstained",
			score:     []float64{0.9, 0.1},
			y:         []float64{1, 0},
			abstained: []bool{false, false},
			want:      []float64{1, 0},
		},
		{
			// Four abstained rows at π 0.25: one expected fault. Half of the
			// labelled faults' weight scores ≥ 0.8, so half of it lies at or
			// above the top abstained row, the whole of it at or above 0.3.
			name:      "spread by the labelled faults' scores",
			score:     []float64{0.9, 0.5, 0.1, 0.8, 0.3, 0.2, 0.05},
			y:         []float64{1, 1, 0, 0.25, 0.25, 0.25, 0.25},
			abstained: []bool{false, false, false, true, true, true, true},
			want:      []float64{1, 1, 0, 0.5, 0.5, 0, 0},
		},
		{
			// π·N = 3 expected faults, the labelled fault below every
			// abstained row: nowhere to place them, spread as the prior.
			name:      "labelled faults below them all",
			score:     []float64{0.2, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4},
			y:         []float64{1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5},
			abstained: []bool{false, true, true, true, true, true, true},
			want:      []float64{1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5},
		},
		{
			// π·N = 3 expected faults, the labelled faults above every
			// abstained row: the top rows take one each, up to 3.
			name:      "one fault at most per row",
			score:     []float64{0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4},
			y:         []float64{1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5},
			abstained: []bool{false, true, true, true, true, true, true},
			want:      []float64{1, 1, 1, 1, 0, 0, 0},
		},
		{
			name:      "ties share the rise",
			score:     []float64{0.9, 0.9, 0.9, 0.1},
			y:         []float64{1, 0.5, 0.5, 0.5},
			abstained: []bool{false, true, true, true},
			want:      []float64{1, 0.75, 0.75, 0},
		},
		{
			name:      "no score keeps its label",
			score:     []float64{0.9, nan, 0.8},
			y:         []float64{1, 0.3, 0.3},
			abstained: []bool{false, true, true},
			want:      []float64{1, 0.3, 0.3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SpreadAbstained(tc.score, tc.y, tc.abstained)
			for d := range got {
				if math.Abs(got[d]-tc.want[d]) > 1e-12 {
					t.Fatalf("targets %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestSpreadAbstainedKeepsTheGroup checks, on random data, what the
// spread promises: labelled rows untouched, every target in [0, 1], the
// abstained group's expected faults kept, and a higher-scored abstained
// row never below a lower-scored one.
func TestSpreadAbstainedKeepsTheGroup(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 200 {
		n := 5 + rng.IntN(300)
		score, y, abs := make([]float64, n), make([]float64, n), make([]bool, n)
		pi := rng.Float64() * 0.2
		for d := range n {
			score[d] = math.Round(rng.Float64()*50) / 50 // ties
			abs[d] = rng.Float64() < 0.5
			switch {
			case abs[d]:
				y[d] = pi
			case rng.Float64() < 0.2:
				y[d] = 0.5 + rng.Float64()/2
				score[d] = math.Min(1, score[d]+0.3)
			default:
				y[d] = rng.Float64() * 0.05
			}
		}
		got := SpreadAbstained(score, y, abs)
		var before, after float64
		for d := range n {
			if !abs[d] {
				if got[d] != y[d] {
					t.Fatalf("trial %d: labelled row %d changed %v → %v", trial, d, y[d], got[d])
				}
				continue
			}
			if got[d] < 0 || got[d] > 1 {
				t.Fatalf("trial %d: target %v out of [0, 1]", trial, got[d])
			}
			before += y[d]
			after += got[d]
			for e := range n {
				if abs[e] && score[e] < score[d] && got[e] > got[d]+1e-12 {
					t.Fatalf("trial %d: row scored %v has target %v above row scored %v (%v)", trial, score[e], got[e], score[d], got[d])
				}
			}
		}
		if math.Abs(before-after) > 1e-9 {
			t.Fatalf("trial %d: the group's expected faults went %v → %v", trial, before, after)
		}
	}
}
