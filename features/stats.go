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

// binomUpper returns P(X ≥ k) for X ~ Binomial(n, pi).
func binomUpper(k, n, pi float64) float64 {
	k, n = math.Round(k), math.Round(n)
	switch {
	case k <= 0:
		return 1
	case k > n:
		return 0
	case pi <= 0:
		return 0
	case pi >= 1:
		return 1
	}
	if n > 2e5 {
		// Normal approximation with continuity correction.
		mu, sd := n*pi, math.Sqrt(n*pi*(1-pi))
		return normUpper((k - 0.5 - mu) / sd)
	}
	return betaInc(k, n-k+1, pi)
}

// poissonUpper returns P(X ≥ k) for X ~ Poisson(lambda).
func poissonUpper(k, lambda float64) float64 {
	k = math.Round(k)
	switch {
	case k <= 0:
		return 1
	case lambda <= 0:
		return 0
	}
	if lambda > 2e5 {
		return normUpper((k - 0.5 - lambda) / math.Sqrt(lambda))
	}
	return gammaP(k, lambda)
}

func normUpper(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// betaInc is the regularized incomplete beta function I_x(a, b).
func betaInc(a, b, x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

// betaCF evaluates the continued fraction of the incomplete beta function
// by the modified Lentz method.
func betaCF(a, b, x float64) float64 {
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < lentzTiny {
		d = lentzTiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 5000; m++ {
		fm := float64(m)
		m2 := 2 * fm
		var del float64
		c, d, del = lentzStep(fm*(b-fm)*x/((qam+m2)*(a+m2)), 1, c, d)
		h *= del
		c, d, del = lentzStep(-(a+fm)*(qab+fm)*x/((a+m2)*(qap+m2)), 1, c, d)
		h *= del
		if math.Abs(del-1) < 1e-12 {
			break
		}
	}
	return h
}

// lentzTiny stands in for a zero denominator in the modified Lentz method.
const lentzTiny = 1e-300

// lentzStep advances the modified Lentz evaluation of a continued fraction
// by the term an/(bn + …): from the running ratios c and d it returns the
// next ones and their product, the factor the running value is multiplied
// by.
func lentzStep(an, bn, c, d float64) (cNext, dNext, del float64) {
	d = bn + an*d
	if math.Abs(d) < lentzTiny {
		d = lentzTiny
	}
	c = bn + an/c
	if math.Abs(c) < lentzTiny {
		c = lentzTiny
	}
	d = 1 / d
	return c, d, d * c
}

// gammaP is the regularized lower incomplete gamma function P(a, x).
func gammaP(a, x float64) float64 {
	if x <= 0 {
		return 0
	}
	lga, _ := math.Lgamma(a)
	if x < a+1 {
		// Series.
		ap, sum := a, 1/a
		del := sum
		for n := 0; n < 10000; n++ {
			ap++
			del *= x / ap
			sum += del
			if math.Abs(del) < math.Abs(sum)*1e-14 {
				break
			}
		}
		return sum * math.Exp(-x+a*math.Log(x)-lga)
	}
	// Continued fraction for Q(a, x).
	b := x + 1 - a
	c := 1 / lentzTiny
	d := 1 / b
	h := d
	for i := 1; i < 10000; i++ {
		b += 2
		var del float64
		c, d, del = lentzStep(-float64(i)*(float64(i)-a), b, c, d)
		h *= del
		if math.Abs(del-1) < 1e-14 {
			break
		}
	}
	return 1 - math.Exp(-x+a*math.Log(x)-lga)*h
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
