package models

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refBin is the definition binColumn implements: the first bin whose upper
// bound is >= v, or the missing bin for NaN.
func refBin(upper []float64, v float64) uint8 {
	if v != v {
		return uint8(len(upper))
	}
	for i, u := range upper {
		if v <= u {
			return uint8(i)
		}
	}
	panic("upper bounds must end with +Inf")
}

func TestBinMatchesLinearSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(),
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64}
	for _, distinct := range []int{1, 2, 3, 7, 200, 255, 256, 5000} {
		for _, maxBins := range []int{2, 16, 255} {
			cols := make([][]float64, 1)
			for i := 0; i < 3000; i++ {
				v := float64(rng.IntN(distinct)) - float64(distinct)/2
				if rng.IntN(10) == 0 {
					v = special[rng.IntN(len(special))]
				}
				cols[0] = append(cols[0], v)
			}
			m := newBinMapper(cols, maxBins, 0, 1, 1)
			// probe the training values, the bounds themselves and their neighbours
			probe := slices.Clone(cols[0])
			for _, u := range m.upper[0] {
				probe = append(probe, u, math.Nextafter(u, math.Inf(-1)), math.Nextafter(u, math.Inf(1)))
			}
			probe = append(probe, special...)
			out := make([]uint8, len(probe))
			m.binColumn(0, probe, out)
			for i, v := range probe {
				if want := refBin(m.upper[0], v); out[i] != want {
					t.Fatalf("distinct %d max_bins %d: bin of %v is %d, want %d (upper %v)", distinct, maxBins, v, out[i], want, m.upper[0])
				}
			}
		}
	}
}
