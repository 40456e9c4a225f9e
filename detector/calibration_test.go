package detector_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/models/policy"
	"github.com/faultline-dev/faultline/registry/bundle"
)

// A bundle whose policy carries calibrators reports calibrated
// probabilities and thresholds, and decides exactly as its thresholds on
// the model's own probability say (what training chose them on).
func TestCalibratedBundle(t *testing.T) {
	pol := policy.Policy{Horizons: horizons, Thresholds: []float64{0.7, 0.6, 0.55},
		Calibration: []policy.Platt{{A: 0.8, B: -2}, {A: 1.3, B: -1.2}, {A: 0.5, B: -0.4}}}
	raw, err := json.Marshal(pol)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle.Bundle{
		Manifest: bundle.Manifest{Model: "faultline", Version: 4, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			FeatureSchema: detector.Schema(), Horizons: horizons, Thresholds: map[int]float64{10: 0.7, 20: 0.6, 60: 0.55}, Policy: raw},
		Files: map[string][]byte{bundle.MetricsName: []byte(`{"metrics":{}}`)},
	}
	for _, h := range horizons {
		b.Files[bundle.ModelFileName(h)] = randomModels(h)
		b.Manifest.Files = append(b.Manifest.Files, bundle.FileEntry{Path: bundle.ModelFileName(h), Horizon: h})
	}
	var buf bytes.Buffer
	if err := bundle.Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	d, err := detector.LoadReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	// the same models without a policy: the model's own probabilities
	plain, err := detector.LoadReader(bytes.NewReader(makeBundle(t, detector.Schema(), randomModels)))
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range horizons {
		if got, want := d.Threshold(h), pol.Calibration[i].Apply(pol.Thresholds[i]); got != want {
			t.Errorf("%d min: threshold %v, want calibrated %v", h, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(4, 4))
	flagged := 0
	for k := 0; k < 300; k++ {
		rows := map[int][]float64{}
		model := make([]float64, len(horizons))
		for i, h := range horizons {
			rows[h] = randomRow(rng)
			rows[h][features.Inconclusive] = 0
			pm, err := plain.Predict(h, rows[h])
			if err != nil {
				t.Fatal(err)
			}
			pc, err := d.Predict(h, rows[h])
			if err != nil {
				t.Fatal(err)
			}
			if want := pol.Calibration[i].Apply(pm); pc != want {
				t.Fatalf("%d min: calibrated %v, want %v (model %v)", h, pc, want, pm)
			}
			model[i] = pm
		}
		res, err := d.Decide(rows)
		if err != nil {
			t.Fatal(err)
		}
		want, at := pol.Decide(model)
		if (res.Verdict == detector.Faulty) != want || res.DetectedAt != at {
			t.Fatalf("verdict %s at %d, policy on model probabilities %v at %d", res.Verdict, res.DetectedAt, want, at)
		}
		for _, s := range res.Scores {
			i := map[int]int{10: 0, 20: 1, 60: 2}[s.Horizon]
			if s.P != pol.Calibration[i].Apply(model[i]) || s.Threshold != d.Threshold(s.Horizon) || s.Flagged && s.P < s.Threshold {
				t.Fatalf("score %+v: want calibrated p %v", s, pol.Calibration[i].Apply(model[i]))
			}
		}
		if want {
			flagged++
		}
	}
	if flagged == 0 || flagged == 300 {
		t.Errorf("%d of 300 flagged: the test decides nothing", flagged)
	}
	if math.IsNaN(d.Threshold(10)) || !math.IsNaN(d.Threshold(30)) {
		t.Error("Threshold of a horizon the policy does not look at must be NaN")
	}
}
