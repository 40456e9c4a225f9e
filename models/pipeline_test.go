package models

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dmitryikh/leaves"
	"github.com/parquet-go/parquet-go"
)

type testDeploy struct {
	DeploymentID string    `parquet:"deployment_id"`
	Service      string    `parquet:"service"`
	StartedAt    time.Time `parquet:"started_at,timestamp(millisecond)"`
}

type testFeatures struct {
	DeploymentID   string  `parquet:"deployment_id"`
	ErrRatio       float64 `parquet:"err_ratio"`
	LatencyRatio   float64 `parquet:"latency_ratio"`
	Noise          float64 `parquet:"noise"`
	EnsembleFaulty float64 `parquet:"ensemble_faulty"`
	Inconclusive   float64 `parquet:"inconclusive"`
}

type testLabel struct {
	DeploymentID string  `parquet:"deployment_id"`
	LfA          int8    `parquet:"lf_a"`
	PFaulty      float64 `parquet:"p_faulty"`
	Label        int8    `parquet:"label"`
}

// writeFixture writes a small work directory: n deploys, features at 10/20/60
// whose signal grows with the horizon, weak labels and the ensemble column.
func writeFixture(t *testing.T, dir string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var deploys []testDeploy
	feats := map[int][]testFeatures{}
	var labels []testLabel
	for i := 0; i < n; i++ {
		id := "d" + itoa(1000+i)
		// ids in shuffled order relative to time, to test sorting by started_at
		ts := start.Add(time.Duration(rng.IntN(90*24*60)) * time.Minute)
		deploys = append(deploys, testDeploy{DeploymentID: id, Service: "svc" + itoa(i%5), StartedAt: ts})
		faulty := rng.Float64() < 0.2
		for _, h := range []int{10, 20, 60} {
			if h == 60 && i%17 == 0 {
				continue // not enough data yet
			}
			s := float64(h) / 60
			sig := boolf(faulty) * (0.5 + s)
			f := testFeatures{DeploymentID: id, ErrRatio: 1 + sig*2 + rng.NormFloat64()*0.6,
				LatencyRatio: 1 + sig + rng.NormFloat64()*0.8, Noise: rng.NormFloat64(), Inconclusive: 0}
			if rng.Float64() < 0.1 {
				f.LatencyRatio = math.NaN()
			}
			f.EnsembleFaulty = boolf(f.ErrRatio > 2.2)
			if i%23 == 0 {
				f.Inconclusive, f.EnsembleFaulty = 1, math.NaN()
			}
			feats[h] = append(feats[h], f)
		}
		p := 0.1
		if faulty {
			p = 0.9
		}
		l := testLabel{DeploymentID: id, LfA: int8(boolf(faulty)), PFaulty: p, Label: int8(boolf(faulty))}
		if i%29 == 0 {
			l.Label, l.LfA, l.PFaulty = -1, -1, 0.2
		}
		labels = append(labels, l)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(parquet.WriteFile(filepath.Join(dir, "deploys.parquet"), deploys))
	for h, f := range feats {
		must(parquet.WriteFile(filepath.Join(dir, FeaturesFile(h)), f))
	}
	must(parquet.WriteFile(filepath.Join(dir, "labels.parquet"), labels))
	must(os.WriteFile(filepath.Join(dir, "extract.json"), []byte(`{"schema_version":"test-v1"}`), 0o644))
}

func TestRunBothLabelSources(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, 1500)
	cfg := DefaultConfig()
	cfg.GBDT.NumTrees = 60
	cfg.GBDT.Threads = 2
	now := func() time.Time { return time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC) }
	info, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	split1, err := ReadSplit(filepath.Join(dir, "split.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(split1) != 1500 {
		t.Fatalf("split has %d deployments", len(split1))
	}
	// time order: every train deploy starts no later than every valid one, and so on
	deploys, err := readDeploys(filepath.Join(dir, "deploys.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	maxOf, minOf := map[string]int64{}, map[string]int64{}
	for _, d := range deploys {
		s := split1[d.id]
		if v, ok := maxOf[s]; !ok || d.startedAt > v {
			maxOf[s] = d.startedAt
		}
		if v, ok := minOf[s]; !ok || d.startedAt < v {
			minOf[s] = d.startedAt
		}
	}
	if !(maxOf[SplitTrain] < minOf[SplitValid] && maxOf[SplitValid] < minOf[SplitTest]) {
		t.Errorf("splits overlap in time: %v %v", maxOf, minOf)
	}
	if c := info.Split.Counts; c[SplitTrain] < 1000 || c[SplitTrain] > 1100 || c[SplitValid] < 200 || c[SplitTest] < 200 {
		t.Errorf("split counts %v, want about 70/15/15 %%", c)
	}
	if info.SchemaVersion != "test-v1" || info.LabelSource != LabelsWeak || info.TrainedAt != "2026-05-01T00:00:00Z" {
		t.Errorf("info header: %q %q %q", info.SchemaVersion, info.LabelSource, info.TrainedAt)
	}
	for _, k := range []string{"deploys.parquet", "labels.parquet", "features_h10.parquet", "features_h60.parquet", "extract.json"} {
		if len(info.Inputs[k]) != 64 {
			t.Errorf("no sha256 of %s", k)
		}
	}
	if len(info.Horizons) != 3 || len(info.Policy.Thresholds) != 3 {
		t.Fatalf("horizons %d, thresholds %v", len(info.Horizons), info.Policy.Thresholds)
	}
	for _, h := range info.Horizons {
		if float64(h.ValidAUC) < 0.8 {
			t.Errorf("%d min: validation AUC %v, want ≥ 0.8 on this easy fixture", h.Horizon, h.ValidAUC)
		}
		if h.Threshold.Reached && float64(h.Threshold.Precision) < h.Threshold.Target {
			t.Errorf("%d min: precision %v below target %v", h.Horizon, h.Threshold.Precision, h.Threshold.Target)
		}
		if h.ClassWeights[1] <= h.ClassWeights[0] {
			t.Errorf("%d min: class weights %v do not favour the rare faulty class", h.Horizon, h.ClassWeights)
		}
		// the exported file loads in leaves and agrees with our reader
		path := filepath.Join(ModelDir(dir, LabelsWeak), h.ModelFile)
		e, err := leaves.LGEnsembleFromFile(path, true)
		if err != nil {
			t.Fatalf("leaves: %v", err)
		}
		m, err := ReadLightGBMFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m.FeatureNames, h.Features) {
			t.Errorf("model features %v, train.json %v", m.FeatureNames, h.Features)
		}
		row := []float64{2.5, math.NaN(), 0.1, 1, 0}
		if got, want := e.PredictSingle(row, 0), m.Predict(row); math.Abs(got-want) > 1e-12 {
			t.Errorf("leaves %v, ours %v", got, want)
		}
	}
	if pv := info.PolicyValid; pv.Deploys == 0 || math.IsNaN(float64(pv.Recall)) || pv.Deploys != len(pv.ByHorizon)*0+pv.TP+pv.FP+pv.TN+pv.FN {
		t.Errorf("policy report %+v", pv)
	}
	ti, err := ReadTrainInfo(filepath.Join(ModelDir(dir, LabelsWeak), "train.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ti.Policy, info.Policy) {
		t.Errorf("train.json policy %+v, want %+v", ti.Policy, info.Policy)
	}

	// H7's path: score the test split and evaluate the policy on it
	s, err := ScoreSplit(context.Background(), dir, LabelsWeak, SplitTest)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.IDs) != info.Split.Counts[SplitTest] {
		t.Errorf("scored %d test deploys, split has %d", len(s.IDs), info.Split.Counts[SplitTest])
	}
	rep := EvaluatePolicy(ti.Policy, s.Probs, s.Labels)
	if rep.Deploys == 0 || float64(rep.Recall) < 0.5 {
		t.Errorf("test policy report: %+v", rep)
	}

	// the ensemble source: same split, label columns excluded at 60 minutes
	info2, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Labels: LabelsEnsemble, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	split2, err := ReadSplit(filepath.Join(dir, "split.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(split1, split2) {
		t.Error("the ensemble run split deployments differently")
	}
	h60 := info2.Horizons[2]
	if !strings.Contains(strings.Join(h60.ExcludedFeatures, ","), "ensemble_faulty") {
		t.Errorf("ensemble label column not excluded at 60 min: %v", h60.ExcludedFeatures)
	}
	if len(info2.Horizons[0].ExcludedFeatures) != 0 {
		t.Errorf("features excluded at 10 min: %v", info2.Horizons[0].ExcludedFeatures)
	}
	if _, err := os.Stat(filepath.Join(ModelDir(dir, LabelsEnsemble), "model_h60.txt")); err != nil {
		t.Error(err)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	if _, err := Run(context.Background(), cfg, RunOptions{Workdir: dir}); err == nil || !strings.Contains(err.Error(), "deploys.parquet") {
		t.Errorf("missing deploys: err = %v", err)
	}
	writeFixture(t, dir, 200)
	os.Remove(filepath.Join(dir, "labels.parquet"))
	if _, err := Run(context.Background(), cfg, RunOptions{Workdir: dir}); err == nil || !strings.Contains(err.Error(), "labels.parquet") {
		t.Errorf("missing labels: err = %v", err)
	}
	bad := cfg
	bad.TargetPrecision = []float64{0.9}
	if _, err := Run(context.Background(), bad, RunOptions{Workdir: dir}); err == nil {
		t.Error("mismatched target precisions accepted")
	}
	// a feature row for an unknown deployment names the file and row
	extra := []testFeatures{{DeploymentID: "nope", ErrRatio: 1}}
	if err := parquet.WriteFile(filepath.Join(dir, FeaturesFile(10)), extra); err != nil {
		t.Fatal(err)
	}
	writeLabels := []testLabel{{DeploymentID: "nope", PFaulty: 1, Label: 1}}
	if err := parquet.WriteFile(filepath.Join(dir, "labels.parquet"), writeLabels); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, RunOptions{Workdir: dir}); err == nil || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("unknown deployment: err = %v", err)
	}
}

func TestMakeSplitTies(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	ts := []int64{1, 2, 3, 4, 5, 6, 7, 7, 7, 10}
	s := MakeSplit(ids, ts, 0.7, 0.15) // the cut after 7 rows falls inside the tie at t=7
	got := map[string]string{}
	for _, r := range s {
		got[r.DeploymentID] = r.Split
	}
	if got["g"] != got["h"] || got["h"] != got["i"] {
		t.Errorf("deploys starting together straddle splits: %v", got)
	}
	if got["a"] != SplitTrain || got["j"] != SplitTest {
		t.Errorf("oldest/newest: %v", got)
	}
}

// TestRunAbstainedRows checks both treatments of deployments on which every
// labeling function abstained (label -1): "prior" trains and validates on
// them with their p_faulty, "drop" leaves them out; anything else is refused.
func TestRunAbstainedRows(t *testing.T) {
	const n = 600
	abstained := 0
	for i := 0; i < n; i++ {
		if i%29 == 0 { // writeFixture's all-abstain rows, every one with features at 10 min
			abstained++
		}
	}
	rows := map[string]int{}
	for _, mode := range []string{AbstainedPrior, AbstainedDrop} {
		dir := t.TempDir()
		writeFixture(t, dir, n)
		cfg := DefaultConfig()
		cfg.Abstained = mode
		cfg.GBDT.NumTrees = 20
		info, err := Run(context.Background(), cfg, RunOptions{Workdir: dir})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		h10 := info.Horizons[0]
		rows[mode] = h10.Rows[SplitTrain] + h10.Rows[SplitValid] + h10.Rows[SplitTest]
	}
	if rows[AbstainedPrior] != n {
		t.Errorf("prior: %d rows at 10 min, want all %d", rows[AbstainedPrior], n)
	}
	if got := rows[AbstainedPrior] - rows[AbstainedDrop]; got != abstained {
		t.Errorf("drop left out %d rows, want the %d all-abstain ones", got, abstained)
	}
	bad := DefaultConfig()
	bad.Abstained = "keep"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "abstained") {
		t.Errorf("abstained %q: err = %v", bad.Abstained, err)
	}
}
