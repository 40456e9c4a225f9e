package labelmodel

import "math"

// Rows on which every function abstains ("quiet" rows) carry no vote, and
// the model never infers their class from how likely the all-abstain
// pattern is under each class, as it does a vote pattern's: EM would then
// be free to make "no function fired" the signature of a class. When most
// rows are quiet and some functions vote only one class, it does: the
// latent "positive" class becomes "no evidence for the negative class" —
// every quiet row and the rows a positive-voting function fired on — which
// explains the joint firing of the negative-voting functions (they fire
// together on a sub-type of the negatives) better than the true classes
// do, and which every polarity constraint allows: positive-voting functions
// do fire more often on it than on the rows with negative votes, and
// negative-voting ones less.
//
// The model is therefore fitted on the rows with at least one vote: the
// class-conditional vote distributions are those of the rows where there
// is some evidence, and independence given the class is assumed among
// them. The quiet rows are given a share of positives apart, counted from
// the positive class alone: the functions' rate of missing a positive row
// says how many positives they miss for each one they catch, so the N₊
// positives among the rows with a vote imply N₊·A/(1 − A) quiet positives,
// A = P(every function abstains | positive); every other quiet row is
// negative. Their share among the quiet rows is capped at the share of
// positives among the rows with a vote: a row without any evidence is
// never taken as more likely positive than one with some.
//
// A is estimated from the fit on the rows with a vote, where no positive
// row is quiet: there factor f fires (casts any vote) on a share c_f of the
// positive rows. Those are the (1 − A) share of all positives on which
// some function votes, so f fires on c_f·(1 − A) of all positives and,
// with the factors independent given the class,
//
//	A = Π_f (1 − c_f·(1 − A)).
//
// Dependency detection, which compares structures by the likelihood of
// held-out rows, works on every row; there the quiet rows enter each
// M-step with the share N₊·A₊/(1 − A₊) / N_quiet (A₊ the model's
// all-abstain probability on positives, capped the same way) instead of
// the model's posterior, which under the model's assumptions is the same
// and where they fail cannot make the quiet rows a class.

// quietUnit reports whether every slot of unit i holds code 0: every
// factor in state 0, which is the all-abstain state when every function
// can abstain (engine.quietOK).
func (pk *packed) quietUnit(i int) bool {
	for _, s := range pk.slots {
		if s.c8 != nil {
			if s.c8[i] != 0 {
				return false
			}
		} else if s.c16[i] != 0 {
			return false
		}
	}
	return true
}

// quietWeight returns the total weight of the units of pk in which every
// slot holds code 0 (w nil: every unit weighs 1).
func quietWeight(pk *packed, w []float64) float64 {
	nb := (pk.units + blockUnits - 1) / blockUnits
	sums := make([]float64, nb)
	parallel(nb, func(_, b int) {
		for i := b * blockUnits; i < min(pk.units, (b+1)*blockUnits); i++ {
			if pk.quietUnit(i) {
				if w == nil {
					sums[b]++
				} else {
					sums[b] += w[i]
				}
			}
		}
	})
	var q float64
	for _, x := range sums {
		q += x
	}
	return q
}

// votedUnits returns the units of pk on which some function voted,
// ascending, or nil when there is none or every unit is one: the units
// with a code other than 0 in some slot, when every function can abstain.
func (e *engine) votedUnits(pk *packed) []int {
	if !e.quietOK {
		return nil
	}
	var out []int
	for i := range pk.units {
		if !pk.quietUnit(i) {
			out = append(out, i)
		}
	}
	if len(out) == 0 || len(out) == pk.units {
		return nil
	}
	return out
}

// quiet returns the weight of ds's all-abstain units: 0 when some
// function never abstains (no unit is all-abstain then).
func (e *engine) quiet(ds *dataset) float64 {
	if !e.quietOK {
		return 0
	}
	return ds.quiet
}

// quietModelPosterior returns the model's P(positive | every function
// abstains) under p.
func (e *engine) quietModelPosterior(p *params) float64 {
	d := math.Log(p.prior) - math.Log(1-p.prior)
	for fi := range e.factors {
		d += math.Log(p.theta[fi][1][0]) - math.Log(p.theta[fi][0][0])
	}
	return 1 / (1 + math.Exp(-d))
}

// quietShare returns the P(positive) of nq all-abstain rows fitted beside
// nv rows with a vote, n1 of them expected positive, under p: n1·A₊/(1 −
// A₊) positives, A₊ = P(every function abstains | positive), as a share
// of nq, at most n1/nv.
func (e *engine) quietShare(p *params, n1, nv, nq float64) float64 {
	a := 1.0
	for fi := range e.factors {
		a *= p.theta[fi][1][0]
	}
	limit := n1 / nv
	if a >= 1 {
		return limit
	}
	return min(n1*a/(1-a)/nq, limit)
}

// missRate returns A, the share of all positive rows on which every
// function abstains, from parameters p fitted on the rows with a vote
// only (see the top of this file); 1 when the factors' firing rates on
// positives add up to at most 1, where independence allows any number of
// unseen positives.
func (e *engine) missRate(p *params) float64 {
	c := make([]float64, len(e.factors))
	var sum float64
	for fi := range e.factors {
		c[fi] = 1 - p.theta[fi][1][0]
		sum += c[fi]
	}
	if sum <= 1 {
		return 1
	}
	// g(A) = Π (1 − c + c·A) is increasing and convex, g(0) > 0, g(1) = 1
	// and g'(1) = Σ c > 1: iterating from 0 climbs to its fixed point
	// below 1.
	a := 0.0
	for range 100_000 {
		x := 1.0
		for _, cf := range c {
			x *= 1 - cf*(1-a)
		}
		if math.Abs(x-a) <= 1e-13 {
			return x
		}
		a = x
	}
	return a
}

// quietPositives returns the expected number of positive rows among nq
// quiet rows left out of a fit on nv rows with a vote, of positive share
// pv, with miss rate a: nv·pv·a/(1 − a), at most nq·pv.
func quietPositives(pv, a, nv, nq float64) float64 {
	if a >= 1 || nv*a/(1-a) >= nq {
		return nq * pv
	}
	return nv * pv * a / (1 - a)
}

// votedShare returns the positive share among nv rows with a vote that
// makes the share among them and nq quiet rows equal cb, given the miss
// rate a (quietPositives inverted).
func votedShare(cb, a, nv, nq float64) float64 {
	pv := cb
	if a < 1 && nv*a/(1-a) < nq {
		pv = cb * (nv + nq) * (1 - a) / nv
	}
	return min(max(pv, 1e-9), 1-1e-9)
}
