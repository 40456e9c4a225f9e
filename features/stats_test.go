package features

import (
	"math"
	"strings"
	"testing"
)

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
	// Settings that decide no feature value leave the hash alone, so that
	// bundles recorded before them still load; the default settings' hash
	// is the one recorded before before_after.min_error_rise existed.
	if h != "780b18262eb4cd23" {
		t.Errorf("default ConfigHash %s, want 780b18262eb4cd23 (a setting that changes no feature value must not move it)", h)
	}
	c.BlockDays, c.EnsembleHorizon, c.BeforeAfter.MinErrorRise = 7, 20, 0.5
	if c.ConfigHash() != h {
		t.Error("ConfigHash depends on block_days, ensemble_horizon or before_after.min_error_rise")
	}
	c.Impact.Alpha = 0.01
	if c.ConfigHash() == h {
		t.Error("ConfigHash ignores impact.alpha")
	}
}
