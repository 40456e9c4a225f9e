package models

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/models/internal/xgbref"
)

// XGBoostParams maps p to XGBoost 1.7 hist parameters with the same trees,
// leaves, learning rate, lambda, min child weight, bins and threads.
func XGBoostParams(p Params) map[string]any {
	return map[string]any{
		"objective":        "binary:logistic",
		"tree_method":      "hist",
		"grow_policy":      "lossguide",
		"max_leaves":       p.MaxLeaves,
		"max_depth":        p.MaxDepth,
		"eta":              p.LearningRate,
		"lambda":           p.Lambda,
		"alpha":            0,
		"gamma":            0,
		"min_child_weight": p.MinSumHessian,
		"max_bin":          p.MaxBins + 1,
		"subsample":        p.Subsample,
		"colsample_bytree": p.ColsampleByTree,
		"nthread":          p.Threads,
		"seed":             int(p.Seed),
		"verbosity":        0,
	}
}

type benchFiles struct {
	train, test *Data
	job         *xgbref.Job
}

// Flags of BenchmarkGBDTvsXGBoost, for profiling on a smaller table:
//
//	go test -run '^$' -bench GBDTvsXGBoost -benchtime 1x ./models -gbdt.rows 200000 -gbdt.xgb=false -cpuprofile cpu.out
var (
	gbdtRows = flag.Int("gbdt.rows", 1_000_000, "training rows of BenchmarkGBDTvsXGBoost (test rows: a fifth)")
	gbdtXGB  = flag.Bool("gbdt.xgb", true, "BenchmarkGBDTvsXGBoost: also train the XGBoost reference (false: ours only, no ratios)")
)

var (
	synthOnce  sync.Once
	synthFiles *benchFiles
	synthErr   error
)

// benchParams are the settings shared by both trainers in the benchmark.
func benchParams(threads int) Params {
	p := DefaultParams()
	p.NumTrees = 100
	p.LearningRate = 0.1
	p.MaxLeaves = 31
	p.MaxDepth = 0
	p.MinDataInLeaf = 0
	p.MinSumHessian = 1
	p.Lambda = 1
	p.MaxBins = 255
	p.EarlyStoppingRounds = 0
	p.Subsample = 1
	p.ColsampleByTree = 1
	p.Threads = threads
	return p
}

// BenchmarkGBDTvsXGBoost trains our GBDT and XGBoost 1.7 hist on the same
// synthetic 1,000,000 × 40 table (nonlinear signal, NaNs; -gbdt.rows
// changes the size) with the same trees, leaves, learning rate, lambda, min
// child weight and threads, and reports both test AUCs (200,000 held-out
// rows), their difference and the training-time ratios ours/xgboost, wall
// (x_vs_ref) and process CPU (cpu_x_vs_ref).
func BenchmarkGBDTvsXGBoost(b *testing.B) {
	if *gbdtXGB {
		ok, msg := xgbref.Available()
		if !ok {
			b.Skip("XGBoost reference unavailable: " + msg)
		}
		b.Logf("reference: xgboost %s", msg)
	}
	synthOnce.Do(func() {
		n := *gbdtRows
		synthFiles = &benchFiles{train: synthData(n, 40, 11, 0.1), test: synthData(max(1, n/5), 40, 12, 0.1)}
		if !*gbdtXGB {
			return
		}
		dir, err := os.MkdirTemp("", "faultline-bench-*")
		if err != nil {
			synthErr = err
			return
		}
		synthFiles.job, synthErr = xgbref.Prepare(dir, synthFiles.train.Cols, synthFiles.train.Y, synthFiles.test.Cols)
	})
	if synthErr != nil {
		b.Fatal(synthErr)
	}
	for _, threads := range []int{2, 1} {
		b.Run(fmt.Sprintf("synthetic_%sx40/threads=%d", rowsName(*gbdtRows), threads), func(b *testing.B) {
			benchCompare(b, synthFiles, benchParams(threads))
		})
	}
	if synthFiles != nil && synthFiles.job != nil {
		b.Cleanup(func() { os.RemoveAll(synthFiles.job.Dir) })
	}
}

// rowsName writes 1000000 as 1M and 200000 as 200k.
func rowsName(n int) string {
	switch {
	case n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func benchCompare(b *testing.B, bf *benchFiles, p Params) {
	b.ReportAllocs()
	var ours, oursCPU, aucOurs float64
	var ref *xgbref.Result
	for i := 0; i < b.N; i++ {
		t0, c0 := time.Now(), xgbref.CPUTime()
		m, _, err := Train(context.Background(), p, featureNames(len(bf.train.Cols)), bf.train, nil)
		if err != nil {
			b.Fatal(err)
		}
		ours, oursCPU = time.Since(t0).Seconds(), xgbref.CPUTime()-c0
		b.StopTimer()
		pred, err := m.PredictCols(bf.test.Cols)
		if err != nil {
			b.Fatal(err)
		}
		aucOurs = metrics.AUC(pred, bf.test.Y)
		if bf.job != nil {
			if ref, err = bf.job.Train(XGBoostParams(p), p.NumTrees); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	if ref == nil {
		b.ReportMetric(aucOurs, "auc_ours")
		b.ReportMetric(ours, "s_ours")
		b.ReportMetric(oursCPU, "cpu_s_ours")
		b.Logf("threads=%d: ours %.2fs (cpu %.2fs) AUC %.5f; XGBoost skipped (-gbdt.xgb=false)", p.Threads, ours, oursCPU, aucOurs)
		return
	}
	aucRef := metrics.AUC(ref.Pred, bf.test.Y)
	b.ReportMetric(aucOurs, "auc_ours")
	b.ReportMetric(aucRef, "auc_xgb")
	b.ReportMetric(aucOurs-aucRef, "auc_diff")
	b.ReportMetric(ours, "s_ours")
	b.ReportMetric(ref.Seconds, "s_xgb")
	b.ReportMetric(ours/ref.Seconds, "x_vs_ref")
	b.ReportMetric(oursCPU/ref.CPUSeconds, "cpu_x_vs_ref")
	b.Logf("threads=%d: ours %.2fs (cpu %.2fs) AUC %.5f; xgboost %.2fs (cpu %.2fs) AUC %.5f; time ratio %.3f (cpu %.3f), AUC diff %+.5f",
		p.Threads, ours, oursCPU, aucOurs, ref.Seconds, ref.CPUSeconds, aucRef, ours/ref.Seconds, oursCPU/ref.CPUSeconds, aucOurs-aucRef)
}
