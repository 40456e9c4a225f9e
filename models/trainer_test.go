package models

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/faultline-dev/faultline/internal/metrics"
)

func oneSplitParams() Params {
	p := DefaultParams()
	p.NumTrees = 1
	p.LearningRate = 1
	p.MaxLeaves = 2
	p.MinDataInLeaf = 1
	p.MinSumHessian = 0
	p.Lambda = 1
	p.EarlyStoppingRounds = 0
	p.Threads = 1
	p.Subsample = 1
	p.ColsampleByTree = 1
	return p
}

func TestSplitFindingHandMade(t *testing.T) {
	// x = 0..9, positive iff x >= 6: the only perfect split lies between 5 and 6
	x := []float64{3, 7, 0, 9, 5, 1, 6, 8, 2, 4}
	y := make([]float64, len(x))
	for i, v := range x {
		if v >= 6 {
			y[i] = 1
		}
	}
	noise := []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1} // constant: never split
	m, res, err := Train(context.Background(), oneSplitParams(), []string{"const", "x"}, &Data{Cols: [][]float64{noise, x}, Y: y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := m.Trees[0]
	if tr.NumLeaves != 2 || tr.SplitFeature[0] != 1 {
		t.Fatalf("want one split on x, got %d leaves, features %v", tr.NumLeaves, tr.SplitFeature)
	}
	if tr.Threshold[0] != 5.5 {
		t.Errorf("threshold %v, want 5.5 (midpoint of 5 and 6)", tr.Threshold[0])
	}
	// leaf values: -G/(H+λ) at p0 = 0.4 plus the init score log(0.4/0.6)
	p0 := 0.4
	init := math.Log(p0 / (1 - p0))
	if math.Abs(res.InitScore-init) > 1e-15 {
		t.Errorf("init score %v, want %v", res.InitScore, init)
	}
	h := p0 * (1 - p0)
	wantLeft := -(6*p0)/(6*h+1) + init
	wantRight := -(4*(p0-1))/(4*h+1) + init
	if l := tr.LeafValue[^tr.LeftChild[0]]; math.Abs(l-wantLeft) > 1e-12 {
		t.Errorf("left leaf %v, want %v", l, wantLeft)
	}
	if r := tr.LeafValue[^tr.RightChild[0]]; math.Abs(r-wantRight) > 1e-12 {
		t.Errorf("right leaf %v, want %v", r, wantRight)
	}
	// gain: GL²/(HL+λ) + GR²/(HR+λ) − G²/(H+λ)
	gl, gr := 6*p0, 4*(p0-1)
	wantGain := gl*gl/(6*h+1) + gr*gr/(4*h+1) - (gl+gr)*(gl+gr)/(10*h+1)
	if math.Abs(tr.SplitGain[0]-wantGain) > 1e-12 {
		t.Errorf("gain %v, want %v", tr.SplitGain[0], wantGain)
	}
	if tr.LeafCount[0]+tr.LeafCount[1] != 10 || tr.LeafCount[^tr.LeftChild[0]] != 6 {
		t.Errorf("leaf counts %v", tr.LeafCount)
	}
}

func TestMinDataInLeafBlocksSplits(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	y := []float64{1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	p := oneSplitParams()
	p.MinDataInLeaf = 3
	m, _, err := Train(context.Background(), p, []string{"x"}, &Data{Cols: [][]float64{x}, Y: y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := m.Trees[0]
	if tr.NumLeaves != 2 {
		t.Fatalf("leaves %d", tr.NumLeaves)
	}
	for _, c := range tr.LeafCount {
		if c < 3 {
			t.Errorf("leaf with %d rows despite min_data_in_leaf 3: %v", c, tr.LeafCount)
		}
	}
	if tr.Threshold[0] != 2.5 {
		t.Errorf("threshold %v, want 2.5 (the best split leaving ≥ 3 rows each side)", tr.Threshold[0])
	}
}

func TestMissingValueDirection(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nanLabel float64
		wantLeft bool
	}{
		// x <= 4.5 negative, x > 4.5 positive; NaN rows positive: they belong right
		{"nan-positive", 1, false},
		// NaN rows negative: they belong left with the small values
		{"nan-negative", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x, y []float64
			for rep := 0; rep < 5; rep++ {
				for v := 0; v < 10; v++ {
					x = append(x, float64(v))
					y = append(y, boolf(v >= 5))
				}
				for k := 0; k < 4; k++ {
					x = append(x, math.NaN())
					y = append(y, tc.nanLabel)
				}
			}
			m, _, err := Train(context.Background(), oneSplitParams(), []string{"x"}, &Data{Cols: [][]float64{x}, Y: y}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tr := m.Trees[0]
			if tr.NumLeaves != 2 || tr.Threshold[0] != 4.5 {
				t.Fatalf("leaves %d thresholds %v, want one split at 4.5", tr.NumLeaves, tr.Threshold)
			}
			if tr.DefaultLeft[0] != tc.wantLeft {
				t.Errorf("default left = %v, want %v", tr.DefaultLeft[0], tc.wantLeft)
			}
			pNaN := m.Predict([]float64{math.NaN()})
			if (pNaN > 0.5) != (tc.nanLabel == 1) {
				t.Errorf("P(NaN row) = %v, want on the side of label %v", pNaN, tc.nanLabel)
			}
			// and leaves agrees on the NaN row
			e := leavesFromModel(t, m)
			if got, want := e.PredictSingle([]float64{math.NaN()}, 0), m.PredictRaw([]float64{math.NaN()}); got != want {
				t.Errorf("leaves %v, trainer %v on NaN", got, want)
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	tr := synthData(20000, 10, 5, 0.2)
	p := smallParams()
	p.Subsample = 0.8
	p.ColsampleByTree = 0.7
	var ref []byte
	for _, threads := range []int{1, 2, 3, 8} {
		for rep := 0; rep < 2; rep++ {
			p.Threads = threads
			m, _, err := Train(context.Background(), p, featureNames(10), tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := m.MarshalLightGBM()
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = b
			} else if !bytes.Equal(b, ref) {
				t.Fatalf("threads=%d rep=%d: model differs from the first run", threads, rep)
			}
		}
	}
	p.Seed++
	m, _, err := Train(context.Background(), p, featureNames(10), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.MarshalLightGBM()
	if bytes.Equal(b, ref) {
		t.Error("another seed gave the same model despite row and feature sampling")
	}
}

func TestSoftLabelsEqualWeightedHardLabels(t *testing.T) {
	// a soft target q is the same loss as a positive copy weighted q plus a negative copy weighted 1−q
	d := synthData(3000, 5, 9, 0.1)
	soft := make([]float64, d.Rows())
	for i := range soft {
		soft[i] = 0.1 + 0.8*d.Y[i]*float64(i%5)/4 // in [0.1, 0.9]
	}
	hard := &Data{Cols: make([][]float64, 5)}
	for f := range hard.Cols {
		hard.Cols[f] = append(append([]float64{}, d.Cols[f]...), d.Cols[f]...)
	}
	for i := range soft {
		hard.Y = append(hard.Y, 1)
		hard.W = append(hard.W, soft[i])
	}
	for i := range soft {
		hard.Y = append(hard.Y, 0)
		hard.W = append(hard.W, 1-soft[i])
	}
	p := smallParams()
	p.MinDataInLeaf = 0
	p.MinSumHessian = 0
	p.NumTrees = 5
	p.BinSampleRows = 0
	ms, _, err := Train(context.Background(), p, featureNames(5), &Data{Cols: d.Cols, Y: soft}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mh, _, err := Train(context.Background(), p, featureNames(5), hard, nil)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float64, 5)
	for i := 0; i < d.Rows(); i++ {
		for f := range row {
			row[f] = d.Cols[f][i]
		}
		if a, b := ms.PredictRaw(row), mh.PredictRaw(row); math.Abs(a-b) > 1e-9 {
			t.Fatalf("row %d: soft %v, weighted hard %v", i, a, b)
		}
	}
	// a constant soft target is learnt as such
	half := make([]float64, d.Rows())
	for i := range half {
		half[i] = 0.3
	}
	m, _, err := Train(context.Background(), p, featureNames(5), &Data{Cols: d.Cols, Y: half}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Predict(row); math.Abs(got-0.3) > 1e-9 {
		t.Errorf("constant soft target 0.3 predicted as %v", got)
	}
}

func TestEarlyStopping(t *testing.T) {
	// weak signal, many deep trees at a high rate: validation loss turns up early
	tr := synthData(3000, 10, 21, 0.1)
	va := synthData(3000, 10, 22, 0.1)
	p := DefaultParams()
	p.NumTrees = 300
	p.LearningRate = 0.5
	p.MaxLeaves = 63
	p.MinDataInLeaf = 2
	p.EarlyStoppingRounds = 10
	p.Threads = 2
	m, res, err := Train(context.Background(), p, featureNames(10), tr, va)
	if err != nil {
		t.Fatal(err)
	}
	if res.BestIteration >= 300 || len(res.ValidLogLoss) >= 300 {
		t.Fatalf("no early stop: best %d, rounds %d", res.BestIteration, len(res.ValidLogLoss))
	}
	if len(m.Trees) != res.BestIteration {
		t.Errorf("kept %d trees, best iteration %d", len(m.Trees), res.BestIteration)
	}
	if got := len(res.ValidLogLoss); got != res.BestIteration+p.EarlyStoppingRounds {
		t.Errorf("stopped after %d rounds, want best %d + patience %d", got, res.BestIteration, p.EarlyStoppingRounds)
	}
	minLL := math.Inf(1)
	for _, v := range res.ValidLogLoss {
		minLL = min(minLL, v)
	}
	if res.BestValidLogLoss != minLL || res.ValidLogLoss[res.BestIteration-1] != minLL {
		t.Errorf("best validation log-loss %v is not the minimum %v", res.BestValidLogLoss, minLL)
	}
	// the kept model reproduces the best validation loss
	p2, _ := m.PredictCols(va.Cols)
	if ll := metrics.LogLoss(p2, va.Y, nil); math.Abs(ll-minLL) > 1e-9 {
		t.Errorf("kept model's validation log-loss %v, recorded %v", ll, minLL)
	}
}

func TestMaxDepth(t *testing.T) {
	tr := synthData(5000, 8, 3, 0.1)
	p := smallParams()
	p.MaxDepth = 2
	p.MaxLeaves = 31
	m, _, err := Train(context.Background(), p, featureNames(8), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tree := range m.Trees {
		if tree.NumLeaves > 4 {
			t.Fatalf("tree %d has %d leaves with max_depth 2", i, tree.NumLeaves)
		}
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	p := smallParams()
	for _, tc := range []struct {
		name string
		d    *Data
	}{
		{"target out of range", &Data{Cols: [][]float64{{1, 2}}, Y: []float64{0, 2}}},
		{"short column", &Data{Cols: [][]float64{{1, 2}, {1}}, Y: []float64{0, 1}}},
		{"negative weight", &Data{Cols: [][]float64{{1, 2}}, Y: []float64{0, 1}, W: []float64{1, -1}}},
	} {
		if _, _, err := Train(context.Background(), p, featureNames(len(tc.d.Cols)), tc.d, nil); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestInfiniteValues(t *testing.T) {
	// ±Inf are ordinary extreme values: binned training and raw prediction agree, and leaves too
	d := synthData(4000, 6, 8, 0.1)
	for i := 0; i < d.Rows(); i += 7 {
		d.Cols[0][i] = math.Inf(1)
		d.Cols[3][i] = math.Inf(-1)
	}
	p := smallParams()
	m, _, err := Train(context.Background(), p, featureNames(6), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	mapper := newBinMapper(d.Cols, p.MaxBins, p.BinSampleRows, p.Seed, 1)
	bins := mapper.binColumns(d.Cols, 1)
	tt := &trainer{mapper: mapper}
	e := leavesFromModel(t, m)
	row := make([]float64, 6)
	for i := 0; i < d.Rows(); i++ {
		for f := range row {
			row[f] = d.Cols[f][i]
		}
		for ti := range m.Trees {
			if a, b := tt.binnedTree(&m.Trees[ti]).leaf(bins, i), m.Trees[ti].leafIndex(row); a != b {
				t.Fatalf("tree %d row %d: binned leaf %d, raw leaf %d", ti, i, a, b)
			}
		}
		if a, b := e.PredictSingle(row, 0), m.PredictRaw(row); a != b {
			t.Fatalf("row %d: leaves %v, trainer %v", i, a, b)
		}
	}
	lr, err := TrainLogReg(context.Background(), DefaultLogRegParams(), featureNames(6), d)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range lr.Coef {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			t.Fatalf("logreg coefficients %v", lr.Coef)
		}
	}
}

func TestCountFreePathMatchesCounts(t *testing.T) {
	// with min_data_in_leaf ≤ 1 the trainer skips row counts and tests
	// emptiness by hessian; forcing counts must give the same model
	d := synthData(5000, 8, 17, 0.3)
	p := smallParams()
	p.MinDataInLeaf = 1
	p.MinSumHessian = 0
	p.Subsample = 0.7
	m1, _, err := Train(context.Background(), p, featureNames(8), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	forceCounts = true
	defer func() { forceCounts = false }()
	m2, _, err := Train(context.Background(), p, featureNames(8), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := m1.MarshalLightGBM()
	b2, _ := m2.MarshalLightGBM()
	if !bytes.Equal(b1, b2) {
		t.Error("count-free and counting paths grew different models")
	}
}

func TestDeterminismLargeParallelPaths(t *testing.T) {
	// enough rows for the parallel partition, gather and score paths
	d := synthData(200000, 6, 23, 0.2)
	p := smallParams()
	p.NumTrees = 4
	p.MaxLeaves = 31
	p.MinDataInLeaf = 0
	var ref []byte
	for _, threads := range []int{1, 2, 5} {
		p.Threads = threads
		m, res, err := Train(context.Background(), p, featureNames(6), d, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := m.MarshalLightGBM()
		if ref == nil {
			ref = b
			// leaf counts add up: the partition lost no row
			for i, tr := range m.Trees {
				var sum int64
				for _, c := range tr.LeafCount {
					sum += c
				}
				if sum != int64(d.Rows()) {
					t.Fatalf("tree %d: leaf counts sum to %d, want %d", i, sum, d.Rows())
				}
			}
			// training scores (kept via the partition) match predictions
			pr, _ := m.PredictCols(d.Cols)
			if ll := metrics.LogLoss(pr, d.Y, nil); math.Abs(ll-res.TrainLogLoss) > 1e-9 {
				t.Fatalf("train log-loss %v, from predictions %v", res.TrainLogLoss, ll)
			}
		} else if !bytes.Equal(b, ref) {
			t.Fatalf("threads=%d: model differs from threads=1", threads)
		}
	}
}
