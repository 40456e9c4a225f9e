package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/promtest"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/registry/bundle"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

// randomBundle writes a bundle of random models over this build's schema:
// the tests compare two ways of reading the same history, not models.
// thr are the thresholds at 10, 20 and 60 minutes.
func randomBundle(t *testing.T, path string, thr [3]float64) {
	t.Helper()
	cfg := features.DefaultConfig()
	schema := detector.Schema()
	schema.ConfigHash = cfg.ConfigHash()
	hs := []int{10, 20, 60}
	b := &bundle.Bundle{
		Manifest: bundle.Manifest{Model: "faultline", Version: 1, FeatureSchema: schema, Horizons: hs,
			Thresholds: map[int]float64{10: thr[0], 20: thr[1], 60: thr[2]}},
		Files: map[string][]byte{},
	}
	for _, h := range hs {
		b.Files[bundle.ModelFileName(h)] = registrytest.ModelText(uint64(200+h), features.Names(), 40, 8, false)
		b.Manifest.Files = append(b.Manifest.Files, bundle.FileEntry{Path: bundle.ModelFileName(h), Horizon: h})
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := bundle.Write(f, b); err != nil {
		t.Fatal(err)
	}
}

// keepBefore copies deployments.csv keeping the deploys started before cut.
func keepBefore(t *testing.T, src, dst string, cut time.Time) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		if first || strings.Split(sc.Text(), ",")[4] < cut.Format(time.RFC3339) {
			b.WriteString(sc.Text() + "\n")
		}
	}
	if err := os.WriteFile(dst, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

type checkJSON struct {
	DeploymentID string `json:"deployment_id"`
	Source       string `json:"source"`
	detector.Result
	Looks []struct {
		Horizon int                 `json:"horizon"`
		Verdict string              `json:"verdict"`
		Final   bool                `json:"final"`
		P       map[string]*float64 `json:"p"`
	} `json:"looks"`
}

// The commands end to end against a real Prometheus: import the history
// before a deploy with `import prometheus`, then `check --prometheus --wait`
// replays the deploy's first hour and agrees with `check` on a store that
// imported the whole history from files.
func TestPrometheusCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("promtest: needs a Prometheus server; skipped with -short")
	}
	dir := t.TempDir()
	cfg := simulate.DefaultConfig()
	cfg.Services, cfg.Environments, cfg.Days, cfg.Seed, cfg.FaultRate = 4, []string{"prod-us1"}, 3, 11, 0.3
	sim := filepath.Join(dir, "sim")
	om := filepath.Join(dir, "history.om")
	mustCLI(t, "simulate", "--services", "4", "--days", "3", "--seed", "11", "--fault-rate", "0.3", "--out", sim, "--openmetrics", om,
		"--config", writeSimConfig(t, dir))
	srv := promtest.Start(t, om)
	model := filepath.Join(dir, "model.tar.gz")
	randomBundle(t, model, [3]float64{0.7, 0.6, 0.5})
	// Thresholds of 1 never flag: every look happens.
	patient := filepath.Join(dir, "patient.tar.gz")
	randomBundle(t, patient, [3]float64{1, 1, 1})
	mapping := filepath.Join("..", "..", "internal", "history", "promsource", "testdata", "simulator.yaml")

	// The reference: the whole history from files.
	full := "--home=" + filepath.Join(dir, "full")
	mustCLI(t, "import", full, "--from", sim)

	// A deploy in the last day with its first hour free of other deploys
	// of its stream.
	dep := pickDeploy(t, filepath.Join(sim, "deployments.csv"), cfg.Start.Add(48*time.Hour), cfg.Start.Add(71*time.Hour))

	// The live store: history up to the deploy, imported from Prometheus,
	// and the deployments up to this one (a pipeline registers its deploy,
	// with its change size, before checking it).
	live := "--home=" + filepath.Join(dir, "live")
	deps := filepath.Join(dir, "deployments-before.csv")
	keepBefore(t, filepath.Join(sim, "deployments.csv"), deps, dep.StartedAt.Add(time.Second))
	out := mustCLI(t, "import", "prometheus", live, "--mapping", mapping, "--prometheus", srv.URL,
		"--from", cfg.Start.Format(time.RFC3339), "--to", dep.StartedAt.Truncate(time.Minute).Format(time.RFC3339), "--deployments", deps)
	if !strings.Contains(out, "metrics") || !strings.Contains(out, "range queries") {
		t.Fatalf("import prometheus printed no summary:\n%s", out)
	}

	at := dep.StartedAt.Truncate(time.Minute).Add(60 * time.Minute)
	looks := map[string]int{}
	for _, model := range []string{model, patient} {
		code, refOut, errs := cli(t, "check", full, "--deployment", dep.ID, "--model", model, "--json")
		var ref checkJSON
		if err := json.Unmarshal([]byte(refOut), &ref); err != nil {
			t.Fatalf("check: exit %d %v\n%s%s", code, err, refOut, errs)
		}
		code, liveOut, errs := cli(t, "check", live, "--prometheus", srv.URL, "--mapping", mapping, "--model", model,
			"--deployment", dep.ID, "--wait", "--at", at.Format(time.RFC3339), "--json")
		var got checkJSON
		if err := json.Unmarshal([]byte(liveOut), &got); err != nil {
			t.Fatalf("check --prometheus: exit %d %v\n%s%s", code, err, liveOut, errs)
		}
		want := map[string]int{detector.Faulty: exitFailure, detector.Healthy: exitOK, detector.Inconclusive: exitInconclusive}
		if code != want[got.Verdict] {
			t.Errorf("check --prometheus says %s but exits %d", got.Verdict, code)
		}
		if got.Verdict != ref.Verdict || got.DetectedAt != ref.DetectedAt || len(got.Scores) != len(ref.Scores) {
			t.Fatalf("check --prometheus: %s at %d (%d scores), check on the store: %s at %d (%d scores)",
				got.Verdict, got.DetectedAt, len(got.Scores), ref.Verdict, ref.DetectedAt, len(ref.Scores))
		}
		for i := range ref.Scores {
			if got.Scores[i].Horizon != ref.Scores[i].Horizon || math.Abs(got.Scores[i].P-ref.Scores[i].P) > 1e-9 {
				t.Errorf("score %d: %+v from Prometheus, %+v from the store", i, got.Scores[i], ref.Scores[i])
			}
		}
		// Looks at 10, 20 and 60 minutes, or fewer when flagged early.
		wantLooks := []int{10, 20, 60}
		if got.Verdict == detector.Faulty {
			wantLooks = wantLooks[:len(got.Looks)]
		}
		if len(got.Looks) != len(wantLooks) || !got.Looks[len(got.Looks)-1].Final {
			t.Fatalf("looks %+v, want one at each of %v ending final", got.Looks, wantLooks)
		}
		for i, lk := range got.Looks {
			if lk.Horizon != wantLooks[i] {
				t.Errorf("look %d at %d min, want %d", i, lk.Horizon, wantLooks[i])
			}
			for _, h := range []int{10, 20, 60} {
				if p := lk.P[strconv.Itoa(h)]; (p == nil) != (h > lk.Horizon) {
					t.Errorf("look at %d min: p%d = %v", lk.Horizon, h, p)
				}
			}
		}
		looks[filepath.Base(model)] = len(got.Looks)
		t.Logf("%s with %s: %s after %d looks", dep.ID, filepath.Base(model), got.Verdict, len(got.Looks))
	}
	if looks["patient.tar.gz"] != 3 {
		t.Errorf("a model that never flags looked %d times, want 3", looks["patient.tar.gz"])
	}

	// No production model in either registry: both judge with the
	// statistical checks, and agree.
	{
		code, refOut, errs := cli(t, "check", full, "--deployment", dep.ID, "--json")
		var ref checkJSON
		if err := json.Unmarshal([]byte(refOut), &ref); err != nil {
			t.Fatalf("check: exit %d %v\n%s%s", code, err, refOut, errs)
		}
		code, liveOut, errs := cli(t, "check", live, "--prometheus", srv.URL, "--mapping", mapping,
			"--deployment", dep.ID, "--wait", "--at", at.Format(time.RFC3339), "--json")
		var got checkJSON
		if err := json.Unmarshal([]byte(liveOut), &got); err != nil {
			t.Fatalf("check --prometheus: exit %d %v\n%s%s", code, err, liveOut, errs)
		}
		if ref.Source != sourceStatistics || got.Source != sourceStatistics {
			t.Fatalf("sources %q (store) and %q (Prometheus), want %q for both", ref.Source, got.Source, sourceStatistics)
		}
		if got.Verdict != ref.Verdict || got.Final != ref.Final || got.DetectedAt != ref.DetectedAt || len(got.Scores) != len(ref.Scores) || len(got.Looks) == 0 {
			t.Fatalf("statistical checks: %s at %d (%d scores, %d looks) from Prometheus, %s at %d (%d scores) from the store",
				got.Verdict, got.DetectedAt, len(got.Scores), len(got.Looks), ref.Verdict, ref.DetectedAt, len(ref.Scores))
		}
		for i := range ref.Scores {
			if got.Scores[i] != ref.Scores[i] {
				t.Errorf("statistical score %d: %+v from Prometheus, %+v from the store", i, got.Scores[i], ref.Scores[i])
			}
		}
		if got.Looks[0].Horizon != 10 {
			t.Errorf("first look at %d min, want 10 (the features horizons)", got.Looks[0].Horizon)
		}
		t.Logf("%s by the statistical checks: %s after %d looks", dep.ID, got.Verdict, len(got.Looks))
	}

	// The text output prints each look; the deploy may come from flags.
	_, text, _ := cli(t, "check", live, "--prometheus", srv.URL, "--mapping", mapping, "--model", model,
		"--service", dep.Service, "--environment", dep.Environment, "--version", dep.Version,
		"--started-at", dep.StartedAt.Format(time.RFC3339), "--wait", "--at", at.Format(time.RFC3339))
	if !strings.Contains(text, "look at 10 min") || !strings.Contains(text, "HORIZON") {
		t.Errorf("text output without looks or table:\n%s", text)
	}

	// Round trip: the whole history through Prometheus, with the tables it
	// does not hold (services, incidents, annotations) from files, gives
	// the pipeline exactly the results of the file import.
	viaProm := "--home=" + filepath.Join(dir, "viaprom")
	mustCLI(t, "import", "prometheus", viaProm, "--mapping", mapping, "--prometheus", srv.URL,
		"--from", cfg.Start.Format(time.RFC3339), "--to", cfg.Start.Add(72*time.Hour).Format(time.RFC3339),
		"--deployments", filepath.Join(sim, "deployments.csv"))
	rest := filepath.Join(dir, "rest")
	if err := os.MkdirAll(rest, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"services.csv", "incidents.csv", "annotations.csv"} {
		b, err := os.ReadFile(filepath.Join(sim, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rest, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustCLI(t, "import", viaProm, "--from", rest)
	runDir := func(home string) string {
		mustCLI(t, "run", home, "--no-promote")
		dirs, err := filepath.Glob(filepath.Join(strings.TrimPrefix(home, "--home="), "runs", "2*"))
		if err != nil || len(dirs) != 1 {
			t.Fatalf("run folders %v (%v)", dirs, err)
		}
		return dirs[0]
	}
	a, b := runDir(full), runDir(viaProm)
	for _, f := range []string{"deploys.parquet", "features_h10.parquet", "features_h20.parquet", "features_h60.parquet",
		"labels.parquet", "split.parquet", "models/weak/model_h10.txt", "models/weak/model_h20.txt", "models/weak/model_h60.txt",
		"evaluation/metrics.json"} {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") { // the run's time, folders and file hashes differ
			x, y = withoutRunMetadata(t, x), withoutRunMetadata(t, y)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("run output %s differs between the file import and the Prometheus import", f)
		}
	}

	// Errors exit 5, apart from verdicts; usage errors 2.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	code, _, errs := cli(t, "check", live, "--prometheus", down, "--mapping", writeFastMapping(t, dir, mapping), "--model", model,
		"--deployment", dep.ID, "--service", dep.Service, "--environment", dep.Environment, "--version", dep.Version,
		"--started-at", dep.StartedAt.Format(time.RFC3339), "--at", at.Format(time.RFC3339))
	if code != exitCheckError || !strings.Contains(errs, "connection refused") {
		t.Errorf("server down: exit %d, want %d with the cause\n%s", code, exitCheckError, errs)
	}
	if code, _, _ := cli(t, "check", live, "--prometheus", srv.URL, "--mapping", mapping, "--service", "x"); code != exitUsage {
		t.Errorf("--service alone: exit %d, want %d", code, exitUsage)
	}
	if code, _, errs := cli(t, "check", full, "--deployment", "no-such-deploy", "--model", model); code != exitUsage {
		t.Errorf("unknown deployment: exit %d, want %d\n%s", code, exitUsage, errs)
	}
}

// withoutRunMetadata drops from evaluation/metrics.json what names the
// run rather than its results: the time it was generated, the lineage
// (store folder, configuration, hashes of files that hold the run's time
// and folder) and the contenders' versions (hashes of those files).
func withoutRunMetadata(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "generated_at")
			delete(x, "lineage")
			delete(x, "version")
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeSimConfig writes a configuration with one environment.
func writeSimConfig(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "faultline.yaml")
	if err := os.WriteFile(p, []byte("simulate:\n  environments: [prod-us1]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeFastMapping copies the mapping with quick retries.
func writeFastMapping(t *testing.T, dir, mapping string) string {
	t.Helper()
	b, err := os.ReadFile(mapping)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "fast.yaml")
	if err := os.WriteFile(p, append(b, "query:\n  retries: 1\n  backoff: 10ms\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pickDeploy returns a deploy (kind deploy) started in [from, to) whose
// stream has no other deploy in its first hour.
func pickDeploy(t *testing.T, path string, from, to time.Time) history.Deployment {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id, service, env, version string
		start                     time.Time
		kind                      string
	}
	var rows []row
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i == 0 {
			continue
		}
		f := strings.Split(l, ",")
		st, err := time.Parse(time.RFC3339, f[4])
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row{f[0], f[1], f[2], f[3], st, f[len(f)-1]})
	}
	for _, r := range rows {
		if r.start.Before(from) || !r.start.Before(to) || r.kind == "rollback" {
			continue
		}
		clear := true
		for _, o := range rows {
			if o.id != r.id && o.service == r.service && o.env == r.env && !o.start.Before(r.start) && o.start.Sub(r.start) <= time.Hour {
				clear = false
			}
		}
		if clear {
			return history.Deployment{ID: r.id, Service: r.service, Environment: r.env, Version: r.version, StartedAt: r.start}
		}
	}
	t.Fatal("no deploy to judge")
	return history.Deployment{}
}
