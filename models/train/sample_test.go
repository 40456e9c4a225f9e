package train

import (
	"context"

	"fmt"
	"github.com/faultline-dev/faultline/internal/workdir"
	"math"
	"testing"

	"github.com/faultline-dev/faultline/models"
)

func TestHealthyRate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		n, pos, max int
		want        float64
	}{
		{"under the bound", 1000, 100, 1000, 1},
		{"no bound", 1000, 100, 0, 1},
		{"faulty rows alone reach the bound", 1000, 100, 50, 1},
		{"no healthy rows", 1000, 1000, 500, 1},
		{"sampled", 20000, 2000, 5000, 3000.0 / 18000},
	} {
		if got := healthyRate(tc.n, tc.pos, tc.max); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: rate %v, want %v", tc.name, got, tc.want)
		}
	}
}

// keep draws a sample of the asked rate, a property of the deployment and
// the seed alone; reweighed, the kept healthy rows weigh what all of them did.
func TestKeepAndReweigh(t *testing.T) {
	const n, r = 20000, 0.2
	d := &models.Data{Cols: [][]float64{{}}}
	var kept []string
	for i := range n {
		id := fmt.Sprintf("dep-%06d", i)
		if keep(id, 1, r) {
			kept = append(kept, id)
			d.Y = append(d.Y, 0.02)
			d.W = append(d.W, 1)
		}
	}
	if sd := math.Sqrt(n * r * (1 - r)); math.Abs(float64(len(kept))-n*r) > 5*sd {
		t.Errorf("kept %d of %d at rate %v, want %v ± %.0f", len(kept), n, r, n*r, 5*sd)
	}
	reweigh(d, r)
	total := 0.0
	for _, w := range d.W {
		total += w
	}
	if sd := math.Sqrt(n * (1 - r) / r); math.Abs(total-n) > 5*sd {
		t.Errorf("kept rows weigh %.0f, want %d ± %.0f", total, n, 5*sd)
	}
	for i := len(kept) - 1; i >= 0; i-- { // order does not matter
		if !keep(kept[i], 1, r) {
			t.Fatalf("%s: kept once, not again", kept[i])
		}
	}
	other := 0
	for _, id := range kept {
		if keep(id, 2, r) {
			other++
		}
	}
	if float64(other) > 0.5*float64(len(kept)) {
		t.Errorf("seed 2 keeps %d of the %d deployments seed 1 kept: the sample does not depend on the seed", other, len(kept))
	}
	if !keep("any", 1, 1) {
		t.Error("rate 1 dropped a row")
	}
}

// TestRunMaxTrainRows runs the train stage with a bound below the training
// split: the rate and rows are recorded, the validation split is whole, and
// the models still rank validation (the fixture's signal survives).
func TestRunMaxTrainRows(t *testing.T) {
	const n = 1500
	results := map[int]*workdir.Train{}
	for _, maxRows := range []int{0, 400} {
		dir := t.TempDir()
		writeFixture(t, dir, n)
		cfg := DefaultConfig()
		cfg.MaxTrainRows = maxRows
		cfg.GBDT.NumTrees = 60
		info, err := Run(context.Background(), cfg, RunOptions{Workdir: dir})
		if err != nil {
			t.Fatalf("max_train_rows %d: %v", maxRows, err)
		}
		results[maxRows] = info
	}
	for i, h := range results[400].Horizons {
		full := results[0].Horizons[i]
		if full.HealthySampleRate != 0 || full.TrainedRows != 0 {
			t.Errorf("%d min, no bound: sample rate %v, trained rows %d recorded", h.Horizon, full.HealthySampleRate, full.TrainedRows)
		}
		if !(h.HealthySampleRate > 0 && h.HealthySampleRate < 1) || h.TrainedRows >= h.Rows[workdir.SplitTrain] {
			t.Errorf("%d min: rate %v, trained on %d of %d rows: want a sample", h.Horizon, h.HealthySampleRate, h.TrainedRows, h.Rows[workdir.SplitTrain])
		}
		if h.Rows[workdir.SplitValid] != full.Rows[workdir.SplitValid] {
			t.Errorf("%d min: %d validation rows, %d without the bound", h.Horizon, h.Rows[workdir.SplitValid], full.Rows[workdir.SplitValid])
		}
		if !(float64(h.ValidAUC) > 0.7) {
			t.Errorf("%d min: validation AUC %v on the sample (%v on every row)", h.Horizon, h.ValidAUC, full.ValidAUC)
		}
	}
}
