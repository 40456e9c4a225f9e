package quality

import (
	"math"
	"testing"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// TestCeilingTails checks the tail sums and critical counts against the
// Poisson tail of internal/metrics: c(α) is the least k whose tail is at
// most α.
func TestCeilingTails(t *testing.T) {
	c := newCeiling()
	for _, l0 := range []float64{0, 0.03, 0.7, 7, 60, 900, 4000} {
		c.tails(l0)
		for k, got := range c.tail {
			if want := metrics.PoissonUpper(float64(k), l0); math.Abs(got-want) > 1e-9*math.Max(want, 1e-8) {
				t.Errorf("λ0 %v: P(X ≥ %d) = %v, want %v", l0, k, got, want)
			}
		}
		k := len(c.tail) - 1
		for _, a := range ceilingAlphas {
			k = c.critical(k, a)
			want := 0
			for metrics.PoissonUpper(float64(want), l0) > a {
				want++
			}
			if k != want {
				t.Errorf("λ0 %v, α %.3g: c = %d, want %d", l0, a, k, want)
			}
		}
	}
}

// TestCeilingBest builds fleets whose ceiling is worked out directly: for
// every α of the grid, the critical count of the shared λ0 from the
// Poisson tail, the faults found and false alarms from it, and the largest
// α at the precision floor.
func TestCeilingBest(t *testing.T) {
	type group struct {
		n       int
		l0, e   float64
		faulty  bool
		judged  bool
		counted bool
	}
	for _, tc := range []struct {
		name   string
		groups []group
	}{
		{"strong and weak faults", []group{
			{n: 1000, l0: 10},
			{n: 40, l0: 10, e: 30, faulty: true, judged: true, counted: true},
			{n: 40, l0: 10, e: 0.5, faulty: true, judged: true, counted: true},
		}},
		{"no evidence at all: nothing found at the floor", []group{
			{n: 2000, l0: 3},
			{n: 60, l0: 3, e: 0, faulty: true, judged: true, counted: true},
		}},
		{"unjudged faults count as found, mild ones only toward precision", []group{
			{n: 500, l0: 2},
			{n: 20, faulty: true, counted: true},
			{n: 30, l0: 2, e: 1, faulty: true, judged: true},
			{n: 30, l0: 2, e: 8, faulty: true, judged: true, counted: true},
		}},
	} {
		c := newCeiling()
		faults := 0
		for _, g := range tc.groups {
			for range g.n {
				if g.faulty {
					c.fault(g.judged, g.l0, g.e, g.counted)
				} else {
					c.healthy(g.l0)
				}
			}
			if g.counted {
				faults += g.n
			}
		}
		var wantFound, wantAlpha float64
		for _, a := range ceilingAlphas {
			crit := func(l0 float64) float64 {
				k := 0.0
				for metrics.PoissonUpper(k, l0) > a {
					k++
				}
				return k
			}
			var tp, fp, found float64
			for _, g := range tc.groups {
				p := 1.0
				switch {
				case !g.faulty:
					fp += float64(g.n) * metrics.PoissonUpper(crit(g.l0), g.l0)
					continue
				case g.judged:
					p = metrics.PoissonUpper(crit(g.l0), g.l0+g.e)
				}
				tp += float64(g.n) * p
				if g.counted {
					found += float64(g.n) * p
				}
			}
			if tp+fp == 0 || tp/(tp+fp) >= 0.9 {
				wantFound, wantAlpha = found, a
			}
		}
		found, alpha := c.best(0.9)
		if c.faults != faults || math.Abs(found-wantFound) > 1e-6*math.Max(1, wantFound) || alpha != wantAlpha {
			t.Errorf("%s: best = %v at α %v of %d faults, want %v at α %v of %d", tc.name, found, alpha, c.faults, wantFound, wantAlpha, faults)
		}
		if found > float64(faults)+1e-9 {
			t.Errorf("%s: found %v of %d faults", tc.name, found, faults)
		}
		t.Logf("%s: ceiling %.3f at α %.3g", tc.name, found/float64(faults), alpha)
	}
}

// TestCeilingMoreHealthyNeverHelps: adding healthy deploys can only lower
// the ceiling (more false alarms at every α).
func TestCeilingMoreHealthyNeverHelps(t *testing.T) {
	build := func(healthy int) float64 {
		c := newCeiling()
		for range healthy {
			c.healthy(5)
		}
		for i := range 50 {
			c.fault(true, 5, float64(i%10), true)
		}
		f, _ := c.best(0.9)
		return f
	}
	prev := math.Inf(1)
	for _, n := range []int{0, 100, 1000, 10000} {
		f := build(n)
		if f > prev+1e-9 {
			t.Errorf("%d healthy deploys: %v faults found, more than %v with fewer", n, f, prev)
		}
		prev = f
	}
	if build(0) <= build(10000) {
		t.Errorf("10,000 healthy deploys did not lower the ceiling: %v vs %v", build(10000), build(0))
	}
}
