package features

import "math"

// maxNegLog10P caps -log10 p-values so that huge samples give finite features.
const maxNegLog10P = 50

// negLog10 returns -log10 p capped at maxNegLog10P.
func negLog10(p float64) float64 {
	if math.IsNaN(p) {
		return math.NaN()
	}
	if p <= 1e-50 {
		return maxNegLog10P
	}
	return math.Min(maxNegLog10P, -math.Log10(p))
}

// shrunkRatio is (observed + prior) / (expected + prior): a rate ratio that
// sparse counts cannot blow up.
func shrunkRatio(observed, expected, prior float64) float64 {
	return (observed + prior) / (expected + prior)
}

// changePoint finds the best single upward change point of a per-minute
// binomial error series (errors e, requests r): the split t (1 ≤ t < len)
// maximizing the log-likelihood ratio of two rates against one, among splits
// where the rate after exceeds the rate before. It returns t = -1 when no
// split raises the rate.
func changePoint(e, r []float64) (t int, llr float64) {
	n := len(e)
	var E, R float64
	for i := 0; i < n; i++ {
		E += e[i]
		R += r[i]
	}
	t = -1
	if R <= 0 || E <= 0 {
		return -1, 0
	}
	l0 := binLL(E, R)
	var e1, r1 float64
	for i := 1; i < n; i++ {
		e1 += e[i-1]
		r1 += r[i-1]
		e2, r2 := E-e1, R-r1
		if r1 <= 0 || r2 <= 0 || e2/r2 <= e1/r1 {
			continue
		}
		if l := binLL(e1, r1) + binLL(e2, r2) - l0; l > llr {
			t, llr = i, l
		}
	}
	return t, llr
}

// binLL is the maximized binomial log-likelihood of e errors in r requests.
func binLL(e, r float64) float64 {
	var l float64
	if e > 0 {
		l += e * math.Log(e/r)
	}
	if r-e > 0 {
		l += (r - e) * math.Log((r-e)/r)
	}
	return l
}

// olsSlope returns the least-squares slope of y on x = 0..n-1, skipping NaN
// values, in closed form; NaN with fewer than 2 points.
func olsSlope(y []float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for i, v := range y {
		if math.IsNaN(v) {
			continue
		}
		x := float64(i)
		n++
		sx += x
		sy += v
		sxx += x * x
		sxy += x * v
	}
	den := n*sxx - sx*sx
	if n < 2 || den == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / den
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	// insertion sort: v is tiny (≤ seasonal_days)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
