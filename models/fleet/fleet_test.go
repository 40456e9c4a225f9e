package fleet

import (
	"context"
	"flag"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/labeling"
	"github.com/faultline-dev/faultline/models"
	"github.com/faultline-dev/faultline/models/internal/xgbref"
	"github.com/faultline-dev/faultline/models/policy"
	"github.com/faultline-dev/faultline/models/train"
)

var (
	fleetServices = flag.Int("fleet-services", 40, "services of the simulated fleet")
	fleetDays     = flag.Int("fleet-days", 28, "days of the simulated fleet")
)

// TestMain removes the simulated fleet's folder after the tests and benchmarks.
func TestMain(m *testing.M) {
	code := m.Run()
	if fleet.root != "" {
		os.RemoveAll(fleet.root)
	}
	os.Exit(code)
}

type fleetData struct {
	root  string
	work  string
	truth map[string]history.Truth
	err   error
}

var (
	fleetOnce sync.Once
	fleet     fleetData
)

// simulatedWorkdir simulates a fleet into an embedded store, extracts its
// features and labels it, once per test binary.
func simulatedWorkdir(tb testing.TB) *fleetData {
	tb.Helper()
	fleetOnce.Do(func() {
		ctx := context.Background()
		root, err := os.MkdirTemp("", "faultline-fleet-*")
		if err != nil {
			fleet.err = err
			return
		}
		fleet.root = root
		st, err := embedded.Open(ctx, filepath.Join(root, "home"))
		if err != nil {
			fleet.err = err
			return
		}
		defer st.Close()
		sc := simulate.DefaultConfig()
		sc.Services, sc.Days = *fleetServices, *fleetDays
		if _, _, err := simulate.Into(ctx, sc, st, nil); err != nil {
			fleet.err = err
			return
		}
		work := filepath.Join(root, "work")
		if _, err := extract.Run(ctx, st, work, extract.Options{Config: features.DefaultConfig(), Workers: 2}); err != nil {
			fleet.err = err
			return
		}
		if _, err := labeling.Run(ctx, labeling.DefaultConfig(), labeling.Input{History: st, Workdir: work}); err != nil {
			fleet.err = err
			return
		}
		truth, err := st.Truth(ctx)
		if err != nil {
			fleet.err = err
			return
		}
		fleet.truth = map[string]history.Truth{}
		for _, t := range truth {
			fleet.truth[t.DeploymentID] = t
		}
		fleet.work = work
	})
	if fleet.err != nil {
		tb.Fatalf("simulated fleet: %v", fleet.err)
	}
	return &fleet
}

// TestPolicyOnSimulatedFleet trains both label sources on a simulated fleet
// and measures the sequential policy on the test split against the
// simulator's ground truth. Run with -v for the figures.
func TestPolicyOnSimulatedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a fleet")
	}
	fd := simulatedWorkdir(t)
	ctx := context.Background()
	for _, source := range []string{train.LabelsWeak, train.LabelsEnsemble} {
		cfg := train.DefaultConfig()
		cfg.GBDT.Threads = 2
		t0 := time.Now()
		info, err := train.Run(ctx, cfg, train.RunOptions{Workdir: fd.work, Labels: source})
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		t.Logf("%s: trained in %v; split %v", source, time.Since(t0).Round(time.Millisecond), info.Split.Counts)
		for _, h := range info.Horizons {
			t.Logf("  %2d min: rows %v positives %v trees %d valid AUC %.4f (logreg %.4f) threshold %.4f precision %.3f recall %.3f reached %v",
				h.Horizon, h.Rows, h.Positives, h.Trees, float64(h.ValidAUC), float64(h.LogRegValidAUC), h.Threshold.Threshold,
				float64(h.Threshold.Precision), float64(h.Threshold.Recall), h.Threshold.Reached)
		}
		pv := info.PolicyValid
		t.Logf("  policy on validation (vs %s labels): precision %.3f recall %.3f mean TTD %.1f min, false alarms %.4f/deploy %.4f/look",
			source, float64(pv.Precision), float64(pv.Recall), float64(pv.MeanTimeToDetection),
			float64(pv.PerDeployFalseAlarmRate), float64(pv.PerLookFalseAlarmRate))
		s, err := train.ScoreSplit(ctx, fd.work, source, workdir.SplitTest)
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
		rep := policy.Evaluate(info.Policy, s.Probs, truthY)
		t.Logf("  policy on test vs truth: deploys %d faulty %d flagged %d precision %.3f recall %.3f mean TTD %.1f min (median %.0f), false alarms %.4f per healthy deploy, %.4f per look",
			rep.Deploys, rep.Positives, rep.Flagged, float64(rep.Precision), float64(rep.Recall), float64(rep.MeanTimeToDetection),
			float64(rep.MedianTimeToDetection), float64(rep.PerDeployFalseAlarmRate), float64(rep.PerLookFalseAlarmRate))
		for _, hl := range rep.ByHorizon {
			t.Logf("    at %2d min: looks %d flags %d (true %d, false %d), false-alarm rate per look %.4f", hl.Horizon, hl.Looks, hl.Flags, hl.TrueFlags, hl.FalseAlarms, float64(hl.FalseAlarmRate))
		}
		if rep.Positives == 0 || rep.Deploys == 0 {
			t.Fatalf("%s: degenerate test split: %+v", source, rep)
		}
		// the product (weak labels) must be useful against the truth; the
		// ensemble-label baseline is only measured
		if source == train.LabelsWeak && (!(float64(rep.Recall) > 0.3) || !(float64(rep.Precision) > 0.5)) {
			t.Errorf("%s: policy precision %.3f / recall %.3f against truth, want > 0.5 / > 0.3", source, float64(rep.Precision), float64(rep.Recall))
		}
		if rep.Flagged == 0 {
			t.Errorf("%s: the policy flagged nothing on the test split", source)
		}
	}
}

func gbdtParams(threads int) models.Params {
	p := models.DefaultParams()
	p.NumTrees = 200
	p.LearningRate = 0.05
	p.MaxLeaves = 31
	p.MinDataInLeaf = 0
	p.MinSumHessian = 1
	p.Lambda = 1
	p.EarlyStoppingRounds = 0
	p.Subsample = 1
	p.ColsampleByTree = 1
	p.Threads = threads
	return p
}

// BenchmarkFleetGBDTvsXGBoost trains our GBDT and XGBoost 1.7 hist on a
// simulated fleet's 60-minute features (target: the simulator's truth;
// train = train+valid split, test = test split) with the same settings, and
// reports both test AUCs and the time ratio.
func BenchmarkFleetGBDTvsXGBoost(b *testing.B) {
	ok, msg := xgbref.Available()
	if !ok {
		b.Skip("XGBoost reference unavailable: " + msg)
	}
	fd := simulatedWorkdir(b)
	ctx := context.Background()
	// the split is written by train; make it once
	cfg := train.DefaultConfig()
	cfg.GBDT.NumTrees = 1
	if _, err := train.Run(ctx, cfg, train.RunOptions{Workdir: fd.work, Labels: train.LabelsWeak}); err != nil {
		b.Fatal(err)
	}
	split, err := workdir.ReadSplit(filepath.Join(fd.work, workdir.SplitFile))
	if err != nil {
		b.Fatal(err)
	}
	ft, err := workdir.ReadFeatures(filepath.Join(fd.work, workdir.FeaturesFile(60)))
	if err != nil {
		b.Fatal(err)
	}
	nf := len(ft.Names)
	tr := &models.Data{Cols: make([][]float64, nf)}
	te := &models.Data{Cols: make([][]float64, nf)}
	for i, id := range ft.IDs {
		truth, ok := fd.truth[id]
		if !ok {
			continue
		}
		d := tr
		if split[id] == workdir.SplitTest {
			d = te
		}
		for f := range ft.Cols {
			d.Cols[f] = append(d.Cols[f], ft.Cols[f][i])
		}
		y := 0.0
		if truth.Faulty {
			y = 1
		}
		d.Y = append(d.Y, y)
	}
	dir := b.TempDir()
	job, err := xgbref.Prepare(dir, tr.Cols, tr.Y, te.Cols)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("fleet: %d train rows, %d test rows, %d features; xgboost %s", len(tr.Y), len(te.Y), nf, msg)
	for _, threads := range []int{2, 1} {
		p := gbdtParams(threads)
		b.Run("threads="+string(rune('0'+threads)), func(b *testing.B) {
			b.ReportAllocs()
			var ours, oursCPU, aucOurs float64
			var ref *xgbref.Result
			for i := 0; i < b.N; i++ {
				t0, c0 := time.Now(), xgbref.CPUTime()
				m, _, err := models.Train(ctx, p, ft.Names, tr, nil)
				if err != nil {
					b.Fatal(err)
				}
				ours, oursCPU = time.Since(t0).Seconds(), xgbref.CPUTime()-c0
				b.StopTimer()
				pred, _ := m.PredictCols(te.Cols)
				aucOurs = metrics.AUC(pred, te.Y)
				xp := map[string]any{
					"objective": "binary:logistic", "tree_method": "hist", "grow_policy": "lossguide",
					"max_leaves": p.MaxLeaves, "max_depth": p.MaxDepth, "eta": p.LearningRate, "lambda": p.Lambda,
					"alpha": 0, "gamma": 0, "min_child_weight": p.MinSumHessian, "max_bin": p.MaxBins + 1,
					"nthread": threads, "seed": int(p.Seed), "verbosity": 0,
				}
				if ref, err = job.Train(xp, p.NumTrees); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			aucRef := metrics.AUC(ref.Pred, te.Y)
			b.ReportMetric(aucOurs, "auc_ours")
			b.ReportMetric(aucRef, "auc_xgb")
			b.ReportMetric(aucOurs-aucRef, "auc_diff")
			b.ReportMetric(ours/ref.Seconds, "x_vs_ref")
			b.ReportMetric(oursCPU/ref.CPUSeconds, "cpu_x_vs_ref")
			b.Logf("threads=%d: ours %.3fs (cpu %.3fs) AUC %.5f; xgboost %.3fs (cpu %.3fs) AUC %.5f; ratio %.3f (cpu %.3f)",
				threads, ours, oursCPU, aucOurs, ref.Seconds, ref.CPUSeconds, aucRef, ours/ref.Seconds, oursCPU/ref.CPUSeconds)
		})
	}
}
