package models

import (
	"context"
	"math"
	"testing"

	"github.com/faultline-dev/faultline/internal/metrics"
)

func TestLogRegBaseline(t *testing.T) {
	tr := synthData(20000, 8, 31, 0.1)
	te := synthData(5000, 8, 32, 0.1)
	m, err := TrainLogReg(context.Background(), DefaultLogRegParams(), featureNames(8), tr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.PredictCols(te.Cols)
	if err != nil {
		t.Fatal(err)
	}
	auc := metrics.AUC(p, te.Y)
	if auc < 0.65 {
		t.Errorf("logreg AUC %v, want ≥ 0.65", auc)
	}
	// gradient of the penalised objective vanishes at the optimum
	m2, err := TrainLogReg(context.Background(), DefaultLogRegParams(), featureNames(8), tr)
	if err != nil {
		t.Fatal(err)
	}
	for f := range m.Coef {
		if m.Coef[f] != m2.Coef[f] {
			t.Fatal("logreg not deterministic")
		}
	}
	// first-order condition at the optimum: mean (p−y)·x_f + λβ_f ≈ 0
	n := float64(tr.Rows())
	for f := range m.Coef {
		var g float64
		row := make([]float64, 8)
		for i := 0; i < tr.Rows(); i++ {
			for k := range row {
				row[k] = tr.Cols[k][i]
			}
			x := 0.0
			if v := tr.Cols[f][i]; v == v {
				x = (v - m.Mean[f]) / m.Scale[f]
			}
			g += (m.Predict(row) - tr.Y[i]) * x
		}
		g = g/n + 1e-3*m.Coef[f]
		if math.Abs(g) > 1e-7 {
			t.Errorf("feature %d: gradient %v at the optimum", f, g)
		}
	}
	t.Logf("logreg AUC %.4f after %d iterations", auc, m.Iterations)
}
