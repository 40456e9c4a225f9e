package features

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// aggScenario is a hand-made change as most teams have it: one aggregate
// series of the service (no version), a deploy that switches all traffic
// at once, optionally declared KPIs derived from the series, and a fault
// that shifts, bursts or drops one of them.
type aggScenario struct {
	rpm      float64 // mean requests per minute
	rate     float64 // error rate
	diurnal  float64 // amplitude of the daily traffic cycle (0: flat)
	peakHour float64 // hour of the daily peak, UTC
	p95      float64 // p95 latency, ms (0: 200)
	noise    float64 // per-minute lognormal spread of the error rate (overdispersion)
	histDays int     // days of history before the start
	start    time.Time
	// Multipliers at minute k from the start (nil: 1).
	errMult, reqMult, latMult func(k int) float64
	// reqHist multiplies the traffic at minute k from the start, k < 0
	// included: the history before the change (nil: 1).
	reqHist func(k int) float64
	kpis    bool      // declare success_ratio, throughput, latency_p95 and saturation
	tputDir Direction // throughput's direction (default both)
	satMult func(k int) float64
	// office lifts the traffic by this share from 08:00 to 18:00 UTC on
	// weekdays only: a weekly shape, not only a level (0: none).
	office float64
	seed   uint64
}

const aggAfter = 120 // minutes of data after the start

func (sc aggScenario) input() *Input {
	rng := rand.New(rand.NewPCG(sc.seed, 13))
	start := sc.start
	if start.IsZero() {
		start = testStart
	}
	p95 := sc.p95
	if p95 == 0 {
		p95 = 200
	}
	s := minuteOf(start)
	mult := func(f func(int) float64, k int) float64 {
		if f == nil || k < 0 {
			return 1
		}
		return f(k)
	}
	agg := Series{Version: ""}
	sr := KPISeries{Name: "success_ratio", Direction: LowerIsWorse, Kind: KindRatio}
	tp := KPISeries{Name: "throughput", Direction: BothWorse, Kind: KindRate}
	if sc.tputDir != "" {
		tp.Direction = sc.tputDir
	}
	lat := KPISeries{Name: "latency_p95", Direction: HigherIsWorse, Kind: KindLatency}
	sat := KPISeries{Name: "saturation", Direction: HigherIsWorse, Kind: KindGauge}
	for m := s - int64(sc.histDays)*1440; m < s+aggAfter; m++ {
		k := int(m - s)
		h := float64((m%1440+1440)%1440) / 60
		lam := sc.rpm * (1 + sc.diurnal*math.Cos(2*math.Pi*(h-sc.peakHour)/24)) * mult(sc.reqMult, k) * always(sc.reqHist, k)
		if wd := time.Unix(m*60, 0).UTC().Weekday(); sc.office > 0 && wd != time.Saturday && wd != time.Sunday && h >= 8 && h < 18 {
			lam *= 1 + sc.office
		}
		req := poisson(rng, lam)
		if req == 0 {
			continue
		}
		p := sc.rate * mult(sc.errMult, k)
		if sc.noise > 0 {
			p *= math.Exp(sc.noise*rng.NormFloat64() - sc.noise*sc.noise/2)
		}
		e := binomial(rng, req, math.Min(1, p))
		l := p95 * mult(sc.latMult, k) * (1 + 0.05*rng.NormFloat64())
		agg.Minutes = append(agg.Minutes, m)
		agg.Requests = append(agg.Requests, float64(req))
		agg.Errors = append(agg.Errors, float64(e))
		agg.P95 = append(agg.P95, l)
		agg.P99 = append(agg.P99, 2*l)
		for _, kv := range []struct {
			k *KPISeries
			v float64
		}{{&sr, 1 - float64(e)/float64(req)}, {&tp, float64(req) / 60}, {&lat, l},
			{&sat, 40 * mult(sc.satMult, k) * (1 + 0.03*rng.NormFloat64())}} {
			kv.k.Minutes = append(kv.k.Minutes, m)
			kv.k.Values = append(kv.k.Values, kv.v)
		}
	}
	in := &Input{
		Deploy: Deploy{ID: "d1", Service: "api", Environment: "prod", Version: "v2", StartedAt: start,
			FinishedAt: start, FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1},
		Series: []Series{agg},
	}
	if sc.kpis {
		in.KPIs = []KPISeries{sr, tp, lat, sat}
	}
	return in
}

// always returns f(k), 1 when f is nil.
func always(f func(int) float64, k int) float64 {
	if f == nil {
		return 1
	}
	return f(k)
}

func burst(from, length int, m float64) func(int) float64 {
	return func(k int) float64 {
		if k >= from && k < from+length {
			return m
		}
		return 1
	}
}

// baChecks lists the pass columns of the before/after checks.
func baChecks() []int {
	var cols []int
	for _, g := range baGroups {
		for k := 0; k < int(numBATests); k++ {
			cols = append(cols, g+3+3*k)
		}
	}
	return cols
}

// TestBeforeAfterChecks pins the before/after checks on changes without a
// canary: one aggregate series, all traffic switched at once, faults that
// shift or burst one KPI up or down. Each check must respect its
// direction.
func TestBeforeAfterChecks(t *testing.T) {
	type want map[int]float64
	base := aggScenario{rpm: 2000, rate: 0.02, diurnal: 0.5, peakHour: 15, noise: 0.1, histDays: 7, kpis: true, seed: 3}
	with := func(f func(*aggScenario)) aggScenario { sc := base; f(&sc); return sc }
	cases := []struct {
		name string
		sc   aggScenario
		h    int
		want want
	}{
		{"healthy", base, 60, want{BAChecks: 16, BAKPIs: 4, BAPass: 0, BAReferenceDays: 3}},
		{"big bang, error rate +25%", with(func(s *aggScenario) { s.errMult = step(0, 1.25) }), 60,
			want{BAErrShiftPass: 1, BAErrSustainedPass: 1, BAKPIShiftPass: 1, BAKPISustainedPass: 1, BAPass: 1, BATputShiftPass: 0, BALatShiftPass: 0}},
		{"big bang, error rate +25%, at 20 minutes", with(func(s *aggScenario) { s.errMult = step(0, 1.25) }), 20,
			want{BAErrShiftPass: 1, BAPass: 1}},
		{"error rate +10% on heavy traffic", with(func(s *aggScenario) { s.rpm, s.rate, s.noise, s.errMult = 20000, 0.05, 0.03, step(0, 1.1) }), 60,
			want{BAErrShiftPass: 1, BAErrSustainedPass: 1, BAPass: 1}},
		{"burst of 10 minutes", with(func(s *aggScenario) { s.errMult = burst(3, 10, 3) }), 60,
			want{BAErrBurstPass: 1, BAErrSustainedPass: 0, BAPass: 1}},
		{"burst of 5 minutes, at 20 minutes", with(func(s *aggScenario) { s.errMult = burst(6, 5, 2.5) }), 20,
			want{BAErrBurstPass: 1, BAErrSustainedPass: 0, BAPass: 1}},
		{"throughput drop 15%", with(func(s *aggScenario) { s.reqMult = step(0, 0.85) }), 60,
			want{BATputShiftPass: 1, BATputSustainedPass: 1, BAKPIShiftPass: 1, BAPass: 1, BAErrShiftPass: 0}},
		{"throughput rise 30%: not worse for lower_is_worse", with(func(s *aggScenario) { s.reqMult, s.tputDir = step(0, 1.3), LowerIsWorse }), 60,
			want{BATputShiftPass: 0, BATputSustainedPass: 0, BATputBurstPass: 0, BAKPIShiftPass: 0, BAKPISustainedPass: 0}},
		{"throughput rise 30%: worse for both", with(func(s *aggScenario) { s.reqMult = step(0, 1.3) }), 60,
			want{BATputShiftPass: 0, BAKPIShiftPass: 1, BAKPISustainedPass: 1, BAPass: 1}},
		{"latency +20%", with(func(s *aggScenario) { s.latMult = step(0, 1.2) }), 60,
			want{BALatShiftPass: 1, BALatSustainedPass: 1, BAKPIShiftPass: 1, BAErrShiftPass: 0, BATputShiftPass: 0}},
		{"latency down 20%: not worse", with(func(s *aggScenario) { s.latMult = step(0, 0.8) }), 60,
			want{BALatShiftPass: 0, BALatSustainedPass: 0, BALatBurstPass: 0}},
		{"saturation +20%, a KPI only", with(func(s *aggScenario) { s.satMult = step(0, 1.2) }), 60,
			want{BAKPIShiftPass: 1, BAKPISustainedPass: 1, BAErrShiftPass: 0, BALatShiftPass: 0, BATputShiftPass: 0}},
		// Two days of history: the day before is adjusted by the one before
		// it, that one is compared unadjusted (no reference), and together
		// with the day of the change they give enough pseudo-change points.
		{"thin history: two days", with(func(s *aggScenario) { s.histDays, s.errMult = 2, step(0, 2) }), 60,
			want{BAErrShiftPass: 1, BAPass: 1, BAReferenceDays: 2, BAPseudoPoints: 24}},
		{"thin history: one day", with(func(s *aggScenario) { s.histDays, s.errMult = 1, step(0, 2) }), 60,
			want{BAErrShiftP: nan, BAErrShiftPass: nan, BAPass: nan, BAChecks: 0, BAReferenceDays: 1, BAPseudoPoints: 11}},
		{"no history", with(func(s *aggScenario) { s.histDays, s.errMult = 0, step(0, 2) }), 60,
			want{BAErrShiftStat: nan, BAErrLevelChange: nan, BAPass: nan, BAPseudoPoints: 0, BAReferenceDays: nan}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := computeAt(t, c.sc.input(), c.h)
			for k, wv := range c.want {
				got := v[k]
				if math.IsNaN(wv) != math.IsNaN(got) || (!math.IsNaN(wv) && got != wv) {
					t.Errorf("%s = %v, want %v (ba_min_p %.2g, err z %.2f p %.2g, tput z %.2f, lat z %.2f, kpi z %.2f p %.2g, points %v)",
						Schema[k].Name, got, wv, v[BAMinP], v[BAErrShiftStat], v[BAErrShiftP], v[BATputShiftStat], v[BALatShiftStat],
						v[BAKPIShiftStat], v[BAKPIShiftP], v[BAPseudoPoints])
				}
			}
		})
	}
}

// TestBeforeAfterReferenceDayAnomaly: one of the three reference days was
// not like the others at the change's clock time — yesterday's traffic
// burst from that time on. The mean of the days carries a third of it into
// the comparison, and the burst reads as a throughput drop of a change
// without fault. The median (reference_statistic, default) ignores the
// odd day, and still finds a real drop.
func TestBeforeAfterReferenceDayAnomaly(t *testing.T) {
	base := aggScenario{rpm: 2000, rate: 0.02, diurnal: 0.5, peakHour: 15, noise: 0.1, histDays: 7, seed: 5}
	with := func(f func(*aggScenario)) aggScenario { sc := base; f(&sc); return sc }
	cases := []struct {
		name      string
		sc        aggScenario
		col       int
		mean, med float64
	}{
		{"yesterday's traffic burst ×2.5 from the clock time on, no fault",
			with(func(s *aggScenario) { s.reqHist = burst(-1440, 400, 2.5) }), BATputShiftPass, 1, 0},
		{"no anomaly, throughput drop 15%", with(func(s *aggScenario) { s.reqMult = step(0, 0.85) }), BATputShiftPass, 1, 1},
		{"no anomaly, no fault", base, BAPass, 0, 0},
	}
	for _, c := range cases {
		for _, st := range []struct {
			stat string
			want float64
		}{{ReferenceMean, c.mean}, {ReferenceMedian, c.med}} {
			t.Run(c.name+", "+st.stat, func(t *testing.T) {
				cfg := DefaultConfig()
				cfg.BeforeAfter.ReferenceStatistic = st.stat
				v := computeAtCfg(t, c.sc.input(), 60, &cfg)
				if got := v[c.col]; got != st.want {
					t.Errorf("%s = %v, want %v (err z %.2f p %.2g, tput z %.2f p %.2g, level changes err %.3g tput %.3g)",
						Schema[c.col].Name, got, st.want, v[BAErrShiftStat], v[BAErrShiftP], v[BATputShiftStat], v[BATputShiftP],
						v[BAErrLevelChange], v[BATputLevelChange])
				}
			})
		}
	}
}

// TestBeforeAfterFalseAlarmBudget replays pure noise — services of every
// traffic level, error rate, overdispersion and daily cycle, deployed at
// every time of day, with no fault — and checks that each before/after
// check fires at about its budget: at most 13 of 400 at 1% (binomial
// P(X ≥ 14) < 1e-4 for a calibrated check), between 8 and 38 of 400 at 5%
// (P(X ≥ 39) < 1e-4: over the 130-odd checks and looks held to it, a
// tighter bound fails a calibrated check by chance — at 36, about once in
// 15 runs; the error rate's sustained test fired 37 times at 60 minutes
// with the median reference and 14 days, 15–26 with three other seeds,
// 15–30 with the mean), and on average over the checks within a factor of
// two of the budget.
//
// It does so with a week of history and with two days, the least that
// gives enough pseudo-change points: the first days of a history are
// replayed on the days it has, partly without a seasonal reference. With
// two days the per-check bounds at 5% are not asserted (see testBudget).
func TestBeforeAfterFalseAlarmBudget(t *testing.T) {
	for _, tc := range []struct{ days, weeks int }{{7, 0}, {2, 0}, {14, 1}} {
		t.Run(fmt.Sprintf("%d days reference_weeks %d", tc.days, tc.weeks), func(t *testing.T) { testBudget(t, tc.days, tc.weeks) })
	}
}

func testBudget(t *testing.T, histDays, weeks int) {
	n := 400
	if testing.Short() {
		n = 100
	}
	cfg := DefaultConfig()
	cfg.BeforeAfter.ReferenceWeeks = weeks
	checks := append(baChecks(), BAPass)
	for _, h := range []int{10, 60} {
		fired1, fired5 := make([]int, len(checks)), make([]int, len(checks))
		for i := 0; i < n; i++ {
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			sc := aggScenario{rpm: 50 + 3000*rng.Float64(), rate: 0.002 + 0.02*rng.Float64(), diurnal: 0.8 * rng.Float64(),
				peakHour: 12 + 6*rng.Float64(), noise: 0.3 * rng.Float64(), histDays: histDays, kpis: true,
				start: testStart.Add(time.Duration(rng.IntN(1440)) * time.Minute), seed: uint64(i)}
			w, err := NewWindow(sc.input(), h, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			v := Compute(w, &cfg)
			for c, col := range checks {
				if math.IsNaN(v[col]) {
					t.Fatalf("case %d h=%d: %s abstained with %d days of history", i, h, Schema[col].Name, histDays)
				}
				p := v[col-1]
				if col == BAPass {
					p = v[BAMinP]
				}
				if v[col] != b2f(p <= cfg.BeforeAfter.Budget) {
					t.Fatalf("%s = %v with p %v", Schema[col].Name, v[col], p)
				}
				if p <= 0.01 {
					fired1[c]++
				}
				if p <= 0.05 {
					fired5[c]++
				}
			}
		}
		var sum1, sum5 int
		for c, col := range checks {
			t.Logf("h=%d %-24s fired %3d (1%%) %3d (5%%) of %d", h, Schema[col].Name, fired1[c], fired5[c], n)
			if col != BAPass {
				sum1 += fired1[c]
				sum5 += fired5[c]
			}
			// With two days the replay has 24 values, too few to resolve a
			// 5% tail test by test (one check fired at 10.75%): the default
			// 1% budget holds per check, 5% only on average (below).
			// The lower bound catches a check that (almost) never fires; at
			// 8 of 400 (expected 20) a sound check falls below it with
			// probability 0.0003, about 1% over the 32 checks and looks of a
			// case (at 11 it was 0.006 each: ba_kpi_var_pass fired 9 times
			// at 5% with 14 days and reference_weeks, 13–18 with other
			// seeds, 16–18 with 7 days and the daily reference).
			loose5 := histDays < 7
			if n == 400 && (fired1[c] > 13 || !loose5 && (fired5[c] > 38 || col != BAPass && fired5[c] < 8)) {
				t.Errorf("h=%d: %s fired %d times at 1%% and %d at 5%% over %d changes without fault", h, Schema[col].Name, fired1[c], fired5[c], n)
			}
		}
		checks := float64(len(checks) - 1)
		for _, r := range []struct {
			budget float64
			fired  int
		}{{0.01, sum1}, {0.05, sum5}} {
			rate := float64(r.fired) / (checks * float64(n))
			t.Logf("h=%d: mean firing rate at budget %.2f: %.4f", h, r.budget, rate)
			if rate > 2*r.budget || rate < r.budget/2 {
				t.Errorf("h=%d: checks fired at a mean rate of %.4f with a budget of %.2f", h, rate, r.budget)
			}
		}
	}
}

// TestBeforeAfterReplayBeforeChange: the pseudo-change replay reads only
// data before the change. Changing every minute from the start to the cut
// changes the statistics at the change but not one replayed value;
// changing the day before changes them (the control), and with
// reference_weeks, on a series with a weekly shape, the day a week before
// too (its reference at the change).
func TestBeforeAfterReplayBeforeChange(t *testing.T) {
	for _, tc := range []struct{ weeks, histDays int }{{0, 7}, {1, 15}} {
		t.Run(fmt.Sprintf("reference_weeks %d", tc.weeks), func(t *testing.T) { testReplayBeforeChange(t, tc.weeks, tc.histDays) })
	}
}

func testReplayBeforeChange(t *testing.T, weeks, histDays int) {
	cfg := DefaultConfig()
	cfg.BeforeAfter.ReferenceWeeks = weeks
	sc := aggScenario{rpm: 1500, rate: 0.01, diurnal: 0.4, peakHour: 14, noise: 0.1, histDays: histDays, kpis: true, seed: 5}
	if weeks > 0 { // a weekly shape, at its weekday fall: the weekly reference fits better
		sc.office, sc.start = 1, time.Date(2026, 6, 15, 18, 0, 0, 0, time.UTC)
	}
	in := sc.input()
	const h = 60
	replay := func(in *Input) (null [][numBATests][]float64, stats [][numBATests]float64) {
		w, err := NewWindow(in, h, &cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := calc{v: make([]float64, NumFeatures), w: w, cfg: &cfg, B: w.B, H: w.H, prior: cfg.PriorErrors}
		sc := c.newBAScratch()
		defer putBAScratch(sc)
		type series struct {
			x, lg [][]float64
			prep  *baPrep
			kind  KPIKind
			dir   Direction
		}
		xs := []series{{w.ba.req, w.ba.lreq, w.ba.prepReq, KindRate, LowerIsWorse}, {w.ba.lat, w.ba.llat, w.ba.prepLat, KindLatency, HigherIsWorse}}
		for _, k := range w.ba.kpis {
			xs = append(xs, series{k.x, k.lx, k.prep, k.kind, k.dir})
		}
		for _, x := range xs {
			o := c.baEvaluate(sc, x.x, x.lg, x.prep, x.kind, x.dir, false)
			if !o.ok || o.points < cfg.BeforeAfter.MinPseudoPoints {
				t.Fatalf("replay not usable: %+v", o)
			}
			var nl [numBATests][]float64
			for k := range nl {
				nl[k] = append([]float64(nil), sc.null[k]...)
			}
			null, stats = append(null, nl), append(stats, o.stat)
		}
		return null, stats
	}
	null0, stats0 := replay(in)
	s := minuteOf(in.Deploy.StartedAt)
	perturb := func(from, to int64) *Input {
		out := *in
		out.Series = []Series{cloneSeries(in.Series[0])}
		out.KPIs = nil
		for _, k := range in.KPIs {
			k.Values = append([]float64(nil), k.Values...)
			for i, m := range k.Minutes {
				if m >= from && m < to {
					k.Values[i] *= 1.5
				}
			}
			out.KPIs = append(out.KPIs, k)
		}
		sr := &out.Series[0]
		for i, m := range sr.Minutes {
			if m >= from && m < to {
				sr.Requests[i] *= 0.5
				sr.P95[i] *= 3
			}
		}
		return &out
	}
	null1, stats1 := replay(perturb(s, s+h))
	for i := range null0 {
		if stats0[i] == stats1[i] {
			t.Errorf("series %d: changing the window changed no statistic at the change", i)
		}
		for k := range null0[i] {
			if sameVector(null0[i][k], null1[i][k]) >= 0 || len(null0[i][k]) != len(null1[i][k]) {
				t.Errorf("series %d test %d: the replay changed when only minutes from the start on changed", i, k)
			}
		}
	}
	null2, _ := replay(perturb(s-1440-120, s-1440+120))
	for i := range null0 {
		if sameVector(null0[i][baShift], null2[i][baShift]) < 0 {
			t.Errorf("series %d: changing the day before changed no replayed value", i)
		}
	}
	if weeks > 0 {
		// The requests have the weekly shape and take the weekly
		// reference; the other series, without one, keep the daily.
		_, stats3 := replay(perturb(s-7*1440-120, s-7*1440+120))
		if stats0[0] == stats3[0] {
			t.Errorf("requests: changing the day a week before changed no statistic at the change")
		}
	}
}

func cloneSeries(s Series) Series {
	return Series{Version: s.Version, Minutes: append([]int64(nil), s.Minutes...), Requests: append([]float64(nil), s.Requests...),
		Errors: append([]float64(nil), s.Errors...), P95: append([]float64(nil), s.P95...), P99: append([]float64(nil), s.P99...)}
}

// TestAggregateSeriesBesideVersions: an aggregate series (version "")
// beside per-version ones is not added to them — the service is the
// per-version rows where there are any — and fills the minutes they do not
// cover; it is never the new or a previous version.
func TestAggregateSeriesBesideVersions(t *testing.T) {
	cfg := DefaultConfig()
	in := scenario{rpm: 800, rate: 0.01, rolloutMin: 10, newMult: step(0, 4), seed: 41}.input()
	// An aggregate measured by other means: every minute, with other values.
	agg := Series{Version: ""}
	s := minuteOf(in.Deploy.StartedAt)
	for m := s - 2*1440; m < s+120; m++ {
		agg.Minutes = append(agg.Minutes, m)
		agg.Requests = append(agg.Requests, 5000)
		agg.Errors = append(agg.Errors, 2500)
		agg.P95 = append(agg.P95, 9000)
		agg.P99 = append(agg.P99, 9000)
	}
	both := *in
	both.Series = append([]Series{agg}, in.Series...)
	for _, h := range cfg.Horizons {
		want, got := computeAtCfg(t, in, h, &cfg), computeAtCfg(t, &both, h, &cfg)
		if i := sameVector(want, got); i >= 0 {
			t.Errorf("h=%d: %s = %v with an aggregate beside the versions, %v without", h, Schema[i].Name, got[i], want[i])
		}
	}
	// Alone, the aggregate is the service: before/after sees it, the
	// canary checks have no new version.
	only := *in
	only.Series = []Series{agg}
	v := computeAtCfg(t, &only, 60, &cfg)
	if v[BaselineErrorRate] != 0.5 || v[NewRequests] != 0 || !math.IsNaN(v[PrevErrorRate]) || v[Inconclusive] != 1 {
		t.Errorf("aggregate only: baseline_error_rate %v new_requests %v prev_error_rate %v inconclusive %v; want 0.5, 0, NaN, 1",
			v[BaselineErrorRate], v[NewRequests], v[PrevErrorRate], v[Inconclusive])
	}
	if v[BAErrLogRatio] != 0 || v[BATputLevelChange] != 0 {
		t.Errorf("aggregate only, constant: ba_err_log_ratio %v ba_tput_level_change %v; want 0, 0", v[BAErrLogRatio], v[BATputLevelChange])
	}
}

func computeAtCfg(t *testing.T, in *Input, h int, cfg *Config) []float64 {
	t.Helper()
	w, err := NewWindow(in, h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return Compute(w, cfg)
}

// TestTailP pins the replay p-value: the empirical share in the body, the
// fitted exponential tail beyond the top quarter, monotone in the
// statistic.
func TestTailP(t *testing.T) {
	null := make([]float64, 40)
	for i := range null {
		null[i] = float64(i) // 0..39
	}
	sorted := make([]float64, 40)
	if p := tailP(null, 20, sorted); p != 21.0/41 {
		t.Errorf("p(20) = %v, want 21/41", p)
	}
	// k = 10 top values 30..39 over u = 29: mean excess 5.5, and the
	// null's standard deviation 11.54 floors β at 2.886; β = 5.5.
	if p, want := tailP(null, 40, sorted), 11.0/41*math.Exp(-11/5.5); math.Abs(p-want) > 1e-15 {
		t.Errorf("p(40) = %v, want %v", p, want)
	}
	prev := 1.0
	for s := -1.0; s < 80; s += 0.25 {
		p := tailP(null, s, sorted)
		if p > prev || p < 0 {
			t.Fatalf("p(%v) = %v after %v: not monotone", s, p, prev)
		}
		prev = p
	}
	if !math.IsNaN(tailP(null, math.NaN(), sorted)) || !math.IsNaN(tailP(nil, 1, sorted)) {
		t.Error("NaN statistic or empty null did not give NaN")
	}
	if p := tailP([]float64{1, 1, 1, 1, 1, 1, 1, 1}, 2, sorted); p != 0 {
		t.Errorf("above a constant null: p = %v, want 0", p)
	}
}

// TestBAColumnLayout: writeBA and baSummary read every group as the level
// change, then statistic, p-value and pass of each test in baTest order.
func TestBAColumnLayout(t *testing.T) {
	tests := [numBATests]string{"_shift", "_sustained", "_burst", "_var"}
	for _, g := range baGroups {
		prefix := strings.TrimSuffix(Schema[g].Name, "_level_change")
		if prefix == Schema[g].Name {
			t.Fatalf("%s does not start a before/after group", Schema[g].Name)
		}
		for k, tn := range tests {
			col := g + 1 + 3*k
			stat, p, pass := Schema[col].Name, Schema[col+1].Name, Schema[col+2].Name
			if !strings.HasPrefix(stat, prefix+tn+"_") || p != prefix+tn+"_p" || pass != prefix+tn+"_pass" {
				t.Errorf("group %s test %d: columns %s, %s, %s", prefix, k, stat, p, pass)
			}
		}
	}
	if got := baGroups[len(baGroups)-1] + baColumns; got != NumFeatures {
		t.Errorf("the last before/after group ends at %d, the schema at %d", got, NumFeatures)
	}
}

// TestBeforeAfterConfigValidate: bad before/after settings are reported
// with their key paths.
func TestBeforeAfterConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		set  func(*BeforeAfterConfig)
		want string
	}{
		{"budget", func(b *BeforeAfterConfig) { b.Budget = 0 }, "features.before_after.budget"},
		{"min points above points", func(b *BeforeAfterConfig) { b.MinPseudoPoints = 60 }, "features.before_after.min_pseudo_points"},
		{"step", func(b *BeforeAfterConfig) { b.ReplayStepMinutes = 0 }, "features.before_after.replay_step_minutes"},
		{"burst", func(b *BeforeAfterConfig) { b.BurstMinutes = []int{5, 1} }, "features.before_after.burst_minutes[1]"},
		{"reference days", func(b *BeforeAfterConfig) { b.ReferenceDays = -1 }, "features.before_after.reference_days"},
		{"reference weeks", func(b *BeforeAfterConfig) { b.ReferenceWeeks = maxWeeks + 1 }, "features.before_after.reference_weeks"},
		{"reference statistic", func(b *BeforeAfterConfig) { b.ReferenceStatistic = "mode" }, "features.before_after.reference_statistic"},
	}
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.set(&cfg.BeforeAfter)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want+":") {
			t.Errorf("%s: err = %v, want one naming %s", c.name, err, c.want)
		}
	}
	if got, want := def.HistoryMinutes(), 7*1440+60; got != want {
		t.Errorf("HistoryMinutes() = %d, want %d (the seasonal days cover the replay)", got, want)
	}
	if got, want := def.WarmupMinutes(), 7*1440+60; got != want {
		t.Errorf("WarmupMinutes() = %d, want %d (HistoryMinutes covers the 7-day signature lookback)", got, want)
	}
	def.BeforeAfter.ReferenceWeeks = 1
	if got, want := def.HistoryMinutes(), 10*1440+180+60; got != want {
		t.Errorf("HistoryMinutes() = %d, want %d (the week before the third replay day)", got, want)
	}
	if got, want := def.WarmupMinutes(), 7*1440+60; got != want {
		t.Errorf("WarmupMinutes() = %d, want %d (the weekly reference is tried where it can be)", got, want)
	}
	def.BeforeAfter.ReferenceWeeks = 0
	def.SeasonalDays = 1
	if got, want := def.HistoryMinutes(), 6*1440+180+60; got != want {
		t.Errorf("HistoryMinutes() = %d, want %d (replay and reference days)", got, want)
	}
	def.SignatureLookbackMinutes = 14 * 1440
	if got, want := def.WarmupMinutes(), 14*1440; got != want {
		t.Errorf("WarmupMinutes() = %d, want %d (the signature lookback)", got, want)
	}
}

// TestBeforeAfterHorizons: any valid horizon, from one minute to a day,
// gives a vector (no index out of range) whose p-values lie in [0, 1].
func TestBeforeAfterHorizons(t *testing.T) {
	cfg := DefaultConfig()
	in := aggScenario{rpm: 1000, rate: 0.01, diurnal: 0.3, peakHour: 15, noise: 0.1, histDays: 8, kpis: true, errMult: step(0, 1.5), seed: 9}.input()
	for _, h := range []int{1, 2, 3, 7, 240, 1440} {
		v := computeAtCfg(t, in, h, &cfg)
		for col := BAPseudoPoints; col < NumFeatures; col++ {
			if n := Schema[col].Name; strings.HasSuffix(n, "_p") && !math.IsNaN(v[col]) && (v[col] < 0 || v[col] > 1) {
				t.Errorf("h=%d: %s = %v", h, n, v[col])
			}
		}
		if h <= 240 && math.IsNaN(v[BAErrShiftStat]) {
			t.Errorf("h=%d: ba_err_shift_z is NaN with a week of history", h)
		}
	}
}

// TestBeforeAfterStopsAtNextDeploy: the before/after tests read the
// service only until the next deploy of the stream. A healthy deploy
// followed at minute 15 by one that multiplies the error rate by 8 is
// judged on its own 15 minutes: every before/after column at 60 minutes
// is what it is without the step, and the step fires the error-rate
// level check when the next deploy is not known (the control). With a
// next deploy in the start's minute, the checks abstain (ba_checks 0).
func TestBeforeAfterStopsAtNextDeploy(t *testing.T) {
	cfg := DefaultConfig()
	base := aggScenario{rpm: 1500, rate: 0.005, diurnal: 0.3, peakHour: 14, noise: 0.05, histDays: 7, seed: 21}
	stepped := base
	stepped.errMult = step(15, 8)
	next := testStart.Add(15*time.Minute + 20*time.Second)

	calm, bad := base.input(), stepped.input()
	calm.OtherDeployStarts = []time.Time{next}
	bad.OtherDeployStarts = []time.Time{next}
	vc, vb := computeAtCfg(t, calm, 60, &cfg), computeAtCfg(t, bad, 60, &cfg)
	for col := BAPseudoPoints; col < NumFeatures; col++ {
		if a, b := vc[col], vb[col]; a != b && !(math.IsNaN(a) && math.IsNaN(b)) {
			t.Errorf("%s = %v with the next version's step, %v without: it read past the next deploy", Schema[col].Name, b, a)
		}
	}
	if math.IsNaN(vb[BAErrShiftStat]) {
		t.Fatalf("ba_err_shift_z is NaN with 15 minutes of the version's own traffic")
	}
	unknown := stepped.input() // the control: no next deploy known
	if v := computeAtCfg(t, unknown, 60, &cfg); v[BAErrShiftPass] != 1 {
		t.Errorf("control: ba_err_shift_pass = %v (p %v) for an 8x step over 45 minutes of the window", v[BAErrShiftPass], v[BAErrShiftP])
	}

	same := base.input()
	same.OtherDeployStarts = []time.Time{testStart.Add(30 * time.Second)}
	if v := computeAtCfg(t, same, 60, &cfg); !math.IsNaN(v[BAErrShiftStat]) || v[BAChecks] != 0 || !math.IsNaN(v[BAPass]) {
		t.Errorf("next deploy in the start's minute: ba_err_shift_z = %v, ba_checks = %v, ba_pass = %v, want NaN, 0, NaN (nothing to judge)", v[BAErrShiftStat], v[BAChecks], v[BAPass])
	}
}

// TestSustainedStat pins the sustained test's statistic: the window's
// lower quartile over the baseline mean when higher is worse (upper
// quartile, below it, when lower is worse; the larger of both for both
// directions), NaN skipped; a short burst does not move it, and unlike a
// count of minutes on the worse side it keeps growing with a shift every
// minute shows.
func TestSustainedStat(t *testing.T) {
	nan := math.NaN()
	buf := make([]float64, 16)
	tests := []struct {
		name string
		w    []float64
		dir  Direction
		want float64
	}{
		{"higher: lower quartile", []float64{5, 1, 4, 2, 3}, HigherIsWorse, 2},                 // ranks 0..4, (5−1)/4 = 1
		{"lower: upper quartile", []float64{5, 1, 4, 2, 3}, LowerIsWorse, -4},                  // mb 0 − rank 3
		{"both: the larger", []float64{-5, -6, -7, -8, -9}, BothWorse, 6},                      // up −8, down 0 − (−6)
		{"NaN skipped", []float64{nan, 3, nan, 1, 2, nan}, HigherIsWorse, 1},                   // {1,2,3}: rank 0
		{"a burst does not move it", []float64{0, 0, 0, 0, 0, 0, 0, 40, 40}, HigherIsWorse, 0}, // rank 2 of 9
		{"ties", []float64{2, 2, 2, 2}, HigherIsWorse, 2},
	}
	for _, tc := range tests {
		if got := sustainedStat(buf, tc.w, 0, 1, tc.dir); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := sustainedStat(buf, []float64{nan, nan}, 0, 1, HigherIsWorse); !math.IsNaN(got) {
		t.Errorf("no value: got %v, want NaN", got)
	}
	small := sustainedStat(buf, []float64{1.1, 1.2, 1.1, 1.3, 1.2, 1.1, 1.2, 1.3}, 1, 0.1, HigherIsWorse)
	large := sustainedStat(buf, []float64{3.1, 3.2, 3.1, 3.3, 3.2, 3.1, 3.2, 3.3}, 1, 0.1, HigherIsWorse)
	if !(small > 0 && large > 10*small) {
		t.Errorf("every minute above: %v for +0.1..0.3, %v for +2.1..2.3: want growing with the shift", small, large)
	}
}

// TestSelectRank checks selectRank against a sort on random values with
// many ties, at every rank.
func TestSelectRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(70)
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(rng.IntN(1 + n/3))
		}
		sorted := slices.Clone(v)
		slices.Sort(sorted)
		for k := range n {
			w := slices.Clone(v)
			if got := selectRank(w, k); got != sorted[k] {
				t.Fatalf("n %d rank %d of %v: got %v, want %v", n, k, v, got, sorted[k])
			}
		}
	}
}

// TestSustainedBlocks: on a service that logs an error every three minutes
// or so (300 requests a minute at 0.1 %), most minutes have none, and the
// quartile of single minutes barely moves when the error rate triples; the
// quartile of blocks that expect sustained_block_errors errors each does.
// Over 40 services the tripled rate is found at 60 minutes by blocks
// nearly always (36 when written), by single minutes about half the time
// (19); without a change blocks fire no more than the budget allows (0).
func TestSustainedBlocks(t *testing.T) {
	blocks, minutes := DefaultConfig(), DefaultConfig()
	minutes.BeforeAfter.SustainedBlockErrors = 0
	fires := func(cfg *Config, mult func(int) float64) (n int) {
		for seed := uint64(0); seed < 40; seed++ {
			sc := aggScenario{rpm: 300, rate: 0.001, diurnal: 0.3, peakHour: 15, noise: 0.1, histDays: 7, errMult: mult, seed: 100 + seed}
			w, err := NewWindow(sc.input(), 60, cfg)
			if err != nil {
				t.Fatal(err)
			}
			v := Compute(w, cfg)
			if v[BAErrSustainedPass] == 1 {
				n++
			}
		}
		return n
	}
	byBlocks, byMinutes := fires(&blocks, step(0, 3)), fires(&minutes, step(0, 3))
	healthy := fires(&blocks, nil)
	t.Logf("tripled error rate found by blocks %d/40, by minutes %d/40; no change: blocks fired %d/40", byBlocks, byMinutes, healthy)
	if byBlocks < 30 || byBlocks < byMinutes+8 || healthy > 3 {
		t.Errorf("blocks %d/40 (want ≥ 30 and ≥ minutes + 8), minutes %d/40, no change %d/40 (want ≤ 3)", byBlocks, byMinutes, healthy)
	}
}

func TestBlockMeans(t *testing.T) {
	// Values 1..10 with minute 4 missing (NaN), as prefix counts and sums.
	C, S1 := []float64{0}, []float64{0}
	for m := 1; m <= 10; m++ {
		c, s := 1.0, float64(m)
		if m == 4 {
			c, s = 0, 0
		}
		C, S1 = append(C, C[m-1]+c), append(S1, S1[m-1]+s)
	}
	buf := make([]float64, 10)
	for _, tc := range []struct {
		t, H, b int
		want    []float64
	}{
		{0, 10, 1, []float64{1, 2, 3, nan, 5, 6, 7, 8, 9, 10}},
		{0, 10, 3, []float64{2, 5.5, 8, 10}}, // (1+2+3)/3, (5+6)/2, (7+8+9)/3, 10
		{2, 6, 2, []float64{3, 5.5, 7.5}},    // 3 (minute 4 missing), (5+6)/2, (7+8)/2
		{0, 10, 10, []float64{5.666666666666667}},
	} {
		got := blockMeans(buf, C, S1, tc.t, tc.H, tc.b)
		if len(got) != len(tc.want) {
			t.Fatalf("t=%d H=%d b=%d: %v, want %v", tc.t, tc.H, tc.b, got, tc.want)
		}
		for i := range got {
			if !(got[i] == tc.want[i] || math.IsNaN(got[i]) && math.IsNaN(tc.want[i])) {
				t.Errorf("t=%d H=%d b=%d: %v, want %v", tc.t, tc.H, tc.b, got, tc.want)
				break
			}
		}
	}
}

// TestBeforeAfterWeeklyReference: on a service whose weekdays and weekends
// differ in shape (office hours: traffic falls at 18:00 on weekdays only),
// a change at the weekday drop, without fault, is judged against the
// previous days — a weekend among them — by default, and the throughput
// checks read the drop as the change's; with reference_weeks the same
// weekday a week earlier is the reference, and they fire at about their
// budget. The history must reach a week before every replay day: with
// less, the daily reference stays (the same values as reference_weeks 0).
func TestBeforeAfterWeeklyReference(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 20
	}
	monday := time.Date(2026, 6, 15, 18, 0, 0, 0, time.UTC)
	run := func(weeks, histDays int, fault func(int) float64) (fired int, rows [][]float64) {
		cfg := DefaultConfig()
		cfg.BeforeAfter.ReferenceWeeks = weeks
		for i := 0; i < n; i++ {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			// Mondays and Tuesdays of three weeks, at 17:55–18:00.
			start := monday.AddDate(0, 0, 7*(i%3)+(i/3)%2).Add(-time.Duration(rng.IntN(6)) * time.Minute)
			sc := aggScenario{rpm: 200 + 2000*rng.Float64(), rate: 0.005, diurnal: 0.2 * rng.Float64(), peakHour: 14,
				noise: 0.1, histDays: histDays, start: start, office: 1, reqMult: fault, seed: uint64(i)}
			w, err := NewWindow(sc.input(), 60, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			v := Compute(w, &cfg)
			if v[BATputShiftPass] == 1 && v[BATputSustainedPass] == 1 {
				fired++
			}
			rows = append(rows, v)
		}
		return fired, rows
	}
	daily, _ := run(0, 15, nil)
	weekly, _ := run(1, 15, nil)
	found, _ := run(1, 15, step(0, 0.7))
	t.Logf("throughput level and sustained tests both fired on %d (daily reference) and %d (weekly) of %d changes without fault, on %d of %d that lost 30%% of their traffic (weekly)", daily, weekly, n, found, n)
	if daily < n/2 {
		t.Errorf("daily reference: the weekday drop fired on %d of %d changes; the test no longer shows what the weekly reference is for", daily, n)
	}
	if weekly > max(2, n/20) {
		t.Errorf("weekly reference: %d of %d changes without fault fired", weekly, n)
	}
	if found < n*9/10 {
		t.Errorf("weekly reference: a 30%% traffic drop fired on %d of %d changes", found, n)
	}
	// Eight days of history: no week before the third replay day, so the
	// daily reference is kept, value for value.
	_, short0 := run(0, 8, nil)
	_, short1 := run(1, 8, nil)
	for i := range short0 {
		for c := range short0[i] {
			if a, b := short0[i][c], short1[i][c]; a != b && !(math.IsNaN(a) && math.IsNaN(b)) {
				t.Fatalf("change %d: %s is %v with reference_weeks 1 and %v without, on 8 days of history", i, Schema[c].Name, b, a)
			}
		}
	}
}

// TestBAErrLate: ba_err_late_z counts the service's errors from minute 5
// on. A restart blip — the error rate 8× for the first two minutes — lifts
// ba_err_log_ratio but not the late count test; a step that persists
// lifts both; a window of five minutes or less has no late minutes.
func TestBAErrLate(t *testing.T) {
	base := aggScenario{rpm: 2000, rate: 0.01, diurnal: 0.3, peakHour: 15, noise: 0.05, histDays: 2, seed: 5}
	blip, stepped := base, base
	blip.errMult = burst(0, 2, 8)
	stepped.errMult = step(0, 3)
	cfg := DefaultConfig()
	for _, h := range []int{10, 20} {
		vb, vs, vh := computeAtCfg(t, blip.input(), h, &cfg), computeAtCfg(t, stepped.input(), h, &cfg), computeAtCfg(t, base.input(), h, &cfg)
		if !(vb[BAErrLogRatio] > 0.2) || !(math.Abs(vb[BAErrLateStat]) < 3) {
			t.Errorf("h=%d, blip: ba_err_log_ratio %v, ba_err_late_z %v; want the blip in the first only", h, vb[BAErrLogRatio], vb[BAErrLateStat])
		}
		if !(vs[BAErrLateStat] > 10) {
			t.Errorf("h=%d, 3x step: ba_err_late_z %v, want > 10", h, vs[BAErrLateStat])
		}
		if !(math.Abs(vh[BAErrLateStat]) < 3) {
			t.Errorf("h=%d, healthy: ba_err_late_z %v, want within 3", h, vh[BAErrLateStat])
		}
	}
	if v := computeAtCfg(t, stepped.input(), 5, &cfg); !math.IsNaN(v[BAErrLateStat]) || math.IsNaN(v[BAErrLogRatio]) {
		t.Errorf("h=5: ba_err_late_z %v, ba_err_log_ratio %v; want NaN and a value", v[BAErrLateStat], v[BAErrLogRatio])
	}
}

// TestReference pins the seasonal reference of one clock minute: the mean
// or the median of the reference days' values; with one or two days they
// agree, and an even count's median is the mean of the middle two.
func TestReference(t *testing.T) {
	cases := []struct {
		vs        []float64
		mean, med float64
	}{
		{[]float64{4}, 4, 4},
		{[]float64{1, 3}, 2, 2},
		{[]float64{1, 9, 2}, 4, 2},
		{[]float64{9, 1, 2}, 4, 2},
		{[]float64{2, 2, 8}, 4, 2},
		{[]float64{5, 1, 3, 7}, 4, 4},
		{[]float64{10, 1, 2, 3, 4}, 4, 3},
	}
	for _, c := range cases {
		if got := reference(slices.Clone(c.vs), false); got != c.mean {
			t.Errorf("mean of %v = %v, want %v", c.vs, got, c.mean)
		}
		if got := reference(slices.Clone(c.vs), true); got != c.med {
			t.Errorf("median of %v = %v, want %v", c.vs, got, c.med)
		}
	}
}
