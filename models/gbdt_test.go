package models

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmitryikh/leaves"

	"github.com/faultline-dev/faultline/internal/metrics"
)

func smallParams() Params {
	p := DefaultParams()
	p.NumTrees = 30
	p.LearningRate = 0.2
	p.MaxLeaves = 15
	p.MinDataInLeaf = 5
	p.EarlyStoppingRounds = 0
	p.Threads = 2
	p.Lambda = 1
	p.Subsample = 1
	p.ColsampleByTree = 1
	return p
}

func TestTrainLearnsSignal(t *testing.T) {
	tr := synthData(20000, 12, 1, 0.1)
	te := synthData(5000, 12, 2, 0.1)
	m, res, err := Train(context.Background(), smallParams(), featureNames(12), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Trees) != 30 || res.BestIteration != 30 {
		t.Fatalf("trees = %d, best = %d, want 30", len(m.Trees), res.BestIteration)
	}
	p, err := m.PredictCols(te.Cols)
	if err != nil {
		t.Fatal(err)
	}
	auc := metrics.AUC(p, te.Y)
	if auc < 0.75 {
		t.Errorf("test AUC %.4f, want ≥ 0.75", auc)
	}
	// the trees improve on the constant model (the init score alone)
	mean := 0.0
	for _, y := range tr.Y {
		mean += y
	}
	mean /= float64(len(tr.Y))
	constLoss := -(mean*math.Log(mean) + (1-mean)*math.Log(1-mean))
	if !(res.TrainLogLoss < constLoss-0.05) {
		t.Errorf("train log-loss %v, constant model %v", res.TrainLogLoss, constLoss)
	}
	p2, _ := m.PredictCols(tr.Cols)
	if ll := metrics.LogLoss(p2, tr.Y, nil); math.Abs(ll-res.TrainLogLoss) > 1e-9 {
		t.Errorf("reported train log-loss %v, recomputed %v", res.TrainLogLoss, ll)
	}
	t.Logf("AUC %.4f, train logloss %.4f (constant model %.4f)", auc, res.TrainLogLoss, constLoss)
}

// leavesFromModel exports m and loads it with leaves (raw scores).
func leavesFromModel(t *testing.T, m *Model) *leaves.Ensemble {
	t.Helper()
	data, err := m.MarshalLightGBM()
	if err != nil {
		t.Fatal(err)
	}
	e, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), false)
	if err != nil {
		t.Fatalf("leaves cannot load the model: %v", err)
	}
	return e
}

func TestLeavesEqualsTrainer(t *testing.T) {
	for _, constrained := range []bool{false, true} {
		for seed := uint64(1); seed <= 6; seed++ {
			leavesEqualsTrainer(t, seed, constrained)
		}
	}
}

// leavesEqualsTrainer trains a model (with monotone constraints +1, −1
// and none on the features in turn when constrained) and checks that
// leaves predicts it exactly.
func leavesEqualsTrainer(t *testing.T, seed uint64, constrained bool) {
	nf := 3 + int(seed)*2
	tr := synthData(3000, nf, seed, 0.2)
	p := smallParams()
	if constrained {
		p.Monotone = make([]int8, nf)
		for f := range p.Monotone {
			p.Monotone[f] = []int8{1, -1, 0}[f%3]
		}
	}
	p.Seed = seed
	p.NumTrees = 10 + int(seed)*3
	p.MaxLeaves = 4 + int(seed)*4
	p.Subsample = []float64{1, 0.7}[seed%2]
	p.ColsampleByTree = []float64{1, 0.6, 0.8}[seed%3]
	p.MaxDepth = int(seed % 4)
	p.MinDataInLeaf = int(seed)
	m, _, err := Train(context.Background(), p, featureNames(nf), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if constrained != (m.Monotone != nil) {
		t.Fatalf("seed %d: constrained %v, model constraints %v", seed, constrained, m.Monotone)
	}
	e := leavesFromModel(t, m)
	if e.NEstimators() != len(m.Trees) {
		t.Fatalf("leaves sees %d trees, model has %d", e.NEstimators(), len(m.Trees))
	}
	// rows: training data, fresh data with more NaNs, and values exactly on thresholds
	te := synthData(2000, nf, seed+100, 0.5)
	rng := rand.New(rand.NewPCG(seed, 7))
	row := make([]float64, nf)
	check := func(row []float64) {
		want := m.PredictRaw(row)
		got := e.PredictSingle(row, 0)
		if math.Abs(got-want) > 1e-12 {
			t.Fatalf("seed %d (constrained %v): leaves %v, trainer %v for row %v", seed, constrained, got, want, row)
		}
	}
	for _, d := range []*Data{tr, te} {
		for i := 0; i < d.Rows(); i++ {
			for f := range row {
				row[f] = d.Cols[f][i]
			}
			check(row)
		}
	}
	for k := 0; k < 2000; k++ {
		for f := range row {
			row[f] = te.Cols[f][rng.IntN(te.Rows())]
		}
		tree := m.Trees[rng.IntN(len(m.Trees))]
		if tree.NumLeaves > 1 {
			node := rng.IntN(tree.NumLeaves - 1)
			row[tree.SplitFeature[node]] = tree.Threshold[node]
		}
		check(row)
	}
	// the probability transform matches too
	data, _ := m.MarshalLightGBM()
	ep, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		for f := range row {
			row[f] = te.Cols[f][i]
		}
		if got, want := ep.PredictSingle(row, 0), m.Predict(row); math.Abs(got-want) > 1e-12 {
			t.Fatalf("probability: leaves %v, trainer %v", got, want)
		}
	}
}

func TestBinnedTrainingScoresMatchRawPrediction(t *testing.T) {
	// the trainer's scores come from bins; the exported thresholds must reproduce them
	tr := synthData(5000, 8, 3, 0.3)
	p := smallParams()
	p.EarlyStoppingRounds = 0
	m, _, err := Train(context.Background(), p, featureNames(8), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	// rebuild the trainer's binning and compare leaf assignment on training rows
	mapper := newBinMapper(tr.Cols, p.MaxBins, p.BinSampleRows, p.Seed, 1)
	bins := mapper.binColumns(tr.Cols, 1)
	tt := &trainer{mapper: mapper}
	row := make([]float64, 8)
	for ti := range m.Trees {
		bt := tt.binnedTree(&m.Trees[ti])
		for i := 0; i < tr.Rows(); i++ {
			for f := range row {
				row[f] = tr.Cols[f][i]
			}
			if a, b := bt.leaf(bins, i), m.Trees[ti].leafIndex(row); a != b {
				t.Fatalf("tree %d row %d: binned leaf %d, raw leaf %d", ti, i, a, b)
			}
		}
	}
}
