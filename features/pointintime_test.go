package features

import (
	"math"
	"testing"
	"time"
)

// perturbAfter returns a copy of in where everything at or after Unix minute
// cut is changed: metrics of every version (and of the aggregate), a new
// version's traffic, declared KPIs, error signatures, fleet counts, later
// deploys and the rollout's end.
func perturbAfter(in *Input, cut int64, cutTime time.Time) *Input {
	out := *in
	out.Series = nil
	for _, sr := range in.Series {
		c := Series{Version: sr.Version}
		for i, m := range sr.Minutes {
			req, e, p95, p99 := sr.Requests[i], sr.Errors[i], sr.P95[i], sr.P99[i]
			if m >= cut {
				req, e, p95, p99 = req*3+7, req*3+7, p95*10, p99*10
			}
			c.Minutes = append(c.Minutes, m)
			c.Requests = append(c.Requests, req)
			c.Errors = append(c.Errors, e)
			c.P95 = append(c.P95, p95)
			c.P99 = append(c.P99, p99)
		}
		out.Series = append(out.Series, c)
	}
	// A later deploy's version, serving only after the cut.
	out.Series = append(out.Series, Series{Version: "v3", Minutes: []int64{cut, cut + 1}, Requests: []float64{500, 500}, Errors: []float64{400, 400},
		P95: []float64{9000, 9000}, P99: []float64{9000, 9000}})
	out.Signatures = nil
	for _, r := range in.Signatures {
		if r.Minute >= cut {
			r.Count *= 5
			r.Fingerprint += "-later"
		}
		out.Signatures = append(out.Signatures, r)
	}
	out.Signatures = append(out.Signatures, SignatureRow{Minute: cut, Version: in.Deploy.Version, Fingerprint: "brand-new", Count: 1000})
	out.KPIs = nil
	for _, k := range in.KPIs {
		k.Values = append([]float64(nil), k.Values...)
		for i, m := range k.Minutes {
			if m >= cut {
				k.Values[i] = k.Values[i]*4 + 3
			}
		}
		k.Minutes = append(k.Minutes, cut+200)
		k.Values = append(k.Values, 1e6)
		out.KPIs = append(out.KPIs, k)
	}
	if in.Fleet != nil {
		fl := *in.Fleet
		fl.Others = append([]int32(nil), in.Fleet.Others...)
		for i := range fl.Others {
			if fl.Start+int64(i) >= cut {
				fl.Others[i] = int32(fl.Services)
			}
		}
		out.Fleet = &fl
	}
	out.OtherDeployStarts = append(append([]time.Time(nil), in.OtherDeployStarts...), cutTime.Add(time.Minute), cutTime)
	out.Deploy.FinishedAt = cutTime.Add(3 * time.Minute)
	return &out
}

func sameVector(a, b []float64) int {
	for i := range a {
		if !(a[i] == b[i] || (math.IsNaN(a[i]) && math.IsNaN(b[i]))) {
			return i
		}
	}
	return -1
}

// TestPointInTime: features at H must not change when anything after
// start+H changes, at every horizon; and they must change when data inside
// the window changes (so the test is not vacuous). The aggregate cases,
// with a week of history and declared KPIs, cover the before/after
// checks: their statistics, replays and p-values.
func TestPointInTime(t *testing.T) {
	cfg := DefaultConfig()
	ins := map[string]*Input{}
	for name, sc := range map[string]scenario{
		"healthy": {rpm: 800, rate: 0.01, rolloutMin: 15, seed: 21},
		"step":    {rpm: 800, rate: 0.01, rolloutMin: 15, newMult: step(3, 4), newSig: func(k int) int64 { return int64(k % 3) }, seed: 22},
		"fleet":   {rpm: 800, rate: 0.01, rolloutMin: 15, allMult: step(5, 4), fleetOthers: func(k int) int32 { return int32(k % 9) }, seed: 23},
	} {
		ins[name] = sc.input()
	}
	for name, sc := range map[string]aggScenario{
		"aggregate shift": {rpm: 1500, rate: 0.01, diurnal: 0.5, peakHour: 15, noise: 0.1, histDays: 7, kpis: true, errMult: step(2, 1.3), seed: 24},
		"aggregate burst": {rpm: 1500, rate: 0.01, diurnal: 0.5, peakHour: 15, noise: 0.1, histDays: 7, kpis: true, reqMult: burst(4, 8, 0.5), seed: 25},
	} {
		ins[name] = sc.input()
	}
	for name, in := range ins {
		in.Deploy.FinishedAt = time.Time{}
		for _, h := range cfg.Horizons {
			w, err := NewWindow(in, h, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			base := Compute(w, &cfg)
			cutTime := in.Deploy.StartedAt.Add(time.Duration(h) * time.Minute)
			p := perturbAfter(in, w.Cut(), cutTime)
			w2, err := NewWindow(p, h, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			if i := sameVector(base, Compute(w2, &cfg)); i >= 0 {
				t.Errorf("%s h=%d: %s changed when only data after start+H changed", name, h, Schema[i].Name)
			}
			// Control: the same perturbation from the last window minute on
			// must show.
			p = perturbAfter(in, w.Cut()-1, cutTime.Add(-2*time.Minute))
			w3, _ := NewWindow(p, h, &cfg)
			v3 := Compute(w3, &cfg)
			if sameVector(base, v3) < 0 {
				t.Errorf("%s h=%d: perturbing the window's last minute changed nothing", name, h)
			}
			if in.Series[0].Version == aggregateVersion {
				if math.IsNaN(base[BAErrShiftP]) || math.IsNaN(base[BAKPIShiftP]) {
					t.Errorf("%s h=%d: the before/after checks abstained (ba_err_shift_p %v, ba_kpi_shift_p %v)", name, h, base[BAErrShiftP], base[BAKPIShiftP])
				}
				if sameVector(base[BAPseudoPoints:], v3[BAPseudoPoints:]) < 0 {
					t.Errorf("%s h=%d: perturbing the window's last minute changed no before/after column", name, h)
				}
			}
		}
	}
}

// TestFillFleetMatchesCompute: the extractor's two-pass fleet completion
// gives the vector Compute gives with the fleet in the window.
func TestFillFleetMatchesCompute(t *testing.T) {
	cfg := DefaultConfig()
	in := scenario{rpm: 800, rate: 0.01, rolloutMin: 5, newMult: step(0, 3), fleetOthers: func(k int) int32 { return int32(k % 7) }, seed: 31}.input()
	for _, h := range cfg.Horizons {
		w, _ := NewWindow(in, h, &cfg)
		want := Compute(w, &cfg)
		noFleet := *in
		noFleet.Fleet = nil
		w2, _ := NewWindow(&noFleet, h, &cfg)
		got := Compute(w2, &cfg)
		if !math.IsNaN(got[FleetElevatedFrac]) {
			t.Fatalf("fleet feature set without fleet data")
		}
		FillFleet(got, w2.Start(), h, in.Fleet, &cfg)
		if i := sameVector(want, got); i >= 0 {
			t.Errorf("h=%d: %s = %v after FillFleet, Compute gave %v", h, Schema[i].Name, got[i], want[i])
		}
		if want[FleetElevatedFrac] <= 0 {
			t.Errorf("h=%d: fleet_elevated_frac = %v, want > 0", h, want[FleetElevatedFrac])
		}
	}
}
