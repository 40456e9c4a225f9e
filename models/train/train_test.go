package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dmitryikh/leaves"
	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models"
	"github.com/faultline-dev/faultline/models/policy"
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
		id := "d" + strconv.Itoa(1000+i)
		// ids in shuffled order relative to time, to test sorting by started_at
		ts := start.Add(time.Duration(rng.IntN(90*24*60)) * time.Minute)
		deploys = append(deploys, testDeploy{DeploymentID: id, Service: "svc" + strconv.Itoa(i%5), StartedAt: ts})
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
	must(parquet.WriteFile(filepath.Join(dir, workdir.DeploysFile), deploys))
	for h, f := range feats {
		must(parquet.WriteFile(filepath.Join(dir, workdir.FeaturesFile(h)), f))
	}
	must(parquet.WriteFile(filepath.Join(dir, workdir.LabelsFile), labels))
	must(os.WriteFile(filepath.Join(dir, workdir.ExtractFile), []byte(`{"schema_version":"test-v1"}`), 0o644))
}

// fixtureConfig is the training configuration of the tests on
// writeFixture's work directory: the defaults with fewer trees.
func fixtureConfig() Config {
	cfg := DefaultConfig()
	cfg.GBDT.NumTrees = 60
	cfg.GBDT.Threads = 2
	return cfg
}

// fixtureNow is the trained_at of those tests.
func fixtureNow() time.Time { return time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC) }

func TestRunBothLabelSources(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, 1500)
	cfg := fixtureConfig()
	now := fixtureNow
	info, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	split1, err := workdir.ReadSplit(filepath.Join(dir, workdir.SplitFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(split1) != 1500 {
		t.Fatalf("split has %d deployments", len(split1))
	}
	// time order: every train deploy starts no later than every valid one, and so on
	deploys, err := workdir.ReadDeploys(filepath.Join(dir, workdir.DeploysFile))
	if err != nil {
		t.Fatal(err)
	}
	maxOf, minOf := map[string]int64{}, map[string]int64{}
	for _, d := range deploys {
		s, at := split1[d.DeploymentID], d.StartedAt.UnixMilli()
		if v, ok := maxOf[s]; !ok || at > v {
			maxOf[s] = at
		}
		if v, ok := minOf[s]; !ok || at < v {
			minOf[s] = at
		}
	}
	if !(maxOf[workdir.SplitTrain] < minOf[workdir.SplitValid] && maxOf[workdir.SplitValid] < minOf[workdir.SplitTest]) {
		t.Errorf("splits overlap in time: %v %v", maxOf, minOf)
	}
	if c := info.Split.Counts; c[workdir.SplitTrain] < 1000 || c[workdir.SplitTrain] > 1100 || c[workdir.SplitValid] < 200 || c[workdir.SplitTest] < 200 {
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
		if h.Threshold.Threshold != info.Policy.Thresholds[indexOf(info.Horizons, h.Horizon)] {
			t.Errorf("%d min: look threshold %v is not the policy's %v", h.Horizon, h.Threshold.Threshold, info.Policy.Thresholds)
		}
		if c := h.Calibration; c == nil || c.Method != policy.CalibrationPlatt || c.Rows == 0 ||
			!(float64(c.LogLossCalibrated) <= float64(c.LogLossModel)) || len(c.ReliabilityCalibrated) != CalibrationBins {
			t.Errorf("%d min: calibration %+v: want Platt, fitted on validation, not raising the model's log-loss there", h.Horizon, c)
		}
		if h.ClassWeights[0] != 1 || h.ClassWeights[1] != 1 {
			t.Errorf("%d min: class weights %v with the default class_weight none, want [1 1]", h.Horizon, h.ClassWeights)
		}
		// the exported file loads in leaves and agrees with our reader
		path := filepath.Join(dir, workdir.ModelDir(LabelsWeak), h.ModelFile)
		e, err := leaves.LGEnsembleFromFile(path, true)
		if err != nil {
			t.Fatalf("leaves: %v", err)
		}
		m, err := models.ReadLightGBMFile(path)
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
	// One target for the policy as a whole, chosen jointly on validation.
	c := info.Choice
	if c == nil || c.Target != (policy.Target{Precision: 0.95}) || len(c.Thresholds) != 3 || len(info.Policy.Calibration) != 3 {
		t.Fatalf("policy choice %+v, calibration %v", c, info.Policy.Calibration)
	}
	if pv := info.PolicyValid; pv.TP != c.Precision.K || pv.TP+pv.FP != c.Precision.N || pv.FP != c.FalseAlarmsPerHealthy.K {
		t.Errorf("policy on validation %d/%d flags, %d false alarms; choice says %+v", pv.TP, pv.TP+pv.FP, pv.FP, c.Precision)
	}
	if c.Met != (float64(c.Precision.Lo) >= 0.95) || c.Met == (c.Fallback != "") {
		t.Errorf("target met %v with precision lower bound %v, fallback %q", c.Met, c.Precision.Lo, c.Fallback)
	}
	if pv := info.PolicyValid; pv.Deploys == 0 || math.IsNaN(float64(pv.Recall)) || pv.Deploys != len(pv.ByHorizon)*0+pv.TP+pv.FP+pv.TN+pv.FN {
		t.Errorf("policy report %+v", pv)
	}
	ti, err := workdir.ReadTrain(filepath.Join(dir, workdir.ModelDir(LabelsWeak), workdir.TrainFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ti.Policy, info.Policy) {
		t.Errorf("train.json policy %+v, want %+v", ti.Policy, info.Policy)
	}

	// H7's path: score the test split and evaluate the policy on it
	s, err := ScoreSplit(context.Background(), dir, LabelsWeak, workdir.SplitTest)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.IDs) != info.Split.Counts[workdir.SplitTest] {
		t.Errorf("scored %d test deploys, split has %d", len(s.IDs), info.Split.Counts[workdir.SplitTest])
	}
	// By default the target is judged on the labels' expected counts.
	// The fixture's labels are soft (its vote patterns leave many
	// posteriors between 0 and 1): no policy reaches an expected precision
	// of 0.95, and training chooses as with the bound, below.
	if c.Estimate != "" || c.Met || c.Fallback != policy.FallbackPointEstimate {
		t.Errorf("default target on %d faulty validation deploys: estimate %q, met %v, fallback %q", info.PolicyValid.Positives, c.Estimate, c.Met, c.Fallback)
	}
	rep := policy.Evaluate(ti.Policy, s.Probs, s.Labels)
	if rep.Deploys == 0 || float64(rep.Precision) < 0.75 || float64(rep.Recall) < 0.3 {
		t.Errorf("test policy report: %+v", rep)
	}
	// A target the validation split can show is met, with more recall.
	reachable := cfg
	reachable.Target = Target{Precision: 0.8}
	info80, err := Run(context.Background(), reachable, RunOptions{Workdir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if c80 := info80.Choice; !c80.Met || float64(c80.ExpectedPrecision) < 0.8 || c80.Recall.K <= c.Recall.K {
		t.Errorf("precision 0.8: choice %+v, recall %d against %d at 0.95", c80, c80.Recall.K, c.Recall.K)
	}
	// Judged by the Wilson bound on hard labels instead, the ~48 faulty
	// validation deploys cannot show precision ≥ 0.95 (that takes ≥ 73
	// flags without a false alarm): the choice falls back, here to the
	// policy that meets the target at the point estimate, which flags more
	// than the most precise one by its bound.
	bound := cfg
	bound.TargetEstimate = TargetEstimateBound
	infoB, err := Run(context.Background(), bound, RunOptions{Workdir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if cb := infoB.Choice; cb.Estimate != "" || cb.Met || cb.Fallback != policy.FallbackPointEstimate || float64(cb.Precision.Value) < 0.95 {
		t.Errorf("bound: choice %+v", cb)
	}
	bound.Target = Target{Precision: 0.8}
	infoB80, err := Run(context.Background(), bound, RunOptions{Workdir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if cb := infoB80.Choice; !cb.Met || float64(cb.Precision.Lo) < 0.8 {
		t.Errorf("bound, precision 0.8: choice %+v", cb)
	}

	// the ensemble source: same split, label columns excluded at 60 minutes
	info2, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Labels: LabelsEnsemble, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	split2, err := workdir.ReadSplit(filepath.Join(dir, workdir.SplitFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(split1, split2) {
		t.Error("the ensemble run split deployments differently")
	}
	h60 := info2.Horizons[2]
	if !strings.Contains(strings.Join(h60.ExcludedFeatures, ","), features.Schema[features.EnsembleFaulty].Name) {
		t.Errorf("ensemble label column not excluded at 60 min: %v", h60.ExcludedFeatures)
	}
	if len(info2.Horizons[0].ExcludedFeatures) != 0 {
		t.Errorf("features excluded at 10 min: %v", info2.Horizons[0].ExcludedFeatures)
	}
	if _, err := os.Stat(filepath.Join(dir, workdir.ModelDir(LabelsEnsemble), workdir.ModelFile(60))); err != nil {
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
	os.Remove(filepath.Join(dir, workdir.LabelsFile))
	if _, err := Run(context.Background(), cfg, RunOptions{Workdir: dir}); err == nil || !strings.Contains(err.Error(), "labels.parquet") {
		t.Errorf("missing labels: err = %v", err)
	}
	bad := cfg
	bad.Target = Target{}
	if _, err := Run(context.Background(), bad, RunOptions{Workdir: dir}); err == nil || !strings.Contains(err.Error(), "train.target") {
		t.Errorf("no target: err = %v", err)
	}
	// a feature row for an unknown deployment names the file and row
	extra := []testFeatures{{DeploymentID: "nope", ErrRatio: 1}}
	if err := parquet.WriteFile(filepath.Join(dir, workdir.FeaturesFile(10)), extra); err != nil {
		t.Fatal(err)
	}
	writeLabels := []testLabel{{DeploymentID: "nope", PFaulty: 1, Label: 1}}
	if err := parquet.WriteFile(filepath.Join(dir, workdir.LabelsFile), writeLabels); err != nil {
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
	if got["a"] != workdir.SplitTrain || got["j"] != workdir.SplitTest {
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
		rows[mode] = h10.Rows[workdir.SplitTrain] + h10.Rows[workdir.SplitValid] + h10.Rows[workdir.SplitTest]
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
	for _, w := range []float64{-0.1, 1.5, math.NaN()} {
		bad := DefaultConfig()
		bad.AbstainedSpread = w
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "abstained_spread") {
			t.Errorf("abstained_spread %v: err = %v", w, err)
		}
	}
}

// The threshold choice counts the all-abstain deployments by
// Config.AbstainedSpread: at 0 at their label, at 1 by
// policy.SpreadAbstained on the highest of their looks' calibrated
// probabilities, in between a mix; labelled deployments keep their label.
func TestChoiceTargetsSpreadAbstained(t *testing.T) {
	nan := math.NaN()
	v := &validation{
		ids: []string{"f1", "f2", "h1", "a1", "a2", "a3", "a4"},
		probs: [][]float64{
			{0.9, nan}, {0.6, 0.2}, {0.1, 0.1},
			{0.2, 0.8}, // a1: its highest look scores it at the top
			{0.3, nan}, {0.05, 0.1}, {nan, nan},
		},
	}
	labels := labelSet{"f1": 1, "f2": 1, "h1": 0, "a1": 0.25, "a2": 0.25, "a3": 0.25, "a4": 0.25}
	abstained := map[string]bool{"a1": true, "a2": true, "a3": true, "a4": true}
	cal := []policy.Platt{{A: 1}, {A: 1}}
	score := []float64{0.9, 0.6, 0.1, 0.8, 0.3, 0.1, nan}
	spread := policy.SpreadAbstained(score, []float64{1, 1, 0, 0.25, 0.25, 0.25, 0.25}, []bool{false, false, false, true, true, true, true})
	if spread[3] <= 0.25 || spread[3] < spread[4] || spread[6] != 0.25 {
		t.Fatalf("spread %v: the top abstained row should gain, the unscored one keep its label", spread)
	}
	for _, w := range []float64{0, 0.5, 1} {
		cfg := DefaultConfig()
		cfg.AbstainedSpread = w
		got := choiceTargets(cfg, v, labels, abstained, cal)
		for d, id := range v.ids {
			want := labels[id]
			if abstained[id] {
				want = (1-w)*labels[id] + w*spread[d]
			}
			if math.Abs(got[d]-want) > 1e-12 {
				t.Errorf("spread %v: %s target %v, want %v", w, id, got[d], want)
			}
		}
	}
}

// The threshold choice counts labelled deployments that share one label
// by Config.TiedSpread: at 0 at their label, at 1 by policy.SpreadTied on
// the highest of their looks' calibrated probabilities, in between a mix;
// the all-abstain deployments are left to Config.AbstainedSpread.
func TestChoiceTargetsSpreadTied(t *testing.T) {
	nan := math.NaN()
	v := &validation{}
	labels := labelSet{}
	abstained := map[string]bool{}
	var score, y []float64
	var skip []bool
	for i := range 12 {
		id := fmt.Sprintf("t%d", i)
		p := 0.05 + 0.08*float64(i)
		v.ids = append(v.ids, id)
		v.probs = append(v.probs, []float64{p, nan})
		labels[id] = 0.92
		score, y, skip = append(score, p), append(y, 0.92), append(skip, false)
	}
	for i := range 3 {
		id := fmt.Sprintf("a%d", i)
		v.ids = append(v.ids, id)
		v.probs = append(v.probs, []float64{0.5, 0.9})
		labels[id], abstained[id] = 0.02, true
		score, y, skip = append(score, 0.9), append(y, 0.02), append(skip, true)
	}
	cal := []policy.Platt{{A: 1}, {A: 1}}
	spread := policy.SpreadTied(score, y, skip)
	if spread[11] <= 0.92 || spread[0] >= 0.92 {
		t.Fatalf("spread %v: the top tied row should gain and the lowest lose", spread)
	}
	for _, w := range []float64{0, 0.5, 1} {
		cfg := DefaultConfig()
		cfg.AbstainedSpread = 0
		cfg.TiedSpread = w
		got := choiceTargets(cfg, v, labels, abstained, cal)
		for d, id := range v.ids {
			want := labels[id]
			if !abstained[id] {
				want = (1-w)*labels[id] + w*spread[d]
			}
			if math.Abs(got[d]-want) > 1e-12 {
				t.Errorf("tied spread %v: %s target %v, want %v", w, id, got[d], want)
			}
		}
	}
	for _, w := range []float64{-0.1, 1.5, math.NaN()} {
		bad := DefaultConfig()
		bad.TiedSpread = w
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "tied_spread") {
			t.Errorf("tied_spread %v: err = %v", w, err)
		}
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// The ensemble source reads its verdict at Config.EnsembleHorizon and
// leaves the verdict's columns out of that horizon's model only.
func TestRunEnsembleHorizon(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, 400)
	cfg := DefaultConfig()
	cfg.GBDT.NumTrees = 10
	cfg.EnsembleHorizon = 20
	info, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Labels: LabelsEnsemble})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range info.Horizons {
		excluded := len(h.ExcludedFeatures) > 0
		if excluded != (h.Horizon == 20) {
			t.Errorf("%d min: excluded %v", h.Horizon, h.ExcludedFeatures)
		}
	}
	var got Config
	if err := json.Unmarshal(info.Config, &got); err != nil || got.EnsembleHorizon != 20 {
		t.Errorf("train.json config %s: %v", info.Config, err)
	}
	// the 60-minute file lacks deploys that the 20-minute one has (writeFixture
	// skips every 17th at 60 min): the labelled rows at 10 min tell which
	// file gave the labels.
	h10 := info.Horizons[0]
	at20 := h10.Rows[workdir.SplitTrain] + h10.Rows[workdir.SplitValid] + h10.Rows[workdir.SplitTest]
	cfg.EnsembleHorizon = 60
	info60, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Labels: LabelsEnsemble})
	if err != nil {
		t.Fatal(err)
	}
	h10 = info60.Horizons[0]
	if at60 := h10.Rows[workdir.SplitTrain] + h10.Rows[workdir.SplitValid] + h10.Rows[workdir.SplitTest]; at60 >= at20 {
		t.Errorf("labelled rows at 10 min: %d with the 60-minute verdict, %d with the 20-minute one", at60, at20)
	}
	// the ensemble horizon's file must exist
	cfg.EnsembleHorizon = 30
	if _, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Labels: LabelsEnsemble}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), workdir.FeaturesFile(30)) {
		t.Errorf("ensemble horizon without features: %v", err)
	}
	cfg.EnsembleHorizon = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ensemble_horizon") {
		t.Errorf("ensemble_horizon 0: %v", err)
	}
}

func indexOf(hs []workdir.HorizonInfo, h int) int {
	for i, x := range hs {
		if x.Horizon == h {
			return i
		}
	}
	return -1
}

// With class_weight balanced the rare faulty class weighs more, and Platt
// calibration brings the balanced-weight probabilities back to the data's.
func TestRunBalancedClassWeight(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, 1500)
	cfg := DefaultConfig()
	cfg.ClassWeight = "balanced"
	cfg.GBDT.NumTrees = 60
	cfg.GBDT.Threads = 2
	info, err := Run(context.Background(), cfg, RunOptions{Workdir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range info.Horizons {
		if h.ClassWeights[1] <= h.ClassWeights[0] {
			t.Errorf("%d min: class weights %v do not favour the rare faulty class", h.Horizon, h.ClassWeights)
		}
		if c := h.Calibration; c == nil || !(float64(c.LogLossCalibrated) < float64(c.LogLossModel)) {
			t.Errorf("%d min: calibration %+v: want Platt lowering the log-loss of balanced-weight probabilities", h.Horizon, c)
		}
	}
}
