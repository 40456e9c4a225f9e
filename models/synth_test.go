package models

import (
	"math"
	"math/rand/v2"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// synthData generates a deterministic binary-classification table with a
// nonlinear signal in the first features, noise features, and NaNs (about
// nanRate of the values of every third feature). Targets are 0/1 draws.
func synthData(n, nf int, seed uint64, nanRate float64) *Data {
	rng := rand.New(rand.NewPCG(seed, 42))
	cols := make([][]float64, nf)
	for f := range cols {
		cols[f] = make([]float64, n)
	}
	y := make([]float64, n)
	row := make([]float64, nf)
	for i := 0; i < n; i++ {
		for f := 0; f < nf; f++ {
			switch f % 4 {
			case 0:
				row[f] = rng.NormFloat64()
			case 1:
				row[f] = rng.Float64() * 10
			case 2:
				row[f] = math.Floor(rng.Float64() * 7) // few distinct values
			default:
				row[f] = rng.ExpFloat64()
			}
		}
		z := -1.0
		if nf >= 8 {
			z += 1.5*math.Sin(row[0]*2) + 0.3*(row[1]-5)*(row[4]) + 0.8*float64(int(row[2])%2) +
				0.7*math.Log1p(row[3]) - 0.4*row[5]*row[5]/25 + 0.5*(row[6]-3)*boolf(row[7] > 1)
		} else {
			z += 2 * row[0]
		}
		z += 0.3 * rng.NormFloat64()
		if rng.Float64() < metrics.Sigmoid(z) {
			y[i] = 1
		}
		for f := 0; f < nf; f++ {
			if f%3 == 1 && rng.Float64() < nanRate {
				row[f] = math.NaN()
			}
			cols[f][i] = row[f]
		}
	}
	return &Data{Cols: cols, Y: y}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func featureNames(nf int) []string {
	names := make([]string, nf)
	for i := range names {
		names[i] = "f" + itoa(i)
	}
	return names
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
