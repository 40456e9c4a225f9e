package simulate

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// rng wraps a PCG generator with the samplers the model needs.
type rng struct{ *rand.Rand }

// newRNG derives an independent generator from the seed and a label, so that
// every stream's history depends only on (seed, stream), not on order.
func newRNG(seed int64, label string) rng {
	h := fnv.New64a()
	h.Write([]byte(label))
	return rng{rand.New(rand.NewPCG(uint64(seed), h.Sum64()))}
}

func (r rng) uniform(a, b float64) float64 { return a + (b-a)*r.Float64() }

// logUniform draws log-uniformly from [a, b].
func (r rng) logUniform(a, b float64) float64 {
	return math.Exp(r.uniform(math.Log(a), math.Log(b)))
}

func (r rng) chance(p float64) bool { return r.Float64() < p }

// poisson draws a Poisson variate: exact for small means, normal
// approximation for large ones.
func (r rng) poisson(lambda float64) int64 {
	if lambda <= 0 {
		return 0
	}
	if lambda < 30 {
		l := math.Exp(-lambda)
		var k int64
		p := r.Float64()
		for p > l {
			k++
			p *= r.Float64()
		}
		return k
	}
	v := math.Round(lambda + math.Sqrt(lambda)*r.NormFloat64())
	if v < 0 {
		return 0
	}
	return int64(v)
}

// gamma draws Gamma(shape, 1/shape): mean 1, variance 1/shape
// (Marsaglia–Tsang; shape ≥ 1).
func (r rng) gamma(shape float64) float64 {
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v / shape
		}
	}
}

// binomial draws Binomial(n, p): exact for small n, normal approximation
// otherwise.
func (r rng) binomial(n int64, p float64) int64 {
	if n <= 0 || p <= 0 {
		return 0
	}
	if p >= 1 {
		return n
	}
	if n < 40 {
		var k int64
		for i := int64(0); i < n; i++ {
			if r.Float64() < p {
				k++
			}
		}
		return k
	}
	mean := float64(n) * p
	v := math.Round(mean + math.Sqrt(mean*(1-p))*r.NormFloat64())
	return int64(max(0, min(float64(n), v)))
}

// lognormal draws exp(N(0, sigma)).
func (r rng) lognormal(sigma float64) float64 { return math.Exp(sigma * r.NormFloat64()) }

// hex returns n random hexadecimal digits.
func (r rng) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

// pick returns a random element of xs.
func pick[T any](r rng, xs []T) T { return xs[r.IntN(len(xs))] }
