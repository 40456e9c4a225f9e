package labelmodel

import (
	"testing"
	"time"
)

// benchFunctions are eight functions shaped like the deploy ones: one-sided
// and two-sided, rare positives, one correlated pair left for detection.
func benchFunctions() []lfSpec {
	shortLived := lf("short_lived", 0.40, 0, 0, 0.01)
	shortLived.copyOf, shortLived.copyProb = 0, 0.85
	return []lfSpec{
		lf("rollback", 0.50, 0, 0, 0.006),
		shortLived,
		lf("incident", 0.35, 0, 0, 0.004),
		lf("ensemble", 0.60, 0.25, 0.75, 0.03),
		lf("new_signatures", 0.45, 0.15, 0.40, 0.05),
		lf("latency", 0.30, 0.20, 0.50, 0.04),
		lf("error_rate", 0.55, 0.20, 0.60, 0.08),
		lf("healthy_evidence", 0, 0.08, 0.75, 0),
	}
}

// BenchmarkFit1M fits the label model to 1,000,000 rows × 8 functions, with
// dependency detection, and predicts every row (the whole of what
// `faultline label` asks of the model). The reference is a majority-vote pass over the same matrix,
// measured in the same run: x_vs_ref is (fit+predict time)/(majority time).
func BenchmarkFit1M(b *testing.B) {
	m, _ := synth(42, 1_000_000, 0.04, benchFunctions())
	cfg := DefaultConfig()
	cfg.DetectDependencies = true
	b.ReportAllocs()
	b.ResetTimer()
	var fitT, predT, refT time.Duration
	var patterns, groups int
	for range b.N {
		t0 := time.Now()
		mod, err := Fit(m, cfg)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, _, err := mod.Predict(m); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		b.StopTimer()
		MajorityVote(m)
		refT += time.Since(t2)
		b.StartTimer()
		fitT += t1.Sub(t0)
		predT += t2.Sub(t1)
		patterns, groups = mod.Info().Patterns, len(mod.Info().Groups)
	}
	n := float64(b.N)
	b.ReportMetric(fitT.Seconds()/n, "fit_s")
	b.ReportMetric(predT.Seconds()/n, "predict_s")
	b.ReportMetric(refT.Seconds()/n, "majority_s")
	b.ReportMetric((fitT+predT).Seconds()/refT.Seconds(), "x_vs_ref")
	b.ReportMetric(float64(patterns), "patterns")
	b.ReportMetric(float64(groups), "groups")
}

// BenchmarkFit200x1M fits the label model with the default settings to
// 1,000,000 rows × 200 functions (weak, mixed one- and two-sided functions,
// coverage 0.5–20 %, 10 % positives: almost every row is a distinct vote
// pattern, so EM runs over the rows) and predicts every row. The reference
// is a majority-vote pass over the same matrix, measured in the same run.
func BenchmarkFit200x1M(b *testing.B) {
	m, _ := synth(43, 1_000_000, 0.1, randomSpecs(43, 200, 0.1))
	cfg := DefaultConfig()
	b.ReportAllocs()
	b.ResetTimer()
	var fitT, predT, refT time.Duration
	var info FitInfo
	for range b.N {
		t0 := time.Now()
		mod, err := Fit(m, cfg)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, _, err := mod.Predict(m); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		b.StopTimer()
		MajorityVote(m)
		refT += time.Since(t2)
		b.StartTimer()
		fitT += t1.Sub(t0)
		predT += t2.Sub(t1)
		info = mod.Info()
	}
	n := float64(b.N)
	b.ReportMetric(fitT.Seconds()/n, "fit_s")
	b.ReportMetric(predT.Seconds()/n, "predict_s")
	b.ReportMetric(refT.Seconds()/n, "majority_s")
	b.ReportMetric(fitT.Seconds()/refT.Seconds(), "fit_x_majority")
	b.ReportMetric(float64(info.Iterations), "iterations")
	b.ReportMetric(float64(info.Patterns), "patterns")
}
