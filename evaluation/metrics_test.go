package evaluation

import (
	"encoding/json"
	"math"
	"testing"
)

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

func TestWilson(t *testing.T) {
	// Hand-computed with z = 1.96: center = (p + z²/2n)/(1 + z²/n),
	// half-width = z·sqrt(p(1−p)/n + z²/4n²)/(1 + z²/n).
	tests := []struct {
		k, n   int
		lo, hi float64
	}{
		{8, 10, 0.4902, 0.9433},
		{5, 10, 0.2366, 0.7634},
		{0, 10, 0, 0.2775},
		{10, 10, 0.7225, 1},
		{1, 1, 0.2065, 1},
		{39, 50, 0.6476, 0.8725},
		{0, 0, 0, 1},
	}
	for _, tt := range tests {
		iv := Wilson(tt.k, tt.n)
		if !near(iv.Lo, tt.lo, 5e-4) || !near(iv.Hi, tt.hi, 5e-4) {
			t.Errorf("Wilson(%d,%d) = [%.4f, %.4f], want [%.4f, %.4f]", tt.k, tt.n, iv.Lo, iv.Hi, tt.lo, tt.hi)
		}
	}
}

func TestConfusionRates(t *testing.T) {
	tests := []struct {
		name                 string
		flagged, faulty      []bool
		want                 Confusion
		prec, rec, falseRate float64
	}{
		{
			name:    "mixed",
			flagged: []bool{true, true, true, false, false, false, true},
			faulty:  []bool{true, true, false, true, false, false, false},
			want:    Confusion{TP: 2, FP: 2, FN: 1, TN: 2},
			prec:    0.5, rec: 2.0 / 3, falseRate: 0.5,
		},
		{
			name:    "nothing flagged",
			flagged: []bool{false, false},
			faulty:  []bool{true, false},
			want:    Confusion{FN: 1, TN: 1},
			prec:    math.NaN(), rec: 0, falseRate: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Confusion
			for i := range tt.flagged {
				c.Add(tt.flagged[i], tt.faulty[i])
			}
			if c != tt.want {
				t.Fatalf("confusion %+v, want %+v", c, tt.want)
			}
			if got := c.Precision().Value; !near(got, tt.prec, 1e-12) {
				t.Errorf("precision %v, want %v", got, tt.prec)
			}
			if got := c.Recall().Value; !near(got, tt.rec, 1e-12) {
				t.Errorf("recall %v, want %v", got, tt.rec)
			}
			if got := c.FalseAlarmRate().Value; !near(got, tt.falseRate, 1e-12) {
				t.Errorf("false-alarm rate %v, want %v", got, tt.falseRate)
			}
		})
	}
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

func TestEstimateJSON(t *testing.T) {
	tests := []struct {
		e    Estimate
		want string
	}{
		{Proportion(8, 10), `{"value":0.8,"lo":0.490162,"hi":0.943318,"k":8,"n":10}`},
		{Proportion(0, 0), `{"value":null,"lo":null,"hi":null,"k":0,"n":0}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.e)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("got %s, want %s", b, tt.want)
		}
	}
}
