package labeling

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
)

// baRows are one deployment's features at 10, 20 and 60 minutes.
type baRows map[int]map[string]float64

// errShift is the features of a version whose error rate rose by 0.01
// errors per request at the change and stayed there, clearly (p 1e-5 for
// both tests) at 20 and 60 minutes, the latency and throughput checks
// judging without firing, in a quiet fleet; mod changes it.
func errShift(mod func(baRows)) baRows {
	r := baRows{}
	for _, h := range []int{10, 20, 60} {
		r[h] = map[string]float64{"overlap_deploy": 0, "overlap_minutes": 0, "fleet_elevated_max_frac": 0,
			"ba_err_shift_p": 1e-5, "ba_err_sustained_p": 1e-5, "ba_err_level_change": 0.01,
			"ba_lat_shift_p": 0.5, "ba_lat_sustained_p": 0.5, "ba_lat_level_change": 0.01,
			"ba_tput_shift_p": 0.5, "ba_tput_sustained_p": 0.5, "ba_tput_level_change": 0.01,
			"baseline_error_rate": 0.05, "new_sig_errors": 0}
	}
	if mod != nil {
		mod(r)
	}
	return r
}

// writeBARows writes the features files of horizons 10, 20 and 60 for the
// deployments of rows (by id) into dir.
func writeBARows(t *testing.T, dir string, ids []string, rows map[string]baRows) {
	t.Helper()
	for _, h := range []int{10, 20, 60} {
		var fr []featureRow
		for _, id := range ids {
			if c, ok := rows[id][h]; ok {
				fr = append(fr, featureRow{id, c})
			}
		}
		writeFeatures(t, dir, h, fr)
	}
}

// baCase is a deployment of the before/after tests: its features, how long
// its version served before the next one, and the vote wanted.
type baCase struct {
	id   string
	life float64 // hours until the next version
	rows baRows
	want int8
}

// baVotes writes the cases as a history (one stream, one version each) and
// their features, and returns the votes of cfg's functions.
func baVotes(t *testing.T, cases []baCase, cfg Config) (map[string]map[string]int8, map[string]int8) {
	t.Helper()
	h := &memHistory{}
	rows := map[string]baRows{}
	want := map[string]int8{}
	var ids []string
	at := 0.0
	for i, tc := range cases {
		h.deps = append(h.deps, dep(tc.id, fmt.Sprintf("v%d", i), at, history.KindDeploy))
		rows[tc.id] = tc.rows
		want[tc.id] = tc.want
		ids = append(ids, tc.id)
		at += tc.life
	}
	dir := t.TempDir()
	writeBARows(t, dir, ids, rows)
	return votesOf(t, h, cfg, dir), want
}

func TestBeforeAfterShift(t *testing.T) {
	set := func(h int, c string, v float64) func(baRows) { return func(r baRows) { r[h][c] = v } }
	all := func(mods ...func(baRows)) func(baRows) {
		return func(r baRows) {
			for _, m := range mods {
				m(r)
			}
		}
	}
	cases := []baCase{
		{"step", 5, errShift(nil), faulty},
		// Replaced at minute 45: judged at 20 minutes, on what it served.
		{"replaced at 45", 0.75, errShift(set(60, "overlap_deploy", 1)), faulty},
		{"replaced at 15", 0.25, errShift(all(set(20, "overlap_deploy", 1), set(60, "overlap_deploy", 1))), abstain},
		// A restart blip: 0.02 over the first 10 minutes, −0.008 over the next ten.
		{"blip", 5, errShift(all(set(10, "ba_err_level_change", 0.02), set(20, "ba_err_level_change", 0.006))), abstain},
		// Fading by the hour: 0.01 over 20 minutes, 0.001 over the next 40.
		{"fades", 5, errShift(set(60, "ba_err_level_change", 0.004)), abstain},
		// A delayed onset is not decaying: nothing at 10 minutes.
		{"delayed", 5, errShift(all(set(10, "ba_err_level_change", -0.001), set(20, "ba_err_level_change", 0.005))), faulty},
		{"ramp", 5, errShift(all(set(10, "ba_err_level_change", 0.002), set(60, "ba_err_level_change", 0.02))), faulty},
		{"not sustained at 60", 5, errShift(set(60, "ba_err_sustained_p", 0.2)), abstain},
		// p 0.005 is above 0.01 shared by three series, below 0.01 for one.
		{"three judged", 5, errShift(all(set(20, "ba_err_shift_p", 0.005))), abstain},
		{"one judged", 5, errShift(all(set(20, "ba_err_shift_p", 0.005), set(20, "ba_lat_shift_p", nan), set(20, "ba_tput_shift_p", nan))), faulty},
		// Throughput fell 20 % (its bad direction is down).
		{"throughput drop", 5, errShift(func(r baRows) {
			for h := range r {
				r[h]["ba_err_shift_p"], r[h]["ba_tput_shift_p"], r[h]["ba_tput_sustained_p"], r[h]["ba_tput_level_change"] = 0.5, 1e-4, 1e-4, -0.2
			}
		}), faulty},
		{"outage", 5, errShift(set(60, "fleet_elevated_max_frac", 0.4)), abstain},
		{"no fleet data", 5, errShift(set(60, "fleet_elevated_max_frac", nan)), faulty},
		// A canary: the versions served side by side for 12 minutes.
		{"canary", 5, errShift(set(20, "overlap_minutes", 12)), abstain},
		{"no version data", 5, errShift(set(20, "overlap_minutes", nan)), faulty},
		{"unknown", 5, errShift(set(60, "ba_err_sustained_p", nan)), abstain},
		{"no early level", 5, errShift(set(10, "ba_err_level_change", nan)), abstain},
		// A harmless new error: the error rate rose for good, clearly, by
		// 0.0015 errors per request, below the impact check's materiality.
		{"immaterial", 5, errShift(all(set(10, "ba_err_level_change", 0.0015), set(20, "ba_err_level_change", 0.0015),
			set(60, "ba_err_level_change", 0.0015))), abstain},
		{"material at 20 only", 0.75, errShift(all(set(10, "ba_err_level_change", 0.0025), set(20, "ba_err_level_change", 0.0025),
			set(60, "overlap_deploy", 1))), faulty},
		{"no level", 5, errShift(set(60, "ba_err_level_change", nan)), abstain},
		// The same rise on a small error rate (0.004): a third of it, with
		// no new fingerprint, is material (min_error_rise 0.1) ...
		{"small rate", 5, errShift(all(set(10, "ba_err_level_change", 0.0015), set(20, "ba_err_level_change", 0.0015),
			set(60, "ba_err_level_change", 0.0015), set(20, "baseline_error_rate", 0.004), set(60, "baseline_error_rate", 0.004))), faulty},
		// ... but not when the window logged errors with a new fingerprint
		// (a harmless new error), nor without a baseline rate.
		{"small rate, new fingerprint", 5, errShift(all(set(10, "ba_err_level_change", 0.0015), set(20, "ba_err_level_change", 0.0015),
			set(60, "ba_err_level_change", 0.0015), set(20, "baseline_error_rate", 0.004), set(60, "baseline_error_rate", 0.004),
			set(60, "new_sig_errors", 12))), abstain},
		{"small rate, no baseline rate", 5, errShift(all(set(10, "ba_err_level_change", 0.0015), set(20, "ba_err_level_change", 0.0015),
			set(60, "ba_err_level_change", 0.0015), set(20, "baseline_error_rate", nan), set(60, "baseline_error_rate", 0.004))), abstain},
	}
	v, want := baVotes(t, cases, only(FnBeforeAfterShift))
	checkVotes(t, FnBeforeAfterShift, v[FnBeforeAfterShift], want)

	// Without the early look the blip at 10 minutes is not seen.
	cfg := with(t, only(FnBeforeAfterShift), func(f *BeforeAfterShiftLF) { f.EarlyMinutes = 0 })
	v, _ = baVotes(t, cases, cfg)
	want["blip"], want["no early level"] = faulty, faulty
	checkVotes(t, FnBeforeAfterShift, v[FnBeforeAfterShift], want)

	// Without the materiality floor the harmless new error counts.
	cfg = with(t, only(FnBeforeAfterShift), func(f *BeforeAfterShiftLF) { f.MinErrorExcess = 0 })
	v, want = baVotes(t, cases, cfg)
	want["immaterial"] = faulty
	want["small rate, new fingerprint"], want["small rate, no baseline rate"] = faulty, faulty
	checkVotes(t, FnBeforeAfterShift, v[FnBeforeAfterShift], want)

	// Without the relative floor the small rate's rise is immaterial.
	cfg = with(t, only(FnBeforeAfterShift), func(f *BeforeAfterShiftLF) { f.MinErrorRise = 0 })
	v, want = baVotes(t, cases, cfg)
	want["small rate"] = abstain
	checkVotes(t, FnBeforeAfterShift, v[FnBeforeAfterShift], want)
}

// kpiShift is the features of a version under which a declared KPI moved
// clearly and stayed, while the throughput did not move; mod changes it.
func kpiShift(mod func(baRows)) baRows {
	r := baRows{}
	for _, h := range []int{10, 20, 60} {
		r[h] = map[string]float64{"overlap_deploy": 0, "overlap_minutes": 0, "fleet_elevated_max_frac": 0,
			"ba_kpi_shift_p": 1e-4, "ba_kpi_sustained_p": 1e-4, "ba_kpi_level_change": -0.05,
			"ba_tput_shift_z": 0.3, "ba_tput_sustained_z": -0.4,
			// The built-in series moved too: kpi_breach does not read them.
			"ba_err_shift_p": 1e-5, "ba_err_sustained_p": 1e-5, "ba_err_level_change": 0.01}
	}
	if mod != nil {
		mod(r)
	}
	return r
}

func TestKPIBreach(t *testing.T) {
	rose := func(r baRows) {
		for h := range r {
			r[h]["ba_tput_shift_z"], r[h]["ba_tput_sustained_z"] = -9, -4.4
		}
	}
	cases := []baCase{
		{"success ratio down", 5, kpiShift(nil), faulty},
		{"traffic rose", 5, kpiShift(rose), abstain},
		{"traffic rose a little", 5, kpiShift(func(r baRows) { r[20]["ba_tput_shift_z"], r[20]["ba_tput_sustained_z"] = -9, -1 }), faulty},
		{"no throughput data", 5, kpiShift(func(r baRows) {
			for h := range r {
				r[h]["ba_tput_shift_z"], r[h]["ba_tput_sustained_z"] = nan, nan
			}
		}), faulty},
		{"fades", 5, kpiShift(func(r baRows) { r[60]["ba_kpi_level_change"] = -0.02 }), abstain},
		{"canary", 5, kpiShift(func(r baRows) { r[20]["overlap_minutes"] = 1 }), abstain},
		{"no KPIs", 5, kpiShift(func(r baRows) {
			for h := range r {
				r[h]["ba_kpi_shift_p"], r[h]["ba_kpi_sustained_p"], r[h]["ba_kpi_level_change"] = nan, nan, nan
			}
		}), abstain},
	}
	v, want := baVotes(t, cases, only(FnKPIBreach))
	checkVotes(t, FnKPIBreach, v[FnKPIBreach], want)

	// A switch inside one minute is allowed with max_overlap_minutes: 1.
	cfg0 := with(t, only(FnKPIBreach), func(f *KPIBreachLF) { f.MaxOverlapMinutes = 1 })
	v, _ = baVotes(t, cases, cfg0)
	want["canary"] = faulty
	checkVotes(t, FnKPIBreach, v[FnKPIBreach], want)
	want["canary"] = abstain

	cfg := with(t, only(FnKPIBreach), func(f *KPIBreachLF) { f.TrafficGuard = false })
	v, _ = baVotes(t, cases, cfg)
	want["traffic rose"] = faulty
	checkVotes(t, FnKPIBreach, v[FnKPIBreach], want)
}

// quietHour is the features of a version that served the hour alone after
// a quiet hour, with no before/after check firing and level changes that
// rule out a material change: errors +0.0001 per request (standard error
// 0.0001) over a baseline rate of 0.002, latency +2 % (0.02), throughput
// −1 % (0.02); mod changes it.
func quietHour(mod func(baRows)) baRows {
	r := baRows{}
	for _, h := range []int{10, 20, 60} {
		r[h] = map[string]float64{"overlap_deploy": 0, "overlap_minutes": 0, "fleet_elevated_max_frac": 0, "minutes_since_prev_deploy": 600,
			"ba_checks_fired": 0, "ba_err_shift_p": 0.4, "ba_tput_shift_p": 0.6, "baseline_error_rate": 0.002,
			"ba_err_level_change": 0.0001, "ba_err_shift_z": 1,
			"ba_lat_level_change": 0.02, "ba_lat_shift_z": 1,
			"ba_tput_level_change": -0.01, "ba_tput_shift_z": 0.5}
	}
	if mod != nil {
		mod(r)
	}
	return r
}

func TestBeforeAfterHealthy(t *testing.T) {
	set := func(h int, c string, v float64) func(baRows) { return func(r baRows) { r[h][c] = v } }
	cases := []baCase{
		{"quiet", 5, quietHour(nil), healthy},
		{"fired at 20", 5, quietHour(set(20, "ba_checks_fired", 1)), abstain},
		{"canary", 5, quietHour(set(10, "overlap_minutes", 4)), abstain},
		{"replaced at 45", 0.75, quietHour(set(60, "overlap_deploy", 1)), abstain},
		{"after another deploy", 5, quietHour(set(60, "minutes_since_prev_deploy", 30)), abstain},
		{"no replay at 10", 5, quietHour(set(10, "ba_err_shift_p", nan)), abstain},
		{"no throughput check", 5, quietHour(set(60, "ba_tput_shift_p", nan)), abstain},
		{"outage", 5, quietHour(set(20, "fleet_elevated_max_frac", 0.3)), abstain},
		// Errors +0.0005 (standard error 0.0005): the bound, 0.0013, does not rule out +0.001.
		{"errors too noisy", 5, quietHour(set(60, "ba_err_level_change", 0.0005)), abstain},
		{"no baseline errors", 5, quietHour(set(60, "baseline_error_rate", 0)), abstain},
		{"no error change to bound", 5, quietHour(set(60, "ba_err_shift_z", 0)), abstain},
		// Latency +20 % with standard error 0.1: +36 % not ruled out.
		{"latency too noisy", 5, quietHour(func(r baRows) { r[60]["ba_lat_level_change"], r[60]["ba_lat_shift_z"] = 0.2, 2 }), abstain},
		{"no latency recorded", 5, quietHour(set(60, "ba_lat_level_change", nan)), healthy},
		// Throughput −15 % with standard error 0.1: a fall by 1.3 not ruled out.
		{"throughput too noisy", 5, quietHour(func(r baRows) { r[60]["ba_tput_level_change"], r[60]["ba_tput_shift_z"] = -0.15, 1.5 }), abstain},
	}
	v, want := baVotes(t, cases, only(FnBeforeAfterHealthy))
	checkVotes(t, FnBeforeAfterHealthy, v[FnBeforeAfterHealthy], want)
}

func TestBeforeAfterSettings(t *testing.T) {
	def := DefaultConfig()
	// The rule's settings are keys of each function's own section.
	got, err := decodeSection(t, "labeling:\n  kpi_breach:\n    max_p: 0.001\n    traffic_guard: false\n  before_after_shift:\n    horizons: [30]\n")
	if err != nil {
		t.Fatal(err)
	}
	kb, bs := def.Function(FnKPIBreach).(KPIBreachLF), def.Function(FnBeforeAfterShift).(BeforeAfterShiftLF)
	kb.MaxP, kb.TrafficGuard, bs.Horizons = 0.001, false, []int{30}
	if want := def.With(kb).With(bs); !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v\nwant    %+v", got, want)
	}
	if _, err := decodeSection(t, "labeling:\n  before_after_shift:\n    max_q: 1\n"); err == nil || !strings.Contains(err.Error(), "max_q") {
		t.Errorf("unknown key: error %v", err)
	}
	j, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"kpi_breach":{"enabled":true,"horizons":[20,60],"early_minutes":10,"max_p":0.01`, `"traffic_guard":true`} {
		if !strings.Contains(string(j), s) {
			t.Errorf("JSON lacks %s: %s", s, j)
		}
	}

	for _, tc := range []struct {
		f    Function
		want string
	}{
		{BeforeAfterShiftLF{Enabled: true, baShift: baShift{Horizons: []int{20, 60}, EarlyMinutes: 20, MaxP: 0.01}}, "labeling.before_after_shift.early_minutes"},
		{BeforeAfterShiftLF{Enabled: true, baShift: baShift{Horizons: []int{20, 20}, MaxP: 0.01}}, "labeling.before_after_shift.horizons: 20 is listed twice"},
		{KPIBreachLF{Enabled: true, baShift: baShift{Horizons: []int{20}, MaxP: 0}}, "labeling.kpi_breach.max_p"},
		{KPIBreachLF{Enabled: true, baShift: baShift{Horizons: []int{20}, MaxP: 0.01, MaxFleetShare: 2}}, "labeling.kpi_breach.max_fleet_share"},
		{with(t, def, func(f *BeforeAfterHealthyLF) { f.MaxErrorRatio = 1 }).Function(FnBeforeAfterHealthy), "labeling.before_after_healthy.max_error_ratio"},
		{with(t, def, func(f *BeforeAfterHealthyLF) { f.Confidence = 1 }).Function(FnBeforeAfterHealthy), "labeling.before_after_healthy.confidence"},
		{with(t, def, func(f *BeforeAfterHealthyLF) { f.Horizons = nil }).Function(FnBeforeAfterHealthy), "labeling.before_after_healthy.horizons"},
		{with(t, def, func(f *BeforeAfterHealthyLF) { f.MaxOverlapMinutes = -1 }).Function(FnBeforeAfterHealthy), "labeling.before_after_healthy.max_overlap_minutes"},
		{with(t, def, func(f *KPIBreachLF) { f.MaxOverlapMinutes = nan }).Function(FnKPIBreach), "labeling.kpi_breach.max_overlap_minutes"},
		{with(t, def, func(f *BeforeAfterShiftLF) { f.MinErrorExcess = -0.001 }).Function(FnBeforeAfterShift), "labeling.before_after_shift.min_error_excess"},
		{with(t, def, func(f *BeforeAfterShiftLF) { f.MinErrorRise = -0.1 }).Function(FnBeforeAfterShift), "labeling.before_after_shift.min_error_rise"},
	} {
		c := def.With(tc.f)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.f, err, tc.want)
		}
	}
}

// kpiBurst is the features of a version under which a declared KPI broke
// out for a few minutes of its first ten (a burst at p 1e-6 that moved the
// ten-minute mean of the success ratio by −0.08), while the throughput did
// not move; mod changes it.
func kpiBurst(mod func(baRows)) baRows {
	r := baRows{}
	for _, h := range []int{10, 20, 60} {
		r[h] = map[string]float64{"overlap_deploy": 0, "overlap_minutes": 0, "fleet_elevated_max_frac": 0,
			"ba_kpi_burst_p": 1e-6, "ba_kpi_level_change": -0.08,
			"ba_tput_shift_z": 0.3, "ba_tput_sustained_z": -0.4}
	}
	if mod != nil {
		mod(r)
	}
	return r
}

func TestKPIBurst(t *testing.T) {
	at10 := func(col string, v float64) func(baRows) { return func(r baRows) { r[10][col] = v } }
	cases := []baCase{
		{"burst", 5, kpiBurst(nil), faulty},
		{"burst up", 5, kpiBurst(at10("ba_kpi_level_change", 0.3)), faulty}, // a saturation or latency KPI
		{"at max_p", 5, kpiBurst(at10("ba_kpi_burst_p", 1e-4)), faulty},
		{"not rare enough", 5, kpiBurst(at10("ba_kpi_burst_p", 2e-4)), abstain},
		// A restart's transient: clear, but the ten-minute mean barely moved.
		{"transient", 5, kpiBurst(at10("ba_kpi_level_change", -0.02)), abstain},
		{"only later", 5, kpiBurst(func(r baRows) { r[10]["ba_kpi_burst_p"] = 0.3; r[20]["ba_kpi_burst_p"] = 1e-9 }), abstain},
		{"replaced within the window", 5, kpiBurst(at10("overlap_deploy", 1)), abstain},
		{"canary", 5, kpiBurst(at10("overlap_minutes", 3)), abstain},
		{"no version data", 5, kpiBurst(at10("overlap_minutes", nan)), faulty},
		{"outage", 5, kpiBurst(at10("fleet_elevated_max_frac", 0.4)), abstain},
		{"traffic rose", 5, kpiBurst(func(r baRows) { r[10]["ba_tput_shift_z"], r[10]["ba_tput_sustained_z"] = -9, -4.4 }), abstain},
		{"no KPIs", 5, kpiBurst(func(r baRows) { r[10]["ba_kpi_burst_p"], r[10]["ba_kpi_level_change"] = nan, nan }), abstain},
		{"no level", 5, kpiBurst(at10("ba_kpi_level_change", nan)), abstain},
	}
	v, want := baVotes(t, cases, only(FnKPIBurst))
	checkVotes(t, FnKPIBurst, v[FnKPIBurst], want)

	cfg := with(t, only(FnKPIBurst), func(f *KPIBurstLF) { f.TrafficGuard, f.MaxFleetShare = false, 0 })
	v, _ = baVotes(t, cases, cfg)
	want["traffic rose"], want["outage"] = faulty, faulty
	checkVotes(t, FnKPIBurst, v[FnKPIBurst], want)

	for _, c := range []struct {
		f    KPIBurstLF
		want string
	}{
		{KPIBurstLF{Enabled: true, Horizon: 0, MaxP: 1e-4}, "horizon"},
		{KPIBurstLF{Enabled: true, Horizon: 10, MaxP: 0}, "max_p"},
		{KPIBurstLF{Enabled: true, Horizon: 10, MaxP: 1e-4, MinLevelChange: nan}, "min_level_change"},
		{KPIBurstLF{Enabled: true, Horizon: 10, MaxP: 1e-4, MaxFleetShare: 2}, "max_fleet_share"},
	} {
		if err := c.f.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want one naming %s", c.f, err, c.want)
		}
	}
}
