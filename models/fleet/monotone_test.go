package fleet

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models"
	"github.com/faultline-dev/faultline/models/policy"
	"github.com/faultline-dev/faultline/models/train"
)

// TestMonotoneOnSimulatedFleet trains the weak-label models of a simulated
// fleet with the default monotone constraints (train.monotone and
// train.monotone_decreasing) and without, logs validation AUC, test AUC
// against the simulator's truth and the policy's test figures of both
// (run with -v), and checks that the
// constrained models' P(faulty) never moves against a constrained
// feature's direction as it rises:
// for test rows, every constrained feature is swept over every interval
// the model's thresholds cut its range into, the other features fixed.
func TestMonotoneOnSimulatedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a fleet")
	}
	fd := simulatedWorkdir(t)
	ctx := context.Background()
	for _, constrained := range []bool{false, true} {
		cfg := train.DefaultConfig()
		cfg.GBDT.Threads = 2
		if !constrained {
			cfg.Monotone, cfg.MonotoneDecreasing = []string{}, []string{}
		}
		info, err := train.Run(ctx, cfg, train.RunOptions{Workdir: fd.work, Labels: train.LabelsWeak})
		if err != nil {
			t.Fatal(err)
		}
		s, err := train.ScoreSplit(ctx, fd.work, train.LabelsWeak, workdir.SplitTest)
		if err != nil {
			t.Fatal(err)
		}
		truthY := make([]float64, len(s.IDs))
		for i, id := range s.IDs {
			tr, ok := fd.truth[id]
			switch {
			case !ok:
				truthY[i] = math.NaN()
			case tr.Faulty:
				truthY[i] = 1
			}
		}
		for hi, h := range info.Horizons {
			var p, y []float64
			for i := range s.IDs {
				if v := s.Probs[i][hi]; !math.IsNaN(v) && !math.IsNaN(truthY[i]) {
					p, y = append(p, v), append(y, truthY[i])
				}
			}
			t.Logf("constrained %v, %2d min: trees %d, valid AUC %.4f (weak labels), test AUC %.4f (truth)",
				constrained, h.Horizon, h.Trees, float64(h.ValidAUC), metrics.AUC(p, y))
		}
		rep := policy.Evaluate(info.Policy, s.Probs, truthY)
		t.Logf("constrained %v: policy on test vs truth: faulty %d flagged %d precision %.3f recall %.3f mean TTD %.1f min, false alarms %.4f per healthy deploy",
			constrained, rep.Positives, rep.Flagged, float64(rep.Precision), float64(rep.Recall), float64(rep.MeanTimeToDetection),
			float64(rep.PerDeployFalseAlarmRate))
		if constrained {
			checkMonotone(t, fd.work, info)
		}
	}
}

// defaultConstraint is the default constraint of feature name: +1 in
// train.monotone, −1 in train.monotone_decreasing, 0 otherwise.
func defaultConstraint(name string) int8 {
	switch {
	case slices.Contains(train.DefaultMonotone(), name):
		return 1
	case slices.Contains(train.DefaultMonotoneDecreasing(), name):
		return -1
	}
	return 0
}

// checkMonotone sweeps every constrained feature of every horizon's model
// over test rows.
func checkMonotone(t *testing.T, work string, info *workdir.Train) {
	t.Helper()
	split, err := workdir.ReadSplit(filepath.Join(work, workdir.SplitFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range info.Horizons {
		m, err := models.ReadLightGBMFile(filepath.Join(work, workdir.ModelDir(train.LabelsWeak), h.ModelFile))
		if err != nil {
			t.Fatal(err)
		}
		ft, err := workdir.ReadFeatures(filepath.Join(work, workdir.FeaturesFile(h.Horizon)))
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for f, n := range ft.Names {
			col[n] = f
		}
		var rows [][]float64
		for i, id := range ft.IDs {
			if split[id] != workdir.SplitTest || len(rows) == 300 {
				continue
			}
			row := make([]float64, m.NumFeatures())
			for j, n := range m.FeatureNames {
				row[j] = ft.Cols[col[n]][i]
			}
			rows = append(rows, row)
		}
		nConstrained, nSplit := 0, 0
		for j, c := range m.Monotone {
			if c == 0 {
				continue
			}
			name := m.FeatureNames[j]
			if want := defaultConstraint(name); c != want {
				t.Fatalf("%d min: %s constrained %d, want %d", h.Horizon, name, c, want)
			}
			nConstrained++
			pts := []float64{math.Inf(-1), math.Inf(1)}
			for _, tr := range m.Trees {
				for n, f := range tr.SplitFeature {
					if int(f) == j {
						pts = append(pts, tr.Threshold[n], math.Nextafter(tr.Threshold[n], math.Inf(1)))
					}
				}
			}
			if len(pts) > 2 {
				nSplit++
			}
			slices.Sort(pts)
			pts = slices.Compact(pts)
			for i, row := range rows {
				r := slices.Clone(row)
				prev := math.Inf(-1)
				for _, v := range pts {
					r[j] = v
					// oriented so that it may only rise: −score for a non-increasing feature
					if s := float64(c) * m.PredictRaw(r); s < prev {
						t.Fatalf("%d min: test row %d: raw score moves against constraint %d from %v to %v as %s rises to %v", h.Horizon, i, c, float64(c)*prev, float64(c)*s, name, v)
					} else {
						prev = s
					}
				}
			}
		}
		want := 0
		for _, n := range append(train.DefaultMonotone(), train.DefaultMonotoneDecreasing()...) {
			if slices.Contains(m.FeatureNames, n) {
				want++
			}
		}
		if nConstrained != want || want == 0 {
			t.Errorf("%d min: %d constrained features, want the %d defaults the model reads", h.Horizon, nConstrained, want)
		}
		t.Logf("%d min: %d constrained features (%d split on) monotone over %d test rows", h.Horizon, nConstrained, nSplit, len(rows))
	}
}
