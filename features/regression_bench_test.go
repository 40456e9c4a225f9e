package features

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sajari/regression"
	"gonum.org/v1/gonum/stat"
)

// BenchmarkTrendSlope decides how rate_slope is fitted: the closed-form
// least-squares slope used by Compute (olsSlope) against gonum's
// stat.LinearRegression and github.com/sajari/regression, on the same
// 60-minute series in the same run. x_vs_ref metrics are time per fit over
// the closed form's; the fits must agree.
func BenchmarkTrendSlope(b *testing.B) {
	b.ReportAllocs()
	const fits = 20000
	rng := rand.New(rand.NewPCG(1, 2))
	ys := make([][]float64, 64)
	for i := range ys {
		ys[i] = make([]float64, 60)
		for k := range ys[i] {
			ys[i][k] = 1 + 0.05*float64(k) + 0.3*rng.NormFloat64()
		}
	}
	xs := make([]float64, 60)
	for k := range xs {
		xs[k] = float64(k)
	}
	for i := 0; i < b.N; i++ {
		var sink float64
		t0 := time.Now()
		for f := 0; f < fits; f++ {
			sink += olsSlope(ys[f%len(ys)])
		}
		closed := time.Since(t0)

		t1 := time.Now()
		for f := 0; f < fits; f++ {
			_, beta := stat.LinearRegression(xs, ys[f%len(ys)], nil, false)
			sink += beta
		}
		gon := time.Since(t1)

		t2 := time.Now()
		for f := 0; f < fits; f++ {
			var r regression.Regression
			y := ys[f%len(ys)]
			for k, v := range y {
				r.Train(regression.DataPoint(v, []float64{xs[k]}))
			}
			if err := r.Run(); err != nil {
				b.Fatal(err)
			}
			sink += r.Coeff(1)
		}
		saj := time.Since(t2)

		// The three must agree on a series.
		y := ys[0]
		_, beta := stat.LinearRegression(xs, y, nil, false)
		var r regression.Regression
		for k, v := range y {
			r.Train(regression.DataPoint(v, []float64{xs[k]}))
		}
		r.Run()
		if c := olsSlope(y); math.Abs(c-beta) > 1e-9 || math.Abs(c-r.Coeff(1)) > 1e-9 {
			b.Fatalf("slopes disagree: closed %v gonum %v sajari %v", c, beta, r.Coeff(1))
		}
		_ = sink
		b.ReportMetric(float64(closed.Nanoseconds())/fits, "closed_ns/fit")
		b.ReportMetric(float64(gon.Nanoseconds())/fits, "gonum_ns/fit")
		b.ReportMetric(float64(saj.Nanoseconds())/fits, "sajari_ns/fit")
		b.ReportMetric(float64(gon)/float64(closed), "gonum_x_vs_ref")
		b.ReportMetric(float64(saj)/float64(closed), "sajari_x_vs_ref")
	}
}

// BenchmarkCompute is the cost of one feature vector at 60 minutes.
func BenchmarkCompute(b *testing.B) {
	b.ReportAllocs()
	cfg := DefaultConfig()
	in := scenario{rpm: 1000, rate: 0.01, rolloutMin: 10, newMult: step(0, 3), seed: 3}.input()
	// As the extractor does: known fingerprints tracked incrementally.
	in.PriorFingerprints = map[string]int64{}
	for _, r := range in.Signatures {
		if r.Minute < minuteOf(in.Deploy.StartedAt) {
			in.PriorFingerprints[r.Fingerprint] = r.Minute
		}
	}
	const n = 2000
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for k := 0; k < n; k++ {
			w, err := NewWindow(in, 60, &cfg)
			if err != nil {
				b.Fatal(err)
			}
			Compute(w, &cfg)
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds())/n, "µs/vector")
	}
}
