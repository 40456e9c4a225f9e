package detector_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

// BenchmarkScore measures a prediction with its attribution (Explain) and
// a whole sequential decision against the reference: leaves' plain
// prediction (Predict) of the same rows, in the same run.
func BenchmarkScore(b *testing.B) {
	gen := func(h int) []byte { return registrytest.ModelText(uint64(h), features.Names(), 300, 31, true) }
	d, err := detector.LoadReader(bytes.NewReader(makeBundle(b, detector.Schema(), gen)))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	rows := make([][]float64, 256)
	for i := range rows {
		rows[i] = randomRow(rng)
	}
	measure := func(f func(row []float64)) time.Duration {
		start := time.Now()
		for i := 0; i < 2000; i++ {
			f(rows[i%len(rows)])
		}
		return time.Since(start)
	}
	ref := measure(func(row []float64) { d.Predict(60, row) })
	b.Run("Explain", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			d.Explain(60, rows[i%len(rows)])
		}
		b.ReportMetric(float64(measure(func(row []float64) { d.Explain(60, row) }))/float64(ref), "x_vs_ref")
	})
	b.Run("Decide", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r := rows[i%len(rows)]
			d.Decide(map[int][]float64{10: r, 20: r, 60: r})
		}
		b.ReportMetric(float64(measure(func(row []float64) { d.Decide(map[int][]float64{10: row, 20: row, 60: row}) }))/float64(ref), "x_vs_ref")
	})
}
