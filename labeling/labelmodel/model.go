package labelmodel

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Config holds the label model's settings. The defaults (DefaultConfig) need
// no tuning: there is no learning rate, the priors are weak, and the fit is
// deterministic.
type Config struct {
	// Groups declares dependency groups by function name: the functions of a
	// group are modelled by one joint distribution over their joint vote
	// pattern per class instead of as independent given the class. Use it for
	// functions known to fire together (e.g. two views of the same event).
	// Default none.
	Groups [][]string `yaml:"groups" json:"groups,omitempty"`
	// DetectDependencies searches for undeclared dependencies: it tries
	// every merge of two groups (within MaxGroupSize), keeps the one that
	// raises the log-likelihood most if the gain exceeds
	// DependencyThreshold, and repeats. Default true.
	DetectDependencies bool `yaml:"detect_dependencies" json:"detect_dependencies"`
	// DependencyThreshold is the log-likelihood gain, in nats per row, that
	// a merge must bring to be kept. It is an effect size, not a significance
	// level, so that large matrices do not merge everything; the gain must
	// also exceed the BIC penalty of the merge's extra parameters, so that
	// small matrices do not either. Default 0.002.
	DependencyThreshold float64 `yaml:"dependency_threshold" json:"dependency_threshold"`
	// MaxGroupSize bounds the functions in one group, declared or detected
	// (a group of m functions has 3^m joint patterns per class). Default 3.
	MaxGroupSize int `yaml:"max_group_size" json:"max_group_size"`
	// PriorStrength is the weight, in pseudo-rows, of the Dirichlet priors on
	// every factor and of the Beta prior on the class balance. Default 1.
	PriorStrength float64 `yaml:"prior_strength" json:"prior_strength"`
	// MaxIterations caps EM iterations per fit. Default 1000.
	MaxIterations int `yaml:"max_iterations" json:"max_iterations"`
	// Tolerance stops EM when the log-likelihood per row improves by less.
	// Default 1e-10.
	Tolerance float64 `yaml:"tolerance" json:"tolerance"`
	// Threshold is the posterior at or above which a row is labelled
	// positive. Default 0.5 (the Bayes decision for accuracy).
	Threshold float64 `yaml:"threshold" json:"threshold"`
}

// DefaultConfig returns the default settings.
func DefaultConfig() Config {
	return Config{
		DetectDependencies:  true,
		DependencyThreshold: 0.002,
		MaxGroupSize:        3,
		PriorStrength:       1,
		MaxIterations:       1000,
		Tolerance:           1e-10,
		Threshold:           0.5,
	}
}

func (c Config) validate() error {
	switch {
	case c.MaxGroupSize < 1 || c.MaxGroupSize > 8:
		return fmt.Errorf("max_group_size %d: must be 1..8", c.MaxGroupSize)
	case !(c.PriorStrength > 0):
		return fmt.Errorf("prior_strength %v: must be > 0", c.PriorStrength)
	case c.MaxIterations < 1:
		return fmt.Errorf("max_iterations %d: must be ≥ 1", c.MaxIterations)
	case !(c.Tolerance >= 0):
		return fmt.Errorf("tolerance %v: must be ≥ 0", c.Tolerance)
	case !(c.Threshold > 0 && c.Threshold < 1):
		return fmt.Errorf("threshold %v: must be in (0, 1)", c.Threshold)
	case !(c.DependencyThreshold > 0):
		return fmt.Errorf("dependency_threshold %v: must be > 0", c.DependencyThreshold)
	}
	return nil
}

// Model is a fitted label model.
type Model struct {
	names []string
	cfg   Config
	// prior is the estimated P(positive).
	prior  float64
	groups []*factor
	// allowed[j][v+1] reports whether function j was seen voting v.
	allowed [][3]bool
	// Fit diagnostics.
	iterations int
	converged  bool
	logLik     float64
	patterns   int
	rows       int
	detected   []Merge
}

// factor is the joint distribution of one group's vote pattern per class.
type factor struct {
	members []int // function indices, ascending
	// theta[c][s] = P(group state s | class c); state s has digit p (weight
	// 3^p) = vote of members[p] + 1. Zero outside the support.
	theta [2][]float64
	// declared is true for a group given in Config.Groups.
	declared bool
}

func (f *factor) states() int { return int(pow3(len(f.members))) }

// stateOf returns the factor state of the pattern whose per-function digits
// (vote+1) are dig.
func (f *factor) stateOf(dig []int8) int {
	s, w := 0, 1
	for _, j := range f.members {
		s += int(dig[j]) * w
		w *= 3
	}
	return s
}

// patternSet is the compressed matrix: unique vote patterns and their counts.
type patternSet struct {
	k      int
	codes  []uint64  // ascending
	counts []float64 // rows per pattern
	dig    []int8    // dig[u*k+j] = vote of j in pattern u, plus 1
	rows   int
}

// denseMaxFunctions is the largest k for which pattern counting uses a
// dense array of 3^k counters instead of a map.
const denseMaxFunctions = 12

// blockRows is the number of rows encoded at a time.
const blockRows = 4096

func compress(m *Matrix) *patternSet {
	k, n := len(m.Cols), m.Rows()
	ps := &patternSet{k: k, rows: n}
	codes := make([]uint64, min(n, blockRows))
	if k <= denseMaxFunctions {
		cnt := make([]int64, pow3(k))
		for lo := 0; lo < n; lo += blockRows {
			hi := min(n, lo+blockRows)
			blk := codes[:hi-lo]
			encodeBlock(m.Cols, lo, blk)
			for _, c := range blk {
				cnt[c]++
			}
		}
		for c, x := range cnt {
			if x > 0 {
				ps.codes = append(ps.codes, uint64(c))
				ps.counts = append(ps.counts, float64(x))
			}
		}
	} else {
		cnt := map[uint64]int64{}
		for lo := 0; lo < n; lo += blockRows {
			hi := min(n, lo+blockRows)
			blk := codes[:hi-lo]
			encodeBlock(m.Cols, lo, blk)
			for _, c := range blk {
				cnt[c]++
			}
		}
		ps.codes = make([]uint64, 0, len(cnt))
		for c := range cnt {
			ps.codes = append(ps.codes, c)
		}
		slices.Sort(ps.codes)
		ps.counts = make([]float64, len(ps.codes))
		for u, c := range ps.codes {
			ps.counts[u] = float64(cnt[c])
		}
	}
	ps.dig = make([]int8, len(ps.codes)*k)
	for u, c := range ps.codes {
		for j := range k {
			ps.dig[u*k+j] = int8(c % 3)
			c /= 3
		}
	}
	return ps
}

// encodeBlock encodes rows lo..lo+len(dst) of cols into dst.
func encodeBlock(cols [][]int8, lo int, dst []uint64) {
	encodeRows(subCols(cols, lo, lo+len(dst)), dst)
}

func subCols(cols [][]int8, lo, hi int) [][]int8 {
	var buf [MaxFunctions][]int8
	out := buf[:len(cols)]
	for j, c := range cols {
		out[j] = c[lo:hi]
	}
	return out
}

// Fit fits a label model to m.
func Fit(m *Matrix, cfg Config) (*Model, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("label model config: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if m.Rows() == 0 {
		return nil, errors.New("vote matrix has no rows")
	}
	k := len(m.Cols)
	ps := compress(m)
	mod := &Model{names: slices.Clone(m.Names), cfg: cfg, patterns: len(ps.codes), rows: ps.rows}
	mod.allowed = make([][3]bool, k)
	for u := range ps.codes {
		for j := range k {
			mod.allowed[j][ps.dig[u*k+j]] = true
		}
	}
	groupOf := make([]int, k) // function -> group id (index in members)
	for j := range groupOf {
		groupOf[j] = -1
	}
	index := make(map[string]int, k)
	for j, n := range m.Names {
		index[n] = j
	}
	var members [][]int
	var declared []bool
	for gi, g := range cfg.Groups {
		if len(g) > cfg.MaxGroupSize {
			return nil, fmt.Errorf("label model config: group %d (%s) has %d functions, max_group_size is %d", gi+1, strings.Join(g, ", "), len(g), cfg.MaxGroupSize)
		}
		var mem []int
		for _, name := range g {
			j, ok := index[name]
			if !ok {
				return nil, fmt.Errorf("label model config: group %d names unknown function %q", gi+1, name)
			}
			if groupOf[j] >= 0 {
				return nil, fmt.Errorf("label model config: function %q is in two groups", name)
			}
			groupOf[j] = len(members)
			mem = append(mem, j)
		}
		if len(mem) == 0 {
			continue
		}
		slices.Sort(mem)
		members = append(members, mem)
		declared = append(declared, true)
	}
	for j := range k {
		if groupOf[j] < 0 {
			groupOf[j] = len(members)
			members = append(members, []int{j})
			declared = append(declared, false)
		}
	}
	fit := func(mod *Model, members [][]int, declared []bool, init []float64) {
		mod.groups = nil
		for gi, mem := range members {
			mod.groups = append(mod.groups, &factor{members: mem, declared: declared[gi]})
		}
		mod.em(ps, init)
	}
	fit(mod, members, declared, mvInit(ps))
	if cfg.DetectDependencies {
		// Greedy forward selection: try every merge of two groups that keeps
		// within MaxGroupSize, keep the one that raises the log-likelihood
		// most if it gains more than DependencyThreshold nats per row, repeat.
		// Candidates start from the current model's posteriors: a merged
		// factor can represent the current product exactly, so EM only has
		// to climb from there (and does so in a few iterations).
		for len(members) > 1 {
			warm := mod.responsibilities(ps)
			var best *Model
			var bestMembers [][]int
			var bestDeclared []bool
			var bestPair Merge
			bestGain := cfg.DependencyThreshold * float64(ps.rows)
			for a := range members {
				for b := a + 1; b < len(members); b++ {
					if len(members[a])+len(members[b]) > cfg.MaxGroupSize {
						continue
					}
					nm, nd := mergeGroups(members, declared, a, b)
					cand := &Model{names: mod.names, cfg: cfg, allowed: mod.allowed, patterns: mod.patterns, rows: mod.rows,
						detected: mod.detected}
					fit(cand, nm, nd, warm)
					// The gain must also beat the BIC penalty of the extra
					// parameters, which guards small matrices.
					penalty := 0.5 * float64(cand.params()-mod.params()) * math.Log(float64(ps.rows))
					if gain := cand.logLik - mod.logLik; gain > bestGain && gain > penalty {
						best, bestMembers, bestDeclared, bestGain = cand, nm, nd, gain
						bestPair = Merge{A: groupName(m.Names, members[a]), B: groupName(m.Names, members[b])}
					}
				}
			}
			if best == nil {
				break
			}
			bestPair.GainPerRow = bestGain / float64(ps.rows)
			best.detected = append(slices.Clone(mod.detected), bestPair)

			mod, members, declared = best, bestMembers, bestDeclared
		}
	}
	return mod, nil
}

// params counts the free parameters of the model: the class balance and,
// per factor and class, one less than the number of possible states.
func (mod *Model) params() int {
	p := 1
	for _, f := range mod.groups {
		sup := 0
		for s := range f.states() {
			if mod.support(f, s) {
				sup++
			}
		}
		p += 2 * max(sup-1, 0)
	}
	return p
}

// support reports whether factor state s is possible: every member votes a
// value seen in the data.
func (mod *Model) support(f *factor, s int) bool {
	for _, j := range f.members {
		if !mod.allowed[j][s%3] {
			return false
		}
		s /= 3
	}
	return true
}

// priorWeight is the Dirichlet pseudo-count shape for state s of f under
// class c: 1 plus the number of members voting c, so that the weak prior
// leans towards functions agreeing with the class.
func priorWeight(f *factor, s int, c int8) float64 {
	w := 1.0
	for range f.members {
		if int8(s%3)-1 == c {
			w++
		}
		s /= 3
	}
	return w
}

// mvInit returns the majority-vote responsibilities of every pattern: 1
// when faulty votes outnumber healthy ones, 0 when fewer, 0.5 on ties.
func mvInit(ps *patternSet) []float64 {
	k := ps.k
	r := make([]float64, len(ps.codes))
	for u := range r {
		var pos, neg int
		for _, d := range ps.dig[u*k : u*k+k] {
			switch d {
			case 2:
				pos++
			case 1:
				neg++
			}
		}
		switch {
		case pos > neg:
			r[u] = 1
		case neg > pos:
			r[u] = 0
		default:
			r[u] = 0.5
		}
	}
	return r
}

// em runs EM for the current groups from the responsibilities init.
func (mod *Model) em(ps *patternSet, init []float64) {
	k, U := ps.k, len(ps.codes)
	n := float64(ps.rows)
	G := len(mod.groups)
	// State of every pattern in every group.
	state := make([][]int32, G)
	alpha := make([][2][]float64, G)
	alphaSum := make([][2]float64, G)
	logT := make([][2][]float64, G)
	for g, f := range mod.groups {
		st := make([]int32, U)
		for u := range U {
			st[u] = int32(f.stateOf(ps.dig[u*k : u*k+k]))
		}
		state[g] = st
		S := f.states()
		var sup []int
		for s := range S {
			if mod.support(f, s) {
				sup = append(sup, s)
			}
		}
		for c := range 2 {
			f.theta[c] = make([]float64, S)
			logT[g][c] = make([]float64, S)
			alpha[g][c] = make([]float64, S)
			var tot float64
			for _, s := range sup {
				tot += priorWeight(f, s, int8(c))
			}
			for _, s := range sup {
				a := mod.cfg.PriorStrength * priorWeight(f, s, int8(c)) / tot
				alpha[g][c][s] = a
				alphaSum[g][c] += a
			}
		}
	}
	r := slices.Clone(init)
	a := mod.cfg.PriorStrength
	prevLL := math.Inf(-1)
	mod.converged = false
	var it int
	for it = 1; it <= mod.cfg.MaxIterations; it++ {
		// M-step.
		var n1 float64
		for u, w := range ps.counts {
			n1 += w * r[u]
		}
		n0 := n - n1
		mod.prior = (n1 + a) / (n + 2*a)
		for g, f := range mod.groups {
			t0, t1 := f.theta[0], f.theta[1]
			copy(t0, alpha[g][0])
			copy(t1, alpha[g][1])
			st := state[g]
			for u, w := range ps.counts {
				s := st[u]
				t1[s] += w * r[u]
				t0[s] += w * (1 - r[u])
			}
			z0, z1 := n0+alphaSum[g][0], n1+alphaSum[g][1]
			for s := range t0 {
				t0[s] /= z0
				t1[s] /= z1
				logT[g][0][s] = safeLog(t0[s])
				logT[g][1][s] = safeLog(t1[s])
			}
		}
		// E-step.
		lp1, lp0 := math.Log(mod.prior), math.Log(1-mod.prior)
		var ll float64
		for u, w := range ps.counts {
			l1, l0 := lp1, lp0
			for g := range G {
				s := state[g][u]
				l1 += logT[g][1][s]
				l0 += logT[g][0][s]
			}
			mx := math.Max(l0, l1)
			lse := mx + math.Log(math.Exp(l0-mx)+math.Exp(l1-mx))
			ll += w * lse
			r[u] = math.Exp(l1 - lse)
		}
		mod.logLik = ll
		if ll-prevLL < mod.cfg.Tolerance*n {
			mod.converged = true
			break
		}
		prevLL = ll
	}
	mod.iterations = min(it, mod.cfg.MaxIterations)
}

func safeLog(x float64) float64 {
	if x <= 0 {
		return math.Inf(-1)
	}
	return math.Log(x)
}

// marginal returns P(vote of function j = v | class c) for v = -1, 0, 1
// (indexed v+1).
func (mod *Model) marginal(j int, c int) [3]float64 {
	var out [3]float64
	for _, f := range mod.groups {
		pos := slices.Index(f.members, j)
		if pos < 0 {
			continue
		}
		w := int(pow3(pos))
		for s, p := range f.theta[c] {
			out[(s/w)%3] += p
		}
		return out
	}
	return out
}

// responsibilities returns P(positive | pattern) for every pattern of ps.
func (mod *Model) responsibilities(ps *patternSet) []float64 {
	k := ps.k
	r := make([]float64, len(ps.codes))
	for u := range r {
		r[u] = 1 / (1 + math.Exp(-mod.logOdds(ps.dig[u*k:u*k+k])))
	}
	return r
}

// logOdds returns log P(votes | positive) − log P(votes | negative) for the
// pattern whose per-function digits are dig. States outside a factor's
// support (votes never seen in fitting) make that factor neutral.
func (mod *Model) logOdds(dig []int8) float64 {
	lo := math.Log(mod.prior) - math.Log(1-mod.prior)
	for _, f := range mod.groups {
		s := f.stateOf(dig)
		p1, p0 := f.theta[1][s], f.theta[0][s]
		if p1 > 0 && p0 > 0 {
			lo += math.Log(p1) - math.Log(p0)
		}
	}
	return lo
}

// Predict returns P(positive) and the hard label of every row of m, which
// must have the functions of the fitted matrix in the same order. Rows where
// every function abstains get the class balance and label -1; other rows get
// label 1 when P(positive) ≥ Threshold, else 0.
func (mod *Model) Predict(m *Matrix) ([]float64, []int8, error) {
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	if !slices.Equal(m.Names, mod.names) {
		return nil, nil, fmt.Errorf("vote matrix functions %v differ from the fitted model's %v", m.Names, mod.names)
	}
	k, n := len(m.Cols), m.Rows()
	p := make([]float64, n)
	lab := make([]int8, n)
	allAbstain := uint64(0)
	post := func(code uint64, dig []int8) float64 {
		for j := range k {
			dig[j] = int8(code % 3)
			code /= 3
		}
		return 1 / (1 + math.Exp(-mod.logOdds(dig)))
	}
	var dig [MaxFunctions]int8
	codes := make([]uint64, min(n, blockRows))
	var dense []float64
	var sparse map[uint64]float64
	if k <= denseMaxFunctions {
		dense = make([]float64, pow3(k))
		for i := range dense {
			dense[i] = -1
		}
	} else {
		sparse = map[uint64]float64{}
	}
	for lo := 0; lo < n; lo += blockRows {
		hi := min(n, lo+blockRows)
		blk := codes[:hi-lo]
		encodeBlock(m.Cols, lo, blk)
		for i, c := range blk {
			var q float64
			if c == allAbstain {
				p[lo+i], lab[lo+i] = mod.prior, Abstain
				continue
			}
			if dense != nil {
				q = dense[c]
				if q < 0 {
					q = post(c, dig[:k])
					dense[c] = q
				}
			} else {
				var ok bool
				if q, ok = sparse[c]; !ok {
					q = post(c, dig[:k])
					sparse[c] = q
				}
			}
			p[lo+i] = q
			if q >= mod.cfg.Threshold {
				lab[lo+i] = Positive
			} else {
				lab[lo+i] = Negative
			}
		}
	}
	return p, lab, nil
}

// ClassBalance returns the estimated fraction of positive rows.
func (mod *Model) ClassBalance() float64 { return mod.prior }

// VoteDist is the distribution of one function's vote on one class.
type VoteDist struct {
	Positive float64 `json:"positive"`
	Negative float64 `json:"negative"`
	Abstain  float64 `json:"abstain"`
}

// FunctionEstimate is what the model learned about one function.
type FunctionEstimate struct {
	Name string `json:"name"`
	// Group lists the functions modelled jointly with this one (itself
	// included), in matrix order.
	Group []string `json:"group"`
	// Polarity is "positive" when the function was only seen voting
	// positive, "negative" when only negative, "both", or "none" when it
	// always abstained.
	Polarity string `json:"polarity"`
	// GivenPositive and GivenNegative are the class-conditional vote
	// distributions: GivenPositive.Positive is P(vote=1 | y=1) (how often
	// the function fires correctly on positives), GivenNegative.Negative is
	// P(vote=0 | y=0); the abstain fields are the per-class abstain rates.
	GivenPositive VoteDist `json:"given_positive"`
	GivenNegative VoteDist `json:"given_negative"`
	// PositivePrecision is P(y=1 | vote=1): how far a positive vote can be
	// trusted. NaN when the function never votes positive.
	PositivePrecision float64 `json:"positive_precision"`
	// NegativePrecision is P(y=0 | vote=0); NaN when it never votes negative.
	NegativePrecision float64 `json:"negative_precision"`
	// Accuracy is P(vote = y | vote ≠ abstain); NaN when it always abstains.
	Accuracy float64 `json:"accuracy"`
}

// Functions returns the estimate of every function, in matrix order.
func (mod *Model) Functions() []FunctionEstimate {
	out := make([]FunctionEstimate, len(mod.names))
	pi := mod.prior
	for j, name := range mod.names {
		m1, m0 := mod.marginal(j, 1), mod.marginal(j, 0)
		e := FunctionEstimate{
			Name:              name,
			GivenPositive:     VoteDist{Positive: m1[2], Negative: m1[1], Abstain: m1[0]},
			GivenNegative:     VoteDist{Positive: m0[2], Negative: m0[1], Abstain: m0[0]},
			PositivePrecision: math.NaN(),
			NegativePrecision: math.NaN(),
			Accuracy:          math.NaN(),
		}
		al := mod.allowed[j]
		switch {
		case al[2] && al[1]:
			e.Polarity = "both"
		case al[2]:
			e.Polarity = "positive"
		case al[1]:
			e.Polarity = "negative"
		default:
			e.Polarity = "none"
		}
		if al[2] {
			e.PositivePrecision = pi * m1[2] / (pi*m1[2] + (1-pi)*m0[2])
		}
		if al[1] {
			e.NegativePrecision = (1 - pi) * m0[1] / ((1-pi)*m0[1] + pi*m1[1])
		}
		if cov := pi*(1-m1[0]) + (1-pi)*(1-m0[0]); cov > 0 {
			e.Accuracy = (pi*m1[2] + (1-pi)*m0[1]) / cov
		}
		for _, f := range mod.groups {
			if slices.Contains(f.members, j) {
				for _, i := range f.members {
					e.Group = append(e.Group, mod.names[i])
				}
			}
		}
		out[j] = e
	}
	return out
}

// FitInfo describes how the fit went.
type FitInfo struct {
	Rows     int `json:"rows"`
	Patterns int `json:"patterns"`
	// Iterations and Converged describe the last EM run.
	Iterations int  `json:"iterations"`
	Converged  bool `json:"converged"`
	// LogLikelihood is the log-likelihood of the matrix under the final
	// model (priors excluded), in nats.
	LogLikelihood float64 `json:"log_likelihood"`
	// Groups lists every factor with more than one function.
	Groups [][]string `json:"groups"`
	// Detected lists the merges made by dependency detection, in order.
	Detected []Merge `json:"detected"`
	// Warnings flags fits that deserve a look: no convergence, functions
	// that never vote, an estimated positive share above one half (the
	// latent class may have locked onto a frequent function rather than the
	// positives: see docs/labeling.md on dependency groups).
	Warnings []string `json:"warnings"`
}

// Merge is one merge made by dependency detection.
type Merge struct {
	// A and B name the merged groups, members joined by "+".
	A string `json:"a"`
	B string `json:"b"`
	// GainPerRow is the log-likelihood gain of the merge, nats per row.
	GainPerRow float64 `json:"gain_per_row"`
}

// Info returns the fit diagnostics.
func (mod *Model) Info() FitInfo {
	fi := FitInfo{Rows: mod.rows, Patterns: mod.patterns, Iterations: mod.iterations, Converged: mod.converged,
		LogLikelihood: mod.logLik, Detected: slices.Clone(mod.detected)}
	if !mod.converged {
		fi.Warnings = append(fi.Warnings, fmt.Sprintf("EM did not converge in %d iterations", mod.iterations))
	}
	if mod.prior > 0.5 {
		fi.Warnings = append(fi.Warnings, fmt.Sprintf("estimated positive share %.3f is above one half: the model may have locked onto a frequent function; declare dependent functions as a group", mod.prior))
	}
	for j, al := range mod.allowed {
		if !al[2] && !al[1] {
			fi.Warnings = append(fi.Warnings, fmt.Sprintf("function %s never votes", mod.names[j]))
		}
	}
	for _, f := range mod.groups {
		if len(f.members) > 1 {
			var g []string
			for _, j := range f.members {
				g = append(g, mod.names[j])
			}
			fi.Groups = append(fi.Groups, g)
		}
	}
	return fi
}

// mergeGroups returns members with groups a and b merged, ordered by first
// member, and the matching declared flags.
func mergeGroups(members [][]int, declared []bool, a, b int) ([][]int, []bool) {
	merged := append(slices.Clone(members[a]), members[b]...)
	slices.Sort(merged)
	type grp struct {
		mem []int
		dec bool
	}
	var gs []grp
	for g := range members {
		if g != a && g != b {
			gs = append(gs, grp{members[g], declared[g]})
		}
	}
	gs = append(gs, grp{merged, declared[a] || declared[b]})
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].mem[0] < gs[j].mem[0] })
	nm := make([][]int, len(gs))
	nd := make([]bool, len(gs))
	for i, g := range gs {
		nm[i], nd[i] = g.mem, g.dec
	}
	return nm, nd
}

func groupName(names []string, mem []int) string {
	parts := make([]string, len(mem))
	for i, j := range mem {
		parts[i] = names[j]
	}
	return strings.Join(parts, "+")
}
