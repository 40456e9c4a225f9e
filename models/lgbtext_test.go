package models

import (
	"bytes"
	"context"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline-dev/faultline/models/lightgbm"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestLightGBMRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		nf := 4 + int(seed)
		d := synthData(4000, nf, seed, 0.25)
		p := smallParams()
		p.Seed = seed
		p.Subsample = 0.8
		m, _, err := Train(context.Background(), p, featureNames(nf), d, nil)
		if err != nil {
			t.Fatal(err)
		}
		data, err := m.MarshalLightGBM()
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseLightGBM(data)
		if err != nil {
			t.Fatalf("parse own output: %v", err)
		}
		again, err := back.MarshalLightGBM()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("re-serialised model differs")
		}
		row := make([]float64, nf)
		for i := 0; i < d.Rows(); i++ {
			for f := range row {
				row[f] = d.Cols[f][i]
			}
			if a, b := m.PredictRaw(row), back.PredictRaw(row); a != b {
				t.Fatalf("row %d: parsed model predicts %v, original %v", i, b, a)
			}
		}
	}
}

func TestLightGBMGolden(t *testing.T) {
	// a small fixed model: guards the exact text format
	x := []float64{0, 1, 2, 3, math.NaN(), 5, 6, 7, 8, 9, math.NaN(), 11}
	z := []float64{1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0}
	y := []float64{0, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1}
	p := oneSplitParams()
	p.NumTrees = 3
	p.LearningRate = 0.3
	p.MaxLeaves = 3
	m, _, err := Train(context.Background(), p, []string{"x", "z"}, &Data{Cols: [][]float64{x, z}, Y: y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.MarshalLightGBM()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "small_model.txt")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("model text differs from %s (run with -update if the change is intended):\n%s", path, got)
	}
	// leaves reads the golden file
	e := leavesFromModel(t, m)
	if e.NEstimators() != 3 {
		t.Errorf("leaves sees %d trees", e.NEstimators())
	}
}

func TestSingleLeafTreesExport(t *testing.T) {
	// a constant target grows no splits: every tree is a single leaf
	d := synthData(300, 3, 4, 0.1)
	for i := range d.Y {
		d.Y[i] = 1
	}
	p := smallParams()
	p.NumTrees = 3
	m, _, err := Train(context.Background(), p, featureNames(3), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range m.Trees {
		if tr.NumLeaves != 1 {
			t.Fatalf("tree %d has %d leaves", i, tr.NumLeaves)
		}
	}
	e := leavesFromModel(t, m)
	row := []float64{1, math.NaN(), 3}
	if a, b := e.PredictSingle(row, 0), m.PredictRaw(row); a != b {
		t.Errorf("leaves %v, trainer %v", a, b)
	}
	if m.Predict(row) < 0.99 {
		t.Errorf("P = %v for an all-positive target", m.Predict(row))
	}
	data, _ := m.MarshalLightGBM()
	back, err := parseLightGBM(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.MarshalLightGBM()
	if !bytes.Equal(again, data) {
		t.Error("single-leaf model does not round-trip")
	}
}

// parseLightGBM reads an exported model back: lightgbm.ParseStrict, then
// FromLightGBM.
func parseLightGBM(data []byte) (*Model, error) {
	lm, err := lightgbm.ParseStrict(data)
	if err != nil {
		return nil, err
	}
	return FromLightGBM(lm)
}

// FromLightGBM of whatever the strict reader accepts is a usable model: it
// predicts and round-trips.
func FuzzFromLightGBM(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "small_model.txt")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("tree\nversion=v3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseLightGBM(data)
		if err != nil {
			return
		}
		// whatever parses is a usable model: it predicts and round-trips
		row := make([]float64, m.NumFeatures())
		for i := range row {
			row[i] = float64(i) - 1
		}
		_ = m.PredictRaw(row)
		out, err := m.MarshalLightGBM()
		if err != nil {
			return // e.g. feature names with characters the writer refuses
		}
		m2, err := parseLightGBM(out)
		if err != nil {
			t.Fatalf("re-parse of re-serialised model: %v", err)
		}
		out2, err := m2.MarshalLightGBM()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("second round trip differs: %v", err)
		}
	})
}
