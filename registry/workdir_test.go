package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// metricsJSON is an evaluation report in the shape of evaluation.Report:
// one policy result per contender against the headline reference.
func metricsJSON(splitSHA string, contenders map[string][3]float64, prodVersion string) []byte {
	type est struct {
		Value float64 `json:"value"`
		K     int     `json:"k"`
		N     int     `json:"n"`
	}
	var results []map[string]any
	var cs []map[string]any
	for name, m := range contenders {
		results = append(results, map[string]any{"contender": name, "reference": "gold_or_weak", "scope": "policy",
			"precision": est{m[0], 9, 10}, "recall": est{m[1], 6, 10}, "mttd_min": m[2], "pr_auc": nil})
		results = append(results, map[string]any{"contender": name, "reference": "truth", "scope": "policy",
			"precision": est{0.5, 1, 2}, "recall": est{0.5, 1, 2}, "mttd_min": 30})
		c := map[string]any{"name": name}
		if name == "production" {
			c["version"] = prodVersion
		}
		cs = append(cs, c)
	}
	rep := map[string]any{"schema_version": 1, "split": "test", "test_deploys": 120, "headline_reference": "gold_or_weak",
		"contenders": cs, "results": results,
		"lineage": map[string]any{"inputs": []map[string]any{
			{"path": "split.parquet", "sha256": splitSHA}, {"path": "deploys.parquet", "sha256": "dd"}, {"path": "features_h10.parquet", "sha256": "ff"}}}}
	b, _ := json.Marshal(rep)
	return b
}

func workdir(t *testing.T, seed uint64, splitSHA string, contenders map[string][3]float64, prodVersion string) string {
	dir := t.TempDir()
	names := registrytest.Names
	for _, h := range []int{10, 20, 60} {
		writeFile(t, filepath.Join(dir, "models", "weak", fmt.Sprintf("model_h%d.txt", h)), registrytest.ModelText(seed+uint64(h), names, 4, 5, true))
	}
	train := map[string]any{
		"label_source": "weak", "feature_schema_version": registrytest.Schema.Version,
		"params":        map[string]any{"num_trees": 300},
		"horizons":      []map[string]any{{"horizon": 10}, {"horizon": 20}, {"horizon": 60}},
		"policy":        map[string]any{"horizons": []int{10, 20, 60}, "thresholds": []float64{0.9, 0.8, 0.7}},
		"inputs_sha256": map[string]string{"labels.parquet": "lab123", "features_h10.parquet": "f10", "deploys.parquet": "dep"},
	}
	b, _ := json.Marshal(train)
	writeFile(t, filepath.Join(dir, "models", "weak", "train.json"), b)
	b, _ = json.Marshal(map[string]any{"schema_version": registrytest.Schema.Version, "schema_hash": registrytest.Schema.Hash, "config_hash": "c1"})
	writeFile(t, filepath.Join(dir, "extract.json"), b)
	if contenders != nil {
		writeFile(t, filepath.Join(dir, "evaluation", "metrics.json"), metricsJSON(splitSHA, contenders, prodVersion))
	}
	return dir
}

func TestRegisterFromDir(t *testing.T) {
	ctx := context.Background()
	d, err := registry.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := registry.New(d, registry.DefaultConfig())
	opts := registry.DirOptions{Schema: registrytest.Schema, RunID: "run-7", CodeVersion: "v1.2", By: "nightly", Alias: "candidate"}

	// Night 1: first model, promoted to production.
	w1 := workdir(t, 1, "split-1", map[string][3]float64{"weak": {0.9, 0.6, 20}}, "")
	v1, err := r.RegisterFromDir(ctx, w1, opts)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.Thresholds[20] != 0.8 || v1.Lineage.LabelHash != "lab123" || v1.Lineage.DatasetHash == "" ||
		v1.Lineage.RunID != "run-7" || v1.Lineage.Source != "weak" ||
		v1.FeatureSchema.ConfigHash != "c1" {
		t.Fatalf("version 1: %+v", v1)
	}
	if v1.Metrics.Values["policy.recall"] != 0.6 || v1.Metrics.Values["policy.mttd_min"] != 20 || v1.Metrics.Values["truth:policy.recall"] != 0.5 || v1.Metrics.EvalSetHash == "" ||
		v1.Metrics.Origin != registry.OriginEvaluation {
		t.Fatalf("metrics %+v", v1.Metrics)
	}
	if !filepath.IsAbs(v1.Lineage.Workdir) {
		t.Errorf("lineage workdir %q is not absolute", v1.Lineage.Workdir)
	}
	// The same run registering again (a resume after a kill during
	// register) gets its version back; the candidate alias does not move
	// again.
	again, err := r.RegisterFromDir(ctx, w1, opts)
	if err != nil || again.Version != 1 {
		t.Fatalf("registering run-7 again: %+v, %v", again, err)
	}
	if h, _ := d.History(ctx, "faultline", "candidate"); len(h) != 1 {
		t.Errorf("candidate moved %d times for one run", len(h))
	}
	if _, ok := v1.Artifact("train.json"); !ok {
		t.Error("train.json not kept")
	}
	if cur, err := r.Get(ctx, "candidate"); err != nil || cur.Version != 1 {
		t.Fatalf("candidate alias: %v %v", cur, err)
	}
	// The gate judges on the scores it computes (here stated by the
	// registrytest evaluator), not on metrics.json.
	ev := registrytest.NewEvaluator("eg-nightly", registrytest.Conf(5, 1, 15, 79, 60))
	ev.Set(1, registrytest.Conf(18, 1, 2, 79, 20))
	if _, err := r.Promote(ctx, "faultline", 1, "production", registry.PromoteOptions{}); !errors.Is(err, registry.ErrNoEvidence) {
		t.Fatalf("promotion on metrics.json alone: %v, want a refusal for lack of evidence", err)
	}
	if _, err := r.Promote(ctx, "faultline", 1, "production", registry.PromoteOptions{Evaluator: ev}); err != nil {
		t.Fatal(err)
	}

	// Night 2: new split, evaluation scored production (v1) beside the candidate.
	w2 := workdir(t, 2, "split-2", map[string][3]float64{"weak": {0.9, 0.7, 18}, "production": {0.9, 0.65, 19}}, "faultline@1")
	opts.RunID = "run-8"
	v2, err := r.RegisterFromDir(ctx, w2, opts)
	if err != nil {
		t.Fatal(err)
	}
	if v2.Metrics.EvalSetHash == v1.Metrics.EvalSetHash {
		t.Fatal("different splits give the same evaluation set hash")
	}
	p1, _ := r.Get(ctx, "production")
	if m, ok := p1.EvaluationOn(v2.Metrics.EvalSetHash); !ok || m.Values["policy.recall"] != 0.65 {
		t.Fatalf("production not re-evaluated on night 2's set: %+v", p1.Evaluations)
	}
	ev.Set(v2.Version, registrytest.Conf(19, 1, 1, 79, 18))
	mv, err := r.Promote(ctx, "faultline", v2.Version, "production", registry.PromoteOptions{By: "sre", Evaluator: ev})
	if err != nil {
		t.Fatalf("better candidate refused: %v", err)
	}
	if mv.Decision.EvalSetHash != "eg-nightly" || mv.Decision.Current != 1 {
		t.Errorf("compared on %s against %d", mv.Decision.EvalSetHash, mv.Decision.Current)
	}

	// Night 3: metrics.json claims a far better model; computed evidence
	// says it is worse: refused.
	w3 := workdir(t, 3, "split-3", map[string][3]float64{"weak": {0.99, 0.9, 10}}, "")
	opts.RunID = "run-9"
	v3, err := r.RegisterFromDir(ctx, w3, opts)
	if err != nil {
		t.Fatal(err)
	}
	ev.Set(v3.Version, registrytest.Conf(12, 1, 8, 79, 10))
	if _, err := r.Promote(ctx, "faultline", v3.Version, "production", registry.PromoteOptions{Evaluator: ev}); !errors.Is(err, registry.ErrGateRefused) {
		t.Errorf("worse candidate on computed evidence: %v", err)
	}

	// The candidate alias is not gated: it followed every night.
	if cur, _ := r.Get(ctx, "candidate"); cur.Version != v3.Version {
		t.Errorf("candidate at %d, want %d", cur.Version, v3.Version)
	}
	// Gating every alias: registering with --alias candidate is refused
	// (the version stays registered): no evidence was computed.
	cfg := registry.DefaultConfig()
	cfg.GatedAliases = []string{"*"}
	rg := registry.New(d, cfg)
	w4 := workdir(t, 4, "split-4", map[string][3]float64{"weak": {0.99, 0.5, 10}}, "")
	opts.RunID = "run-10"
	v4, err := rg.RegisterFromDir(ctx, w4, opts)
	if v4 == nil || v4.Version != 4 || !errors.Is(err, registry.ErrGateRefused) {
		t.Fatalf("gated candidate: %v, %v", v4, err)
	}
	if cur, _ := r.Get(ctx, "candidate"); cur.Version != v3.Version {
		t.Errorf("refused move happened: candidate at %d", cur.Version)
	}

	// Wrong schema.
	bad := opts
	bad.Schema.Version = "other"
	if _, err := r.RegisterFromDir(ctx, w1, bad); !errors.Is(err, registry.ErrSchemaMismatch) {
		t.Errorf("schema mismatch: %v", err)
	}
	bad = opts
	bad.Schema.ConfigHash = "c2"
	if _, err := r.RegisterFromDir(ctx, w1, bad); err == nil {
		t.Error("other feature settings accepted")
	}
	if _, err := r.RegisterFromDir(ctx, t.TempDir(), opts); err == nil {
		t.Error("empty workdir accepted")
	}
}
