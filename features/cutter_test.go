package features

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// sameBits returns the first index where a and b differ in their bits, or
// -1 (NaN payloads included: the extractor writes the bits).
func sameBits(a, b []float64) int {
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestCutterMatchesNewWindow: the windows NewWindows and a reused Cutter
// build for several horizons at once give, to the bit, the vectors of
// NewWindow at each horizon alone — per-version and aggregate streams,
// with KPIs and fleet counts, horizons in any order, repeated, from one
// minute to a day — and a Cutter reused across deploys and settings keeps
// nothing of the previous one.
func TestCutterMatchesNewWindow(t *testing.T) {
	ins := []struct {
		name string
		in   *Input
	}{
		{"canary", scenario{rpm: 800, rate: 0.01, rolloutMin: 15, newMult: step(3, 4), newSig: func(k int) int64 { return int64(k % 3) }, seed: 31}.input()},
		{"fleet", scenario{rpm: 500, rate: 0.02, rolloutMin: 5, allMult: step(5, 3), fleetOthers: func(k int) int32 { return int32(k % 7) }, seed: 32}.input()},
		{"aggregate kpis", aggScenario{rpm: 1500, rate: 0.01, diurnal: 0.5, peakHour: 15, noise: 0.1, histDays: 8, kpis: true, errMult: step(2, 1.3), seed: 33}.input()},
		{"aggregate burst", aggScenario{rpm: 300, rate: 0.02, diurnal: 0.3, peakHour: 9, noise: 0.2, histDays: 5, reqMult: burst(4, 8, 0.5), seed: 34}.input()},
	}
	def := DefaultConfig()
	custom := DefaultConfig()
	custom.BaselineMinutes = 30
	custom.BeforeAfter.ReplaySpanMinutes = 720
	custom.BeforeAfter.ReplayStepMinutes = 45
	custom.BeforeAfter.ReplayDays = 2
	custom.BeforeAfter.ReferenceDays = 1
	custom.BeforeAfter.BurstMinutes = []int{3, 40}
	noRef := DefaultConfig()
	noRef.BeforeAfter.ReferenceDays = 0
	cfgs := []struct {
		name string
		cfg  *Config
		hs   []int
	}{
		{"default", &def, def.Horizons},
		{"unsorted", &def, []int{60, 10, 20, 10}},
		{"wide", &def, []int{1, 240, 1440, 7}},
		{"custom", &custom, []int{45, 5, 700}},
		{"no reference days", &noRef, []int{15, 30}},
	}
	var cut Cutter // reused by every case, in turn
	got := make([]float64, NumFeatures)
	judged := 0
	for _, c := range cfgs {
		for _, x := range ins {
			name := fmt.Sprintf("%s/%s", c.name, x.name)
			ws, err := cut.Windows(x.in, c.hs, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			fresh, err := NewWindows(x.in, c.hs, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != len(c.hs) || len(fresh) != len(c.hs) {
				t.Fatalf("%s: %d and %d windows for %d horizons", name, len(ws), len(fresh), len(c.hs))
			}
			for i, h := range c.hs {
				w, err := NewWindow(x.in, h, c.cfg)
				if err != nil {
					t.Fatal(err)
				}
				want := Compute(w, c.cfg)
				if ws[i].H != h {
					t.Fatalf("%s: window %d has H=%d, want %d", name, i, ws[i].H, h)
				}
				if err := sameView(&w.ba, &ws[i].ba); err != nil {
					t.Errorf("%s h=%d: before/after view: %v", name, h, err)
				}
				if err := sameDense(w, ws[i]); err != nil {
					t.Errorf("%s h=%d: %v", name, h, err)
				}
				ComputeInto(got, ws[i], c.cfg)
				if k := sameBits(want, got); k >= 0 {
					t.Errorf("%s h=%d: Cutter gives %s = %v, NewWindow %v", name, h, Schema[k].Name, got[k], want[k])
				}
				if k := sameBits(want, Compute(fresh[i], c.cfg)); k >= 0 {
					t.Errorf("%s h=%d: NewWindows differs from NewWindow in %s", name, h, Schema[k].Name)
				}
				if !math.IsNaN(want[BAErrShiftStat]) {
					judged++
				}
			}
		}
	}
	if judged == 0 {
		t.Fatal("the before/after checks judged no case: the comparison does not cover them")
	}
}

// sameView reports where the before/after views a and b differ: shape or
// any value's bits.
func sameView(a, b *baView) error {
	if a.segs != b.segs || a.L != b.L || a.span != b.span || len(a.kpis) != len(b.kpis) {
		return fmt.Errorf("shape (%d, %d, %d, %d KPIs) vs (%d, %d, %d, %d KPIs)", a.segs, a.L, a.span, len(a.kpis), b.segs, b.L, b.span, len(b.kpis))
	}
	series := func(v *baView) [][][]float64 {
		out := [][][]float64{v.req, v.errs, v.lat, v.rate}
		for _, k := range v.kpis {
			out = append(out, k.x)
		}
		return out
	}
	sa, sb := series(a), series(b)
	for k := range sa {
		for j := 0; j < a.segs; j++ {
			if len(sa[k][j]) != a.L || len(sb[k][j]) != a.L {
				return fmt.Errorf("series %d segment %d: %d and %d values, want %d", k, j, len(sa[k][j]), len(sb[k][j]), a.L)
			}
			if i := sameBits(sa[k][j], sb[k][j]); i >= 0 {
				return fmt.Errorf("series %d segment %d minute %d: %v vs %v", k, j, i, sa[k][j][i], sb[k][j][i])
			}
		}
	}
	return nil
}

// sameDense reports where the dense arrays, seasonal days and signature
// counts of windows a and b differ.
func sameDense(a, b *Window) error {
	da := [][]float64{a.svcReq, a.svcErr, a.svcP95w, a.svcP99w, a.svcLatW, a.newReq, a.newErr, a.newP95w, a.newP99w, a.newLatW, a.prevReq, a.prevErr, a.prevP95w, a.prevLatW, a.sigNew, a.fleet}
	db := [][]float64{b.svcReq, b.svcErr, b.svcP95w, b.svcP99w, b.svcLatW, b.newReq, b.newErr, b.newP95w, b.newP99w, b.newLatW, b.prevReq, b.prevErr, b.prevP95w, b.prevLatW, b.sigNew, b.fleet}
	for k := range da {
		if len(da[k]) != len(db[k]) || cap(db[k]) != len(db[k]) {
			return fmt.Errorf("dense array %d: %d values (cap %d), want %d", k, len(db[k]), cap(db[k]), len(da[k]))
		}
		if i := sameBits(da[k], db[k]); i >= 0 {
			return fmt.Errorf("dense array %d minute %d: %v vs %v", k, i, da[k][i], db[k][i])
		}
	}
	if fmt.Sprint(a.days) != fmt.Sprint(b.days) {
		return fmt.Errorf("seasonal days %v vs %v", a.days, b.days)
	}
	if a.newFP != b.newFP || a.knownFP != b.knownFP || a.sigTotal != b.sigTotal || a.fleetTotal != b.fleetTotal {
		return fmt.Errorf("signature or fleet counts differ")
	}
	return nil
}

// TestCutterErrors: Windows refuses what NewWindow refuses.
func TestCutterErrors(t *testing.T) {
	cfg := DefaultConfig()
	in := scenario{rpm: 100, rate: 0.01, seed: 35}.input()
	var cut Cutter
	if _, err := cut.Windows(in, []int{10, 0}, &cfg); err == nil {
		t.Error("horizon 0 accepted")
	}
	bad := *in
	bad.Series = append([]Series(nil), in.Series...)
	bad.Series[0].Errors = bad.Series[0].Errors[:1]
	if _, err := cut.Windows(&bad, []int{10}, &cfg); err == nil {
		t.Error("series with columns of different lengths accepted")
	}
	bad = *in
	bad.KPIs = []KPISeries{{Name: "x", Direction: "sideways", Kind: KindGauge}}
	if _, err := cut.Windows(&bad, []int{10}, &cfg); err == nil {
		t.Error("KPI with an unknown direction accepted")
	}
	if _, err := cut.Windows(in, []int{10, 60}, &cfg); err != nil {
		t.Errorf("after errors: %v", err)
	}
}

// TestBurstExtremesMatchesScan: the burst statistic from the extreme
// window sums equals the scan's, to the bit, whenever burstExtremes
// answers; it declines on ties at zero (where the scan's order decides
// the sign) and answers on ordinary data.
func TestBurstExtremesMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	isq := make([]float64, 64)
	for n := 1; n < len(isq); n++ {
		isq[n] = 1 / math.Sqrt(float64(n))
	}
	answered := 0
	const cases = 20000
	for c := 0; c < cases; c++ {
		H := 2 + rng.IntN(60)
		bursts := []int{H}
		switch {
		case H >= 15:
			bursts = []int{5, 15}
		case H >= 5:
			bursts = []int{5}
		}
		C, S1 := make([]float64, H+1), make([]float64, H+1)
		mb := rng.NormFloat64()
		for i := 1; i <= H; i++ {
			y := mb + rng.NormFloat64()
			if c%10 == 0 {
				y = mb // every window sum minus w·mb is zero
			}
			C[i], S1[i] = float64(i), S1[i-1]+y
		}
		shi, slo, seen := burstScan(C, S1, 0, H, bursts, isq, mb)
		if !seen {
			t.Fatalf("H=%d: the scan saw no window", H)
		}
		// Both extremes, the largest only, the smallest only.
		for _, want := range [][2]bool{{true, true}, {true, false}, {false, true}} {
			hi, lo, ok := burstExtremes(S1, bursts, isq, mb, want[0], want[1])
			if !ok {
				continue
			}
			if want == [2]bool{true, true} {
				answered++
			}
			if want[0] && math.Float64bits(hi) != math.Float64bits(shi) || want[1] && math.Float64bits(lo) != math.Float64bits(slo) {
				t.Fatalf("H=%d bursts %v want %v: extremes (%v, %v), scan (%v, %v)", H, bursts, want, hi, lo, shi, slo)
			}
		}
	}
	if answered < cases/2 {
		t.Errorf("burstExtremes answered %d of %d cases", answered, cases)
	}
}
