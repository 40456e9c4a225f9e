package labelmodel

import (
	"encoding/binary"
	"slices"
)

// factor is one term of the model's likelihood: the distribution, per
// class, of the joint vote of its members — a lone function, or a declared
// group — given, for a dependency found by detection, the vote of one
// parent function. A state numbers the local vote indices of vars (members
// then parents) in mixed radix (var p has weight mult[p]), so only votes
// seen in the data have states; the first block states (the members'
// joint votes) sum to one for each class and parent vote.
type factor struct {
	members []int // function indices, ascending
	parents []int // conditioning functions (at most one), not members
	vars    []int // members then parents
	radix   []int // support size of each var
	mult    []int // product of the radixes of earlier vars
	states  int
	block   int // states per parent vote: the members' joint states
	// declared is true for a group given in Config.Groups.
	declared bool
}

func newFactor(members, parents []int, sup []support, declared bool) *factor {
	f := &factor{members: members, parents: parents, declared: declared, states: 1}
	f.vars = append(slices.Clone(members), parents...)
	for i, j := range f.vars {
		if i == len(members) {
			f.block = f.states
		}
		f.radix = append(f.radix, sup[j].n)
		f.mult = append(f.mult, f.states)
		f.states *= sup[j].n
	}
	if len(parents) == 0 {
		f.block = f.states
	}
	return f
}

// vote returns the vote of var p in state s.
func (f *factor) vote(sup []support, s, p int) int8 {
	return sup[f.vars[p]].votes[(s/f.mult[p])%f.radix[p]]
}

// lone reports whether f is one function on its own (the only kind of
// factor the model constrains to be evidence for the class it votes).
func (f *factor) lone() bool { return len(f.members) == 1 && len(f.parents) == 0 }

// slot packs the states of a few factors into one code per unit (row or
// pattern): a byte when their joint state count is at most 256, two bytes
// otherwise (a group of six or more functions).
type slot struct {
	factors []int // factor indices
	fmult   []int // code weight of each factor's state
	size    int   // number of codes
	c8      []uint8
	c16     []uint16
	// fstate[code*len(factors)+q] is the state of factors[q] in code.
	fstate []int32
}

// packed is a vote matrix over some units (rows or distinct patterns) with
// the factors' states packed into slots.
type packed struct {
	units int
	slots []*slot
}

// layout assigns factors to slots, in factor order.
func layout(factors []*factor) []*slot {
	var slots []*slot
	var cur *slot
	for fi, f := range factors {
		if f.states > 256 {
			slots = append(slots, &slot{factors: []int{fi}, fmult: []int{1}, size: f.states})
			continue
		}
		if cur == nil || cur.size*f.states > 256 {
			cur = &slot{size: 1}
			slots = append(slots, cur)
		}
		cur.factors = append(cur.factors, fi)
		cur.fmult = append(cur.fmult, cur.size)
		cur.size *= f.states
	}
	for _, s := range slots {
		nq := len(s.factors)
		s.fstate = make([]int32, s.size*nq)
		for c := range s.size {
			for q, fi := range s.factors {
				s.fstate[c*nq+q] = int32((c / s.fmult[q]) % factors[fi].states)
			}
		}
	}
	return slots
}

// pack packs the votes cols (all of length units) for the factors.
func pack(cols [][]int8, units int, sup []support, factors []*factor) *packed {
	pk := &packed{units: units, slots: layout(factors)}
	// Each slot is built a block of rows at a time, so that its codes stay
	// in cache while every member's column is added.
	const rows = 1 << 14
	type add struct {
		j int
		a [4]int
	}
	adds := make([][]add, len(pk.slots))
	for si, s := range pk.slots {
		if s.size <= 256 {
			s.c8 = make([]uint8, units)
		} else {
			s.c16 = make([]uint16, units)
		}
		for q, fi := range s.factors {
			f := factors[fi]
			for p, j := range f.vars {
				if sup[j].n == 1 {
					continue // every vote is local index 0
				}
				w := s.fmult[q] * f.mult[p]
				var a add
				a.j = j
				for x := range 3 {
					if l := sup[j].local[x]; l > 0 {
						a.a[x] = w * int(l)
					}
				}
				adds[si] = append(adds[si], a)
			}
		}
	}
	nb := (units + rows - 1) / rows
	parallel(len(pk.slots)*nb, func(_, t int) {
		si, b := t/nb, t%nb
		s := pk.slots[si]
		lo, hi := b*rows, min(units, (b+1)*rows)
		for _, a := range adds[si] {
			col := cols[a.j][lo:hi]
			if s.c8 != nil {
				c8 := s.c8[lo:hi]
				t := [4]uint8{uint8(a.a[0]), uint8(a.a[1]), uint8(a.a[2])}
				for i, v := range col {
					c8[i] += t[vix(v)]
				}
			} else {
				c16 := s.c16[lo:hi]
				t := [4]uint16{uint16(a.a[0]), uint16(a.a[1]), uint16(a.a[2])}
				for i, v := range col {
					c16[i] += t[vix(v)]
				}
			}
		}
	})
	return pk
}

// gather returns the sub-matrix of pk made of the units idx, in that order.
func (pk *packed) gather(idx []int) *packed {
	out := &packed{units: len(idx), slots: make([]*slot, len(pk.slots))}
	for si, s := range pk.slots {
		t := *s
		if s.c8 != nil {
			t.c8 = make([]uint8, len(idx))
			for u, i := range idx {
				t.c8[u] = s.c8[i]
			}
		} else {
			t.c16 = make([]uint16, len(idx))
			for u, i := range idx {
				t.c16[u] = s.c16[i]
			}
		}
		out.slots[si] = &t
	}
	return out
}

// patterns are the distinct vote patterns of a matrix.
type patterns struct {
	first  []int     // first row of each pattern, ascending
	counts []float64 // rows per pattern
	folds  [2][]float64
}

// dedupProbeRows is the number of leading rows used to decide whether a
// matrix is worth compressing to its distinct patterns.
const dedupProbeRows = 1 << 16

// dedup returns the distinct patterns of the rows of pk (which must cover
// every function), or nil when there are more than half as many of them
// as rows (EM over the rows is then no slower). With folds, it also counts
// the rows of each pattern in each of two deterministic folds.
func dedup(pk *packed, withFolds bool) *patterns {
	n := pk.units
	bits := 0
	for _, s := range pk.slots {
		if s.c8 != nil {
			bits += 8
		} else {
			bits += 16
		}
	}
	limit := n / 2
	probe := min(n, dedupProbeRows)
	if n > probe {
		// Decide on the leading rows before paying for all of them.
		if p := dedupRows(pk, probe, bits, probe/2, false); p == nil {
			return nil
		}
	}
	return dedupRows(pk, n, bits, limit, withFolds)
}

func dedupRows(pk *packed, n, bits, limit int, withFolds bool) *patterns {
	ps := &patterns{}
	index := func(i int, u int, ok bool) bool {
		if !ok {
			if len(ps.first) >= limit {
				return false
			}
			ps.first = append(ps.first, i)
			ps.counts = append(ps.counts, 0)
			if withFolds {
				ps.folds[0] = append(ps.folds[0], 0)
				ps.folds[1] = append(ps.folds[1], 0)
			}
		}
		ps.counts[u]++
		if withFolds {
			ps.folds[fold(i)][u]++
		}
		return true
	}
	if bits <= 64 {
		seen := make(map[uint64]int32)
		for i := range n {
			var key uint64
			var sh uint
			for _, s := range pk.slots {
				if s.c8 != nil {
					key |= uint64(s.c8[i]) << sh
					sh += 8
				} else {
					key |= uint64(s.c16[i]) << sh
					sh += 16
				}
			}
			u, ok := seen[key]
			if !ok {
				u = int32(len(ps.first))
				seen[key] = u
			}
			if !index(i, int(u), ok) {
				return nil
			}
		}
		return ps
	}
	seen := make(map[string]int32)
	buf := make([]byte, 0, 2*len(pk.slots))
	for i := range n {
		buf = buf[:0]
		for _, s := range pk.slots {
			if s.c8 != nil {
				buf = append(buf, s.c8[i])
			} else {
				buf = binary.LittleEndian.AppendUint16(buf, s.c16[i])
			}
		}
		u, ok := seen[string(buf)]
		if !ok {
			u = int32(len(ps.first))
			seen[string(buf)] = u
		}
		if !index(i, int(u), ok) {
			return nil
		}
	}
	return ps
}

// fold returns the fold (0 or 1) of row i for held-out evaluation.
func fold(i int) int { return int(splitmix64(uint64(i)) & 1) }

// gatherCols returns the votes of the rows idx, by column.
func gatherCols(cols [][]int8, idx []int) [][]int8 {
	out := make([][]int8, len(cols))
	parallel(len(cols), func(_, j int) {
		c := make([]int8, len(idx))
		src := cols[j]
		for u, i := range idx {
			c[u] = src[i]
		}
		out[j] = c
	})
	return out
}

// stride returns s row indices spread evenly over n rows.
func stride(n, s int) []int {
	idx := make([]int, s)
	for t := range idx {
		idx[t] = int(uint64(t) * uint64(n) / uint64(s))
	}
	return idx
}

// buildFactors returns the factors for the groups (function indices; the
// remaining functions are modelled alone, or given their parent when
// parent[j] ≥ 0), ordered by first member.
func buildFactors(k int, groups [][]int, declared []bool, parent []int, sup []support) []*factor {
	in := make([]bool, k)
	type g struct {
		mem []int
		dec bool
	}
	var gs []g
	for gi, mem := range groups {
		mem = slices.Clone(mem)
		slices.Sort(mem)
		for _, j := range mem {
			in[j] = true
		}
		gs = append(gs, g{mem, declared[gi]})
	}
	for j := range k {
		if !in[j] {
			gs = append(gs, g{[]int{j}, false})
		}
	}
	slices.SortStableFunc(gs, func(a, b g) int { return a.mem[0] - b.mem[0] })
	out := make([]*factor, len(gs))
	for i, x := range gs {
		var par []int
		if len(x.mem) == 1 && parent != nil && parent[x.mem[0]] >= 0 {
			par = []int{parent[x.mem[0]]}
		}
		out[i] = newFactor(x.mem, par, sup, x.dec)
	}
	return out
}

// components returns the sets of functions modelled jointly — linked by a
// group or a detected dependency — that have more than one function, each
// ascending, ordered by first function.
func components(k int, factors []*factor) [][]int {
	root := make([]int, k)
	for j := range root {
		root[j] = j
	}
	var find func(int) int
	find = func(j int) int {
		for root[j] != j {
			root[j] = root[root[j]]
			j = root[j]
		}
		return j
	}
	for _, f := range factors {
		for _, j := range f.vars[1:] {
			a, b := find(f.vars[0]), find(j)
			if a != b {
				root[max(a, b)] = min(a, b)
			}
		}
	}
	members := map[int][]int{}
	for j := range k {
		r := find(j)
		members[r] = append(members[r], j)
	}
	var out [][]int
	for j := range k {
		if find(j) == j && len(members[j]) > 1 {
			out = append(out, members[j])
		}
	}
	return out
}
