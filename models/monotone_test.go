package models

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// nonMonotoneData draws n rows of nf ≥ 4 features where the label rises
// and falls with feature 0 (a sine over two periods), falls with feature
// 2 only on part of its range, and depends on feature 1; a share nanRate
// of features 0 and 2 is missing.
func nonMonotoneData(n, nf int, seed uint64, nanRate float64) *Data {
	rng := rand.New(rand.NewPCG(seed, 99))
	d := &Data{Cols: make([][]float64, nf), Y: make([]float64, n)}
	for f := range d.Cols {
		d.Cols[f] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		for f := range nf {
			d.Cols[f][i] = rng.Float64() * 10
		}
		x0, x1, x2 := d.Cols[0][i], d.Cols[1][i], d.Cols[2][i]
		z := 2.5*math.Sin(x0*1.2) + 0.3*(x1-5) + 1.5*math.Cos(x2)
		if rng.Float64() < metrics.Sigmoid(z) {
			d.Y[i] = 1
		}
		for _, f := range []int{0, 2} {
			if rng.Float64() < nanRate {
				d.Cols[f][i] = math.NaN()
			}
		}
	}
	return d
}

// sweepPoints returns values of feature f that visit every interval the
// model's thresholds on f cut the line into: each threshold (which goes
// left), the next float above it (right), and the two infinities.
func sweepPoints(m *Model, f int) []float64 {
	pts := []float64{math.Inf(-1), math.Inf(1)}
	for _, t := range m.Trees {
		for n, sf := range t.SplitFeature {
			if int(sf) == f {
				pts = append(pts, t.Threshold[n], math.Nextafter(t.Threshold[n], math.Inf(1)))
			}
		}
	}
	slices.Sort(pts)
	return slices.Compact(pts)
}

// monotoneViolation sweeps feature f of row over sweepPoints and returns
// the first pair of points (a < b) where the raw score moves against
// direction dir, or ok.
func monotoneViolation(m *Model, row []float64, f int, dir int8, pts []float64) (a, b float64, ok bool) {
	r := slices.Clone(row)
	prev := math.NaN()
	for k, v := range pts {
		r[f] = v
		s := m.PredictRaw(r)
		if k > 0 && (dir > 0 && s < prev || dir < 0 && s > prev) {
			return pts[k-1], v, false
		}
		prev = s
	}
	return 0, 0, true
}

// With a constraint, the raw score (so the probability) is monotone in the
// feature over its whole range for every row, whatever the other
// features; without it, the same data gives a model that is not. leaves
// predicts the constrained models bit for bit.
func TestMonotoneConstraints(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mono     []int8
		nanRate  float64
		edit     func(p *Params)
		wantFree bool // the unconstrained model violates the direction on this data
	}{
		{"increasing", []int8{1, 0, 0, 0, 0}, 0, nil, true},
		{"decreasing", []int8{-1, 0, 0, 0, 0}, 0, nil, true},
		{"two features both ways", []int8{1, 0, -1, 0, 0}, 0, nil, true},
		{"with missing values", []int8{1, 0, -1, 0, 0}, 0.2, nil, true},
		{"bagging and feature sampling", []int8{1, 0, 1, 0, 0}, 0.1, func(p *Params) {
			p.Subsample, p.ColsampleByTree = 0.7, 0.6
		}, true},
		{"deep trees, no min data", []int8{1, 0, 0, 0, -1}, 0.1, func(p *Params) {
			p.MaxLeaves, p.MinDataInLeaf, p.MinSumHessian, p.Lambda = 63, 0, 0, 0.1
		}, true},
		{"depth limit, counts", []int8{-1, 1, 0, 0, 0}, 0.05, func(p *Params) {
			p.MaxDepth, p.MinDataInLeaf = 3, 30
		}, true},
		{"every feature", []int8{1, 1, 1, 1, 1}, 0.1, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := nonMonotoneData(6000, 5, 1, tc.nanRate)
			te := nonMonotoneData(300, 5, 2, tc.nanRate)
			p := smallParams()
			p.NumTrees = 40
			if tc.edit != nil {
				tc.edit(&p)
			}
			free, _, err := Train(context.Background(), p, featureNames(5), tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			p.Monotone = tc.mono
			m, _, err := Train(context.Background(), p, featureNames(5), tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Monotone, tc.mono) {
				t.Fatalf("model records constraints %v, want %v", m.Monotone, tc.mono)
			}
			splits := m.SplitImportance()
			row := make([]float64, 5)
			freeViolates := false
			for f, dir := range tc.mono {
				if dir == 0 {
					continue
				}
				if splits[f] == 0 {
					t.Errorf("feature %d: no split at all (a constant is trivially monotone)", f)
				}
				pts, freePts := sweepPoints(m, f), sweepPoints(free, f)
				for i := 0; i < te.Rows(); i++ {
					for g := range row {
						row[g] = te.Cols[g][i]
					}
					if a, b, ok := monotoneViolation(m, row, f, dir, pts); !ok {
						t.Fatalf("feature %d (direction %+d), test row %d: raw score goes the wrong way from %v to %v", f, dir, i, a, b)
					}
					if _, _, ok := monotoneViolation(free, row, f, dir, freePts); !ok {
						freeViolates = true
					}
				}
			}
			if tc.wantFree && !freeViolates {
				t.Error("the unconstrained model is monotone too: the data do not test the constraint")
			}
			// leaves predicts the constrained model exactly, on swept rows too
			e := leavesFromModel(t, m)
			for i := 0; i < te.Rows(); i++ {
				for g := range row {
					row[g] = te.Cols[g][i]
				}
				for _, v := range sweepPoints(m, 0) {
					row[0] = v
					if got, want := e.PredictSingle(row, 0), m.PredictRaw(row); got != want {
						t.Fatalf("row %d: leaves %v, trainer %v", i, got, want)
					}
				}
			}
		})
	}
}

// A constraint costs fit only where the data disagree with it: on data
// whose signal already is monotone, the constrained model ranks about as
// well as the free one.
func TestMonotoneKeepsMonotoneSignal(t *testing.T) {
	tr := synthData(20000, 4, 1, 0) // nf < 8: the signal is 2·x0, increasing
	te := synthData(5000, 4, 2, 0)
	p := smallParams()
	free, _, err := Train(context.Background(), p, featureNames(4), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Monotone = []int8{1, 0, 0, 0}
	m, _, err := Train(context.Background(), p, featureNames(4), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	pf, _ := free.PredictCols(te.Cols)
	pm, _ := m.PredictCols(te.Cols)
	af, am := metrics.AUC(pf, te.Y), metrics.AUC(pm, te.Y)
	t.Logf("test AUC free %.4f, constrained %.4f", af, am)
	if am < af-0.005 {
		t.Errorf("constrained AUC %.4f, free %.4f: a constraint agreeing with the data should cost almost nothing", am, af)
	}
}

// Without constraints the trainer grows exactly the model it grew before
// the field existed: nil, empty and all-zero Monotone give the same bytes
// (and the golden file of TestLightGBMGolden still matches).
func TestMonotoneEmptyIsIdentical(t *testing.T) {
	tr := synthData(8000, 8, 3, 0.2)
	p := smallParams()
	p.Subsample, p.ColsampleByTree = 0.8, 0.7
	var ref []byte
	for _, mono := range [][]int8{nil, {}, make([]int8, 8)} {
		p.Monotone = mono
		m, _, err := Train(context.Background(), p, featureNames(8), tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Monotone != nil {
			t.Errorf("Monotone %v: model records constraints %v", mono, m.Monotone)
		}
		b, err := m.MarshalLightGBM()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("monotone")) {
			t.Errorf("Monotone %v: the file mentions monotone constraints", mono)
		}
		if ref == nil {
			ref = b
		} else if !bytes.Equal(b, ref) {
			t.Errorf("Monotone %v: model differs from the one trained without constraints", mono)
		}
	}
}

// The constraints are written as LightGBM writes them — the header line
// monotone_constraints= after feature_names and the parameters — and read
// back.
func TestMonotoneExport(t *testing.T) {
	tr := nonMonotoneData(3000, 5, 4, 0.1)
	p := smallParams()
	p.NumTrees = 10
	p.Monotone = []int8{1, 0, -1, 0, 0}
	m, _, err := Train(context.Background(), p, featureNames(5), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.MarshalLightGBM()
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{
		"\nfeature_names=f0 f1 f2 f3 f4\nmonotone_constraints=1 0 -1 0 0\nfeature_infos=",
		"\n[monotone_constraints: 1,0,-1,0,0]\n[monotone_constraints_method: basic]\n[trainer: faultline]\nend of parameters\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exported model lacks %q", want)
		}
	}
	back, err := parseLightGBM(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Monotone, m.Monotone) {
		t.Errorf("read back constraints %v, want %v", back.Monotone, m.Monotone)
	}
	again, err := back.MarshalLightGBM()
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("constrained model does not round-trip (%v)", err)
	}
}

func TestMonotoneBadParams(t *testing.T) {
	d := nonMonotoneData(100, 5, 1, 0)
	for _, mono := range [][]int8{{1, 0, 0}, {2, 0, 0, 0, 0}, {0, 0, 0, 0, -2}} {
		p := smallParams()
		p.Monotone = mono
		if _, _, err := Train(context.Background(), p, featureNames(5), d, nil); err == nil {
			t.Errorf("Monotone %v accepted for 5 features", mono)
		}
	}
}
