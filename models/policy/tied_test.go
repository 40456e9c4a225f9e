package policy

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSpreadTied(t *testing.T) {
	nan := math.NaN()
	rep := func(v float64, n int) []float64 { return slices.Repeat([]float64{v}, n) }
	// Scores whose logits come in opposite pairs: at y 0.5 the common
	// factor is 1 and every target is its score.
	pairs := []float64{0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.95, 0.05}
	for _, tc := range []struct {
		name     string
		score, y []float64
		skip     []bool
		want     []float64
	}{
		{
			name:  "a group of ten at 0.5 takes its scores",
			score: pairs,
			y:     rep(0.5, 10),
			want:  pairs,
		},
		{
			name:  "nine are too few",
			score: pairs[:9],
			y:     rep(0.5, 9),
			want:  rep(0.5, 9),
		},
		{
			name:  "certain labels are not spread",
			score: append(slices.Clone(pairs), pairs...),
			y:     append(rep(1, 10), rep(0, 10)...),
			want:  append(rep(1, 10), rep(0, 10)...),
		},
		{
			name:  "a skipped row leaves the group and keeps its label",
			score: pairs,
			y:     rep(0.5, 10),
			skip:  []bool{true, false, false, false, false, false, false, false, false, false},
			want:  rep(0.5, 10),
		},
		{
			name:  "a row without a score leaves the group",
			score: append([]float64{nan}, pairs[1:]...),
			y:     rep(0.5, 10),
			want:  rep(0.5, 10),
		},
		{
			name:  "equal scores keep the label",
			score: rep(0.99, 10),
			y:     rep(0.92, 10),
			want:  rep(0.92, 10),
		},
		{
			name:  "groups are spread apart",
			score: append(slices.Clone(pairs), rep(0.3, 10)...),
			y:     append(rep(0.5, 10), rep(0.2, 10)...),
			want:  append(slices.Clone(pairs), rep(0.2, 10)...),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skip := tc.skip
			if skip == nil {
				skip = make([]bool, len(tc.y))
			}
			got := SpreadTied(tc.score, tc.y, skip)
			for d := range got {
				if math.Abs(got[d]-tc.want[d]) > 1e-9 {
					t.Fatalf("targets %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestSpreadTiedKeepsTheGroups checks, on random data, what the spread
// promises: each group's expected faults kept, every target in [0, 1],
// a higher score never a lower target within a group, and rows outside
// the groups untouched.
func TestSpreadTiedKeepsTheGroups(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	levels := []float64{0.92, 0.4, 0.01, 1, 0}
	for trial := range 50 {
		n := 20 + r.IntN(200)
		score, y := make([]float64, n), make([]float64, n)
		skip := make([]bool, n)
		for d := range n {
			y[d] = levels[r.IntN(len(levels))]
			score[d] = r.Float64()
			if r.IntN(20) == 0 {
				score[d] = math.NaN()
			}
			skip[d] = r.IntN(10) == 0
		}
		got := SpreadTied(score, y, skip)
		sum, cnt := map[float64]float64{}, map[float64]int{}
		for d := range n {
			if skip[d] || math.IsNaN(score[d]) {
				if got[d] != y[d] {
					t.Fatalf("trial %d: row %d outside the groups changed: %v → %v", trial, d, y[d], got[d])
				}
				continue
			}
			if !(got[d] >= 0 && got[d] <= 1) {
				t.Fatalf("trial %d: target %v outside [0, 1]", trial, got[d])
			}
			sum[y[d]] += got[d]
			cnt[y[d]]++
		}
		for v, s := range sum {
			if math.Abs(s-v*float64(cnt[v])) > 1e-6 {
				t.Fatalf("trial %d: group %v of %d sums to %v, want %v", trial, v, cnt[v], s, v*float64(cnt[v]))
			}
		}
		for a := range n {
			for b := range n {
				in := func(d int) bool { return !skip[d] && !math.IsNaN(score[d]) }
				if in(a) && in(b) && y[a] == y[b] && score[a] > score[b] && got[a] < got[b]-1e-12 {
					t.Fatalf("trial %d: score %v got %v below score %v's %v", trial, score[a], got[a], score[b], got[b])
				}
			}
		}
	}
}
