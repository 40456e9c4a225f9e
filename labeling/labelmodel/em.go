package labelmodel

import (
	"math"
	"slices"
)

// dataset is a packed vote matrix with a weight per unit (1 per row, or the
// number of rows of a distinct pattern).
type dataset struct {
	pk    *packed
	w     []float64 // nil: every unit weighs 1
	total float64
	// cnt[f][s] is the total weight of the units in state s of factor f.
	cnt [][]float64
	// quiet is the total weight of the units in which every factor is in
	// state 0: the all-abstain units when every function can abstain.
	quiet float64
	// omitted is the number of all-abstain rows left out of the units (the
	// final fit runs on the rows with a vote; quiet.go).
	omitted float64
}

// blockUnits is the size of the blocks the passes run over in parallel;
// their partial sums are added in block order, so the results do not
// depend on the number of workers.
const blockUnits = 1 << 16

// chunkUnits is the number of units whose log-odds are accumulated at a
// time (they stay in the L1 cache while every slot is added).
const chunkUnits = 2048

func newDataset(pk *packed, w []float64, factors []*factor) *dataset {
	ds := &dataset{pk: pk, w: w}
	if w == nil {
		ds.total = float64(pk.units)
	} else {
		for _, x := range w {
			ds.total += x
		}
	}
	hist, _ := accumulate(ds, nil, nil, nil)
	ds.cnt = marginals(pk, hist, factors)
	ds.quiet = quietWeight(pk, w)
	return ds
}

// params are the model's parameters for one structure.
type params struct {
	prior float64 // P(positive)
	// theta[f][c][s] = P(state s of factor f | class c).
	theta [][2][]float64
}

func (p *params) clone() *params {
	q := &params{prior: p.prior, theta: make([][2][]float64, len(p.theta))}
	for f, t := range p.theta {
		q.theta[f] = [2][]float64{slices.Clone(t[0]), slices.Clone(t[1])}
	}
	return q
}

// engine fits one structure (a partition of the functions into factors).
type engine struct {
	cfg     Config
	sup     []support
	factors []*factor
	// alpha[f][c][s] is the Dirichlet pseudo-count of state s of factor f
	// under class c.
	alpha [][2][]float64
	// quietOK is true when every function can abstain: state 0 of every
	// factor is then its all-abstain state, and units with every factor in
	// state 0 are the all-abstain ones, whose P(positive) the E-step sets
	// apart (quiet.go).
	quietOK bool
}

func newEngine(cfg Config, sup []support, factors []*factor) *engine {
	e := &engine{cfg: cfg, sup: sup, factors: factors, alpha: make([][2][]float64, len(factors)), quietOK: true}
	for _, s := range sup {
		if s.local[vix(Abstain)] != 0 {
			e.quietOK = false
		}
	}
	for fi, f := range factors {
		for c := range 2 {
			a := make([]float64, f.states)
			for b0 := 0; b0 < f.states; b0 += f.block {
				// Per class and parent vote: 1 plus the number of members
				// voting the class, scaled to PriorStrength in all: the weak
				// prior leans towards functions agreeing with the class.
				var tot float64
				for s := b0; s < b0+f.block; s++ {
					w := 1.0
					for p := range f.members {
						if f.vote(sup, s, p) == int8(c) {
							w++
						}
					}
					a[s] = w
					tot += w
				}
				for s := b0; s < b0+f.block; s++ {
					a[s] *= cfg.PriorStrength / tot
				}
			}
			e.alpha[fi][c] = a
		}
	}
	return e
}

// tables returns, per slot, the log-likelihood ratio log P(code | positive)
// − log P(code | negative) of every code (padded to 256 entries for byte
// slots).
func (e *engine) tables(pk *packed, p *params) [][]float64 {
	tabs := make([][]float64, len(pk.slots))
	for si, s := range pk.slots {
		t := make([]float64, max(s.size, 256))
		nq := len(s.factors)
		for c := range s.size {
			var x float64
			for q, fi := range s.factors {
				st := s.fstate[c*nq+q]
				x += math.Log(p.theta[fi][1][st]) - math.Log(p.theta[fi][0][st])
			}
			t[c] = x
		}
		tabs[si] = t
	}
	return tabs
}

// passOut is the result of one pass over a dataset.
type passOut struct {
	sp   float64     // Σ w·softplus(log-odds)
	n1   float64     // Σ w·P(positive | unit)
	hist [][]float64 // per slot, per code: Σ w·P(positive | unit)
}

// scratch is one worker's buffers.
type scratch struct {
	d, x []float64
	h4   [][]float64 // per byte slot: 4 interleaved 256-bin histograms
}

func newScratch(pk *packed) *scratch {
	sc := &scratch{d: make([]float64, chunkUnits), x: make([]float64, chunkUnits), h4: make([][]float64, len(pk.slots))}
	for si, s := range pk.slots {
		if s.c8 != nil {
			sc.h4[si] = make([]float64, 4*256)
		}
	}
	return sc
}

// accumulate adds up, per slot and code, the weight of the units times r
// (or times the posterior under p when r is nil and p is not, or times 1
// when both are nil). With p it also returns the sum of the weighted
// softplus of the log-odds and the weighted posterior total.
func accumulate(ds *dataset, r []float64, p *params, e *engine) ([][]float64, passOut) {
	pk := ds.pk
	nb := (pk.units + blockUnits - 1) / blockUnits
	var tabs [][]float64
	var logitPi float64
	if p != nil {
		tabs = e.tables(pk, p)
		logitPi = math.Log(p.prior) - math.Log(1-p.prior)
	}
	outs := make([]passOut, nb)
	scr := make([]*scratch, workerCount(nb))
	parallel(nb, func(w, b int) {
		if scr[w] == nil {
			scr[w] = newScratch(pk)
		}
		sc := scr[w]
		out := &outs[b]
		out.hist = make([][]float64, len(pk.slots))
		for si, s := range pk.slots {
			out.hist[si] = make([]float64, s.size)
			if h := sc.h4[si]; h != nil {
				clear(h)
			}
		}
		lo, hi := b*blockUnits, min(pk.units, (b+1)*blockUnits)
		for c0 := lo; c0 < hi; c0 += chunkUnits {
			c1 := min(hi, c0+chunkUnits)
			x := sc.x[:c1-c0]
			switch {
			case p != nil:
				d := sc.d[:c1-c0]
				for i := range d {
					d[i] = logitPi
				}
				for si, s := range pk.slots {
					if s.c8 != nil {
						t := (*[256]float64)(tabs[si])
						for i, c := range s.c8[c0:c1] {
							d[i] += t[c]
						}
					} else {
						t := tabs[si]
						for i, c := range s.c16[c0:c1] {
							d[i] += t[c]
						}
					}
				}
				var sp, n1 float64
				for i, dv := range d {
					wt := 1.0
					if ds.w != nil {
						wt = ds.w[c0+i]
					}
					ex := math.Exp(-math.Abs(dv))
					var q, s float64
					if dv >= 0 {
						q, s = 1/(1+ex), dv+math.Log1p(ex)
					} else {
						q, s = ex/(1+ex), math.Log1p(ex)
					}
					sp += wt * s
					x[i] = wt * q
					n1 += x[i]
				}
				out.sp += sp
				out.n1 += n1
			case r != nil:
				for i := range x {
					x[i] = r[c0+i]
					if ds.w != nil {
						x[i] *= ds.w[c0+i]
					}
					out.n1 += x[i]
				}
			case ds.w != nil:
				copy(x, ds.w[c0:c1])
			default:
				for i := range x {
					x[i] = 1
				}
			}
			for si, s := range pk.slots {
				if s.c8 != nil {
					h := sc.h4[si]
					h0, h1 := (*[256]float64)(h[0:256]), (*[256]float64)(h[256:512])
					h2, h3 := (*[256]float64)(h[512:768]), (*[256]float64)(h[768:1024])
					c := s.c8[c0:c1]
					i := 0
					for ; i+4 <= len(c); i += 4 {
						h0[c[i]] += x[i]
						h1[c[i+1]] += x[i+1]
						h2[c[i+2]] += x[i+2]
						h3[c[i+3]] += x[i+3]
					}
					for ; i < len(c); i++ {
						h0[c[i]] += x[i]
					}
				} else {
					h := out.hist[si]
					for i, c := range s.c16[c0:c1] {
						h[c] += x[i]
					}
				}
			}
		}
		for si, s := range pk.slots {
			if h := sc.h4[si]; h != nil {
				o := out.hist[si]
				for c := range s.size {
					o[c] = (h[c] + h[256+c]) + (h[512+c] + h[768+c])
				}
			}
		}
	})
	var tot passOut
	tot.hist = make([][]float64, len(pk.slots))
	for si, s := range pk.slots {
		tot.hist[si] = make([]float64, s.size)
	}
	for b := range outs {
		tot.sp += outs[b].sp
		tot.n1 += outs[b].n1
		for si, h := range outs[b].hist {
			for c, v := range h {
				tot.hist[si][c] += v
			}
		}
	}
	return tot.hist, tot
}

// marginals turns per-slot code histograms into per-factor state sums.
func marginals(pk *packed, hist [][]float64, factors []*factor) [][]float64 {
	out := make([][]float64, len(factors))
	for fi, f := range factors {
		out[fi] = make([]float64, f.states)
	}
	for si, s := range pk.slots {
		nq := len(s.factors)
		for c, v := range hist[si] {
			for q, fi := range s.factors {
				out[fi][s.fstate[c*nq+q]] += v
			}
		}
	}
	return out
}

// posteriors returns P(positive | unit) for every unit of ds.
func (e *engine) posteriors(ds *dataset, p *params) []float64 {
	pk := ds.pk
	tabs := e.tables(pk, p)
	logitPi := math.Log(p.prior) - math.Log(1-p.prior)
	r := make([]float64, pk.units)
	nb := (pk.units + chunkUnits - 1) / chunkUnits
	parallel(nb, func(_, b int) {
		c0, c1 := b*chunkUnits, min(pk.units, (b+1)*chunkUnits)
		d := r[c0:c1]
		for i := range d {
			d[i] = logitPi
		}
		for si, s := range pk.slots {
			if s.c8 != nil {
				t := (*[256]float64)(tabs[si])
				for i, c := range s.c8[c0:c1] {
					d[i] += t[c]
				}
			} else {
				for i, c := range s.c16[c0:c1] {
					d[i] += tabs[si][c]
				}
			}
		}
		for i, dv := range d {
			d[i] = 1 / (1 + math.Exp(-dv))
		}
	})
	if q := e.quiet(ds); q > 0 && q < ds.total {
		// The all-abstain units get their share (quiet.go), not the
		// model's posterior.
		var n1 float64
		quiet := make([]bool, pk.units)
		for u := range r {
			quiet[u] = pk.quietUnit(u)
			if !quiet[u] {
				if ds.w == nil {
					n1 += r[u]
				} else {
					n1 += ds.w[u] * r[u]
				}
			}
		}
		rq := e.quietShare(p, n1, ds.total-q, q)
		for u, ok := range quiet {
			if ok {
				r[u] = rq
			}
		}
	}
	return r
}

// majority returns the majority-vote responsibilities of every unit: 1 when
// positive votes outnumber negative ones, 0 when fewer, 0.5 on ties, and 0
// when every function abstains (rows without a vote start in the negative
// class; quiet.go).
func (e *engine) majority(pk *packed) []float64 {
	type pn struct{ pos, neg int32 }
	tabs := make([][]pn, len(pk.slots))
	for si, s := range pk.slots {
		t := make([]pn, s.size)
		nq := len(s.factors)
		for c := range s.size {
			for q, fi := range s.factors {
				f, st := e.factors[fi], int(s.fstate[c*nq+q])
				for p := range f.members { // parents count in their own factor
					switch f.vote(e.sup, st, p) {
					case Positive:
						t[c].pos++
					case Negative:
						t[c].neg++
					}
				}
			}
		}
		tabs[si] = t
	}
	r := make([]float64, pk.units)
	nb := (pk.units + chunkUnits - 1) / chunkUnits
	parallel(nb, func(_, b int) {
		c0, c1 := b*chunkUnits, min(pk.units, (b+1)*chunkUnits)
		var acc [chunkUnits]pn
		a := acc[:c1-c0]
		for si, s := range pk.slots {
			t := tabs[si]
			for i := range a {
				var x pn
				if s.c8 != nil {
					x = t[s.c8[c0+i]]
				} else {
					x = t[s.c16[c0+i]]
				}
				a[i].pos += x.pos
				a[i].neg += x.neg
			}
		}
		for i, x := range a {
			switch {
			case x.pos > x.neg:
				r[c0+i] = 1
			case x.pos < x.neg, x.pos == 0:
				r[c0+i] = 0
			default:
				r[c0+i] = 0.5
			}
		}
	})
	return r
}

// mstep returns the posterior-mode parameters given the weighted positive
// posterior total n1 and the per-factor positive state sums s1.
func (e *engine) mstep(ds *dataset, n1 float64, s1 [][]float64) *params {
	a := e.cfg.PriorStrength
	p := &params{prior: (n1 + a) / (ds.total + 2*a), theta: make([][2][]float64, len(e.factors))}
	for fi, f := range e.factors {
		N0, N1 := make([]float64, f.states), make([]float64, f.states)
		for s := range f.states {
			x1 := min(max(s1[fi][s], 0), ds.cnt[fi][s])
			N1[s] = x1 + e.alpha[fi][1][s]
			N0[s] = ds.cnt[fi][s] - x1 + e.alpha[fi][0][s]
		}
		t0, t1 := make([]float64, f.states), make([]float64, f.states)
		if f.lone() {
			e.singleton(f, N0, N1, t0, t1)
		} else {
			for b0 := 0; b0 < f.states; b0 += f.block {
				normalize(N0[b0:b0+f.block], t0[b0:b0+f.block])
				normalize(N1[b0:b0+f.block], t1[b0:b0+f.block])
			}
		}
		p.theta[fi] = [2][]float64{t0, t1}
	}
	if cb := e.cfg.ClassBalance; cb > 0 {
		// The share among all rows: those left out of ds included.
		p.prior = cb
		if ds.omitted > 0 {
			p.prior = votedShare(cb, e.missRate(p), ds.total, ds.omitted)
		}
	}
	return p
}

func normalize(n, out []float64) {
	var z float64
	for _, x := range n {
		z += x
	}
	for s, x := range n {
		out[s] = x / z
	}
}

// singleton sets the vote distributions t0, t1 of a one-function factor
// from the (prior-smoothed) counts N0, N1 under the constraint that every
// vote is evidence for the class it names: P(vote=1 | positive) ≥
// P(vote=1 | negative) and P(vote=0 | negative) ≥ P(vote=0 | positive). It
// is the constrained maximum of Σ N log θ: the best feasible solution among
// the unconstrained one and those with either or both votes pooled across
// the classes.
func (e *engine) singleton(f *factor, N0, N1, t0, t1 []float64) {
	sup := &e.sup[f.members[0]]
	lp, ln := int(sup.local[vix(Positive)]), int(sup.local[vix(Negative)])
	feasible := func(t0, t1 []float64) bool {
		const eps = 1e-12
		if lp >= 0 && t1[lp] < t0[lp]-eps {
			return false
		}
		if ln >= 0 && t0[ln] < t1[ln]-eps {
			return false
		}
		return true
	}
	normalize(N0, t0)
	normalize(N1, t1)
	if feasible(t0, t1) {
		return
	}
	var z0, z1 float64
	for s := range N0 {
		z0 += N0[s]
		z1 += N1[s]
	}
	best := math.Inf(-1)
	var b0, b1 [3]float64
	c0, c1 := make([]float64, len(N0)), make([]float64, len(N0))
	for _, pool := range [][]int{{lp}, {ln}, {lp, ln}} {
		if slices.Contains(pool, -1) {
			continue
		}
		pooled := make([]bool, len(N0))
		rest := 1.0
		for _, s := range pool {
			pooled[s] = true
			t := (N0[s] + N1[s]) / (z0 + z1)
			c0[s], c1[s] = t, t
			rest -= t
		}
		var r0, r1 float64
		for s := range N0 {
			if !pooled[s] {
				r0 += N0[s]
				r1 += N1[s]
			}
		}
		for s := range N0 {
			if !pooled[s] {
				c0[s], c1[s] = rest*N0[s]/r0, rest*N1[s]/r1
			}
		}
		if !feasible(c0, c1) {
			continue
		}
		var obj float64
		for s := range N0 {
			obj += N0[s]*math.Log(c0[s]) + N1[s]*math.Log(c1[s])
		}
		if obj > best {
			best = obj
			copy(b0[:], c0)
			copy(b1[:], c1)
		}
	}
	copy(t0, b0[:])
	copy(t1, b1[:])
}

// objective returns the log-likelihood of ds under p (from a pass's
// softplus sum) and the log-density of the priors at p.
func (e *engine) objective(ds *dataset, p *params, sp float64) (ll, lprior float64) {
	ll = ds.total*math.Log(1-p.prior) + sp
	a := e.cfg.PriorStrength
	lprior = a*math.Log(p.prior) + a*math.Log(1-p.prior)
	for fi, t := range p.theta {
		for s, c := range ds.cnt[fi] {
			if c > 0 {
				ll += c * math.Log(t[0][s])
			}
		}
		for c := range 2 {
			for s, x := range e.alpha[fi][c] {
				lprior += x * math.Log(t[c][s])
			}
		}
	}
	return ll, lprior
}

// emResult describes one EM run.
type emResult struct {
	p          *params
	ll         float64
	iterations int
	converged  bool
}

// em runs EM on ds from the parameters start, or when start is nil from
// the M-step of the responsibilities r0. The all-abstain units, if any,
// enter each M-step with their share of positives (quiet.go) rather than
// the model's posterior. It stops when the penalised log-likelihood changes
// by less than Tolerance nats per unit of weight, or after MaxIterations.
func (e *engine) em(ds *dataset, start *params, r0 []float64) emResult {
	p := start
	if p == nil {
		hist, out := accumulate(ds, r0, nil, nil)
		p = e.mstep(ds, out.n1, marginals(ds.pk, hist, e.factors))
	}
	prev := math.Inf(-1)
	var res emResult
	for it := 1; it <= e.cfg.MaxIterations; it++ {
		hist, out := accumulate(ds, nil, p, e)
		ll, lp := e.objective(ds, p, out.sp)
		res = emResult{p: p, ll: ll, iterations: it}
		if q := e.quiet(ds); q > 0 && q < ds.total {
			// Replace the all-abstain units' posterior by their share: they
			// all add to code 0 of every slot.
			pq := e.quietModelPosterior(p)
			n1 := out.n1 - q*pq
			rq := e.quietShare(p, n1, ds.total-q, q)
			for si := range hist {
				hist[si][0] += q * (rq - pq)
			}
			out.n1 = n1 + q*rq
		}
		// The all-abstain units' share is not the E-step of the penalised
		// likelihood, which need not grow monotonically: stop when it
		// settles.
		if math.Abs(ll+lp-prev) < e.cfg.Tolerance*ds.total {
			res.converged = true
			break
		}
		prev = ll + lp
		p = e.mstep(ds, out.n1, marginals(ds.pk, hist, e.factors))
	}
	return res
}

// unitLogLik returns log P(votes of unit u) under p for every unit of pk.
func (e *engine) unitLogLik(pk *packed, p *params) []float64 {
	tabs := e.tables(pk, p)
	tab0 := make([][]float64, len(pk.slots))
	for si, s := range pk.slots {
		t := make([]float64, s.size)
		nq := len(s.factors)
		for c := range s.size {
			for q, fi := range s.factors {
				t[c] += math.Log(p.theta[fi][0][s.fstate[c*nq+q]])
			}
		}
		tab0[si] = t
	}
	logitPi, log0 := math.Log(p.prior)-math.Log(1-p.prior), math.Log(1-p.prior)
	out := make([]float64, pk.units)
	for u := range out {
		d, l0 := logitPi, log0
		for si, s := range pk.slots {
			var c int
			if s.c8 != nil {
				c = int(s.c8[u])
			} else {
				c = int(s.c16[u])
			}
			d += tabs[si][c]
			l0 += tab0[si][c]
		}
		out[u] = l0 + max(d, 0) + math.Log1p(math.Exp(-math.Abs(d)))
	}
	return out
}
