package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/registry"
)

// cli runs the binary's main logic and returns exit code, stdout, stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(context.Background(), append([]string{"--log-format", "json"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := cli(t, args...)
	if code != 0 {
		t.Fatalf("faultline %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// The registry commands end to end on a simulated fleet: train, evaluate,
// register, promote through the gate, export, import, predict and check
// with their documented exit codes; and the evaluation stage scoring the
// registry's production model so that the next candidate is comparable.
func TestRegistryCommandsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and trains; skipped with -short")
	}
	home := t.TempDir()
	h := "--home=" + home
	// Floors off: this test is about the commands and the comparison with
	// the current holder (TestForgedBundleCannotReachProduction covers them).
	cfgPath := filepath.Join(home, "faultline.yaml")
	if err := os.WriteFile(cfgPath, []byte("registry:\n  floors: {precision: 0, recall_vs_baseline: false}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := "--config=" + cfgPath
	mustCLI(t, "simulate", h, "--services", "6", "--days", "5", "--fault-rate", "0.15")
	mustCLI(t, "extract", h, "--workers", "1")
	mustCLI(t, "label", h)
	// Weak labels: on a fleet this small the ensemble-trained models may
	// flag nothing, and the test needs faulty verdicts.
	mustCLI(t, "train", h, "--labels", "weak")
	mustCLI(t, "evaluate", h)

	out := mustCLI(t, "registry", "register", h, "--source", "weak", "--alias", "candidate", "--json")
	var v1 registry.Version
	if err := json.Unmarshal([]byte(out), &v1); err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.Metrics.EvalSetHash == "" || len(v1.Metrics.Values) == 0 || v1.FeatureSchema.ConfigHash == "" {
		t.Fatalf("registered %+v", v1)
	}
	// Flags after the positional arguments, as documented.
	mustCLI(t, "registry", "promote", h, c, "faultline", "1", "--alias", "production", "--by", "alice")
	if code, _, errs := cli(t, "registry", "promote", h, "faultline", "1", "--alias", "production", "--force"); code != exitUsage {
		t.Errorf("--force without --reason: exit %d (%s)", code, errs)
	}
	out = mustCLI(t, "registry", "aliases", h, "--history", "--json")
	var moves []registry.Move
	if err := json.Unmarshal([]byte(out), &moves); err != nil || len(moves) != 2 {
		t.Fatalf("history %s (%v)", out, err)
	}

	// Bundles: export, tamper, import.
	bpath := filepath.Join(home, "b.tar.gz")
	mustCLI(t, "registry", "export", h, "production", "--out", bpath)
	data, err := os.ReadFile(bpath)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	badPath := filepath.Join(home, "bad.tar.gz")
	os.WriteFile(badPath, bad, 0o644)
	if code, _, _ := cli(t, "registry", "import", h, badPath); code != exitFailure {
		t.Errorf("tampered import: exit %d", code)
	}
	mustCLI(t, "registry", "import", h, bpath, "--name", "copy")

	// predict: from the registry and from the bundle file, same numbers.
	p1, p2 := filepath.Join(home, "p1.csv"), filepath.Join(home, "p2.csv")
	mustCLI(t, "predict", h, "--model", "production", "--out", p1)
	mustCLI(t, "predict", h, "--model", bpath, "--out", p2)
	a, _ := os.ReadFile(p1)
	b, _ := os.ReadFile(p2)
	if !bytes.Equal(a, b) {
		t.Error("predict from the registry and from the exported bundle differ")
	}
	recs, err := csv.NewReader(bytes.NewReader(a)).ReadAll()
	if err != nil || len(recs) < 10 {
		t.Fatalf("predictions: %d records, %v", len(recs), err)
	}
	want := map[string]int{"faulty": exitFailure, "healthy": exitOK, "inconclusive": exitInconclusive}
	seen := map[string]bool{}
	for _, rec := range recs[1:] {
		verdict := rec[len(rec)-3]
		if seen[verdict] {
			continue
		}
		seen[verdict] = true
		code, out, errs := cli(t, "check", h, "--deployment", rec[0])
		if code != want[verdict] {
			t.Errorf("check %s (predict: %s): exit %d\n%s%s", rec[0], verdict, code, out, errs)
		}
		if !strings.Contains(out, verdict) {
			t.Errorf("check output does not say %s: %s", verdict, out)
		}
	}
	if !seen["faulty"] || !seen["healthy"] {
		t.Errorf("the fleet gave verdicts %v; the test needs faulty and healthy", seen)
	}

	// The evaluation stage scores production from the registry; the next
	// registration records that evaluation on version 1, so that promoting
	// version 2 compares both on one evaluation set.
	g := &globals{home: home, logFormat: "json"}
	e, err := newEnv(g, &bytes.Buffer{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	ctx := context.Background()
	store, err := e.openStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, "work")
	rep, err := evaluation.Run(ctx, evaluation.Options{Workdir: dir, Config: evaluation.DefaultConfig(), History: store, Truth: store,
		Production: e.registryProductionLoader()})
	if err != nil {
		t.Fatal(err)
	}
	var prod *evaluation.ContenderInfo
	for i := range rep.Contenders {
		if rep.Contenders[i].Name == evaluation.ContenderProduction {
			prod = &rep.Contenders[i]
		}
	}
	if prod == nil || prod.Version != "faultline@1" {
		t.Fatalf("production contender %+v (notes %v)", prod, rep.Notes)
	}
	// Same models: the production contender scores like the weak one.
	pr, ok1 := rep.Result(evaluation.ContenderProduction, rep.Headline, "policy")
	er, ok2 := rep.Result(evaluation.ContenderWeak, rep.Headline, "policy")
	if !ok1 || !ok2 || pr.Confusion != er.Confusion {
		t.Errorf("production (registry) %+v vs weak (workdir) %+v", pr.Confusion, er.Confusion)
	}
	if _, err := rep.Write(filepath.Join(dir, "evaluation")); err != nil {
		t.Fatal(err)
	}
	out = mustCLI(t, "registry", "register", h, "--source", "weak", "--json")
	var v2 registry.Version
	if err := json.Unmarshal([]byte(out), &v2); err != nil {
		t.Fatal(err)
	}
	out = mustCLI(t, "registry", "show", h, "1", "--json")
	var shown registry.Version
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatal(err)
	}
	if _, ok := shown.EvaluationOn(v2.Metrics.EvalSetHash); !ok {
		t.Fatalf("version 1 not evaluated on version 2's set %s: %+v", v2.Metrics.EvalSetHash, shown.Evaluations)
	}
	// Identical models: the gate scores both the same and passes.
	out = mustCLI(t, "registry", "promote", h, c, "faultline@2", "--alias", "production", "--json")
	var mv registry.Move
	if err := json.Unmarshal([]byte(out), &mv); err != nil || mv.Decision == nil || !mv.Decision.Passed || mv.Decision.Current != 1 ||
		mv.Decision.Evidence == nil || mv.Decision.Evidence.Current == nil || len(mv.Decision.Rules) != 3 {
		t.Fatalf("promotion of 2: %s (%v)", out, err)
	}
	ce, _ := mv.Decision.Evidence.Candidate.Headline()
	he, _ := mv.Decision.Evidence.Current.Headline()
	if ce.Confusion != he.Confusion {
		t.Errorf("identical models scored differently: %+v vs %+v", ce.Confusion, he.Confusion)
	}
	if out := mustCLI(t, "registry", "list", h); !strings.Contains(out, "production") {
		t.Errorf("list: %s", out)
	}
}
