package labeling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// votesOf computes the votes of cfg's functions on h and returns them by
// function, then deployment id.
func votesOf(t *testing.T, h *memHistory, cfg Config, dir string) map[string]map[string]int8 {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	res, err := Compute(context.Background(), cfg, Input{History: h, Workdir: dir})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]int8{}
	for j, name := range res.Votes.Names {
		out[name] = map[string]int8{}
		for i, id := range res.IDs {
			out[name][id] = res.Votes.Cols[j][i]
		}
	}
	return out
}

func checkVotes(t *testing.T, fn string, got map[string]int8, want map[string]int8) {
	t.Helper()
	for id, w := range want {
		if g, ok := got[id]; !ok || g != w {
			t.Errorf("%s on %s: vote %d, want %d", fn, id, g, w)
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok && g != abstain {
			t.Errorf("%s on %s: vote %d, want abstain", fn, id, g)
		}
	}
}

func TestRollbackAndShortLived(t *testing.T) {
	h := &memHistory{deps: []history.Deployment{
		dep("a", "v1", 0, history.KindDeploy),
		dep("b", "v2", 1, history.KindDeploy),    // replaced by a rollback after 1h
		dep("c", "v1", 3, history.KindRollback),  // explicit rollback
		dep("d", "v3", 10, history.KindDeploy),   // replaced after 1h by v4: short-lived
		dep("e", "v4", 11, history.KindDeploy),   // redeployed at 11.5h, replaced at 20h
		dep("f", "v4", 11.5, history.KindDeploy), // same version: not a replacement
		dep("g", "v5", 20, history.KindDeploy),   // replaced by a rollback (h)
		dep("h", "v4", 21, history.KindRollback), // back to v4 (stores infer this kind when the import omits it)
		dep("i", "v6", 30, history.KindDeploy),   // replaced after 50h
		dep("j", "v7", 80, history.KindDeploy),   // last
		dep("k", "v8", 200, history.KindDeploy),  // rolled back after 60h: too late
		dep("l", "v7", 260, history.KindRollback),
	}}
	v := votesOf(t, h, only(FnRollback, FnShortLived), "")
	checkVotes(t, FnRollback, v[FnRollback], map[string]int8{"b": faulty, "g": faulty})
	checkVotes(t, FnShortLived, v[FnShortLived], map[string]int8{"a": faulty, "d": faulty})
}

// Labeling reads the kind the store gives and does not infer it again: a
// return to an earlier version that the history calls a deploy is one.
func TestRollbackIsTheStoredKind(t *testing.T) {
	for _, tc := range []struct {
		kind                history.Kind
		rollback, shortLive int8
	}{
		{history.KindRollback, faulty, abstain},
		{history.KindDeploy, abstain, faulty},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			h := &memHistory{deps: []history.Deployment{
				dep("a", "v1", 0, history.KindDeploy),
				dep("b", "v2", 1, history.KindDeploy),
				dep("c", "v1", 2, tc.kind), // back to v1 after 1 h
			}}
			v := votesOf(t, h, only(FnRollback, FnShortLived), "")
			checkVotes(t, FnRollback, v[FnRollback], map[string]int8{"b": tc.rollback})
			checkVotes(t, FnShortLived, v[FnShortLived], map[string]int8{"a": faulty, "b": tc.shortLive})
		})
	}
}

func TestIncident(t *testing.T) {
	h := &memHistory{
		deps: []history.Deployment{
			dep("p1", "v1", 0, history.KindDeploy),
			dep("p2", "v2", 5, history.KindDeploy),
			{ID: "q1", Service: "svc", Environment: "dev", Version: "v1", StartedAt: at(4), Kind: history.KindDeploy},
			{ID: "o1", Service: "other", Environment: "prod", Version: "v1", StartedAt: at(5), Kind: history.KindDeploy},
		},
		incidents: []history.Incident{
			{ID: "linked", Service: "svc", Environment: "prod", OpenedAt: at(20), DeploymentID: "p1"},
			{ID: "soon", Service: "svc", Environment: "prod", OpenedAt: at(5.5)},   // 30 min after p2
			{ID: "all-envs", Service: "svc", OpenedAt: at(4.75)},                   // dev: 45 min after q1; prod: p1 too old
			{ID: "late", Service: "other", Environment: "prod", OpenedAt: at(8.5)}, // 3.5 h after o1
		},
	}
	v := votesOf(t, h, only(FnIncident), "")
	checkVotes(t, FnIncident, v[FnIncident], map[string]int8{"p1": faulty, "p2": faulty, "q1": faulty})

	cfg := with(t, only(FnIncident), func(f *IncidentLF) { f.Linked = false })
	v = votesOf(t, h, cfg, "")
	checkVotes(t, FnIncident, v[FnIncident], map[string]int8{"p2": faulty, "q1": faulty})
}

// Incidents are blamed on the right deployment: a rollback's on the version
// it rolled back, and none of a burst on many services.
func TestIncidentBlame(t *testing.T) {
	other := func(id, svc, env string, h float64) history.Incident {
		return history.Incident{ID: id, Service: svc, Environment: env, OpenedAt: at(h)}
	}
	h := &memHistory{
		deps: []history.Deployment{
			dep("bad", "v2", 10, history.KindDeploy),
			dep("rb", "v1", 10.5, history.KindRollback),
			dep("bad2", "v3", 20, history.KindDeploy),
			dep("rb2", "v1", 21.5, history.KindRollback),
			dep("d30", "v4", 29.5, history.KindDeploy),
			dep("d40", "v5", 39.5, history.KindDeploy),
			dep("d50", "v6", 49.5, history.KindDeploy),
		},
		incidents: []history.Incident{
			// Opened just after the rollback started: bad's, not rb's.
			other("after-rollback", "svc", "prod", 10.52),
			// 2.5 h after bad2, 1 h after its rollback: not bad2's (outside
			// its window), so the latest deployment's, rb2.
			other("late", "svc", "prod", 22.5),
			// Three services of prod within 6 minutes: an outage.
			other("o1", "svc", "prod", 30), other("o2", "a", "prod", 30.05), other("o3", "b", "", 30.1),
			// Two services only: not a burst.
			other("p1", "svc", "prod", 40), other("p2", "a", "prod", 40.05),
			// Three services, but two of them in another environment.
			other("q1", "svc", "prod", 50), other("q2", "a", "dev", 50.02), other("q3", "b", "dev", 50.03),
		},
	}
	v := votesOf(t, h, only(FnIncident), "")
	checkVotes(t, FnIncident, v[FnIncident], map[string]int8{"bad": faulty, "rb2": faulty, "d40": faulty, "d50": faulty})

	cfg := with(t, only(FnIncident), func(f *IncidentLF) { f.OutageServices = 0 })
	v = votesOf(t, h, cfg, "")
	checkVotes(t, FnIncident, v[FnIncident], map[string]int8{"bad": faulty, "rb2": faulty, "d30": faulty, "d40": faulty, "d50": faulty})

	cfg = with(t, only(FnIncident), func(f *IncidentLF) { f.OutageServices = 2 })
	v = votesOf(t, h, cfg, "")
	checkVotes(t, FnIncident, v[FnIncident], map[string]int8{"bad": faulty, "rb2": faulty, "d50": faulty})
}

func TestLatencyDegradation(t *testing.T) {
	h := &memHistory{deps: []history.Deployment{
		dep("base", "v1", 0, history.KindDeploy),
		dep("slow", "v2", 4, history.KindDeploy),
		dep("fine", "v3", 8, history.KindDeploy),
		dep("spiky", "v4", 12, history.KindDeploy),
		dep("clear", "v6", 16, history.KindDeploy),
	}}
	h.deps = append(h.deps, dep("outage", "v5", 20, history.KindDeploy))
	h.traffic("v1", 0, 4, 100, 0, 100)
	h.traffic("v2", 4, 8, 100, 0, 200) // p95 doubles
	// Minutes alternate between 100 and 320 ms: a mean of 210.
	h.trafficP95("v3", 8, 12, 100, 0, func(i int) float64 { return []float64{100, 320}[i%2] })
	// Two requests a minute (too few for the window's ratio alone): one minute
	// in six at 2 s lifts the mean p95 to 417 ms, twice v3's, but the other
	// minutes are as fast as v3's fastest — no clear rise. Then a version
	// whose every minute is slower than all of v4's but its spikes.
	h.trafficP95("v4", 12, 16, 2, 0, func(i int) float64 { return []float64{100, 100, 100, 100, 100, 2000}[i%6] })
	h.traffic("v6", 16, 20, 2, 0, 900)
	h.traffic("v5", 20, 24, 100, 0, 3000) // slower, but so was the fleet
	dir := t.TempDir()
	writeFeatures(t, dir, 60, []featureRow{{"slow", map[string]float64{"fleet_elevated_max_frac": 0.02}},
		{"outage", map[string]float64{"fleet_elevated_max_frac": 0.4}}})
	v := votesOf(t, h, only(FnLatency), dir)
	checkVotes(t, FnLatency, v[FnLatency], map[string]int8{"slow": faulty, "clear": faulty})

	cfg := with(t, only(FnLatency), func(f *LatencyLF) { f.MaxFleetShare = 0 })
	v = votesOf(t, h, cfg, "") // no features needed
	checkVotes(t, FnLatency, v[FnLatency], map[string]int8{"slow": faulty, "clear": faulty, "outage": faulty})

	cfg = with(t, cfg, func(f *LatencyLF) { f.MaxRankP = 0 }) // below min_requests, abstain
	v = votesOf(t, h, cfg, "")
	checkVotes(t, FnLatency, v[FnLatency], map[string]int8{"slow": faulty, "outage": faulty})
}

func TestNewErrorSignatures(t *testing.T) {
	h := &memHistory{deps: []history.Deployment{
		dep("base", "v1", 0, history.KindDeploy),
		dep("new", "v2", 10, history.KindDeploy),
		dep("old", "v3", 20, history.KindDeploy),
		dep("blip", "v4", 30, history.KindDeploy),
		dep("few", "v5", 40, history.KindDeploy),
		dep("faint", "v6", 50, history.KindDeploy), // persistent but 0.2 errors per 1000 requests
		// Started 30 s into a minute: its new fingerprint shows in that minute.
		dep("midminute", "v7", 60+30./3600, history.KindDeploy),
		dep("immaterial", "v8", 70, history.KindDeploy), // persistent, 1 error per 1000 requests
		dep("outage", "v9", 80, history.KindDeploy),     // new errors while the fleet was elevated
		dep("renamed", "v10", 90, history.KindDeploy),   // new errors, error rate not significantly raised
		dep("untested", "v11", 100, history.KindDeploy), // new errors, no impact test (no feature row)
	}}
	h.traffic("v1", 0, 10, 100, 1, 50)
	h.traffic("v2", 10, 20, 100, 3, 50)
	h.traffic("v3", 20, 30, 100, 3, 50)
	h.traffic("v4", 30, 40, 100, 1, 50)
	h.traffic("v5", 40, 50, 100, 1, 50)
	h.traffic("v6", 50, 60, 10000, 3, 50)
	h.traffic("v7", 60, 70, 100, 3, 50)
	h.traffic("v8", 70, 80, 1000, 3, 50)
	h.traffic("v9", 80, 90, 100, 3, 50)
	h.traffic("v10", 90, 100, 100, 3, 50)
	h.traffic("v11", 100, 110, 100, 3, 50)
	h.signature("v1", "known", 5, 10, 1)
	h.signature("v2", "fresh", 10, 12, 2)          // new, every minute for 2 h
	h.signature("v3", "known", 20, 22, 2)          // seen on the stream before
	h.signature("v4", "restart", 30, 30.05, 10)    // 3 minutes at the start, then gone
	h.signature("v5", "rare", 40.5, 40.5+1./60, 5) // one minute, 5 errors
	h.signature("v6", "faint", 50, 52, 2)
	h.signature("v7", "fresh7", 60, 62, 2)
	h.signature("v8", "fresh8", 70, 72, 1)
	h.signature("v9", "upstream", 80, 82, 2)
	h.signature("v10", "renamed", 90, 92, 2)
	h.signature("v11", "untested", 100, 102, 2)
	dir := t.TempDir()
	writeFeatures(t, dir, 60, []featureRow{{"new", map[string]float64{"fleet_elevated_max_frac": 0, "impact_neglog10_p": 8}},
		{"midminute", map[string]float64{"fleet_elevated_max_frac": 0, "impact_neglog10_p": 3}},
		{"outage", map[string]float64{"fleet_elevated_max_frac": 0.5, "impact_neglog10_p": 8}},
		{"renamed", map[string]float64{"fleet_elevated_max_frac": 0, "impact_neglog10_p": 2.9}}})
	v := votesOf(t, h, only(FnNewSignatures), dir)
	checkVotes(t, FnNewSignatures, v[FnNewSignatures], map[string]int8{"new": faulty, "midminute": faulty})

	// The point rate at the floor: 1 error per 1000 requests is material at min_per_mille 1.
	cfg := with(t, only(FnNewSignatures), func(f *NewSignaturesLF) {
		f.MinPerMille, f.MaterialConfidence, f.MaxFleetShare, f.MaxImpactP = 1, 0, 0, 0
	})
	v = votesOf(t, h, cfg, "") // no features needed
	checkVotes(t, FnNewSignatures, v[FnNewSignatures], map[string]int8{"new": faulty, "midminute": faulty, "immaterial": faulty,
		"outage": faulty, "renamed": faulty, "untested": faulty})
	// At the default material_confidence (0.95) a rate at the floor is not
	// shown to reach it (120 errors: lower bound 103); twenty per 1000 is.
	cfg = with(t, only(FnNewSignatures), func(f *NewSignaturesLF) { f.MinPerMille, f.MaxFleetShare, f.MaxImpactP = 1, 0, 0 })
	v = votesOf(t, h, cfg, "")
	checkVotes(t, FnNewSignatures, v[FnNewSignatures], map[string]int8{"new": faulty, "midminute": faulty,
		"outage": faulty, "renamed": faulty, "untested": faulty})
}

// TestNewErrorSignaturesUnseenLookback: where the history begins within
// the lookback, the stream's first deployment in it cannot tell a new
// fingerprint from one every restart logs, and abstains; the next one,
// whose lookback holds that restart, is judged; so is a first deployment
// with most of its lookback recorded.
func TestNewErrorSignaturesUnseenLookback(t *testing.T) {
	impact := map[string]float64{"fleet_elevated_max_frac": 0, "impact_neglog10_p": 8}
	tests := []struct {
		name      string
		metricsAt float64 // hour the stream's metrics begin
		want      map[string]int8
	}{
		{"history begins an hour before the first deploy", 0, map[string]int8{"second": faulty}},
		{"history begins 100 hours before the first deploy", -100, map[string]int8{"first": faulty, "second": faulty}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &memHistory{deps: []history.Deployment{
				dep("first", "v1", 1, history.KindDeploy),
				dep("second", "v2", 30, history.KindDeploy),
			}}
			h.traffic("v0", tc.metricsAt, 1, 100, 1, 50)
			h.traffic("v1", 1, 30, 100, 3, 50)
			h.traffic("v2", 30, 40, 100, 3, 50)
			h.signature("v1", "startup", 1, 3, 2) // what every restart logs
			h.signature("v2", "fresh", 30, 32, 2) // new since the first deploy's restart
			dir := t.TempDir()
			writeFeatures(t, dir, 60, []featureRow{{"first", impact}, {"second", impact}})
			v := votesOf(t, h, only(FnNewSignatures), dir)
			checkVotes(t, FnNewSignatures, v[FnNewSignatures], tc.want)
		})
	}
}

func TestHealthyEvidence(t *testing.T) {
	h := &memHistory{
		deps: []history.Deployment{
			dep("base", "v1", 0, history.KindDeploy),
			dep("good", "v2", 10, history.KindDeploy),
			dep("errors", "v3", 20, history.KindDeploy),
			dep("incident", "v4", 30, history.KindDeploy),
			dep("short", "v5", 40, history.KindDeploy),
			dep("slow", "v6", 43, history.KindDeploy),
			dep("rolledback", "v7", 60, history.KindDeploy),
			dep("back", "v6", 70, history.KindRollback),
			dep("end", "v8", 80, history.KindDeploy), // history ends 2 h later
		},
		incidents: []history.Incident{{ID: "i", Service: "svc", Environment: "prod", OpenedAt: at(33)}},
	}
	h.traffic("v1", 0, 10, 100, 1, 100)
	h.traffic("v2", 10, 20, 100, 1, 100)
	h.traffic("v3", 20, 30, 100, 4, 100)
	h.traffic("v4", 30, 40, 100, 1, 100)
	h.traffic("v5", 40, 43, 100, 1, 100)
	h.traffic("v6", 43, 60, 100, 1, 300)
	h.traffic("v7", 60, 70, 100, 1, 100)
	h.traffic("v6", 70, 80, 100, 1, 100)
	h.traffic("v8", 80, 82, 100, 1, 100)
	v := votesOf(t, h, only(FnHealthy), "")
	// base has no traffic before it to compare with: no evidence on its
	// errors, so no healthy vote. The incident opened on v4's stream
	// does not stop the vote on its clean traffic (incident_abstains off).
	checkVotes(t, FnHealthy, v[FnHealthy], map[string]int8{"good": healthy, "incident": healthy, "back": healthy})
	v = votesOf(t, h, with(t, only(FnHealthy), func(f *HealthyLF) { f.IncidentAbstains = true }), "")
	checkVotes(t, FnHealthy, v[FnHealthy], map[string]int8{"good": healthy, "back": healthy})
}

// A healthy vote needs enough traffic to rule out a higher error rate.
func TestHealthyEvidenceNeedsEnoughTraffic(t *testing.T) {
	h := &memHistory{deps: []history.Deployment{
		dep("b1", "v1", 0, history.KindDeploy),
		dep("sparse", "v2", 10, history.KindDeploy), // 1,800 requests, no error where 1.8 were expected
		dep("b2", "v3", 20, history.KindDeploy),
		dep("clean", "v4", 30, history.KindDeploy), // no error where 18 were expected
		dep("b3", "v5", 40, history.KindDeploy),
		dep("errorless", "v6", 50, history.KindDeploy), // follows a version without errors
		dep("end", "v7", 60, history.KindDeploy),
	}}
	h.traffic("v1", 0, 10, 1000, 1, 100) // 0.1% errors
	h.traffic("v2", 10, 20, 5, 0, 100)
	h.traffic("v3", 20, 30, 1000, 1, 100)
	h.traffic("v4", 30, 40, 50, 0, 100)
	h.traffic("v5", 40, 50, 1000, 0, 100)
	h.traffic("v6", 50, 60, 1000, 0, 100)
	h.traffic("v7", 60, 70, 1000, 0, 100)
	v := votesOf(t, h, only(FnHealthy), "")
	checkVotes(t, FnHealthy, v[FnHealthy], map[string]int8{"clean": healthy})
}

// featureRow is one row of a features file written by writeFeatures: the
// named columns' values; every other column of the schema is NaN.
type featureRow struct {
	id   string
	cols map[string]float64
}

// writeFeatures writes features_hH.parquet of horizon h into dir, with the
// whole feature schema, as extraction does.
func writeFeatures(t *testing.T, dir string, h int, rows []featureRow) {
	t.Helper()
	w, err := workdir.CreateFeatures(filepath.Join(dir, workdir.FeaturesFile(h)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		v := make([]float64, features.NumFeatures)
		for i := range v {
			v[i] = nan
		}
		for c, x := range r.cols {
			i := features.Index(c)
			if i < 0 {
				t.Fatalf("no feature %q", c)
			}
			v[i] = x
		}
		if err := w.Add(r.id, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// cleanHour is the 60-minute features of a version that served the whole
// hour with 100 errors where 100 were expected (a 95% upper bound of the
// ratio of 1.18), no latency rise and no new fingerprints; mod changes it.
func cleanHour(ensemble float64, mod func(map[string]float64)) map[string]float64 {
	c := map[string]float64{"ensemble_faulty": ensemble, "overlap_deploy": 0, "new_errors": 100, "new_requests": 100000,
		"expected_error_rate": 0.001, "p95_ratio": 1.02, "new_sig_rate": 0, "fleet_elevated_max_frac": 0}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestStatisticalEnsemble(t *testing.T) {
	cases := []struct {
		id   string
		cols map[string]float64
		want int8 // with vote_healthy and material_confidence 0.95 (without vote_healthy, only faulty votes remain)
	}{
		// 500 errors where 100 were expected: excess 0.004, at least 0.0036 at 95%.
		{"unanimous", cleanHour(1, func(c map[string]float64) { c["new_errors"] = 500 }), faulty},
		// 300 errors: a point excess of 0.002, but at 95% only 0.0017 is shown.
		{"unanimous, unshown", cleanHour(1, func(c map[string]float64) { c["new_errors"] = 300 }), abstain},
		{"unanimous, no traffic", cleanHour(1, func(c map[string]float64) { c["new_errors"], c["new_requests"] = 0, 0 }), abstain},
		{"clean", cleanHour(0, nil), healthy},
		// Not unanimous is not healthy without positive evidence.
		{"replaced", cleanHour(0, func(c map[string]float64) { c["overlap_deploy"] = 1 }), abstain},
		{"thin", cleanHour(0, func(c map[string]float64) { c["new_errors"], c["new_requests"] = 0, 1000 }), abstain},
		{"elevated", cleanHour(0, func(c map[string]float64) { c["new_errors"] = 160 }), abstain},
		{"slower", cleanHour(0, func(c map[string]float64) { c["p95_ratio"] = 1.4 }), abstain},
		{"new errors", cleanHour(0, func(c map[string]float64) { c["new_sig_rate"] = 2 }), abstain},
		{"no expected rate", cleanHour(0, func(c map[string]float64) { c["expected_error_rate"] = nan }), abstain},
		// A history without latency: the latency condition is not checked.
		{"no latency", cleanHour(0, func(c map[string]float64) { c["p95_ratio"] = nan }), healthy},
		{"inconclusive", cleanHour(nan, nil), abstain},
		// A fleet event (max_fleet_share 0.1): an outage passes the checks on
		// the versions it hits. A clean version stays clean.
		{"unanimous, outage", cleanHour(1, func(c map[string]float64) { c["new_errors"], c["fleet_elevated_max_frac"] = 500, 0.3 }), abstain},
		{"unanimous, quiet fleet", cleanHour(1, func(c map[string]float64) { c["new_errors"], c["fleet_elevated_max_frac"] = 500, 0.05 }), faulty},
		{"unanimous, no fleet data", cleanHour(1, func(c map[string]float64) { c["new_errors"], c["fleet_elevated_max_frac"] = 500, nan }), faulty},
		{"clean, outage", cleanHour(0, func(c map[string]float64) { c["fleet_elevated_max_frac"] = 0.3 }), healthy},
	}
	h := &memHistory{}
	var rows []featureRow
	want, wantFaultyOnly := map[string]int8{}, map[string]int8{}
	for i, tc := range cases {
		h.deps = append(h.deps, dep(tc.id, fmt.Sprintf("v%d", i), float64(i), history.KindDeploy))
		rows = append(rows, featureRow{tc.id, tc.cols})
		want[tc.id] = tc.want
		if tc.want == faulty {
			wantFaultyOnly[tc.id] = faulty
		}
	}
	h.deps = append(h.deps, dep("absent", "vx", 100, history.KindDeploy))
	dir := t.TempDir()
	writeFeatures(t, dir, 60, rows)
	material := with(t, only(FnEnsemble), func(f *EnsembleLF) { f.MaterialConfidence = 0.95 })
	v := votesOf(t, h, material, dir)
	checkVotes(t, FnEnsemble, v[FnEnsemble], want)

	cfg := with(t, material, func(f *EnsembleLF) { f.VoteHealthy = false })
	v = votesOf(t, h, cfg, dir)
	checkVotes(t, FnEnsemble, v[FnEnsemble], wantFaultyOnly)

	// material_confidence 0 (the default): the ensemble's verdict alone, as
	// the impact check judged materiality.
	v = votesOf(t, h, only(FnEnsemble), dir)
	want["unanimous, unshown"], want["unanimous, no traffic"] = faulty, faulty
	checkVotes(t, FnEnsemble, v[FnEnsemble], want)

	// max_fleet_share 0 turns the fleet guard off.
	v = votesOf(t, h, with(t, only(FnEnsemble), func(f *EnsembleLF) { f.MaxFleetShare = 0 }), dir)
	want["unanimous, outage"] = faulty
	checkVotes(t, FnEnsemble, v[FnEnsemble], want)

	// exclude_new_sig_errors: a faulty vote abstains when, without the
	// errors of new fingerprints, the excess is below min_excess (0.002).
	sigCases := []struct {
		id      string
		sigErrs float64
		wantOn  int8
		wantOff int8
	}{
		{"new errors explain", 450, abstain, faulty}, // (500 − 450)/100000 − 0.001 < 0.002
		{"new errors part", 100, faulty, faulty},     // (500 − 100)/100000 − 0.001 = 0.003
		{"no fingerprints", nan, faulty, faulty},     // nothing recorded: nothing to take out
	}
	hs, sigRows := &memHistory{}, []featureRow(nil)
	wantOn, wantOff := map[string]int8{}, map[string]int8{}
	for i, tc := range sigCases {
		hs.deps = append(hs.deps, dep(tc.id, fmt.Sprintf("v%d", i), float64(i), history.KindDeploy))
		sigRows = append(sigRows, featureRow{tc.id, cleanHour(1, func(c map[string]float64) { c["new_errors"], c["new_sig_errors"] = 500, tc.sigErrs })})
		wantOn[tc.id], wantOff[tc.id] = tc.wantOn, tc.wantOff
	}
	sigDir := t.TempDir()
	writeFeatures(t, sigDir, 60, sigRows)
	v = votesOf(t, hs, with(t, only(FnEnsemble), func(f *EnsembleLF) { f.ExcludeNewSigErrors = true }), sigDir)
	checkVotes(t, FnEnsemble, v[FnEnsemble], wantOn)
	v = votesOf(t, hs, with(t, only(FnEnsemble), func(f *EnsembleLF) { f.ExcludeNewSigErrors = false }), sigDir)
	checkVotes(t, FnEnsemble, v[FnEnsemble], wantOff)
	v = votesOf(t, hs, only(FnEnsemble), sigDir) // the default
	checkVotes(t, FnEnsemble, v[FnEnsemble], wantOn)

	// A missing features file is an error that says what to do.
	_, err := Compute(context.Background(), only(FnEnsemble), Input{History: h, Workdir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "faultline extract") || !strings.Contains(err.Error(), workdir.FeaturesFile(60)) {
		t.Fatalf("missing features file: error %v", err)
	}
	// A bad value names the file and row.
	writeFeatures(t, dir, 60, []featureRow{{"unanimous", cleanHour(1, nil)}, {"clean", cleanHour(0.5, nil)}})
	_, err = Compute(context.Background(), only(FnEnsemble), Input{History: h, Workdir: dir})
	if err == nil || !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), workdir.FeaturesFile(60)) {
		t.Fatalf("bad ensemble value: error %v", err)
	}
}

func TestPoissonUpper(t *testing.T) {
	// Exact one-sided 95% upper bounds (chi-square quantiles / 2).
	for _, tc := range []struct{ k, want float64 }{{0, 2.996}, {1, 4.744}, {10, 16.96}, {100, 118.1}} {
		if got := poissonUpper(tc.k, zOf(0.95)); math.Abs(got-tc.want)/tc.want > 0.015 {
			t.Errorf("poissonUpper(%v) = %.3f, want %.3f within 1.5%%", tc.k, got, tc.want)
		}
	}
}

func TestPoissonLower(t *testing.T) {
	// Exact one-sided 95% lower bounds (chi-square quantiles / 2).
	for _, tc := range []struct{ k, want float64 }{{5, 1.970}, {20, 13.25}, {100, 84.14}} {
		if got := poissonLower(tc.k, zOf(0.95)); math.Abs(got-tc.want)/tc.want > 0.015 {
			t.Errorf("poissonLower(%v) = %.4g, want %.4g within 1.5%%", tc.k, got, tc.want)
		}
	}
	// Below 5 the approximation errs low, the strict side: k = 1, exact −ln 0.95.
	if got := poissonLower(1, zOf(0.95)); !(got > 0 && got <= 0.05129) {
		t.Errorf("poissonLower(1) = %.4g, want in (0, 0.05129]", got)
	}
	if got := poissonLower(0, zOf(0.95)); got != 0 {
		t.Errorf("poissonLower(0) = %v, want 0", got)
	}
}

// strongAt20 is the 20-minute features of a version whose error rate
// tripled, significantly and durably, in a quiet fleet; mod changes it.
func strongAt20(mod func(map[string]float64)) map[string]float64 {
	c := map[string]float64{"impact_ratio": 3, "impact_neglog10_p": 9, "impact_excess": 0.004, "first_bucket_ratio": 3,
		"last_bucket_ratio": 3.2, "fleet_elevated_max_frac": 0}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestEarlyImpact(t *testing.T) {
	cases := []struct {
		id      string
		life    float64 // hours until the next version
		cols    map[string]float64
		want    int8
		explain string
	}{
		{"strong", 5, strongAt20(nil), faulty, ""},
		{"replaced early", 0.25, strongAt20(nil), faulty, "served 15 minutes: judged on them"},
		{"replaced at once", 0.1, strongAt20(nil), abstain, "6 minutes: a blip cut short looks the same"},
		{"weak", 5, strongAt20(func(c map[string]float64) { c["impact_ratio"] = 1.8 }), abstain, ""},
		{"not significant", 5, strongAt20(func(c map[string]float64) { c["impact_neglog10_p"] = 4 }), abstain, ""},
		{"immaterial", 5, strongAt20(func(c map[string]float64) { c["impact_excess"] = 0.001 }), abstain, ""},
		{"over", 5, strongAt20(func(c map[string]float64) { c["last_bucket_ratio"] = 1.5 }), abstain, "no longer elevated"},
		{"decaying", 5, strongAt20(func(c map[string]float64) { c["first_bucket_ratio"] = 12 }), abstain, "a restart blip"},
		{"outage", 5, strongAt20(func(c map[string]float64) { c["fleet_elevated_max_frac"] = 0.4 }), abstain, ""},
		{"no fleet data", 5, strongAt20(func(c map[string]float64) { c["fleet_elevated_max_frac"] = nan }), faulty, ""},
		{"unknown", 5, strongAt20(func(c map[string]float64) { c["impact_neglog10_p"] = nan }), abstain, ""},
	}
	h := &memHistory{}
	var rows []featureRow
	want := map[string]int8{}
	at := 0.0
	for i, tc := range cases {
		h.deps = append(h.deps, dep(tc.id, fmt.Sprintf("v%d", i), at, history.KindDeploy))
		rows = append(rows, featureRow{tc.id, tc.cols})
		want[tc.id] = tc.want
		at += tc.life
	}
	dir := t.TempDir()
	writeFeatures(t, dir, 20, rows)
	v := votesOf(t, h, only(FnEarlyImpact), dir)
	checkVotes(t, FnEarlyImpact, v[FnEarlyImpact], want)

	// Several horizons: any one suffices.
	writeFeatures(t, dir, 10, []featureRow{{"weak", strongAt20(nil)}})
	cfg := with(t, only(FnEarlyImpact), func(f *EarlyImpactLF) { f.Horizons = []int{20, 10} })
	v = votesOf(t, h, cfg, dir)
	want["weak"] = faulty
	checkVotes(t, FnEarlyImpact, v[FnEarlyImpact], want)
}

// fleetHistory is a small history where several functions fire.
func fleetHistory() *memHistory {
	h := &memHistory{deps: []history.Deployment{
		dep("a", "v1", 0, history.KindDeploy),
		dep("b", "v2", 10, history.KindDeploy),
		dep("c", "v1", 11, history.KindRollback),
		dep("d", "v3", 20, history.KindDeploy),
		dep("e", "v4", 30, history.KindDeploy),
		dep("f", "v5", 31, history.KindDeploy),
		dep("g", "v6", 40, history.KindDeploy),
	}, incidents: []history.Incident{{ID: "i1", Service: "svc", Environment: "prod", OpenedAt: at(10.5), DeploymentID: "b"}}}
	for i, v := range []string{"v1", "v2", "v1", "v3", "v4", "v5", "v6"} {
		from := []float64{0, 10, 11, 20, 30, 31, 40}[i]
		to := []float64{10, 11, 20, 30, 31, 40, 50}[i]
		errs := int64(1)
		if v == "v2" || v == "v4" {
			errs = 10
		}
		h.traffic(v, from, to, 100, errs, 100)
	}
	return h
}

// noFleetGuard is cfg without the fleet guards of the latency and
// new-signature functions and the new-signature impact test, which read
// features files.
func noFleetGuard(t *testing.T, cfg Config) Config {
	cfg = with(t, cfg, func(f *LatencyLF) { f.MaxFleetShare = 0 })
	return with(t, cfg, func(f *NewSignaturesLF) { f.MaxFleetShare, f.MaxImpactP = 0, 0 })
}

func TestVotesNeverReadAnnotations(t *testing.T) {
	cfg := noFleetGuard(t, only(FnRollback, FnShortLived, FnIncident, FnHealthy, FnLatency, FnNewSignatures))
	h := fleetHistory()
	h.anns = []history.Annotation{{DeploymentID: "b", Label: "faulty"}, {DeploymentID: "d", Label: "healthy"}}
	r1, err := Compute(context.Background(), cfg, Input{History: h, Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h.anns = []history.Annotation{{DeploymentID: "b", Label: "healthy"}, {DeploymentID: "d", Label: "faulty"}, {DeploymentID: "e", Label: "faulty"}}
	r2, err := Compute(context.Background(), cfg, Input{History: h, Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for j := range r1.Votes.Cols {
		if !slices.Equal(r1.Votes.Cols[j], r2.Votes.Cols[j]) {
			t.Errorf("votes of %s changed with the annotations", r1.Votes.Names[j])
		}
	}
	if !slices.Equal(r1.PFaulty, r2.PFaulty) {
		t.Error("p_faulty changed with the annotations")
	}
	// The report does measure against them.
	if r1.Report.Annotations == nil || r2.Report.Annotations == nil {
		t.Fatal("report has no annotation summary")
	}
	if r1.Report.Annotations.Deployments != 2 || r2.Report.Annotations.Deployments != 3 {
		t.Errorf("annotated deployments %d and %d, want 2 and 3", r1.Report.Annotations.Deployments, r2.Report.Annotations.Deployments)
	}
	var rb1, rb2 *Empirical
	for i := range r1.Report.Functions {
		if r1.Report.Functions[i].Name == FnRollback {
			rb1, rb2 = r1.Report.Functions[i].Empirical, r2.Report.Functions[i].Empirical
		}
	}
	if rb1 == nil || rb2 == nil || rb1.FaultyCorrect != 1 || rb2.FaultyCorrect != 0 {
		t.Errorf("rollback empirical accuracy %+v and %+v, want 1 then 0 correct faulty votes", rb1, rb2)
	}
	// And labels.parquet carries them, for training, in the gold column.
	for _, c := range []struct {
		r    *Result
		want map[string]int8
	}{{r1, map[string]int8{"b": 1, "d": 0}}, {r2, map[string]int8{"b": 0, "d": 1, "e": 1}}} {
		for i, id := range c.r.IDs {
			want, ok := c.want[id]
			if !ok {
				want = workdir.GoldNone
			}
			if c.r.Gold[i] != want {
				t.Errorf("gold of %s = %d, want %d", id, c.r.Gold[i], want)
			}
		}
	}
}

func TestRunWritesOutputs(t *testing.T) {
	h := fleetHistory()
	h.anns = []history.Annotation{{DeploymentID: "b", Label: "faulty", Annotator: "x"}, {DeploymentID: "b", Label: "healthy", Annotator: "y"}}
	dir := t.TempDir()
	cfg := only(FnRollback, FnShortLived, FnIncident, FnHealthy)
	res, err := Run(context.Background(), cfg, Input{History: h, Workdir: dir})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{workdir.LabelsFile, workdir.LFReportFile}) {
		t.Fatalf("work directory holds %v, want exactly %s and %s", names, workdir.LabelsFile, workdir.LFReportFile)
	}
	f, err := os.Open(filepath.Join(dir, workdir.LabelsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range pf.Schema().Fields() {
		cols = append(cols, c.Name()+":"+c.Type().String())
	}
	want := []string{"deployment_id:BYTE_ARRAY", "lf_rollback:INT32", "lf_short_lived:INT32", "lf_incident:INT32",
		"lf_healthy_evidence:INT32", "p_faulty:DOUBLE", "label:INT32", "gold:INT32"}
	for i := range want {
		want[i] = strings.Split(want[i], ":")[0]
	}
	for i := range cols {
		cols[i] = strings.Split(cols[i], ":")[0]
	}
	if !slices.Equal(cols, want) {
		t.Fatalf("labels.parquet columns %v, want %v", cols, want)
	}
	for _, c := range pf.Schema().Fields() {
		if strings.HasPrefix(c.Name(), "lf_") || c.Name() == "label" || c.Name() == "gold" {
			if lt := c.Type().LogicalType(); lt == nil || lt.String() != "INT(8,true)" {
				t.Errorf("column %s: logical type %v, want INT(8, signed)", c.Name(), lt)
			}
		}
	}
	cv, n, err := readParquetColumns(filepath.Join(dir, workdir.LabelsFile), "deployment_id", "lf_rollback", "p_faulty", "label")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(res.IDs) {
		t.Fatalf("labels.parquet has %d rows, want %d", n, len(res.IDs))
	}
	for i := range n {
		if cv["deployment_id"][i].String() != res.IDs[i] || int8(cv["lf_rollback"][i].Int32()) != res.Votes.Cols[0][i] ||
			cv["p_faulty"][i].Double() != res.PFaulty[i] || int8(cv["label"][i].Int32()) != res.Label[i] {
			t.Fatalf("row %d differs from the result", i)
		}
	}
	var rep Report
	b, err := os.ReadFile(filepath.Join(dir, workdir.LFReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != ReportSchema || rep.Rows != len(res.IDs) || len(rep.Functions) != 4 {
		t.Fatalf("report %+v", rep)
	}
	// b's annotators disagree at the same time: it counts with the verdict
	// of the greatest annotator's name (history.GoldLabels: y, healthy), as
	// evaluation and the gold column count it, and as a conflict.
	if a := rep.Annotations; a == nil || a.Deployments != 1 || a.Healthy != 1 || a.Faulty != 0 || a.Conflicting != 1 {
		t.Errorf("annotations summary %+v, want b healthy and conflicting", rep.Annotations)
	}
	for _, fr := range rep.Functions {
		if fr.Name == FnRollback && (fr.Polarity != "faulty" || fr.Votes.Faulty != 1 || fr.Coverage != metrics.Float(1.0/7)) {
			t.Errorf("rollback report %+v", fr)
		}
	}
}

func TestDeploysFileSelectsRows(t *testing.T) {
	h := fleetHistory()
	dir := t.TempDir()
	type row struct {
		ID string `parquet:"deployment_id"`
	}
	write := func(ids ...string) {
		f, err := os.Create(filepath.Join(dir, workdir.DeploysFile))
		if err != nil {
			t.Fatal(err)
		}
		w := parquet.NewGenericWriter[row](f)
		for _, id := range ids {
			if _, err := w.Write([]row{{id}}); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		f.Close()
	}
	write("d", "b", "c")
	res, err := Compute(context.Background(), only(FnRollback, FnShortLived), Input{History: h, Workdir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, []string{"d", "b", "c"}) {
		t.Fatalf("rows %v, want the file's d, b, c", res.IDs)
	}
	// b's rollback is still seen: c is in the history whatever the file lists.
	if res.Votes.Cols[0][1] != faulty {
		t.Errorf("rollback vote on b = %d, want faulty", res.Votes.Cols[0][1])
	}
	write("a", "zz")
	_, err = Compute(context.Background(), only(FnRollback), Input{History: h, Workdir: dir})
	if err == nil || !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), "zz") || !strings.Contains(err.Error(), workdir.DeploysFile) {
		t.Fatalf("unknown deployment: error %v", err)
	}
}

func TestSQLFunctionsNeedPostgres(t *testing.T) {
	cfg := only(FnRollback)
	cfg.SQLFunctions = []SQLFunction{{Name: "big_change", SQL: "SELECT deployment_id, 1 FROM deployments"}}
	_, err := Compute(context.Background(), cfg, Input{History: fleetHistory(), Workdir: t.TempDir()})
	if !errors.Is(err, ErrSQLNeedsPostgres) || !strings.Contains(err.Error(), "big_change") || !strings.Contains(err.Error(), "--db") {
		t.Fatalf("error %v, want ErrSQLNeedsPostgres naming big_change and --db", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"default", func(*Config) {}, ""},
		{"bad window", func(c *Config) {
			*c = with(t, *c, func(f *ShortLivedLF) { f.WithinHours = 0 })
		}, "labeling.short_lived.within_hours: 0 must be > 0"},
		{"bad persist", func(c *Config) {
			*c = with(t, *c, func(f *NewSignaturesLF) { f.MinPersist = 2 })
		}, "labeling.new_error_signatures.min_persist: 2 must be in [0, 1]"},
		{"bad ensemble material confidence", func(c *Config) {
			*c = with(t, *c, func(f *EnsembleLF) { f.MaterialConfidence = -0.1 })
		}, "labeling.statistical_ensemble.material_confidence: -0.1 must be in [0, 1)"},
		{"bad ensemble fleet share", func(c *Config) {
			*c = with(t, *c, func(f *EnsembleLF) { f.MaxFleetShare = 1.5 })
		}, "labeling.statistical_ensemble.max_fleet_share: 1.5 must be in [0, 1]"},
		{"NaN fleet share", func(c *Config) {
			*c = with(t, *c, func(f *NewSignaturesLF) { f.MaxFleetShare = math.NaN() })
		}, "labeling.new_error_signatures.max_fleet_share: NaN must be in [0, 1]"},
		{"negative fleet share", func(c *Config) {
			*c = with(t, *c, func(f *EarlyImpactLF) { f.MaxFleetShare = -0.1 })
		}, "labeling.early_impact.max_fleet_share: -0.1 must be in [0, 1]"},
		{"bad material confidence", func(c *Config) {
			*c = with(t, *c, func(f *NewSignaturesLF) { f.MaterialConfidence = 1 })
		}, "labeling.new_error_signatures.material_confidence: 1 must be in [0, 1) (0: the point rate)"},
		{"bad timeout", func(c *Config) { c.SQLTimeoutSeconds = -1 }, "labeling.sql_timeout_seconds: -1 must be > 0"},
		{"twice", func(c *Config) { c.Functions = append(c.Functions, c.Functions[0]) }, "configured twice"},
		{"bad sql name", func(c *Config) { c.SQLFunctions = []SQLFunction{{Name: "Bad Name", SQL: "SELECT 1"}} }, "lower-case"},
		{"sql name clash", func(c *Config) { c.SQLFunctions = []SQLFunction{{Name: FnRollback, SQL: "SELECT 1"}} }, "already used"},
		{"empty sql", func(c *Config) { c.SQLFunctions = []SQLFunction{{Name: "x", SQL: " "}} }, "sql is empty"},
		{"reads annotations", func(c *Config) {
			c.SQLFunctions = []SQLFunction{{Name: "cheat", SQL: "SELECT deployment_id, label FROM Annotations"}}
		}, "annotations"},
		{"all disabled", func(c *Config) { *c = only() }, "disabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestRunIsDeterministic(t *testing.T) {
	var first [][]byte
	for run := range 3 {
		dir := t.TempDir()
		if _, err := Run(context.Background(), noFleetGuard(t, only(FnRollback, FnShortLived, FnIncident, FnHealthy, FnLatency, FnNewSignatures)),
			Input{History: fleetHistory(), Workdir: dir}); err != nil {
			t.Fatal(err)
		}
		var files [][]byte
		for _, name := range []string{workdir.LabelsFile, workdir.LFReportFile} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, b)
		}
		if run == 0 {
			first = files
			continue
		}
		for i := range files {
			if !slices.Equal(files[i], first[i]) {
				t.Fatalf("run %d: output %d differs from run 0", run, i)
			}
		}
	}
}

// TestReplacedHealthy: a version replaced within the hour is healthy when
// its own minutes rule out a higher error rate, a higher p95 and a new
// fingerprint, with enough traffic and no incident; anything else abstains.
func TestReplacedHealthy(t *testing.T) {
	m := func(min float64) float64 { return min / 60 }
	h := &memHistory{
		deps: []history.Deployment{
			dep("base", "v1", 0, history.KindDeploy),
			dep("clean", "v2", 2, history.KindDeploy), // rolled back after 20 clean minutes
			dep("back2", "v1", 2+m(20), history.KindRollback),
			dep("errors", "v3", 4, history.KindDeploy), // 3× the errors, rolled back
			dep("back3", "v1", 4+m(20), history.KindRollback),
			dep("slow", "v4", 6, history.KindDeploy), // twice the p95
			dep("back4", "v1", 6+m(20), history.KindRollback),
			dep("newfp", "v5", 8, history.KindDeploy), // a fingerprint never seen
			dep("back5", "v1", 8+m(20), history.KindRollback),
			dep("incident", "v6", 10, history.KindDeploy), // incident opened 30 min after the rollback
			dep("back6", "v1", 10+m(20), history.KindRollback),
			dep("brief", "v7", 12, history.KindDeploy), // 3 minutes only
			dep("back7", "v1", 12+m(3), history.KindRollback),
			dep("quiet", "v8", 14, history.KindDeploy), // 20 minutes at 10 requests a minute
			dep("back8", "v1", 14+m(20), history.KindRollback),
			dep("forward", "v9", 16, history.KindDeploy), // fixed forward, clean: replacement of any kind
			dep("next", "v10", 16+m(30), history.KindDeploy),
			dep("restart", "v11", 18, history.KindDeploy), // 15× the errors for 3 minutes, then clean
			dep("back11", "v1", 18+m(20), history.KindRollback),
		},
		incidents: []history.Incident{{ID: "i", Service: "svc", Environment: "prod", OpenedAt: at(10 + m(50))}},
	}
	h.traffic("v1", 0, 2, 1000, 2, 100)
	h.traffic("v2", 2, 2+m(20), 1000, 2, 100)
	h.traffic("v1", 2+m(20), 4, 1000, 2, 100)
	h.traffic("v3", 4, 4+m(20), 1000, 6, 100)
	h.traffic("v1", 4+m(20), 6, 1000, 2, 100)
	h.traffic("v4", 6, 6+m(20), 1000, 2, 200)
	h.traffic("v1", 6+m(20), 8, 1000, 2, 100)
	h.traffic("v5", 8, 8+m(20), 1000, 2, 100)
	h.traffic("v1", 8+m(20), 10, 1000, 2, 100)
	h.traffic("v6", 10, 10+m(20), 1000, 2, 100)
	h.traffic("v1", 10+m(20), 12, 1000, 2, 100)
	h.traffic("v7", 12, 12+m(3), 1000, 2, 100)
	h.traffic("v1", 12+m(3), 14, 1000, 2, 100)
	h.traffic("v8", 14, 14+m(20), 10, 0, 100)
	h.traffic("v1", 14+m(20), 16, 1000, 2, 100)
	h.traffic("v9", 16, 16+m(30), 1000, 2, 100)
	h.traffic("v10", 16+m(30), 18, 1000, 2, 100)
	h.traffic("v11", 18, 18+m(3), 1000, 30, 100)
	h.traffic("v11", 18+m(3), 18+m(20), 1000, 2, 100)
	h.traffic("v1", 18+m(20), 20, 1000, 2, 100)
	h.signature("v1", "known", 0, 18, 1)
	h.signature("v2", "known", 2, 2+m(20), 1) // seen before: not new
	h.signature("v5", "fresh", 8+m(5), 8+m(6), 3)
	v := votesOf(t, h, only(FnReplacedHealthy), "")
	// The rollbacks are replaced in under two hours too, and judged the
	// same way: back5 and back6 abstain for the incident, back8 for a
	// baseline without errors (quiet). base has no baseline before it,
	// and back11 is never replaced. restart's first settle_minutes (5)
	// hold its restart transient and are left out.
	want := map[string]int8{"clean": healthy, "forward": healthy, "back2": healthy, "back3": healthy, "back4": healthy, "back7": healthy,
		"next": healthy, "restart": healthy}
	checkVotes(t, FnReplacedHealthy, v[FnReplacedHealthy], want)

	// Judged from its first minute, the transient rules nothing out.
	v = votesOf(t, h, with(t, only(FnReplacedHealthy), func(f *ReplacedHealthyLF) { f.SettleMinutes = 0 }), "")
	delete(want, "restart")
	checkVotes(t, FnReplacedHealthy, v[FnReplacedHealthy], want)
	want["restart"] = healthy

	// Without the grace, the incident opened after the rollback no longer
	// counts against the version.
	cfg := with(t, only(FnReplacedHealthy), func(f *ReplacedHealthyLF) { f.IncidentGraceMinutes = 0 })
	v = votesOf(t, h, cfg, "")
	want["incident"], want["back5"] = healthy, healthy
	checkVotes(t, FnReplacedHealthy, v[FnReplacedHealthy], want)
}

// TestReplacedHealthyAggregate: with aggregate metrics only, the minutes
// after a rollout that switched all traffic are the version's own; a
// declared KPI must rule out a bad move too, and a rollout of unknown end,
// or a history that cannot give KPIs, abstains.
func TestReplacedHealthyAggregate(t *testing.T) {
	m := func(min float64) float64 { return min / 60 }
	bigBang := func(id, version string, h float64, kind history.Kind) history.Deployment {
		d := dep(id, version, h, kind)
		d.FinishedAt = d.StartedAt
		return d
	}
	canary := dep("canary", "v4", 6, history.KindDeploy) // rollout end unknown
	rollout := dep("rollout", "v5", 8, history.KindDeploy)
	rollout.FinishedAt = at(8 + m(17)) // all traffic only for its last 3 minutes
	h := &memHistory{deps: []history.Deployment{
		bigBang("base", "v1", 0, history.KindDeploy),
		bigBang("clean", "v2", 2, history.KindDeploy), // rolled back after 20 clean minutes
		bigBang("back2", "v1", 2+m(20), history.KindRollback),
		bigBang("errors", "v3", 4, history.KindDeploy), // 3× the errors
		bigBang("back3", "v1", 4+m(20), history.KindRollback),
		canary, bigBang("back4", "v1", 6+m(20), history.KindRollback),
		rollout, bigBang("back5", "v1", 8+m(20), history.KindRollback),
		bigBang("kpidrop", "v6", 10, history.KindDeploy), // success ratio down 15%
		bigBang("back6", "v1", 10+m(20), history.KindRollback),
		bigBang("kpinoise", "v7", 12, history.KindDeploy), // success ratio down 3%: within max_kpi_shift
		bigBang("back7", "v1", 12+m(20), history.KindRollback),
	}}
	h.traffic(history.AggregateVersion, 0, 4, 1000, 2, 100)
	h.traffic(history.AggregateVersion, 4, 4+m(20), 1000, 6, 100)
	h.traffic(history.AggregateVersion, 4+m(20), 14, 1000, 2, 100)
	ok := func(i int) float64 { return 0.95 + 0.01*float64(i%3) }
	h.kpi("success", history.LowerIsWorse, 0, 10, ok)
	h.kpi("success", history.LowerIsWorse, 10, 10+m(20), func(i int) float64 { return 0.85 * ok(i) })
	h.kpi("success", history.LowerIsWorse, 10+m(20), 12, ok)
	h.kpi("success", history.LowerIsWorse, 12, 12+m(20), func(i int) float64 { return 0.97 * ok(i) })
	h.kpi("success", history.LowerIsWorse, 12+m(20), 14, ok)
	// The rollbacks are judged the same way; back7 is never replaced and
	// base has no baseline.
	want := map[string]int8{"clean": healthy, "back2": healthy, "back3": healthy, "back4": healthy, "back5": healthy,
		"back6": healthy, "kpinoise": healthy}
	v := votesOf(t, h, only(FnReplacedHealthy), "")
	checkVotes(t, FnReplacedHealthy, v[FnReplacedHealthy], want)

	// Without the KPI declaration, the drop goes unseen: the function
	// judges what the service declares.
	noKPI := *h
	noKPI.kpiDecls = nil
	want["kpidrop"] = healthy
	v = votesOf(t, &noKPI, only(FnReplacedHealthy), "")
	checkVotes(t, FnReplacedHealthy, v[FnReplacedHealthy], want)

	// A history that cannot give KPIs says nothing on aggregate metrics.
	res, err := Compute(context.Background(), only(FnReplacedHealthy), Input{History: struct{ history.Reader }{h}, Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range res.IDs {
		if got := res.Votes.Cols[0][i]; got != abstain {
			t.Errorf("%s: vote %d without KPIs, want abstain", id, got)
		}
	}
}

// TestKPIWindow: range means and variances of a KPI, against a direct
// two-pass computation, including a small spread on a large level.
func TestKPIWindow(t *testing.T) {
	for _, tc := range []struct {
		name          string
		level, spread float64
	}{{"ratio", 0.97, 1e-3}, {"counter", 1e12, 1e-6}} {
		var minutes []int64
		var vals []float64
		for i := range 100 {
			minutes = append(minutes, int64(1000+i))
			vals = append(vals, tc.level*(1+tc.spread*float64(i%7-3)))
		}
		h := &memHistory{kpiDecls: []history.KPI{{Service: "svc", Environment: "prod", Name: "k", Direction: history.BothWorse, Kind: history.KPIGauge}}}
		for i, m := range minutes {
			h.kpiVals = append(h.kpiVals, history.KPIValue{Service: "svc", Environment: "prod", Name: "k", Minute: time.Unix(m*60, 0).UTC(), Value: vals[i]})
		}
		sd := &streamData{}
		s := history.Stream{Service: "svc", Environment: "prod"}
		if err := sd.loadKPIs(context.Background(), h, h.kpiDecls, s, history.Range{}); err != nil {
			t.Fatal(err)
		}
		if len(sd.kpis) != 1 || !sd.kpisKnown {
			t.Fatalf("%s: loaded %d KPIs (known %v), want 1", tc.name, len(sd.kpis), sd.kpisKnown)
		}
		got := sd.kpis[0].sum(1010, 1060)
		xs := vals[10:60]
		var mean, ss float64
		for _, v := range xs {
			mean += v / float64(len(xs))
		}
		for _, v := range xs {
			ss += (v - mean) * (v - mean)
		}
		variance := ss / float64(len(xs)-1)
		if got.n != 50 || math.Abs(got.mean-mean) > 1e-9*tc.level || math.Abs(got.variance-variance) > 1e-6*variance {
			t.Errorf("%s: window %+v, want n 50 mean %v variance %v", tc.name, got, mean, variance)
		}
	}
}

func TestReplacedHealthyValidate(t *testing.T) {
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*ReplacedHealthyLF)
		want string
	}{
		{func(f *ReplacedHealthyLF) { f.MinMinutes = 0 }, "labeling.replaced_healthy.min_minutes"},
		{func(f *ReplacedHealthyLF) { f.MaxLifeMinutes = 4 }, "labeling.replaced_healthy.max_life_minutes: 4 is below min_minutes 5"},
		{func(f *ReplacedHealthyLF) { f.MaxErrorRatio = nan }, "labeling.replaced_healthy.max_error_ratio"},
		{func(f *ReplacedHealthyLF) { f.Confidence = 0.5 }, "labeling.replaced_healthy.confidence"},
		{func(f *ReplacedHealthyLF) { f.MinRequests = -1 }, "labeling.replaced_healthy.min_requests"},
		{func(f *ReplacedHealthyLF) { f.IncidentGraceMinutes = -1 }, "labeling.replaced_healthy.incident_grace_minutes"},
		{func(f *ReplacedHealthyLF) { f.LookbackHours = 0 }, "labeling.replaced_healthy.lookback_hours"},
		{func(f *ReplacedHealthyLF) { f.MaxKPIShift = -0.1 }, "labeling.replaced_healthy.max_kpi_shift"},
	} {
		c := with(t, def, tc.mod)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// The symptom gate of rollback and incident: a version whose measured
// metrics showed nothing gets an abstention, unless both reacted to it;
// one with any symptom, or with nothing measured, keeps the faulty vote.
func TestSymptomGate(t *testing.T) {
	quiet := func(mod func(map[string]float64)) map[string]float64 {
		c := map[string]float64{"impact_neglog10_p": 0.4, "p95_ratio": 1.05, "new_sig_rate": 0, "ba_min_p": 0.6}
		if mod != nil {
			mod(c)
		}
		return c
	}
	const (
		rolledBack = 1 << iota
		incident
	)
	cases := []struct {
		name      string
		reactions int
		at        int // the horizon the row is written at (0: no row at all)
		cols      map[string]float64
		want      int8 // of each reaction
		// also are rows at other horizons; anyImpact the vote with
		// impact_at_last off, when it differs from want.
		also      map[int]map[string]float64
		anyImpact int8
	}{
		{"quiet", rolledBack, 10, quiet(nil), abstain, nil, 0},
		{"quiet everywhere", rolledBack, 60, quiet(nil), abstain, nil, 0},
		{"error rate", rolledBack, 20, quiet(func(c map[string]float64) { c["impact_neglog10_p"] = 2.5 }), faulty, nil, 0},
		{"error rate not significant", rolledBack, 20, quiet(func(c map[string]float64) { c["impact_neglog10_p"] = 1.9 }), abstain, nil, 0},
		{"latency", rolledBack, 10, quiet(func(c map[string]float64) { c["p95_ratio"] = 1.25 }), faulty, nil, 0},
		{"new fingerprint", rolledBack, 60, quiet(func(c map[string]float64) { c["new_sig_rate"] = 0.3 }), faulty, nil, 0},
		{"before/after", rolledBack, 20, quiet(func(c map[string]float64) { c["ba_min_p"] = 0.004 }), faulty, nil, 0},
		{"one measured, quiet", rolledBack, 10, map[string]float64{"impact_neglog10_p": 0.1}, abstain, nil, 0},
		{"nothing measured", rolledBack, 10, map[string]float64{}, faulty, nil, 0},
		{"no feature row", rolledBack, 0, nil, faulty, nil, 0},
		{"incident, quiet", incident, 10, quiet(nil), abstain, nil, 0},
		{"incident, latency", incident, 20, quiet(func(c map[string]float64) { c["p95_ratio"] = 1.5 }), faulty, nil, 0},
		{"both, quiet", rolledBack | incident, 10, quiet(nil), faulty, nil, 0},
		{"error rate faded by 60 minutes", rolledBack, 10, quiet(func(c map[string]float64) { c["impact_neglog10_p"] = 8 }), abstain,
			map[int]map[string]float64{20: quiet(func(c map[string]float64) { c["impact_neglog10_p"] = 3 }), 60: quiet(nil)}, faulty},
		{"error rate to 60 minutes", rolledBack, 10, quiet(func(c map[string]float64) { c["impact_neglog10_p"] = 8 }), faulty,
			map[int]map[string]float64{60: quiet(func(c map[string]float64) { c["impact_neglog10_p"] = 2.1 })}, 0},
		{"error rate, not judged later", rolledBack, 10, quiet(func(c map[string]float64) { c["impact_neglog10_p"] = 8 }), faulty,
			map[int]map[string]float64{60: quiet(func(c map[string]float64) { c["impact_neglog10_p"] = math.NaN() })}, 0},
		{"faded error rate, new fingerprint", rolledBack, 10, quiet(func(c map[string]float64) { c["impact_neglog10_p"] = 8; c["new_sig_rate"] = 0.2 }), faulty,
			map[int]map[string]float64{60: quiet(nil)}, 0},
	}
	h := &memHistory{}
	rows := map[int][]featureRow{10: nil, 20: nil, 60: nil}
	start := 0.0
	for i, tc := range cases {
		id := fmt.Sprintf("d%d", i)
		h.deps = append(h.deps, dep(id, fmt.Sprintf("v%d", i+1), start, history.KindDeploy))
		if tc.reactions&rolledBack != 0 {
			h.deps = append(h.deps, dep(id+"-rb", "v0", start+1, history.KindRollback))
		} else {
			h.deps = append(h.deps, dep(id+"-next", fmt.Sprintf("v%d-next", i+1), start+3, history.KindDeploy))
		}
		if tc.reactions&incident != 0 {
			h.incidents = append(h.incidents, history.Incident{ID: "inc-" + id, Service: "svc", Environment: "prod", OpenedAt: at(start + 0.5)})
		}
		if tc.at != 0 {
			rows[tc.at] = append(rows[tc.at], featureRow{id, tc.cols})
		}
		for hz, c := range tc.also {
			rows[hz] = append(rows[hz], featureRow{id, c})
		}
		start += 4
	}
	dir := t.TempDir()
	for hz, r := range rows {
		writeFeatures(t, dir, hz, r)
	}
	gates := func(c Config, rollback, incident bool) Config {
		c = with(t, c, func(f *RollbackLF) { f.Symptom.Enabled = rollback })
		return with(t, c, func(f *IncidentLF) { f.Symptom.Enabled = incident })
	}
	check := func(label string, v map[string]map[string]int8, want func(i int) (rb, inc int8)) {
		t.Helper()
		for i, tc := range cases {
			id := fmt.Sprintf("d%d", i)
			wr, wi := want(i)
			if g := v[FnRollback][id]; g != wr {
				t.Errorf("%s, %s: rollback voted %d, want %d", label, tc.name, g, wr)
			}
			if g := v[FnIncident][id]; g != wi {
				t.Errorf("%s, %s: incident voted %d, want %d", label, tc.name, g, wi)
			}
			if g, ok := v[FnRollback][id+"-rb"]; ok && g != abstain {
				t.Errorf("%s, %s: the rollback itself voted %d", label, tc.name, g)
			}
		}
	}
	reactionVote := func(i, r int, want int8) int8 {
		if cases[i].reactions&r == 0 {
			return abstain
		}
		return want
	}
	cfg := gates(only(FnRollback, FnIncident), true, true)
	check("gated", votesOf(t, h, cfg, dir), func(i int) (int8, int8) {
		return reactionVote(i, rolledBack, cases[i].want), reactionVote(i, incident, cases[i].want)
	})
	// With impact_at_last off, an error-rate impact at any horizon is a
	// symptom.
	anyCfg := with(t, cfg, func(f *RollbackLF) { f.Symptom.ImpactAtLast = false })
	anyCfg = with(t, anyCfg, func(f *IncidentLF) { f.Symptom.ImpactAtLast = false })
	check("impact at any horizon", votesOf(t, h, anyCfg, dir), func(i int) (int8, int8) {
		w := cases[i].want
		if cases[i].anyImpact != 0 {
			w = cases[i].anyImpact
		}
		return reactionVote(i, rolledBack, w), reactionVote(i, incident, w)
	})
	// Without the gates every reaction votes faulty, and no features file
	// is read.
	check("no gates", votesOf(t, h, only(FnRollback, FnIncident), ""), func(i int) (int8, int8) {
		return reactionVote(i, rolledBack, faulty), reactionVote(i, incident, faulty)
	})
	// An ungated incident still explains a gated rollback.
	check("rollback gated", votesOf(t, h, gates(only(FnRollback, FnIncident), true, false), dir), func(i int) (int8, int8) {
		rb := cases[i].want
		if cases[i].reactions&incident != 0 {
			rb = faulty
		}
		return reactionVote(i, rolledBack, rb), reactionVote(i, incident, faulty)
	})

	// With a gate and no features files, the error names the setting that
	// turns the reads off.
	_, err := Compute(context.Background(), cfg, Input{History: h, Workdir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), ".symptom.enabled: false") {
		t.Errorf("no features files: error %v", err)
	}
}

// The health gate of incident: its lone faulty vote yields to a healthy
// vote of a function that measures the version's health, and to no other.
func TestIncidentHealthGate(t *testing.T) {
	h := &memHistory{
		deps: []history.Deployment{
			dep("base", "v1", 0, history.KindDeploy),
			dep("good", "v2", 10, history.KindDeploy),
			dep("incident", "v4", 30, history.KindDeploy),
			dep("end", "v8", 80, history.KindDeploy),
		},
		incidents: []history.Incident{{ID: "i", Service: "svc", Environment: "prod", OpenedAt: at(30.5)}},
	}
	h.traffic("v1", 0, 10, 100, 1, 100)
	h.traffic("v2", 10, 30, 100, 1, 100)
	h.traffic("v4", 30, 80, 100, 1, 100)
	h.traffic("v8", 80, 82, 100, 1, 100)
	v := votesOf(t, h, only(FnHealthy, FnIncident), "")
	checkVotes(t, FnHealthy, v[FnHealthy], map[string]int8{"good": healthy, "incident": healthy})
	checkVotes(t, FnIncident, v[FnIncident], map[string]int8{})
	v = votesOf(t, h, with(t, only(FnHealthy, FnIncident), func(f *IncidentLF) { f.HealthGate = false }), "")
	checkVotes(t, FnIncident, v[FnIncident], map[string]int8{"incident": faulty})
	v = votesOf(t, h, only(FnIncident), "") // nothing measured its health
	checkVotes(t, FnIncident, v[FnIncident], map[string]int8{"incident": faulty})

	// The rule on one row, every function's vote given.
	on, off := IncidentLF{HealthGate: true}, IncidentLF{}
	for _, tc := range []struct {
		name    string
		fns     []Function
		votes   []int8
		reacted int
		want    []int8
	}{
		{"measured healthy", []Function{on, HealthyLF{}}, []int8{faulty, healthy}, 1, []int8{abstain, healthy}},
		{"before/after healthy", []Function{on, BeforeAfterHealthyLF{}}, []int8{faulty, healthy}, 1, []int8{abstain, healthy}},
		{"gate off", []Function{off, HealthyLF{}}, []int8{faulty, healthy}, 1, []int8{faulty, healthy}},
		{"healthy by replacement only", []Function{on, ReplacedHealthyLF{}}, []int8{faulty, healthy}, 1, []int8{faulty, healthy}},
		{"no healthy vote", []Function{on, HealthyLF{}}, []int8{faulty, abstain}, 1, []int8{faulty, abstain}},
		{"rolled back too", []Function{on, RollbackLF{}, BeforeAfterHealthyLF{}}, []int8{faulty, faulty, healthy}, 2, []int8{faulty, faulty, healthy}},
		{"a rollback does not yield", []Function{RollbackLF{}, BeforeAfterHealthyLF{}}, []int8{faulty, healthy}, 1, []int8{faulty, healthy}},
	} {
		cols := make([][]int8, len(tc.votes))
		for j, v := range tc.votes {
			cols[j] = []int8{v}
		}
		yieldToHealth(tc.fns, cols, 0, tc.reacted)
		for j, w := range tc.want {
			if cols[j][0] != w {
				t.Errorf("%s: %s votes %d, want %d", tc.name, tc.fns[j].Name(), cols[j][0], w)
			}
		}
	}
}
