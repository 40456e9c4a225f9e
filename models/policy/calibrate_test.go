package policy

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// draw returns n labels drawn with true probabilities q and the scores
// score(q) a model would report.
func draw(rng *rand.Rand, n int, q func() float64, score func(float64) float64) (p, y []float64) {
	for i := 0; i < n; i++ {
		qi := q()
		p = append(p, score(qi))
		y = append(y, boolf(rng.Float64() < qi))
	}
	return p, y
}

// TestCalibrationOfCubedScores: a score p³ of the true probability p (far
// too low: a deploy faulty half the time scores 0.125) is calibrated, on
// held-out data, within 0.035 expected calibration error (from 0.25) and
// 0.06 in every well-populated bin. Platt's map is linear in the log-odds,
// so it cannot undo the cube exactly (it needs slope 1/3 near 0 and 1 near
// 1): about 0.03 is what it leaves on this uniform mix.
func TestCalibrationOfCubedScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	q := func() float64 { return rng.Float64() }
	cube := func(v float64) float64 { return v * v * v }
	fitP, fitY := draw(rng, 4000, q, cube)
	c, rep := FitCalibration(fitP, fitY, 10)
	if rep.Method != CalibrationPlatt || rep.Rows != 4000 {
		t.Fatalf("report %+v", rep)
	}
	testP, testY := draw(rng, 100000, q, cube)
	calP := make([]float64, len(testP))
	for i, v := range testP {
		calP[i] = c.Apply(v)
	}
	before := ExpectedCalibrationError(Reliability(testP, testY, 10))
	bins := Reliability(calP, testY, 10)
	after := ExpectedCalibrationError(bins)
	t.Logf("platt %+v: held-out ECE %.4f → %.4f", c, before, after)
	if before < 0.15 {
		t.Fatalf("fixture: cubed scores have ECE %v, expected far worse", before)
	}
	if after > 0.035 {
		t.Errorf("calibrated ECE %v > 0.035", after)
	}
	for _, b := range bins {
		if b.N >= 2000 {
			if d := math.Abs(float64(b.MeanP) - float64(b.Positives)/float64(b.N)); d > 0.06 {
				t.Errorf("bin [%v, %v): mean p %.3f, observed %.3f over %d", b.Lo, b.Hi, float64(b.MeanP), float64(b.Positives)/float64(b.N), b.N)
			}
		}
	}
	if !(float64(rep.ECECalibrated) < float64(rep.ECEModel) && float64(rep.BrierCalibrated) < float64(rep.BrierModel)) {
		t.Errorf("validation diagnostics do not improve: %+v", rep)
	}
}

// TestFitPlattRecoversShift: scores whose log-odds are 2× the true ones
// plus 1.5 (over-confident and shifted, as class weighting shifts them)
// give back a ≈ 1/2, b ≈ −3/4.
func TestFitPlattRecoversShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	q := func() float64 { return metrics.Sigmoid(-2.5 + 1.5*rng.NormFloat64()) }
	p, y := draw(rng, 40000, q, func(v float64) float64 { return metrics.Sigmoid(2*logit(v) + 1.5) })
	c, err := FitPlatt(p, y)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(c.A-0.5) > 0.05 || math.Abs(c.B+0.75) > 0.1 {
		t.Errorf("fit %+v, want a ≈ 0.5, b ≈ −0.75", c)
	}
}

func TestPlattEdges(t *testing.T) {
	// perfectly separated: finite slope thanks to Platt's targets
	c, err := FitPlatt([]float64{0.1, 0.2, 0.3, 0.7, 0.8, 0.9}, []float64{0, 0, 0, 1, 1, 1})
	if err != nil || c.Validate() != nil || c.A > 50 {
		t.Errorf("separable: %+v, %v", c, err)
	}
	// inverted scores: the slope stays at its floor, never negative
	c, err = FitPlatt([]float64{0.1, 0.2, 0.3, 0.7, 0.8, 0.9}, []float64{1, 1, 0, 1, 0, 0})
	if err != nil || c.A != MinPlattSlope {
		t.Errorf("inverted: %+v, %v", c, err)
	}
	if _, err := FitPlatt([]float64{0.1, 0.2}, []float64{0, 0}); err == nil {
		t.Error("no positives: no error")
	}
	if _, rep := FitCalibration([]float64{0.1, 0.2}, []float64{0, 0}, 10); rep.Method != CalibrationNone {
		t.Errorf("no positives: method %q", rep.Method)
	}
	c = Platt{A: 3, B: 40}
	if v := c.Apply(0.999999); !(v < 1) || c.Apply(1) != 1 || c.Apply(0) != 0 || !math.IsNaN(c.Apply(math.NaN())) {
		t.Errorf("Apply edges: %v %v %v", v, c.Apply(1), c.Apply(0))
	}
	for _, bad := range []Platt{{A: 0}, {A: -1}, {A: math.Inf(1)}, {A: 1, B: math.NaN()}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestCalibratedThresholdsDecideAlike: on the calibrated scale the same
// deploys reach the threshold as on the model's.
func TestCalibratedThresholdsDecideAlike(t *testing.T) {
	p := Policy{Horizons: []int{10, 20}, Thresholds: []float64{0.83, 1}, Calibration: []Platt{{A: 0.7, B: -2.1}, {A: 1.8, B: 0.4}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < 100000; k++ {
		v := rng.Float64()
		if k%1000 == 0 {
			v = 0.83
		}
		for i := range p.Horizons {
			if (v >= p.Thresholds[i]) != (p.Calibrate(i, v) >= p.CalibratedThreshold(i)) {
				t.Fatalf("p %v at %d min: model decision %v, calibrated %v", v, p.Horizons[i], v >= p.Thresholds[i], !(v >= p.Thresholds[i]))
			}
		}
	}
	bad := p
	bad.Calibration = bad.Calibration[:1]
	if bad.Validate() == nil {
		t.Error("one calibrator for two horizons accepted")
	}
	if none := (Policy{Horizons: []int{10}, Thresholds: []float64{0.5}}); none.Calibrate(0, 0.3) != 0.3 || none.CalibratedThreshold(0) != 0.5 {
		t.Error("no calibration must leave probabilities alone")
	}
}
