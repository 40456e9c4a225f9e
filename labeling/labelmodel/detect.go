package labelmodel

import (
	"math"
	"math/bits"
	"slices"
)

// detectRows is the number of rows dependency detection works on when the
// matrix is not compressed to patterns (a deterministic, evenly spread
// sample); the final fit uses every row.
const detectRows = 100_000

// detectCandidates is the number of proposed dependencies evaluated on
// held-out rows per round. When there are at most that many possible
// pairs, all are evaluated, whatever their screening score (a dependency
// can pay only once EM has moved the class posteriors, which the screening
// score cannot see).
const detectCandidates = 16

// screenBudget bounds the work (pairs × rows) of proposing dependencies.
const screenBudget = 2e8

// detect searches for dependencies between functions (the pairs a < b that
// pairOK allows, all when it is nil) by greedy forward selection and
// returns the parent of every function (-1 for none) and the
// dependencies found, in order. cols are the votes of the units it works
// on (distinct patterns or sampled rows) and folds their weights in each
// of two deterministic folds of rows. Each round fits the current
// structure, proposes the pairs of functions whose votes depend most on
// each other given the class posteriors (by their conditional mutual
// information: the gain of one EM step), and evaluates each proposal on
// held-out rows: fitted on one fold, scored on the other, both ways,
// against the current structure fitted the same way. The proposal with the
// largest held-out gain is kept if that gain, in nats per row, exceeds
// DependencyThreshold by two standard errors.
//
// A dependency models a function given one parent function and the class
// (a tree-augmented latent class model): copies of one function cost three
// parameters per class and vote each, however many there are. Only
// functions outside declared groups get a parent, at most one, and no
// function becomes its own ancestor.
func detect(cfg Config, sup []support, names []string, groups [][]int, declared []bool, cols [][]int8, folds [2][]float64, pairOK func(a, b int) bool) ([]int, []Merge) {
	k, units := len(cols), len(cols[0])
	all := make([]float64, units)
	for u := range all {
		all[u] = folds[0][u] + folds[1][u]
	}
	inGroup := make([]bool, k)
	for _, g := range groups {
		for _, j := range g {
			inGroup[j] = true
		}
	}
	parent := make([]int, k)
	for j := range parent {
		parent[j] = -1
	}
	loc := make([][]uint8, k)
	parallel(k, func(_, j int) {
		l := make([]uint8, units)
		for u, v := range cols[j] {
			l[u] = uint8(sup[j].local[vix(v)])
		}
		loc[j] = l
	})
	// child returns the function to model given the other for the pair
	// a < b, or -1: the later one when it can take a parent, else the
	// earlier one.
	child := func(a, b int) int {
		if pairOK != nil && !pairOK(a, b) {
			return -1
		}
		can := func(c, p int) bool {
			if inGroup[c] || parent[c] >= 0 || sup[c].n < 2 || sup[p].n < 2 {
				return false
			}
			for x := p; x >= 0; x = parent[x] {
				if x == c {
					return false
				}
			}
			return true
		}
		switch {
		case can(b, a):
			return b
		case can(a, b):
			return a
		}
		return -1
	}
	var merges []Merge
	for {
		factors := buildFactors(k, groups, declared, parent, sup)
		e := newEngine(cfg, sup, factors)
		pk := pack(cols, units, sup, factors)
		ds := newDataset(pk, all, factors)
		fit := e.em(ds, nil, e.majority(pk))
		cands := screen(cfg, sup, loc, all, e.posteriors(ds, fit.p), ds.total, child)
		if len(cands) == 0 {
			break
		}
		// Fit on each fold; score every unit under the fit of the fold its
		// rows are not in (a pattern's rows can be in both).
		var baseHeld [2][]float64
		var baseR [2][]float64
		for f := range 2 {
			tr := newDataset(pk, folds[f], factors)
			p := e.em(tr, fit.p, nil).p
			baseHeld[1-f] = e.unitLogLik(pk, p)
			baseR[f] = e.posteriors(tr, p)
		}
		bestGain := math.Inf(-1)
		var best candidate
		found := false
		for _, c := range cands {
			par := slices.Clone(parent)
			par[c.child] = c.parent
			nf := buildFactors(k, groups, declared, par, sup)
			e2 := newEngine(cfg, sup, nf)
			pk2 := pack(cols, units, sup, nf)
			var held [2][]float64
			for f := range 2 {
				p := e2.em(newDataset(pk2, folds[f], nf), nil, baseR[f]).p
				held[1-f] = e2.unitLogLik(pk2, p)
			}
			// Mean held-out gain per row and its standard error: the gain
			// must exceed the threshold by two standard errors, so that the
			// best of many candidates on few rows is not kept by chance.
			var sum, sum2 float64
			for f := range 2 {
				for u, w := range folds[f] {
					if w > 0 {
						d := held[f][u] - baseHeld[f][u]
						sum += w * d
						sum2 += w * d * d
					}
				}
			}
			gain := sum / ds.total
			se := math.Sqrt(max(sum2/ds.total-gain*gain, 0) / ds.total)
			if gain-2*se > cfg.DependencyThreshold && gain > bestGain {
				bestGain, best, found = gain, c, true
			}
		}
		if !found {
			break
		}
		parent[best.child] = best.parent
		merges = append(merges, Merge{A: names[best.parent], B: names[best.child], GainPerRow: bestGain})
	}
	return parent, merges
}

type candidate struct {
	parent, child int
	gain          float64 // nats, scaled to the whole data
}

// screen returns the most promising dependencies: the pairs of functions
// that child allows, whose votes are most dependent given the posteriors
// r, by the gain in expected complete-data log-likelihood of modelling one
// given the other (their conditional mutual information), if it exceeds
// DependencyThreshold per row — or every allowed pair when there are at
// most detectCandidates of them.
func screen(cfg Config, sup []support, loc [][]uint8, w, r []float64, total float64, child func(a, b int) int) []candidate {
	k, units := len(loc), len(w)
	var jobs []candidate
	for a := range k {
		for b := a + 1; b < k; b++ {
			if c := child(a, b); c >= 0 {
				jobs = append(jobs, candidate{parent: a + b - c, child: c})
			}
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	idx := stride(units, min(units, max(5000, int(screenBudget/float64(len(jobs))))))
	var sw float64
	for _, u := range idx {
		sw += w[u]
	}
	scale := total / sw
	parallel(len(jobs), func(_, t int) {
		a, b := jobs[t].parent, jobs[t].child
		la, lb := loc[a], loc[b]
		sb := sup[b].n
		ns := sup[a].n * sb
		var o [2][9]float64 // [class][state of a × state of b]
		for _, u := range idx {
			s := int(la[u])*sb + int(lb[u])
			x := w[u] * r[u]
			o[1][s] += x
			o[0][s] += w[u] - x
		}
		var g float64
		for c := range 2 {
			var ma, mb [3]float64
			var nc float64
			for s, x := range o[c][:ns] {
				ma[s/sb] += x
				mb[s%sb] += x
				nc += x
			}
			for s, x := range o[c][:ns] {
				if x > 0 {
					g += x * math.Log(x*nc/(ma[s/sb]*mb[s%sb]))
				}
			}
		}
		jobs[t].gain = g * scale
	})
	var out []candidate
	for _, c := range jobs {
		if len(jobs) <= detectCandidates || c.gain > cfg.DependencyThreshold*total {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(x, y candidate) int {
		switch {
		case x.gain > y.gain:
			return -1
		case x.gain < y.gain:
			return 1
		}
		return 0
	})
	if len(out) > detectCandidates {
		out = out[:detectCandidates]
	}
	return out
}

// duplicateRows is the number of rows, spread evenly, on which near-duplicate
// functions are looked for.
const duplicateRows = 1 << 16

// duplicates returns the pairs of functions (a < b, as a set of a*k+b)
// whose votes agree on at least share of the rows where either votes,
// counted on up to duplicateRows rows spread evenly over m.
func duplicates(m *Matrix, sup []support, share float64) map[int]bool {
	n, k := m.Rows(), len(m.Cols)
	idx := stride(n, min(n, duplicateRows))
	words := (len(idx) + 63) / 64
	pos := make([][]uint64, k)
	neg := make([][]uint64, k)
	parallel(k, func(_, j int) {
		p, q := make([]uint64, words), make([]uint64, words)
		c := m.Cols[j]
		for u, i := range idx {
			switch c[i] {
			case Positive:
				p[u/64] |= 1 << (u % 64)
			case Negative:
				q[u/64] |= 1 << (u % 64)
			}
		}
		pos[j], neg[j] = p, q
	})
	type pair struct{ a, b int }
	var pairs []pair
	for a := range k {
		for b := a + 1; b < k; b++ {
			if sup[a].n > 1 && sup[b].n > 1 {
				pairs = append(pairs, pair{a, b})
			}
		}
	}
	hit := make([]bool, len(pairs))
	parallel(len(pairs), func(_, t int) {
		a, b := pairs[t].a, pairs[t].b
		pa, qa, pb, qb := pos[a], neg[a], pos[b], neg[b]
		var agree, either int
		for w := range pa {
			agree += bits.OnesCount64(pa[w]&pb[w] | qa[w]&qb[w])
			either += bits.OnesCount64(pa[w] | qa[w] | pb[w] | qb[w])
		}
		hit[t] = either > 0 && float64(agree) >= share*float64(either)
	})
	out := map[int]bool{}
	for t, p := range pairs {
		if hit[t] {
			out[p.a*k+p.b] = true
		}
	}
	return out
}
