package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/bundle"
)

var leafValueRE = regexp.MustCompile(`(?m)^leaf_value=(.*)$`)

// readBundle reads the bundle file path.
func readBundle(t *testing.T, path string) *bundle.Bundle {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := bundle.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forge rewrites a bundle as an attacker would: every leaf value of every
// model −10 (the model never flags), metrics.json claiming precision and
// recall 1 from a pipeline run, and the manifest's checksums recomputed.
func forge(t *testing.T, src, dst string) {
	t.Helper()
	b := readBundle(t, src)
	for _, h := range b.Manifest.Horizons {
		name := bundle.ModelFileName(h)
		n := 0
		b.Files[name] = leafValueRE.ReplaceAllFunc(b.Files[name], func(line []byte) []byte {
			n++
			k := len(strings.Fields(strings.TrimPrefix(string(line), "leaf_value=")))
			return []byte("leaf_value=" + strings.TrimSpace(strings.Repeat("-10 ", k)))
		})
		if n == 0 {
			t.Fatalf("%s has no leaf_value line", name)
		}
	}
	b.Files[bundle.MetricsName] = []byte(`{"model":"faultline","version":1,
		"metrics":{"eval_set_hash":"es-0000000000000000","origin":"gate","values":{"policy.precision":1,"policy.recall":1,"policy.mttd_min":10}},
		"lineage":{"run_id":"20260101T000000Z-abcdef","source":"weak"}}`)
	var out bytes.Buffer
	if err := bundle.Write(&out, b); err != nil { // recomputes every checksum
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// simulatedHome is a fresh home with a small simulated fleet, its features
// extracted; h is its --home flag.
func simulatedHome(t *testing.T) (home, h string) {
	t.Helper()
	home = t.TempDir()
	h = "--home=" + home
	mustCLI(t, "simulate", h, "--services", "6", "--days", "5", "--fault-rate", "0.15")
	mustCLI(t, "extract", h, "--workers", "1")
	return home, h
}

// The forged-bundle probe of issue 14: a production bundle whose every
// leaf is −10 (it never flags), claiming precision and recall 1 with its
// checksums recomputed, imports — as "imported from FILE", its metrics
// unverified — but `registry promote` refuses it on the floors, computed
// by the gate on the history store, and `check` keeps judging with the
// incumbent. Before any promotion, check and predict fall back to the
// statistical checks and say so; check's errors exit 5.
func TestForgedBundleCannotReachProduction(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and trains; skipped with -short")
	}
	home, h := simulatedHome(t)

	// Nothing in production: the statistical checks judge, and say so.
	pred := filepath.Join(home, "stat.csv")
	out := mustCLI(t, "predict", h, "--out", pred, "--json")
	var sum struct {
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Source != "statistical-checks" {
		t.Fatalf("predict without production: %s (%v)", out, err)
	}
	recs := readCSV(t, pred)
	var dep string
	for _, rec := range recs[1:] {
		if rec[len(rec)-1] != "statistical-checks" {
			t.Fatalf("prediction row %v: model_version is not statistical-checks", rec)
		}
		dep = rec[0]
	}
	code, out, errs := cli(t, "check", h, "--deployment", dep, "--json")
	var chk struct {
		Source  string `json:"source"`
		Verdict string `json:"verdict"`
	}
	if json.Unmarshal([]byte(out), &chk); chk.Source != "statistical-checks" || code != map[string]int{"faulty": exitFailure, "healthy": exitOK, "inconclusive": exitInconclusive}[chk.Verdict] {
		t.Fatalf("check without production: exit %d, %s%s", code, out, errs)
	}
	if _, out, _ := cli(t, "check", h, "--deployment", dep); !strings.Contains(out, "statistical checks") {
		t.Errorf("check's text does not say the statistical checks judged: %s", out)
	}
	if code, _, errs := cli(t, "check", h, "--deployment", dep, "--model", "7"); code != exitCheckError {
		t.Errorf("check with a missing model: exit %d, want %d (%s)", code, exitCheckError, errs)
	}

	// The incumbent: trained here, put in production.
	mustCLI(t, "label", h)
	mustCLI(t, "train", h, "--labels", "weak")
	mustCLI(t, "evaluate", h)
	mustCLI(t, "registry", "register", h, "--run-id", "run-1")
	mustCLI(t, "registry", "promote", h, "faultline", "1", "--alias", "production", "--force", "--reason", "incumbent of the test")
	good := filepath.Join(home, "good.tar.gz")
	mustCLI(t, "registry", "export", h, "production", "--out", good)

	// The forgery imports — as an import, with unverified claims.
	forged := filepath.Join(home, "forged.tar.gz")
	forge(t, good, forged)
	out = mustCLI(t, "registry", "import", h, forged, "--json")
	var imp registry.Version
	if err := json.Unmarshal([]byte(out), &imp); err != nil {
		t.Fatal(err)
	}
	if imp.Version != 2 || imp.Lineage.Source != "import" || imp.Lineage.RunID != "" || imp.Lineage.ImportedFrom != forged ||
		imp.Metrics.Origin != registry.OriginBundle || imp.Metrics.EvalSetHash != "" {
		t.Fatalf("imported %+v", imp)
	}
	out = mustCLI(t, "registry", "show", h, "2")
	for _, want := range []string{"imported from " + forged, "not a pipeline run", "metrics unverified", "claimed by the imported bundle (unverified"} {
		if !strings.Contains(out, want) {
			t.Errorf("registry show of the import lacks %q:\n%s", want, out)
		}
	}

	// The gate scores it on the store and refuses it.
	code, out, errs = cli(t, "registry", "promote", h, "faultline", "2", "--alias", "production")
	if code != exitFailure || !strings.Contains(errs, "refused") {
		t.Fatalf("promotion of the forgery: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"evaluation set eg-", "faultline@2 (candidate)", "faultline@1 (current)", "statistical checks", "precision", "FAIL"} {
		if !strings.Contains(out, want) {
			t.Errorf("decision output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = cli(t, "registry", "promote", h, "faultline", "2", "--alias", "production", "--json")
	var refused struct {
		Promoted bool              `json:"promoted"`
		Decision registry.Decision `json:"decision"`
	}
	if err := json.Unmarshal([]byte(out), &refused); err != nil || code != exitFailure || refused.Promoted || refused.Decision.Evidence == nil {
		t.Fatalf("promotion --json: exit %d %s (%v)", code, out, err)
	}
	cand, _ := refused.Decision.Evidence.Candidate.Headline()
	if cand.Confusion.TP+cand.Confusion.FP != 0 {
		t.Errorf("the forgery flagged %d deploys", cand.Confusion.TP+cand.Confusion.FP)
	}
	for _, f := range refused.Decision.Floors {
		if f.Passed {
			t.Errorf("floor %s passed for a model that never flags", f.Floor)
		}
	}
	out = mustCLI(t, "registry", "show", h, "production", "--json")
	var prod registry.Version
	if err := json.Unmarshal([]byte(out), &prod); err != nil || prod.Version != 1 {
		t.Fatalf("production is %d (%v), want 1", prod.Version, err)
	}
	if out := mustCLI(t, "registry", "show", h, "2"); !strings.Contains(out, "computed by the promotion gate") {
		t.Errorf("the gate's scores are not shown on the import:\n%s", out)
	}

	// check keeps judging with the incumbent: a deploy it flags still halts
	// the rollout (the forgery would have passed it).
	pred = filepath.Join(home, "p.csv")
	mustCLI(t, "predict", h, "--out", pred)
	faulty := ""
	for _, rec := range readCSV(t, pred)[1:] {
		if rec[len(rec)-1] != "1" {
			t.Fatalf("predict used model_version %s, want 1", rec[len(rec)-1])
		}
		if rec[len(rec)-3] == "faulty" && faulty == "" {
			faulty = rec[0]
		}
	}
	if faulty == "" {
		t.Fatal("the incumbent flags no deploy of the fleet; the test needs one")
	}
	code, out, errs = cli(t, "check", h, "--deployment", faulty, "--json")
	if err := json.Unmarshal([]byte(out), &chk); err != nil || chk.Source != "model" || chk.Verdict != "faulty" || !strings.Contains(out, `"model_version": 1`) || code != exitFailure {
		t.Errorf("check of %s after the refused promotion: exit %d %s%s", faulty, code, out, errs)
	}

	// Forcing records who and why.
	mustCLI(t, "registry", "promote", h, "faultline", "2", "--alias", "production", "--force", "--reason", "drill: forged bundle", "--by", "mallory")
	out = mustCLI(t, "registry", "aliases", h, "--history", "--json")
	var moves []registry.Move
	if err := json.Unmarshal([]byte(out), &moves); err != nil {
		t.Fatal(err)
	}
	last := moves[len(moves)-1]
	if last.To != 2 || !last.Forced || last.Reason != "drill: forged bundle" || last.By != "mallory" || last.Decision == nil || last.Decision.Passed || last.Decision.Evidence == nil {
		t.Errorf("forced move recorded as %+v", last)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(recs) < 10 {
		t.Fatalf("%s: %d records, %v", path, len(recs), err)
	}
	return recs
}

// After an upgrade that redefined features, the production model of the
// previous build cannot be scored: check and predict judge with the
// statistical checks instead of failing, and say why on standard error.
// The version's models are a real training run's; only the schema it
// records is another build's.
func TestProductionOfAnotherSchemaFallsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and trains; skipped with -short")
	}
	home, h := simulatedHome(t)
	mustCLI(t, "label", h)
	mustCLI(t, "train", h, "--labels", "weak")
	mustCLI(t, "registry", "register", h, "--run-id", "run-1")
	cur := filepath.Join(home, "cur.tar.gz")
	mustCLI(t, "registry", "export", h, "1", "--out", cur)
	b := readBundle(t, cur)
	be, err := registry.OpenDir(filepath.Join(home, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	r := registry.New(be, registry.DefaultConfig())
	schema := b.Manifest.FeatureSchema
	schema.Version, schema.Hash = "fl-features-v0", "0123456789abcdef"
	nv := registry.NewVersion{Name: "faultline", FeatureSchema: schema, Horizons: b.Manifest.Horizons,
		Thresholds: map[int]float64{}, Models: map[int][]byte{}, Lineage: registry.Lineage{RunID: "run-0", Source: "weak"}}
	for _, hz := range b.Manifest.Horizons {
		nv.Thresholds[hz] = b.Manifest.Thresholds[hz]
		nv.Models[hz] = b.Files[bundle.ModelFileName(hz)]
	}
	old, err := r.Register(t.Context(), nv)
	if err != nil {
		t.Fatal(err)
	}
	be.Close()
	mustCLI(t, "registry", "promote", h, "faultline", strconv.Itoa(old.Version), "--alias", "production", "--force", "--reason", "trained by an older build")

	pred := filepath.Join(home, "p.csv")
	code, out, errs := cli(t, "predict", h, "--out", pred, "--json")
	var sum struct {
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != exitOK || sum.Source != "statistical-checks" || !strings.Contains(errs, "cannot be scored by this build") {
		t.Fatalf("predict with a production model of another schema: exit %d, %s%s (%v)", code, out, errs, err)
	}
	dep := readCSV(t, pred)[1][0]
	code, out, errs = cli(t, "check", h, "--deployment", dep, "--json")
	var chk struct {
		Source  string `json:"source"`
		Verdict string `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(out), &chk); err != nil || chk.Source != "statistical-checks" ||
		code != map[string]int{"faulty": exitFailure, "healthy": exitOK, "inconclusive": exitInconclusive}[chk.Verdict] {
		t.Fatalf("check with a production model of another schema: exit %d, %s%s (%v)", code, out, errs, err)
	}
	if !strings.Contains(errs, "cannot be scored by this build") || !strings.Contains(errs, "schema") {
		t.Errorf("check does not say why the statistical checks judged: %s", errs)
	}
	// Named explicitly, the same version is an error, not a fallback.
	if code, _, errs := cli(t, "check", h, "--deployment", dep, "--model", strconv.Itoa(old.Version)); code != exitCheckError {
		t.Errorf("check --model %d: exit %d, want %d (%s)", old.Version, code, exitCheckError, errs)
	}
}
