package features

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// scenario describes a hand-made deploy: a service with steady traffic, a
// rollout from version v1 to v2, and optional faults and confounders.
type scenario struct {
	rpm         float64             // service requests per minute
	rate        float64             // base error rate
	rolloutMin  int                 // minutes for v2 to reach 100%
	newMult     func(k int) float64 // error multiplier of v2 at minute k after start (nil: 1)
	allMult     func(k int) float64 // multiplier of every version at minute k (outages; nil: 1)
	fleetOthers func(k int) int32   // other services elevated at minute k (nil: 0)
	newSig      func(k int) int64   // errors with a new fingerprint at minute k (nil: 0)
	latMult     func(k int) float64 // p95 multiplier of v2 (nil: 1)
	rollbackAt  int                 // minute at which v1 takes all traffic back (0: never)
	seed        uint64
}

var testStart = time.Date(2026, 6, 10, 14, 0, 0, 0, time.UTC)

const (
	histDays  = 3   // seasonal history before the start
	afterMins = 180 // data after the start
	fleetSize = 20  // other services in the environment
)

func (sc scenario) input() *Input {
	rng := rand.New(rand.NewPCG(sc.seed, 7))
	s := minuteOf(testStart)
	lo, hi := s-histDays*1440, s+afterMins
	v1 := Series{Version: "v1"}
	v2 := Series{Version: "v2"}
	var sigs []SignatureRow
	mult := func(f func(int) float64, k int) float64 {
		if f == nil {
			return 1
		}
		return f(k)
	}
	for m := lo; m < hi; m++ {
		k := int(m - s)
		share := 0.0
		if k >= 0 {
			share = 1
			if sc.rolloutMin > 0 && k < sc.rolloutMin {
				share = float64(k+1) / float64(sc.rolloutMin+1)
			}
			if sc.rollbackAt > 0 && k >= sc.rollbackAt {
				share = 0
			}
		}
		all := 1.0
		if k >= 0 {
			all = mult(sc.allMult, k)
		}
		for _, vv := range []struct {
			sr    *Series
			share float64
			mult  float64
			lat   float64
		}{
			{&v1, 1 - share, all, 1},
			{&v2, share, all * mult(sc.newMult, k), mult(sc.latMult, k)},
		} {
			if vv.share <= 0 {
				continue
			}
			req := poisson(rng, sc.rpm*vv.share)
			if req == 0 {
				continue
			}
			p := math.Min(1, sc.rate*vv.mult)
			e := binomial(rng, req, p)
			vv.sr.Minutes = append(vv.sr.Minutes, m)
			vv.sr.Requests = append(vv.sr.Requests, float64(req))
			vv.sr.Errors = append(vv.sr.Errors, float64(e))
			vv.sr.P95 = append(vv.sr.P95, 200*vv.lat*(1+0.05*rng.NormFloat64()))
			vv.sr.P99 = append(vv.sr.P99, 400*vv.lat*(1+0.05*rng.NormFloat64()))
			if e > 0 {
				sigs = append(sigs, SignatureRow{Minute: m, Version: vv.sr.Version, Fingerprint: "known-timeout", Count: e})
			}
		}
		if sc.newSig != nil && k >= 0 {
			if c := sc.newSig(k); c > 0 {
				sigs = append(sigs, SignatureRow{Minute: m, Version: "v2", Fingerprint: "new-npe", Count: c})
			}
		}
	}
	fl := &Fleet{Start: lo, Services: fleetSize, Others: make([]int32, hi-lo)}
	if sc.fleetOthers != nil {
		for m := s; m < hi; m++ {
			fl.Others[m-lo] = sc.fleetOthers(int(m - s))
		}
	}
	var others []time.Time
	if sc.rollbackAt > 0 {
		others = append(others, testStart.Add(time.Duration(sc.rollbackAt)*time.Minute))
	}
	return &Input{
		OtherDeployStarts: others,
		Deploy: Deploy{ID: "d1", Service: "api", Environment: "prod", Version: "v2", StartedAt: testStart.Add(20 * time.Second),
			FinishedAt: testStart.Add(time.Duration(sc.rolloutMin) * time.Minute), FilesChanged: 3, LinesAdded: 40, LinesDeleted: 2},
		PrevDeployAt: testStart.Add(-5 * time.Hour),
		Series:       []Series{v1, v2},
		Signatures:   sigs,
		Fleet:        fl,
	}
}

func poisson(rng *rand.Rand, lam float64) int64 {
	if lam <= 0 {
		return 0
	}
	if lam > 50 {
		return max(0, int64(math.Round(lam+math.Sqrt(lam)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-lam), int64(0), 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func binomial(rng *rand.Rand, n int64, p float64) int64 {
	mu := float64(n) * p
	if mu < 30 {
		return min(n, poisson(rng, mu))
	}
	return min(n, max(0, int64(math.Round(mu+math.Sqrt(mu*(1-p))*rng.NormFloat64()))))
}

func step(from int, m float64) func(int) float64 {
	return func(k int) float64 {
		if k >= from {
			return m
		}
		return 1
	}
}

func computeAt(t *testing.T, in *Input, h int) []float64 {
	t.Helper()
	cfg := DefaultConfig()
	w, err := NewWindow(in, h, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	return Compute(w, &cfg)
}

// nan is a sentinel for "expect NaN" in the table below.
var nan = math.NaN()

// TestChecksOnHandMadeSeries pins the outcome of each check on the shapes
// the checks must tell apart.
func TestChecksOnHandMadeSeries(t *testing.T) {
	type want map[int]float64
	cases := []struct {
		name string
		sc   scenario
		h    int
		want want
	}{
		{"healthy", scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, seed: 1}, 60,
			want{ImpactPass: 0, PersistencePass: 0, EnsembleFaulty: 0, Inconclusive: 0, FleetOutage: 0, NewSigPass: 0, LatencyPass: 0}},
		{"step", scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, newMult: step(0, 5), seed: 2}, 60,
			want{ImpactPass: 1, TemporalPass: 1, PersistencePass: 1, EnsembleFaulty: 1, Inconclusive: 0}},
		{"step at 10 min", scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, newMult: step(0, 5), seed: 3}, 10,
			want{ImpactPass: 1, TemporalPass: 1, PersistencePass: 1, EnsembleFaulty: 1}},
		{"step, instant rollout (change point)", scenario{rpm: 1000, rate: 0.01, rolloutMin: 0, newMult: step(0, 4), seed: 4}, 20,
			want{ImpactPass: 1, TemporalPass: 1, PersistencePass: 1, EnsembleFaulty: 1, OverlapMinutes: 0, CPOffset: 0}},
		{"ramp", scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, newMult: func(k int) float64 { return 1 + float64(k)/10 }, seed: 5}, 60,
			want{ImpactPass: 1, TemporalPass: 1, PersistencePass: 1, EnsembleFaulty: 1}},
		{"delayed onset, too early to see", scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, newMult: step(30, 5), seed: 6}, 20,
			want{ImpactPass: 0, EnsembleFaulty: 0}},
		{"delayed onset", scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, newMult: step(30, 5), seed: 6}, 60,
			want{ImpactPass: 1, TemporalPass: 1, PersistencePass: 1, EnsembleFaulty: 1}},
		{"restart blip", scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, newMult: func(k int) float64 {
			if k < 3 {
				return 15
			}
			return 1
		}, seed: 7}, 60,
			want{PersistencePass: 0, EnsembleFaulty: 0}},
		{"low traffic fault", scenario{rpm: 3, rate: 0.01, rolloutMin: 10, newMult: step(0, 5), seed: 8}, 60,
			want{Inconclusive: 1, EnsembleFaulty: nan}},
		{"fleet outage", scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, allMult: step(5, 5),
			fleetOthers: func(k int) int32 {
				if k >= 5 {
					return 12
				}
				return 0
			}, seed: 9}, 60,
			want{TemporalPass: 0, EnsembleFaulty: 0, FleetOutage: 1}},
		{"fleet outage after the rollout (change point)", scenario{rpm: 1000, rate: 0.01, rolloutMin: 0, allMult: step(20, 5),
			fleetOthers: func(k int) int32 {
				if k >= 20 {
					return 8
				}
				return 0
			}, seed: 15}, 60,
			want{TemporalByChangePoint: 1, TemporalPass: 0, EnsembleFaulty: 0, FleetElevatedAtCP: 0.4}},
		{"same outage, fleet unseen", scenario{rpm: 1000, rate: 0.01, rolloutMin: 0, allMult: step(20, 5), seed: 15}, 60,
			want{TemporalByChangePoint: 1, TemporalPass: 1, CPOffset: 20, FleetElevatedAtCP: 0, EnsembleFaulty: 1}},
		{"new signature", scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, newSig: func(k int) int64 { return 3 }, seed: 10}, 20,
			want{NewSigPass: 1, NewSigFingerprints: 1, NewSigPersist: 1, KnownFingerprints: 1}},
		{"step rolled back at 25 min", scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, newMult: step(0, 5), rollbackAt: 25, seed: 13}, 60,
			want{ImpactPass: 1, TemporalPass: 1, PersistencePass: 1, EnsembleFaulty: 1, OverlapDeploy: 1}},
		{"blip, replaced after 4 min", scenario{rpm: 1000, rate: 0.01, rolloutMin: 2, newMult: step(0, 6), rollbackAt: 4, seed: 14}, 60,
			want{PersistencePass: 0, EnsembleFaulty: 0, OverlapDeploy: 1}},
		{"latency", scenario{rpm: 1000, rate: 0.01, rolloutMin: 0, latMult: step(0, 2), seed: 11}, 20,
			want{LatencyPass: 1, EnsembleFaulty: 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := computeAt(t, c.sc.input(), c.h)
			for k, wv := range c.want {
				got := v[k]
				if math.IsNaN(wv) != math.IsNaN(got) || (!math.IsNaN(wv) && got != wv) {
					t.Errorf("%s = %v, want %v (impact_ratio %.2f p %.1f, temporal cp %v llr %.1f vs_prev %.2f, persist %.2f last %.2f)",
						Schema[k].Name, got, wv, v[ImpactRatio], v[ImpactNegLog10P], v[CPOffset], v[CPLLR], v[VsPrevRatio], v[PersistenceFrac], v[LastBucketRatio])
				}
			}
		})
	}
}

// TestEmptyAndBadInput: no data gives an inconclusive vector, not a panic;
// inconsistent series are an error naming the deployment.
func TestEmptyAndBadInput(t *testing.T) {
	cfg := DefaultConfig()
	in := &Input{Deploy: Deploy{ID: "d0", Version: "v9", StartedAt: testStart, FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1}}
	w, err := NewWindow(in, 10, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := Compute(w, &cfg)
	if v[Inconclusive] != 1 || !math.IsNaN(v[EnsembleFaulty]) || !math.IsNaN(v[ChangeLines]) || !math.IsNaN(v[ImpactPass]) {
		t.Errorf("empty window: inconclusive %v ensemble %v change_lines %v impact_pass %v", v[Inconclusive], v[EnsembleFaulty], v[ChangeLines], v[ImpactPass])
	}
	in.Series = []Series{{Version: "v9", Minutes: []int64{1, 2}, Requests: []float64{1}, Errors: []float64{0, 0}}}
	if _, err := NewWindow(in, 10, &cfg); err == nil || !strings.Contains(err.Error(), "d0") {
		t.Errorf("bad series: err = %v, want an error naming deployment d0", err)
	}
	if _, err := NewWindow(in, 0, &cfg); err == nil {
		t.Error("horizon 0 accepted")
	}
}

// TestLowTrafficRatiosStayBounded: a handful of errors on a handful of
// requests must not produce a huge ratio.
func TestLowTrafficRatiosStayBounded(t *testing.T) {
	in := scenario{rpm: 2, rate: 0.001, rolloutMin: 0, newMult: step(0, 50), seed: 12}.input()
	v := computeAt(t, in, 10)
	if v[ImpactRatio] > 5 {
		t.Errorf("impact_ratio = %v on ~20 requests; shrinkage should keep it small", v[ImpactRatio])
	}
	if v[Inconclusive] != 1 || !math.IsNaN(v[EnsembleFaulty]) {
		t.Errorf("inconclusive = %v, ensemble_faulty = %v; want 1, NaN", v[Inconclusive], v[EnsembleFaulty])
	}
}

// TestNewSignaturesUnseenLookback: a fingerprint the look-back did not hold
// is new only where the history reaches back over the look-back, or an
// earlier deployment of the stream started in it (its restart logged the
// errors every restart logs); elsewhere the new_sig_* columns are NaN. A
// window without such a fingerprint keeps its zeros.
func TestNewSignaturesUnseenLookback(t *testing.T) {
	cfg := DefaultConfig()
	base := scenario{rpm: 800, rate: 0.01, newSig: func(k int) int64 { return 3 }, seed: 3}
	cols := []int{NewSigFingerprints, NewSigErrors, NewSigShare, NewSigRate, NewSigPersist, NewSigPass}
	for _, tc := range []struct {
		name    string
		prev    time.Time
		newSig  bool
		reach   bool // a metrics row 8 days before the start
		wantNaN bool
	}{
		{"an earlier deploy in the look-back", testStart.Add(-5 * time.Hour), true, false, false},
		{"no earlier deploy, three days of history", time.Time{}, true, false, true},
		{"the earlier deploy before the look-back", testStart.Add(-8 * 24 * time.Hour), true, false, true},
		{"a history reaching over the look-back", time.Time{}, true, true, false},
		{"no new fingerprint", time.Time{}, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := base
			if !tc.newSig {
				sc.newSig = nil
			}
			in := sc.input()
			in.PrevDeployAt = tc.prev
			if tc.reach {
				v1 := &in.Series[0]
				v1.Minutes = append([]int64{minuteOf(testStart) - 8*1440}, v1.Minutes...)
				v1.Requests = append([]float64{10}, v1.Requests...)
				v1.Errors = append([]float64{0}, v1.Errors...)
				v1.P95 = append([]float64{200}, v1.P95...)
				v1.P99 = append([]float64{400}, v1.P99...)
			}
			w, err := NewWindow(in, 60, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			v := Compute(w, &cfg)
			for _, c := range cols {
				if got := math.IsNaN(v[c]); got != tc.wantNaN {
					t.Errorf("%s = %v, want NaN: %v", Schema[c].Name, v[c], tc.wantNaN)
				}
			}
			if !tc.wantNaN && tc.newSig && !(v[NewSigErrors] > 0) {
				t.Errorf("new_sig_errors = %v, want the new fingerprint's errors", v[NewSigErrors])
			}
			if math.IsNaN(v[KnownFingerprints]) {
				t.Error("known_fingerprints is NaN")
			}
		})
	}
}
