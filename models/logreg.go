package models

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// LogRegParams configure the logistic-regression baseline.
type LogRegParams struct {
	// Lambda is the L2 penalty on the standardised coefficients, on the scale
	// of the mean log-loss (default 1e-3). The intercept is not penalised.
	Lambda float64 `yaml:"lambda" json:"lambda"`
	// MaxIter bounds the Newton iterations (default 50).
	MaxIter int `yaml:"max_iter" json:"max_iter"`
}

// DefaultLogRegParams returns the documented defaults.
func DefaultLogRegParams() LogRegParams { return LogRegParams{Lambda: 1e-3, MaxIter: 50} }

// LogReg is a fitted logistic regression over standardised features; NaN
// and infinite inputs are imputed with the training mean of the finite values.
type LogReg struct {
	FeatureNames []string  `json:"feature_names"`
	Mean         []float64 `json:"mean"`
	Scale        []float64 `json:"scale"`
	Coef         []float64 `json:"coef"`
	Intercept    float64   `json:"intercept"`
	Iterations   int       `json:"iterations"`
}

// TrainLogReg fits the baseline by Newton's method with a backtracking line
// search: deterministic, no tuning. Targets may be soft; W weights rows.
func TrainLogReg(ctx context.Context, p LogRegParams, names []string, d *Data) (*LogReg, error) {
	nf := len(d.Cols)
	if len(names) != nf {
		return nil, fmt.Errorf("logreg: %d names for %d columns", len(names), nf)
	}
	if err := d.check("logreg", nf, true); err != nil {
		return nil, err
	}
	n := d.Rows()
	if n == 0 {
		return nil, errors.New("logreg: no rows")
	}
	if p.MaxIter <= 0 {
		p.MaxIter = 50
	}
	m := &LogReg{FeatureNames: append([]string(nil), names...), Mean: make([]float64, nf), Scale: make([]float64, nf), Coef: make([]float64, nf)}
	m.fitScaling(d.Cols)
	dim := nf + 1
	x := m.design(d)
	var sw float64
	for i := 0; i < n; i++ {
		sw += d.weight(i)
	}
	if !(sw > 0) {
		return nil, errors.New("logreg: weights sum to zero")
	}
	beta := make([]float64, dim)
	obj := func(b []float64) float64 {
		var s float64
		for i := 0; i < n; i++ {
			z := dot(x[i*dim:(i+1)*dim], b)
			s += d.weight(i) * logLossOne(z, d.Y[i])
		}
		s /= sw
		for f := 0; f < nf; f++ {
			s += p.Lambda / 2 * b[f] * b[f]
		}
		return s
	}
	cur := obj(beta)
	g := make([]float64, dim)
	h := make([]float64, dim*dim)
	step := make([]float64, dim)
	trial := make([]float64, dim)
	for it := 0; it < p.MaxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		gradHessian(x, dim, beta, d, sw, g, h)
		for f := 0; f < nf; f++ {
			g[f] += p.Lambda * beta[f]
			h[f*dim+f] += p.Lambda
		}
		for a := 0; a < dim; a++ {
			h[a*dim+a] += 1e-10 // keeps the system positive definite with constant columns
		}
		if err := cholSolve(h, g, step, dim); err != nil {
			return nil, fmt.Errorf("logreg: %w", err)
		}
		// backtracking line search on the Newton direction
		t := 1.0
		var next float64
		for k := 0; k < 30; k++ {
			for a := range trial {
				trial[a] = beta[a] - t*step[a]
			}
			next = obj(trial)
			if next <= cur {
				break
			}
			t /= 2
		}
		if !(next <= cur) {
			break
		}
		copy(beta, trial)
		m.Iterations = it + 1
		maxStep := 0.0
		for _, s := range step {
			maxStep = max(maxStep, math.Abs(t*s))
		}
		improved := cur - next
		cur = next
		if maxStep < 1e-9 || improved < 1e-14 {
			break
		}
	}
	copy(m.Coef, beta[:nf])
	m.Intercept = beta[nf]
	return m, nil
}

// fitScaling sets Mean and Scale to the mean and standard deviation of
// the finite values of each column (scale 1 when it is 0 or undefined).
func (m *LogReg) fitScaling(cols [][]float64) {
	for f, c := range cols {
		var s, s2, k float64
		for _, v := range c {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				s += v
				k++
			}
		}
		if k > 0 {
			m.Mean[f] = s / k
		}
		for _, v := range c {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				s2 += (v - m.Mean[f]) * (v - m.Mean[f])
			}
		}
		m.Scale[f] = 1
		if k > 1 && s2 > 0 {
			m.Scale[f] = math.Sqrt(s2 / k)
		}
	}
}

// design returns the standardised design matrix of d, row-major with the
// intercept column last (len(Mean)+1 columns); non-finite values are
// imputed with the mean (0 once standardised).
func (m *LogReg) design(d *Data) []float64 {
	nf, n := len(m.Mean), d.Rows()
	dim := nf + 1
	x := make([]float64, n*dim)
	for i := 0; i < n; i++ {
		row := x[i*dim : (i+1)*dim]
		for f := 0; f < nf; f++ {
			v := d.Cols[f][i]
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				row[f] = (v - m.Mean[f]) / m.Scale[f]
			}
		}
		row[nf] = 1
	}
	return x
}

// gradHessian sets g and h (dim×dim, row-major) to the gradient and Hessian
// of the weighted mean log-loss of the design x at beta, without penalty;
// sw is the sum of the weights. Rows are summed in blocks of
// logRegBlock, blocks in parallel, the blocks' sums then added in block
// order: the result does not depend on the number of threads.
func gradHessian(x []float64, dim int, beta []float64, d *Data, sw float64, g, h []float64) {
	n := d.Rows()
	blocks := (n + logRegBlock - 1) / logRegBlock
	bg := make([]float64, blocks*dim)
	bh := make([]float64, blocks*dim*dim)
	parallelFor(blocks, defaultThreads(), func(k int) {
		gradHessianRows(x, dim, beta, d, sw, k*logRegBlock, min(n, (k+1)*logRegBlock), bg[k*dim:(k+1)*dim], bh[k*dim*dim:(k+1)*dim*dim])
	})
	clear(g)
	clear(h)
	for k := range blocks {
		for a, v := range bg[k*dim : (k+1)*dim] {
			g[a] += v
		}
		for a, v := range bh[k*dim*dim : (k+1)*dim*dim] {
			h[a] += v
		}
	}
	for a := 0; a < dim; a++ {
		for b := 0; b < a; b++ {
			h[b*dim+a] = h[a*dim+b]
		}
	}
}

// logRegBlock is the number of rows of one block of gradHessian.
const logRegBlock = 16384

// gradHessianRows adds the gradient and the lower triangle of the Hessian
// of rows [lo, hi) to g and h.
func gradHessianRows(x []float64, dim int, beta []float64, d *Data, sw float64, lo, hi int, g, h []float64) {
	for i := lo; i < hi; i++ {
		row := x[i*dim : (i+1)*dim]
		pr := metrics.Sigmoid(dot(row, beta))
		w := d.weight(i) / sw
		r := w * (pr - d.Y[i])
		hw := w * max(pr*(1-pr), 1e-12)
		for a := 0; a < dim; a++ {
			g[a] += r * row[a]
			if row[a] == 0 {
				continue
			}
			ha := hw * row[a]
			hr := h[a*dim : a*dim+dim]
			for b := 0; b <= a; b++ {
				hr[b] += ha * row[b]
			}
		}
	}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// cholSolve solves A x = b for symmetric positive definite A (dim×dim, row-major), overwriting A.
func cholSolve(a, b, x []float64, dim int) error {
	for j := 0; j < dim; j++ {
		s := a[j*dim+j]
		for k := 0; k < j; k++ {
			s -= a[j*dim+k] * a[j*dim+k]
		}
		if !(s > 0) {
			return errors.New("hessian not positive definite")
		}
		ljj := math.Sqrt(s)
		a[j*dim+j] = ljj
		for i := j + 1; i < dim; i++ {
			s := a[i*dim+j]
			for k := 0; k < j; k++ {
				s -= a[i*dim+k] * a[j*dim+k]
			}
			a[i*dim+j] = s / ljj
		}
	}
	for i := 0; i < dim; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= a[i*dim+k] * x[k]
		}
		x[i] = s / a[i*dim+i]
	}
	for i := dim - 1; i >= 0; i-- {
		s := x[i]
		for k := i + 1; k < dim; k++ {
			s -= a[k*dim+i] * x[k]
		}
		x[i] = s / a[i*dim+i]
	}
	return nil
}

// Predict returns P(positive) for one row of raw features (NaN imputed).
func (m *LogReg) Predict(row []float64) float64 {
	z := m.Intercept
	for f, v := range row {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			z += m.Coef[f] * (v - m.Mean[f]) / m.Scale[f]
		}
	}
	return metrics.Sigmoid(z)
}

// PredictCols scores a column-major table.
func (m *LogReg) PredictCols(cols [][]float64) ([]float64, error) {
	if len(cols) != len(m.Coef) {
		return nil, fmt.Errorf("logreg predict: %d columns, model has %d", len(cols), len(m.Coef))
	}
	n := 0
	if len(cols) > 0 {
		n = len(cols[0])
	}
	out := make([]float64, n)
	row := make([]float64, len(cols))
	for i := range out {
		for f := range cols {
			row[f] = cols[f][i]
		}
		out[i] = m.Predict(row)
	}
	return out, nil
}
