package features

import (
	"encoding/json"
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
	if h != "fcdcc4595cc7f85d" {
		t.Errorf("default ConfigHash %s, want fcdcc4595cc7f85d", h)
	}
	// Settings that decide no feature value leave the hash alone, so that
	// bundles recorded before them still load; with the mean as seasonal
	// reference, the default settings' hash is the one recorded before
	// before_after.min_error_rise and reference_statistic existed.
	c.BeforeAfter.ReferenceStatistic = ""
	if got := c.ConfigHash(); got != "780b18262eb4cd23" {
		t.Errorf("ConfigHash with the mean reference %s, want 780b18262eb4cd23 (a setting added since must not move it)", got)
	}
	c.BeforeAfter.ReferenceWeeks = 1
	if got := c.ConfigHash(); got != "8eb90342d89006b9" {
		t.Errorf("ConfigHash with the mean reference and reference_weeks 1 %s, want 8eb90342d89006b9", got)
	}
	c.BeforeAfter.ReferenceWeeks, c.BeforeAfter.ReferenceStatistic = 0, ReferenceMedian
	c.BlockDays, c.EnsembleHorizon, c.BeforeAfter.MinErrorRise = 7, 20, 0.5
	if c.ConfigHash() != h {
		t.Error("ConfigHash depends on block_days, ensemble_horizon or before_after.min_error_rise")
	}
	c.Impact.Alpha = 0.01
	if c.ConfigHash() == h {
		t.Error("ConfigHash ignores impact.alpha")
	}
}

// TestDecodeConfig: recorded settings without before_after.reference_weeks
// and reference_statistic (written before they existed) decode to 0 and
// empty — the daily reference and the mean, which their features were
// computed with — and keep their hash; recorded settings with them keep
// them.
func TestDecodeConfig(t *testing.T) {
	old := DefaultConfig()
	old.BeforeAfter.ReferenceWeeks = 0
	raw, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	ba, ok := m["BeforeAfter"].(map[string]any)
	if !ok {
		t.Fatalf("no BeforeAfter object in %s", raw)
	}
	delete(ba, "ReferenceWeeks")
	delete(ba, "ReferenceStatistic")
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if b := got.BeforeAfter; b.ReferenceWeeks != 0 || b.ReferenceStatistic != "" || got.ConfigHash() != "780b18262eb4cd23" {
		t.Errorf("a record without reference_weeks and reference_statistic decoded to %d and %q, hash %s",
			b.ReferenceWeeks, b.ReferenceStatistic, got.ConfigHash())
	}
	for _, w := range []int{0, 1, 2} {
		for _, st := range []string{ReferenceMedian, ReferenceMean} {
			c := DefaultConfig()
			c.BeforeAfter.ReferenceWeeks, c.BeforeAfter.ReferenceStatistic = w, st
			raw, _ := json.Marshal(c)
			got, err := DecodeConfig(raw)
			if b := got.BeforeAfter; err != nil || b.ReferenceWeeks != w || b.ReferenceStatistic != st || got.ConfigHash() != c.ConfigHash() {
				t.Errorf("reference_weeks %d, reference_statistic %s decoded to %d, %q (err %v)", w, st, b.ReferenceWeeks, b.ReferenceStatistic, err)
			}
		}
	}
	if _, err := DecodeConfig([]byte("{")); err == nil {
		t.Error("broken JSON decoded")
	}
}

// FuzzDecodeConfig: feature settings recorded in a bundle are untrusted.
// DecodeConfig never panics, and settings it accepts that validate decode
// again, from their own encoding, to the same hash.
func FuzzDecodeConfig(f *testing.F) {
	def := DefaultConfig()
	raw, _ := json.Marshal(def)
	f.Add(raw)
	f.Add([]byte(`{"BeforeAfter":{"Budget":0.05}}`))
	f.Add([]byte(`{"BeforeAfter":{"referenceweeks":2,"ReplayDays":14}}`))
	f.Add([]byte(`{"BeforeAfter":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := DecodeConfig(data)
		if err != nil || cfg.Validate() != nil {
			return
		}
		again, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeConfig(again)
		if err != nil || back.ConfigHash() != cfg.ConfigHash() {
			t.Fatalf("%s decoded to hash %s, its encoding to %s (err %v)", data, cfg.ConfigHash(), back.ConfigHash(), err)
		}
	})
}
