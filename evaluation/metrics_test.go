package evaluation

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

func TestAveragePrecision(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		scores []float64
		faulty []bool
		want   float64
		points int
	}{
		// P@1 = 1 (R .5), P@3 = 2/3 (R 1): AP = .5·1 + .5·2/3.
		{"interleaved", []float64{0.9, 0.8, 0.7, 0.6}, []bool{true, false, true, false}, 0.5 + 0.5*2/3, 4},
		// Tie at 0.9 taken together: P = .5 at R .5, then P = 2/3 at R 1.
		{"tie", []float64{0.9, 0.9, 0.5}, []bool{true, false, true}, 0.5*0.5 + 0.5*2/3, 2},
		// A positive without a score is never retrieved: recall tops at .5.
		{"unscored positive", []float64{0.9, nan}, []bool{true, true}, 0.5, 1},
		{"perfect", []float64{0.1, 0.9, 0.8}, []bool{false, true, true}, 1, 3},
		{"no positives", []float64{0.1, 0.2}, []bool{false, false}, nan, 0},
		// Binary baseline: flagged {1,1,0,0,0} vs faulty {1,0,1,0,0}: P .5 at R .5, then P .4 at R 1.
		{"binary", []float64{1, 1, 0, 0, 0}, []bool{true, false, true, false, false}, 0.5*0.5 + 0.5*0.4, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AveragePrecision(tt.scores, tt.faulty); !near(got, tt.want, 1e-12) {
				t.Errorf("AP = %v, want %v", got, tt.want)
			}
			if got := len(PRCurve(tt.scores, tt.faulty)); got != tt.points {
				t.Errorf("%d curve points, want %d", got, tt.points)
			}
		})
	}
}

func TestCoverageAndTTD(t *testing.T) {
	tests := []struct {
		name     string
		detected []int
		cov      []float64 // at 10, 20, 60
		mttd     float64
		ratio    float64
	}{
		// 2 at 10, 1 at 20, 1 at 60: shares .5/.25/.25; mean (10+10+20+60)/4 = 25; ratio 25/60.
		{"mixed", []int{10, 20, 10, 60}, []float64{0.5, 0.25, 0.25}, 25, 25.0 / 60},
		{"baseline", []int{60, 60, 60}, []float64{0, 0, 1}, 60, 1},
		{"none", nil, []float64{math.NaN(), math.NaN(), math.NaN()}, math.NaN(), math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cov := Coverage(tt.detected, []int{10, 20, 60})
			for i := range cov {
				if !near(cov[i].Value, tt.cov[i], 1e-12) {
					t.Errorf("coverage[%d] = %v, want %v", i, cov[i].Value, tt.cov[i])
				}
			}
			m := MeanTimeToDetection(tt.detected)
			if !near(m, tt.mttd, 1e-12) {
				t.Errorf("MTTD = %v, want %v", m, tt.mttd)
			}
			if r := TTDRatio(m, 60); !near(r, tt.ratio, 1e-12) {
				t.Errorf("ratio = %v, want %v", r, tt.ratio)
			}
		})
	}
}
