package features

import (
	"math"
	"strings"
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
		got, want := binomUpper(float64(c.k), float64(c.n), c.p), binomUpperDirect(c.k, c.n, c.p)
		if math.Abs(got-want) > 1e-9*math.Max(1, want) && math.Abs(got-want)/want > 1e-6 {
			t.Errorf("binomUpper(%d,%d,%v) = %v, want %v", c.k, c.n, c.p, got, want)
		}
	}
	for _, c := range []struct {
		k   int
		lam float64
	}{{1, 0.5}, {3, 0.5}, {10, 4}, {30, 20}, {130, 100}} {
		got, want := poissonUpper(float64(c.k), c.lam), poissonUpperDirect(c.k, c.lam)
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("poissonUpper(%d,%v) = %v, want %v", c.k, c.lam, got, want)
		}
	}
}

func TestChangePoint(t *testing.T) {
	e := make([]float64, 80)
	r := make([]float64, 80)
	for i := range r {
		r[i] = 1000
		e[i] = 10
		if i >= 50 {
			e[i] = 40
		}
	}
	if tt, llr := changePoint(e, r); tt != 50 || llr < 100 {
		t.Errorf("changePoint = %d, %v; want 50 and a large LLR", tt, llr)
	}
	for i := range e {
		e[i] = 10 // flat: no upward change
	}
	if tt, _ := changePoint(e, r); tt != -1 {
		t.Errorf("flat series: change point %d, want -1", tt)
	}
}

func TestOLSSlope(t *testing.T) {
	y := []float64{1, 3, math.NaN(), 7, 9}
	if s := olsSlope(y); math.Abs(s-2) > 1e-12 {
		t.Errorf("slope = %v, want 2", s)
	}
}

func TestSchema(t *testing.T) {
	seen := map[string]bool{}
	for i, f := range Schema {
		if f.Name == "" || f.Unit == "" || f.Doc == "" {
			t.Errorf("feature %d incompletely documented: %+v", i, f)
		}
		if seen[f.Name] || strings.ToLower(f.Name) != f.Name {
			t.Errorf("feature name %q duplicated or not snake_case", f.Name)
		}
		seen[f.Name] = true
	}
	for _, n := range []string{"impact_pass", "temporal_pass", "persistence_pass", "ensemble_faulty", "inconclusive"} {
		if Index(n) < 0 {
			t.Errorf("required column %s missing", n)
		}
	}
	if len(SchemaHash()) != 16 {
		t.Errorf("SchemaHash = %q", SchemaHash())
	}
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	h := c.ConfigHash()
	c.Impact.Alpha = 0.01
	if c.ConfigHash() == h {
		t.Error("ConfigHash ignores impact.alpha")
	}
}
