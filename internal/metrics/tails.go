package metrics

import "math"

// Upper tail probabilities of the binomial, Poisson and normal
// distributions: the tests of features' checks and the promotion gate's
// paired comparison.

// BinomialUpper returns P(X ≥ k) for X ~ Binomial(n, pi); k and n are
// rounded to integers.
func BinomialUpper(k, n, pi float64) float64 {
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
		return NormalUpper((k - 0.5 - mu) / sd)
	}
	return betaInc(k, n-k+1, pi)
}

// PoissonUpper returns P(X ≥ k) for X ~ Poisson(lambda); k is rounded to an
// integer.
func PoissonUpper(k, lambda float64) float64 {
	k = math.Round(k)
	switch {
	case k <= 0:
		return 1
	case lambda <= 0:
		return 0
	}
	if lambda > 2e5 {
		return NormalUpper((k - 0.5 - lambda) / math.Sqrt(lambda))
	}
	return gammaP(k, lambda)
}

// NormalUpper returns P(Z ≥ z) for a standard normal Z.
func NormalUpper(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

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
