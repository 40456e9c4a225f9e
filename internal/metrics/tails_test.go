package metrics

import (
	"math"
	"testing"
)

func binomUpperDirect(k, n int, p float64) float64 {
	var s float64
	for i := k; i <= n; i++ {
		lc, _ := math.Lgamma(float64(n + 1))
		l1, _ := math.Lgamma(float64(i + 1))
		l2, _ := math.Lgamma(float64(n - i + 1))
		s += math.Exp(lc - l1 - l2 + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return s
}

func poissonUpperDirect(k int, lam float64) float64 {
	var s float64
	for i := 0; i < k; i++ {
		lf, _ := math.Lgamma(float64(i + 1))
		s += math.Exp(float64(i)*math.Log(lam) - lam - lf)
	}
	return 1 - s
}

func TestTails(t *testing.T) {
	for _, c := range []struct {
		k, n int
		p    float64
	}{{0, 10, 0.3}, {3, 10, 0.3}, {9, 10, 0.3}, {40, 100, 0.2}, {150, 1000, 0.1}, {5, 5000, 0.0005}} {
		got, want := BinomialUpper(float64(c.k), float64(c.n), c.p), binomUpperDirect(c.k, c.n, c.p)
		if math.Abs(got-want) > 1e-9*math.Max(1, want) && math.Abs(got-want)/want > 1e-6 {
			t.Errorf("BinomialUpper(%d,%d,%v) = %v, want %v", c.k, c.n, c.p, got, want)
		}
	}
	for _, c := range []struct {
		k   int
		lam float64
	}{{1, 0.5}, {3, 0.5}, {10, 4}, {30, 20}, {130, 100}} {
		got, want := PoissonUpper(float64(c.k), c.lam), poissonUpperDirect(c.k, c.lam)
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("PoissonUpper(%d,%v) = %v, want %v", c.k, c.lam, got, want)
		}
	}
}
