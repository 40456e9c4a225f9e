package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
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
			if got := c.PrecisionEstimate().Value; !near(got, tt.prec, 1e-12) {
				t.Errorf("precision %v, want %v", got, tt.prec)
			}
			if got := c.RecallEstimate().Value; !near(got, tt.rec, 1e-12) {
				t.Errorf("recall %v, want %v", got, tt.rec)
			}
			if got := c.FalsePositiveRateEstimate().Value; !near(got, tt.falseRate, 1e-12) {
				t.Errorf("false-alarm rate %v, want %v", got, tt.falseRate)
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
func TestAUC(t *testing.T) {
	if a := AUC([]float64{0.1, 0.4, 0.35, 0.8}, []float64{0, 0, 1, 1}); a != 0.75 {
		t.Errorf("AUC %v, want 0.75", a)
	}
	if a := AUC([]float64{0.5, 0.5}, []float64{0, 1}); a != 0.5 {
		t.Errorf("tied AUC %v, want 0.5", a)
	}
	if a := AUC([]float64{0.5}, []float64{1}); !math.IsNaN(a) {
		t.Errorf("one class AUC %v, want NaN", a)
	}
}

// The ranks of AUC and AUCLabels agree, and AUC counts y >= 0.5 as positive.
func TestAUCLabelsAgree(t *testing.T) {
	scores := []float64{0.3, 0.1, 0.3, 0.9, 0.5, 0.5, 0.2, 0.7}
	y := []float64{0, 0, 1, 1, 0.6, 0.4, 0, 1}
	truth := make([]bool, len(y))
	for i, v := range y {
		truth[i] = v >= 0.5
	}
	a, b := AUC(scores, y), AUCLabels(scores, truth)
	if a != b || math.IsNaN(a) {
		t.Errorf("AUC %v, AUCLabels %v", a, b)
	}
}

// The rank-sum test's p-values, computed by hand from U counted pair by pair,
// the tie-corrected variance and the continuity correction.
func TestRankSumGreaterP(t *testing.T) {
	for _, tt := range []struct {
		name string
		x, y []float64
		want float64
	}{
		{"x above y", []float64{4, 5, 6}, []float64{1, 2, 3}, 0.04042779918502615},
		{"x below y", []float64{1, 2, 3}, []float64{4, 5, 6}, 0.9854518341293739},
		{"ties", []float64{1, 1, 2, 2, 3}, []float64{1, 2, 2, 3, 3, 3}, 0.8770930010299918},
		{"ties, order of values irrelevant", []float64{3, 3, 2, 2, 1}, []float64{1, 1, 1, 2, 2, 3}, 0.16673516913094374},
		{"all tied", []float64{2, 2}, []float64{2, 2, 2}, 1},
		{"empty x", nil, []float64{1}, math.NaN()},
		{"NaN", []float64{1, math.NaN()}, []float64{1}, math.NaN()},
	} {
		got := RankSumGreaterP(tt.x, tt.y)
		if math.IsNaN(tt.want) != math.IsNaN(got) || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: p %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Under the null hypothesis the test rejects at about its level or less;
// under a clear shift it rejects almost always.
func TestRankSumGreaterPCalibrated(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(n int, shift float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Exp(rng.NormFloat64()) + shift // skewed, as latencies are
		}
		return v
	}
	const trials = 2000
	var null, shifted int
	for range trials {
		if RankSumGreaterP(draw(15, 0), draw(60, 0)) <= 0.05 {
			null++
		}
		if RankSumGreaterP(draw(15, 2), draw(60, 0)) <= 0.05 {
			shifted++
		}
	}
	if rate := float64(null) / trials; rate > 0.06 || rate < 0.03 {
		t.Errorf("null rejection rate %.3f at level 0.05", rate)
	}
	if rate := float64(shifted) / trials; rate < 0.95 {
		t.Errorf("power %.3f under a shift of 2", rate)
	}
}

func TestConfusionFloatRates(t *testing.T) {
	c := Confusion{TP: 3, FP: 1, TN: 4, FN: 2}
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"precision", c.Precision(), 0.75},
		{"recall", c.Recall(), 0.6},
		{"false positive rate", c.FalsePositiveRate(), 0.2},
		{"accuracy", c.Accuracy(), 0.7},
		{"F1", c.F1(), 6.0 / 9},
		{"empty precision", Confusion{}.Precision(), math.NaN()},
	} {
		if !near(tc.got, tc.want, 1e-15) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestFloatJSON(t *testing.T) {
	for _, tc := range []struct {
		v    Float
		want string
	}{
		{Float(math.NaN()), "null"},
		{Float(math.Inf(1)), "null"},
		{Float(0.25), "0.25"},
		{Float(1e-5), "1e-05"},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("%v: %s, %v; want %s", float64(tc.v), b, err, tc.want)
		}
	}
	var back struct{ A, B Float }
	if err := json.Unmarshal([]byte(`{"A":null,"B":0.5}`), &back); err != nil || !math.IsNaN(float64(back.A)) || back.B != 0.5 {
		t.Errorf("read back %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"A":"x"}`), &back); err == nil {
		t.Error("a string read as a Float")
	}
	if OrNull(math.NaN()) != nil || *OrNull(2) != 2 {
		t.Error("OrNull")
	}
}

func TestLogLoss(t *testing.T) {
	// two rows, p = 0.8 for a positive and 0.8 for a negative, weights 3 and 1
	got := LogLoss([]float64{0.8, 0.8}, []float64{1, 0}, []float64{3, 1})
	want := (-3*math.Log(0.8) - math.Log(0.2)) / 4
	if math.Abs(got-want) > 1e-15 {
		t.Errorf("LogLoss %v, want %v", got, want)
	}
	if !math.IsNaN(LogLoss(nil, nil, nil)) {
		t.Error("empty log-loss is not NaN")
	}
	if s := Sigmoid(0); s != 0.5 {
		t.Errorf("Sigmoid(0) = %v", s)
	}
}

func TestEstimateFormats(t *testing.T) {
	for _, tc := range []struct {
		e                   Estimate
		percent, dec2, dec3 string
	}{
		{Proportion(39, 50), "78.0% [64.8–87.2] (39/50)", "0.78 [0.65, 0.87] (39/50)", "0.780 [0.648, 0.872] (39/50)"},
		{Proportion(0, 0), "n/a (0/0)", "– (0/0)", "– (0/0)"},
	} {
		if got := tc.e.Percent(); got != tc.percent {
			t.Errorf("Percent(%d/%d) = %q, want %q", tc.e.K, tc.e.N, got, tc.percent)
		}
		if got := tc.e.Decimal(2); got != tc.dec2 {
			t.Errorf("Decimal(2) of %d/%d = %q, want %q", tc.e.K, tc.e.N, got, tc.dec2)
		}
		if got := tc.e.Decimal(3); got != tc.dec3 {
			t.Errorf("Decimal(3) of %d/%d = %q, want %q", tc.e.K, tc.e.N, got, tc.dec3)
		}
	}
}
