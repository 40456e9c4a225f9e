package policy

import (
	"errors"
	"fmt"
	"math"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// Platt is a Platt-scaling calibrator (Platt, 1999) on the log-odds of a
// model probability p: calibrated p = σ(A·logit(p) + B). For a GBDT whose
// probability is σ(raw score) this is σ(A·raw + B): the class weights of
// training shift the log-odds by a constant (B undoes it) and boosting
// stretches or squeezes them (A undoes it). A > 0, so it is strictly
// increasing and a threshold on p keeps its meaning. The identity is
// {A: 1, B: 0}.
type Platt struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// MinPlattSlope is the least slope FitPlatt returns: a model whose
// validation log-odds are not increasing in its own is given this slope
// (almost flat: every deployment near the validation base rate) rather
// than a decreasing map that would invert its ranking.
const MinPlattSlope = 0.01

// Validate checks that c is finite and increasing.
func (c Platt) Validate() error {
	if !(c.A > 0) || math.IsInf(c.A, 0) || math.IsNaN(c.B) || math.IsInf(c.B, 0) {
		return fmt.Errorf("platt a=%v b=%v: need a finite slope a > 0 and a finite b", c.A, c.B)
	}
	return nil
}

// Apply returns the calibrated probability of the model probability p: NaN
// stays NaN, 0 and 1 stay 0 and 1, and any p strictly between them maps
// strictly between them (so that a threshold of 1, "flag nothing", still
// flags nothing on the calibrated scale).
func (c Platt) Apply(p float64) float64 {
	switch {
	case math.IsNaN(p):
		return p
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	v := metrics.Sigmoid(c.A*logit(p) + c.B)
	return min(max(v, math.SmallestNonzeroFloat64), math.Nextafter(1, 0))
}

func logit(p float64) float64 { return math.Log(p) - math.Log1p(-p) }

// softplus is log(1 + e^z) without overflow.
func softplus(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

// FitPlatt fits a Platt calibrator to model probabilities p against labels
// y (y >= 0.5 positive; rows with a NaN p or y are skipped) by Newton's
// method on the log-loss, with Platt's targets (N₊+1)/(N₊+2) for positives
// and 1/(N₋+2) for negatives instead of 1 and 0, so that a validation set
// the model separates perfectly still gives a finite slope. The slope is
// kept at least MinPlattSlope. Probabilities are clamped to [1e-12,
// 1−1e-12] first. It returns an error when there is no positive or no
// negative row.
func FitPlatt(p, y []float64) (Platt, error) {
	var x []float64
	var pos []bool
	nPos, nNeg := 0, 0
	for i, v := range p {
		if math.IsNaN(v) || math.IsNaN(y[i]) {
			continue
		}
		v = min(max(v, 1e-12), 1-1e-12)
		x = append(x, logit(v))
		pos = append(pos, y[i] >= 0.5)
		if y[i] >= 0.5 {
			nPos++
		} else {
			nNeg++
		}
	}
	if nPos == 0 || nNeg == 0 {
		return Platt{A: 1}, fmt.Errorf("platt: %d positive and %d negative rows, need at least one of each", nPos, nNeg)
	}
	tPos := (float64(nPos) + 1) / (float64(nPos) + 2)
	tNeg := 1 / (float64(nNeg) + 2)
	t := make([]float64, len(x))
	for i := range x {
		t[i] = tNeg
		if pos[i] {
			t[i] = tPos
		}
	}
	c, err := newtonPlatt(x, t, Platt{A: 1, B: 0}, false)
	if err != nil {
		return Platt{A: 1}, err
	}
	if c.A < MinPlattSlope {
		c, err = newtonPlatt(x, t, Platt{A: MinPlattSlope, B: c.B}, true)
		if err != nil {
			return Platt{A: 1}, err
		}
	}
	return c, c.Validate()
}

// newtonPlatt minimises Σ softplus(z) − t·z, z = A·x + B, from c by Newton
// steps with backtracking; with fixedA only B moves.
func newtonPlatt(x, t []float64, c Platt, fixedA bool) (Platt, error) {
	loss := func(c Platt) float64 {
		s := 0.0
		for i, xi := range x {
			z := c.A*xi + c.B
			s += softplus(z) - t[i]*z
		}
		return s
	}
	f := loss(c)
	n := float64(len(x))
	for iter := 0; iter < 100; iter++ {
		var gA, gB, hAA, hAB, hBB float64
		for i, xi := range x {
			q := metrics.Sigmoid(c.A*xi + c.B)
			d := q - t[i]
			w := q * (1 - q)
			gA += d * xi
			gB += d
			hAA += w * xi * xi
			hAB += w * xi
			hBB += w
		}
		if math.Abs(gB) < 1e-10*n && (fixedA || math.Abs(gA) < 1e-10*n) {
			break
		}
		const ridge = 1e-12
		var dA, dB float64
		if fixedA {
			dB = -gB / (hBB + ridge)
		} else {
			hAA, hBB = hAA+ridge, hBB+ridge
			det := hAA*hBB - hAB*hAB
			if !(det > 0) {
				return c, errors.New("platt: singular Hessian")
			}
			dA = -(hBB*gA - hAB*gB) / det
			dB = -(hAA*gB - hAB*gA) / det
		}
		step, improved := 1.0, false
		for k := 0; k < 40; k++ {
			nc := Platt{A: c.A + step*dA, B: c.B + step*dB}
			if nf := loss(nc); nf <= f {
				improved = nf < f
				c, f = nc, nf
				break
			}
			step /= 2
		}
		if !improved {
			break
		}
	}
	if math.IsNaN(c.A) || math.IsNaN(c.B) {
		return c, errors.New("platt: did not converge")
	}
	return c, nil
}

// ReliabilityBin is one bin of a reliability diagram: the deployments whose
// probability lies in [Lo, Hi) (the last bin includes 1), their mean
// probability and how many of them are positive.
type ReliabilityBin struct {
	Lo        float64       `json:"lo"`
	Hi        float64       `json:"hi"`
	N         int           `json:"n"`
	Positives int           `json:"positives"`
	MeanP     metrics.Float `json:"mean_p"`
}

// Reliability bins probabilities p (NaN skipped) into bins equal-width bins
// of [0, 1] against labels y (y >= 0.5 positive; NaN skipped).
func Reliability(p, y []float64, bins int) []ReliabilityBin {
	bins = max(1, bins)
	out := make([]ReliabilityBin, bins)
	sum := make([]float64, bins)
	for b := range out {
		out[b].Lo = metrics.Round6(float64(b) / float64(bins))
		out[b].Hi = metrics.Round6(float64(b+1) / float64(bins))
	}
	for i, v := range p {
		if math.IsNaN(v) || math.IsNaN(y[i]) {
			continue
		}
		b := min(bins-1, max(0, int(v*float64(bins))))
		out[b].N++
		sum[b] += v
		if y[i] >= 0.5 {
			out[b].Positives++
		}
	}
	for b := range out {
		out[b].MeanP = metrics.Float(math.NaN())
		if out[b].N > 0 {
			out[b].MeanP = metrics.Float(sum[b] / float64(out[b].N))
		}
	}
	return out
}

// ExpectedCalibrationError is Σ_b (n_b/N)·|mean p_b − positives_b/n_b| over
// the bins; NaN when they are empty.
func ExpectedCalibrationError(bins []ReliabilityBin) float64 {
	total, s := 0, 0.0
	for _, b := range bins {
		if b.N == 0 {
			continue
		}
		total += b.N
		s += float64(b.N) * math.Abs(float64(b.MeanP)-float64(b.Positives)/float64(b.N))
	}
	if total == 0 {
		return math.NaN()
	}
	return s / float64(total)
}

// Calibration methods recorded in CalibrationReport.
const (
	// CalibrationPlatt is Platt scaling (FitPlatt).
	CalibrationPlatt = "platt"
	// CalibrationNone means the probabilities are reported as the model
	// gives them: validation had no positive or no negative deployment.
	CalibrationNone = "none"
)

// CalibrationReport describes the calibrator of one horizon on the rows it
// was fitted on (validation): how well the model's probabilities and the
// calibrated ones match the labels. Labels are hard (y >= 0.5).
type CalibrationReport struct {
	Method    string `json:"method"`
	Rows      int    `json:"rows"`
	Positives int    `json:"positives"`
	// Brier scores, log-losses and expected calibration errors (over the
	// reliability bins) of the model's and the calibrated probabilities.
	BrierModel        metrics.Float `json:"brier_model"`
	BrierCalibrated   metrics.Float `json:"brier_calibrated"`
	LogLossModel      metrics.Float `json:"logloss_model"`
	LogLossCalibrated metrics.Float `json:"logloss_calibrated"`
	ECEModel          metrics.Float `json:"ece_model"`
	ECECalibrated     metrics.Float `json:"ece_calibrated"`
	// ReliabilityModel and ReliabilityCalibrated are the reliability
	// diagrams of the model's and the calibrated probabilities.
	ReliabilityModel      []ReliabilityBin `json:"reliability_model"`
	ReliabilityCalibrated []ReliabilityBin `json:"reliability_calibrated"`
}

// FitCalibration fits the calibrator of one horizon on model probabilities
// p against labels y (FitPlatt; the identity, method "none", when p has no
// positive or no negative row) and reports it with reliability diagrams of
// bins bins.
func FitCalibration(p, y []float64, bins int) (Platt, CalibrationReport) {
	c, err := FitPlatt(p, y)
	rep := CalibrationReport{Method: CalibrationPlatt}
	if err != nil {
		c, rep.Method = Platt{A: 1}, CalibrationNone
	}
	var pm, pc, hard []float64
	for i, v := range p {
		if math.IsNaN(v) || math.IsNaN(y[i]) {
			continue
		}
		h := 0.0
		if y[i] >= 0.5 {
			h = 1
			rep.Positives++
		}
		pm, pc, hard = append(pm, v), append(pc, c.Apply(v)), append(hard, h)
	}
	rep.Rows = len(hard)
	rep.BrierModel, rep.BrierCalibrated = metrics.Float(brier(pm, hard)), metrics.Float(brier(pc, hard))
	rep.LogLossModel, rep.LogLossCalibrated = metrics.Float(metrics.LogLoss(pm, hard, nil)), metrics.Float(metrics.LogLoss(pc, hard, nil))
	rep.ReliabilityModel, rep.ReliabilityCalibrated = Reliability(pm, hard, bins), Reliability(pc, hard, bins)
	rep.ECEModel = metrics.Float(ExpectedCalibrationError(rep.ReliabilityModel))
	rep.ECECalibrated = metrics.Float(ExpectedCalibrationError(rep.ReliabilityCalibrated))
	return c, rep
}

func brier(p, y []float64) float64 {
	if len(p) == 0 {
		return math.NaN()
	}
	s := 0.0
	for i, v := range p {
		s += (v - y[i]) * (v - y[i])
	}
	return s / float64(len(p))
}
