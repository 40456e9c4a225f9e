package quality

import (
	"math"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// The error-count ceiling. EvidenceMinErrors splits faults into those with
// evidence and without; the ceiling asks the question the recall floor
// needs answered: how many faults could a test of each window's error
// count find at the precision floor? It is the expected recall of an
// oracle that knows, for every deploy, how many errors its window would
// hold without a fault (λ0 = N·r, N and r as for E in evidence.go; a
// restart blip or a harmless new error is part of what it knows) and flags
// a window whose error count reaches c(α), the least k with
// P(Poisson(λ0) ≥ k) ≤ α: the most powerful test of one window's count
// against λ0 (a Poisson count's likelihood ratio rises with it). A judged
// fault is found with probability P(Poisson(λ0 + E) ≥ c(α)); a healthy
// deploy is a false alarm with probability P(Poisson(λ0) ≥ c(α)) ≤ α. One
// α serves the whole fleet, the largest of a grid (ceilingAlphas) at which
// the expected precision — faults found of every severity over all flags —
// is still at the floor; the ceiling is the expected number of faults of
// severity ≥ the floor's found there, over their number.
//
// It leans the oracle's way wherever it must guess, so that it bounds what
// the error counts allow rather than estimates it: faults the rule does
// not judge (latency faults, KPI shifts and bursts, windows without a rate
// or requests) count as found at every α, and healthy deploys without a λ0
// as never flagged. It is a yardstick, not a proof: a detector can do
// better on signs other than the error count (latency, new fingerprints, a
// rollback seen within the window), and an oracle choosing α deploy by
// deploy somewhat better; a real detector does worse where its baseline is
// an estimate, where blips and harmless errors are not known, and where
// errors are overdispersed around λ0 (the alt generator's fleets: the
// Poisson tail then understates its false alarms). A regime whose ceiling
// is below the recall floor cannot meet both floors by the error rate
// alone.

// ceilingAlphas is the grid of per-deploy false-alarm rates the ceiling
// searches: 10^−8 to 10^−0.3 in steps of 10^0.125.
var ceilingAlphas = func() []float64 {
	var a []float64
	for e := -8.0; e <= -0.3+1e-9; e += 0.125 {
		a = append(a, math.Pow(10, e))
	}
	return a
}()

// ceiling accumulates, per α of ceilingAlphas, the expected faults found
// and false alarms of the oracle test of one fleet.
type ceiling struct {
	found    []float64 // faults of severity ≥ the floor's, expected found
	foundAll []float64 // faults of every severity, expected found
	falseAl  []float64 // healthy deploys, expected flagged
	faults   int       // faults of severity ≥ the floor's
	tail     []float64 // scratch: P(X ≥ k) of one window
}

func newCeiling() *ceiling {
	n := len(ceilingAlphas)
	return &ceiling{found: make([]float64, n), foundAll: make([]float64, n), falseAl: make([]float64, n)}
}

// fault adds a faulty deploy: judged with expected errors l0 without the
// fault and l0 + e with it, or not judged (counted as found); counted
// says whether its severity reaches the floor's.
func (c *ceiling) fault(judged bool, l0, e float64, counted bool) {
	if counted {
		c.faults++
	}
	k, pk := 0, 1.0 // c(α) and P(Poisson(l0 + e) ≥ c(α)); 1 when not judged
	if judged {
		c.tails(l0)
		k = len(c.tail) - 1
		pk = metrics.PoissonUpper(float64(k), l0+e)
	}
	for i, a := range ceilingAlphas {
		// c(α) falls by steps as α grows; the tail is computed only where
		// it moved, not once per α of the grid.
		if judged {
			if kk := c.critical(k, a); kk != k {
				k, pk = kk, metrics.PoissonUpper(float64(kk), l0+e)
			}
		}
		c.foundAll[i] += pk
		if counted {
			c.found[i] += pk
		}
	}
}

// healthy adds a healthy deploy whose window expected l0 errors.
func (c *ceiling) healthy(l0 float64) {
	if !(l0 >= 0) || math.IsInf(l0, 0) {
		return
	}
	c.tails(l0)
	k := len(c.tail) - 1
	for i, a := range ceilingAlphas {
		k = c.critical(k, a)
		c.falseAl[i] += c.tail[k]
	}
}

// critical returns c(α) of the window of c.tail, walking down from k, c
// of a smaller α (or the last index): the least k with tail ≤ α.
func (c *ceiling) critical(k int, alpha float64) int {
	for k > 0 && c.tail[k-1] <= alpha {
		k--
	}
	return k
}

// tails sets c.tail[k] = P(Poisson(l0) ≥ k) for k from 0 to the first k at
// which it is below the grid's smallest α (the last entry), summed from
// the far tail down so that small tails keep their precision.
func (c *ceiling) tails(l0 float64) {
	c.tail = c.tail[:0]
	if l0 <= 0 {
		c.tail = append(c.tail, 1, 0) // no error without a fault
		return
	}
	top := int(l0 + 12*math.Sqrt(l0) + 40)
	if cap(c.tail) < top+2 {
		c.tail = make([]float64, 0, top+2)
	}
	c.tail = c.tail[:top+2]
	c.tail[top+1] = 0
	lg := math.Log(l0)
	for k := top; k >= 0; k-- {
		lk, _ := math.Lgamma(float64(k) + 1)
		c.tail[k] = c.tail[k+1] + math.Exp(-l0+float64(k)*lg-lk)
	}
	// Trim after the first k below the smallest α: c(α) never lies beyond.
	for k := range c.tail {
		if c.tail[k] <= ceilingAlphas[0] {
			c.tail = c.tail[:k+1]
			return
		}
	}
}

// best returns the expected faults of severity ≥ the floor's found at the
// largest α whose expected precision is at least precision, and that α (0
// when none is).
func (c *ceiling) best(precision float64) (found, alpha float64) {
	for i := len(ceilingAlphas) - 1; i >= 0; i-- {
		tp, fp := c.foundAll[i], c.falseAl[i]
		if tp+fp == 0 || tp/(tp+fp) >= precision {
			return c.found[i], ceilingAlphas[i]
		}
	}
	return 0, 0
}
