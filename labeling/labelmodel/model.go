package labelmodel

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/faultline-dev/faultline/internal/config"
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
	// DetectDependencies searches for undeclared dependencies between any
	// pairs of functions: it proposes the pairs whose votes depend on each
	// other most given the current posteriors, and keeps the one with the
	// largest log-likelihood gain on held-out rows (two deterministic
	// folds, each fitted on the other) if that gain exceeds
	// DependencyThreshold by two standard errors, modelling one function of
	// the pair given the other's vote and the class; then repeats.
	// Functions of a declared group are never modelled given another.
	// Default false: a better likelihood is not better labels (when
	// functions co-fire within sub-types of a class, the dependencies
	// found can hide the very agreement that identifies the class).
	DetectDependencies bool `yaml:"detect_dependencies" json:"detect_dependencies"`
	// DuplicateAgreement makes near-duplicate functions candidate
	// dependencies even when DetectDependencies is off: two functions
	// whose votes agree on at least this share of the rows where either
	// votes are modelled one given the other if that improves the
	// held-out likelihood by DependencyThreshold, as in detection. Copies
	// of one function would otherwise be counted as independent evidence
	// and take over the latent class. 0 turns it off. Default 0.8.
	DuplicateAgreement float64 `yaml:"duplicate_agreement" json:"duplicate_agreement"`
	// DependencyThreshold is the held-out log-likelihood gain, in nats per
	// row, that a dependency must bring to be kept (by two standard errors).
	// It is an effect size, so that large matrices do not link everything.
	// Default 0.002.
	DependencyThreshold float64 `yaml:"dependency_threshold" json:"dependency_threshold"`
	// MaxGroupSize bounds the functions in one declared group (a group of
	// m functions has up to 3^m joint patterns per class). Default 3.
	MaxGroupSize int `yaml:"max_group_size" json:"max_group_size"`
	// ClassBalance, when in (0, 1), is the known share of positive rows
	// (all rows, those without any vote included): it is used as the class
	// balance instead of being estimated. Give it
	// when the base rate is known and the functions depend on each other
	// within a class (sub-types of the positives that only some functions
	// see), which can make EM settle on a sub-type instead of the class.
	// Default 0: estimated.
	ClassBalance float64 `yaml:"class_balance" json:"class_balance"`
	// PriorStrength is the weight, in pseudo-rows, of the Dirichlet priors on
	// every factor and of the Beta prior on the class balance. Default 1.
	PriorStrength float64 `yaml:"prior_strength" json:"prior_strength"`
	// MaxIterations caps EM iterations per fit. Default 1000.
	MaxIterations int `yaml:"max_iterations" json:"max_iterations"`
	// Tolerance stops EM when the penalised log-likelihood per row improves
	// by less. Default 1e-10.
	Tolerance float64 `yaml:"tolerance" json:"tolerance"`
	// Threshold is the posterior at or above which a row is labelled
	// positive. Default 0.5 (the Bayes decision for accuracy).
	Threshold float64 `yaml:"threshold" json:"threshold"`
}

// DefaultConfig returns the default settings.
func DefaultConfig() Config {
	return Config{
		DetectDependencies:  false,
		DuplicateAgreement:  0.8,
		DependencyThreshold: 0.002,
		MaxGroupSize:        3,
		PriorStrength:       1,
		MaxIterations:       1000,
		Tolerance:           1e-10,
		Threshold:           0.5,
	}
}

// Validate reports every invalid setting, as *config.FieldError values
// (joined) whose paths are the settings' keys (the caller nests them under
// its section, e.g. labeling.model).
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) { errs = append(errs, config.Errorf(key, format, a...)) }
	if c.MaxGroupSize < 1 || c.MaxGroupSize > 8 {
		bad("max_group_size", "%d must be 1..8", c.MaxGroupSize)
	}
	if !(c.PriorStrength > 0) {
		bad("prior_strength", "%v must be > 0", c.PriorStrength)
	}
	if c.MaxIterations < 1 {
		bad("max_iterations", "%d must be ≥ 1", c.MaxIterations)
	}
	if !(c.Tolerance >= 0) {
		bad("tolerance", "%v must be ≥ 0", c.Tolerance)
	}
	if !(c.Threshold > 0 && c.Threshold < 1) {
		bad("threshold", "%v must be in (0, 1)", c.Threshold)
	}
	if !(c.DuplicateAgreement >= 0 && c.DuplicateAgreement <= 1) {
		bad("duplicate_agreement", "%v must be in [0, 1]", c.DuplicateAgreement)
	}
	if !(c.ClassBalance >= 0 && c.ClassBalance < 1) {
		bad("class_balance", "%v must be 0 (estimate it) or in (0, 1)", c.ClassBalance)
	}
	if !(c.DependencyThreshold > 0) {
		bad("dependency_threshold", "%v must be > 0", c.DependencyThreshold)
	}
	return errors.Join(errs...)
}

// Model is a fitted label model.
type Model struct {
	names   []string
	cfg     Config
	sup     []support
	factors []*factor
	p       *params
	// Fit diagnostics.
	iterations int
	converged  bool
	logLik     float64
	patterns   int
	rows       int
	detected   []Merge
	swapped    bool
	// underIdentified is true when fewer than three factors vote: the
	// class balance is not identifiable from the votes.
	underIdentified bool
	// quiet is the number of rows on which every function abstained, left
	// out of the fit; quietPositives the expected number of positives
	// among them (quiet.go).
	quiet          int
	quietPositives float64
}

// views counts the factors that ever vote: conditionally independent views
// of the class.
func views(factors []*factor) int {
	var n int
	for _, f := range factors {
		if f.states > 1 && len(f.parents) == 0 {
			n++
		}
	}
	return n
}

// stageMinRows is the size of the first subsample EM runs on when the rows
// are not compressed to patterns; each further stage is four times larger,
// and the last is the whole matrix.
const stageMinRows = 1 << 16

// Fit fits a label model to m: it validates m, models the declared groups
// jointly, looks for dependencies (near-duplicate functions by default, all
// pairs with DetectDependencies) and keeps those that improve the held-out
// likelihood, then runs EM from the majority-vote responsibilities — over
// the distinct vote patterns when there are few, otherwise over the rows,
// warm-started on growing subsamples. Nothing is random: the fit does not
// depend on the number of CPUs.
func Fit(m *Matrix, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("label model config: %w", err)
	}
	sup, err := m.scan()
	if err != nil {
		return nil, err
	}
	n, k := m.Rows(), len(m.Cols)
	if n == 0 {
		return nil, errors.New("vote matrix has no rows")
	}
	groups, declared, err := declaredGroups(m.Names, cfg)
	if err != nil {
		return nil, err
	}
	factors := buildFactors(k, groups, declared, nil, sup)
	mod := &Model{names: slices.Clone(m.Names), cfg: cfg, sup: sup, rows: n}

	// Dependencies are searched among all pairs when asked, else among
	// near-duplicate functions only, if there are any.
	var pairOK func(a, b int) bool
	search := cfg.DetectDependencies && k > 1
	if !search && cfg.DuplicateAgreement > 0 && k > 1 {
		if dup := duplicates(m, sup, cfg.DuplicateAgreement); len(dup) > 0 {
			search = true
			pairOK = func(a, b int) bool { return dup[a*k+b] }
		}
	}
	full := pack(m.Cols, n, sup, factors)
	ps := dedup(full, search)
	if ps != nil {
		mod.patterns = len(ps.first)
	}
	if search {
		var dcols [][]int8
		var w, wf [2][]float64
		if ps != nil {
			dcols = gatherCols(m.Cols, ps.first)
			w = ps.folds
		} else {
			idx := stride(n, min(n, detectRows))
			dcols = gatherCols(m.Cols, idx)
			for f := range 2 {
				wf[f] = make([]float64, len(idx))
			}
			for u, i := range idx {
				wf[fold(i)][u] = 1
			}
			w = wf
		}
		parent, merges := detect(cfg, sup, m.Names, groups, declared, dcols, w, pairOK)
		mod.detected = merges
		if len(merges) > 0 {
			factors = buildFactors(k, groups, declared, parent, sup)
			full = pack(m.Cols, n, sup, factors)
		}
	}
	mod.factors = factors
	mod.underIdentified = cfg.ClassBalance == 0 && views(factors) < 3
	e := newEngine(cfg, sup, factors)
	// The fit runs on the rows with a vote; the all-abstain rows, if any,
	// are counted and given their share of positives apart (quiet.go).
	var res emResult
	var nv, nq float64
	if ps != nil {
		pk := full.gather(ps.first)
		units, counts := make([]int, 0, len(ps.first)), make([]float64, 0, len(ps.first))
		for u := range ps.first {
			if e.quietOK && pk.quietUnit(u) {
				nq += ps.counts[u]
				continue
			}
			units = append(units, u)
			counts = append(counts, ps.counts[u])
			nv += ps.counts[u]
		}
		if len(units) == 0 { // no function ever votes
			units, counts, nv, nq = []int{0}, ps.counts, nq, 0
		}
		ds := newDataset(pk.gather(units), counts, factors)
		ds.omitted = nq
		res = e.em(ds, nil, e.majority(ds.pk))
		res = mod.unswap(e, ds, res)
	} else {
		if voted := e.votedUnits(full); voted != nil {
			full = full.gather(voted)
		}
		nv = float64(full.units)
		nq = float64(n) - nv
		// Warm-start on growing deterministic subsamples: each stage starts
		// near the next one's optimum, so the passes over every row are few.
		var start *params
		for s := stageMinRows; s < full.units/2; s *= 4 {
			ds := newDataset(full.gather(stride(full.units, s)), nil, factors)
			ds.omitted = nq * float64(s) / nv
			var r0 []float64
			if start == nil {
				r0 = e.majority(ds.pk)
			}
			start = e.em(ds, start, r0).p
		}
		ds := newDataset(full, nil, factors)
		ds.omitted = nq
		var r0 []float64
		if start == nil {
			r0 = e.majority(ds.pk)
		}
		res = e.em(ds, start, r0)
		res = mod.unswap(e, ds, res)
	}
	if nq > 0 {
		mod.quiet = int(nq)
		mod.quietPositives = quietPositives(res.p.prior, e.missRate(res.p), nv, nq)
	}
	mod.p, mod.iterations, mod.converged, mod.logLik = res.p, res.iterations, res.converged, res.ll
	return mod, nil
}

// unswap resolves label switching: the functions are assumed better than
// random on average, so when their votes are, summed over functions, more
// likely on the class they do not name, the classes are swapped and EM run
// again from there. (Lone functions are constrained to be evidence for the
// class they vote, so only groups can lead there.)
func (mod *Model) unswap(e *engine, ds *dataset, res emResult) emResult {
	if evidence(e.sup, e.factors, res.p) >= 0 {
		return res
	}
	q := res.p.clone()
	q.prior = 1 - q.prior
	for fi := range q.theta {
		q.theta[fi][0], q.theta[fi][1] = q.theta[fi][1], q.theta[fi][0]
	}
	mod.swapped = true
	return e.em(ds, q, nil)
}

// evidence returns Σ over functions of P(vote=1 | positive) − P(vote=1 |
// negative) + P(vote=0 | negative) − P(vote=0 | positive).
func evidence(sup []support, factors []*factor, p *params) float64 {
	var ev float64
	for _, m := range voteMarginals(sup, factors, p) {
		ev += m[1][2] - m[0][2] + m[0][1] - m[1][1]
	}
	return ev
}

// voteMarginals returns P(vote of function j = v | class c) for every
// function, indexed [j][c][vix(v)]: parents before their children.
func voteMarginals(sup []support, factors []*factor, p *params) [][2][3]float64 {
	out := make([][2][3]float64, len(sup))
	done := make([]bool, len(sup))
	for progress := true; progress; {
		progress = false
		for fi, f := range factors {
			if done[f.members[0]] || (len(f.parents) > 0 && !done[f.parents[0]]) {
				continue
			}
			for c := range 2 {
				for s, x := range p.theta[fi][c] {
					if len(f.parents) > 0 {
						x *= out[f.parents[0]][c][vix(f.vote(sup, s, len(f.members)))]
					}
					for q, j := range f.members {
						out[j][c][vix(f.vote(sup, s, q))] += x
					}
				}
			}
			for _, j := range f.members {
				done[j] = true
			}
			progress = true
		}
	}
	return out
}

// declaredGroups resolves cfg.Groups to function indices.
func declaredGroups(names []string, cfg Config) ([][]int, []bool, error) {
	index := make(map[string]int, len(names))
	for j, n := range names {
		index[n] = j
	}
	used := make([]bool, len(names))
	var groups [][]int
	var declared []bool
	for gi, g := range cfg.Groups {
		if len(g) > cfg.MaxGroupSize {
			return nil, nil, fmt.Errorf("label model config: group %d (%s) has %d functions, max_group_size is %d", gi+1, strings.Join(g, ", "), len(g), cfg.MaxGroupSize)
		}
		var mem []int
		for _, name := range g {
			j, ok := index[name]
			if !ok {
				return nil, nil, fmt.Errorf("label model config: group %d names unknown function %q", gi+1, name)
			}
			if used[j] {
				return nil, nil, fmt.Errorf("label model config: function %q is in two groups", name)
			}
			used[j] = true
			mem = append(mem, j)
		}
		if len(mem) == 0 {
			continue
		}
		groups = append(groups, mem)
		declared = append(declared, true)
	}
	return groups, declared, nil
}

// Predict returns P(positive) and the hard label of every row of m, which
// must have the functions of the fitted matrix in the same order. Rows where
// every function abstains get QuietPositive and label -1; other rows get
// label 1 when P(positive) ≥ Threshold, else 0. A vote the function never
// cast in fitting makes its group neutral.
func (mod *Model) Predict(m *Matrix) ([]float64, []int8, error) {
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	if !slices.Equal(m.Names, mod.names) {
		return nil, nil, fmt.Errorf("vote matrix functions %v differ from the fitted model's %v", m.Names, mod.names)
	}
	n := m.Rows()
	// Log-likelihood ratio of every factor's full state (digit p = vote of
	// member p + 1, weight 3^p).
	type tab struct {
		members []int
		lr      []float64
	}
	tabs := make([]tab, len(mod.factors))
	for fi, f := range mod.factors {
		lr := make([]float64, pow3(len(f.vars)))
		for s3 := range lr {
			s, x, ok := 0, s3, true
			for p, j := range f.vars {
				l := mod.sup[j].local[x%3]
				x /= 3
				if l < 0 {
					ok = false
					break
				}
				s += int(l) * f.mult[p]
			}
			if ok {
				lr[s3] = math.Log(mod.p.theta[fi][1][s]) - math.Log(mod.p.theta[fi][0][s])
			}
		}
		tabs[fi] = tab{f.vars, lr}
	}
	logitPi := math.Log(mod.p.prior) - math.Log(1-mod.p.prior)
	quietP := mod.QuietPositive()
	p := make([]float64, n)
	lab := make([]int8, n)
	nb := (n + chunkUnits - 1) / chunkUnits
	parallel(nb, func(_, b int) {
		c0, c1 := b*chunkUnits, min(n, (b+1)*chunkUnits)
		d := p[c0:c1]
		var anyBuf [chunkUnits]uint8
		voted := anyBuf[:c1-c0]
		var stBuf [chunkUnits]int32
		st := stBuf[:c1-c0]
		for i := range d {
			d[i] = logitPi
		}
		for _, t := range tabs {
			if len(t.members) == 1 {
				lr := [4]float64{t.lr[0], t.lr[1], t.lr[2]}
				for i, v := range m.Cols[t.members[0]][c0:c1] {
					d[i] += lr[vix(v)]
					voted[i] |= vix(v)
				}
				continue
			}
			clear(st)
			w := int32(1)
			for _, j := range t.members {
				for i, v := range m.Cols[j][c0:c1] {
					st[i] += w * int32(vix(v))
					voted[i] |= vix(v)
				}
				w *= 3
			}
			for i, s := range st {
				d[i] += t.lr[s]
			}
		}
		for i, dv := range d {
			if voted[i] == 0 {
				d[i], lab[c0+i] = quietP, Abstain
				continue
			}
			q := 1 / (1 + math.Exp(-dv))
			d[i] = q
			if q >= mod.cfg.Threshold {
				lab[c0+i] = Positive
			} else {
				lab[c0+i] = Negative
			}
		}
	})
	return p, lab, nil
}

// ClassBalance returns the estimated fraction of positive rows, those on
// which every function abstained included.
func (mod *Model) ClassBalance() float64 {
	if mod.quiet == 0 {
		return mod.p.prior
	}
	nv := float64(mod.rows - mod.quiet)
	return (nv*mod.p.prior + mod.quietPositives) / float64(mod.rows)
}

// QuietPositive returns P(positive) of a row on which every function
// abstains: the expected share of positives among such rows of the fitted
// matrix (docs/labeling.md, "Rows without a vote"); the class balance when
// it had none.
func (mod *Model) QuietPositive() float64 {
	if mod.quiet == 0 {
		return mod.p.prior
	}
	return mod.quietPositives / float64(mod.quiet)
}

// population returns the class-conditional vote distributions m (indexed
// [class][vix]) of one function, estimated on the rows with a vote, as
// distributions over all the rows: the quiet rows add abstentions, the
// expected positives among them to the positive class and the others to
// the negative class.
func (mod *Model) population(m [2][3]float64) [2][3]float64 {
	if mod.quiet == 0 {
		return m
	}
	nv := float64(mod.rows - mod.quiet)
	add := [2]float64{float64(mod.quiet) - mod.quietPositives, mod.quietPositives}
	for c, voted := range [2]float64{nv * (1 - mod.p.prior), nv * mod.p.prior} {
		tot := voted + add[c]
		for v := range m[c] {
			m[c][v] *= voted / tot
		}
		m[c][0] += add[c] / tot
	}
	return m
}

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
	// included), in matrix order: its declared group, and the functions
	// linked to it by detected dependencies.
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
	pi := mod.ClassBalance()
	marg := voteMarginals(mod.sup, mod.factors, mod.p)
	comps := components(len(mod.names), mod.factors)
	for j, name := range mod.names {
		pm := mod.population(marg[j])
		m1, m0 := pm[1], pm[0]
		e := FunctionEstimate{
			Name:              name,
			GivenPositive:     VoteDist{Positive: m1[2], Negative: m1[1], Abstain: m1[0]},
			GivenNegative:     VoteDist{Positive: m0[2], Negative: m0[1], Abstain: m0[0]},
			PositivePrecision: math.NaN(),
			NegativePrecision: math.NaN(),
			Accuracy:          math.NaN(),
		}
		pos, neg := mod.sup[j].has(Positive), mod.sup[j].has(Negative)
		switch {
		case pos && neg:
			e.Polarity = "both"
		case pos:
			e.Polarity = "positive"
		case neg:
			e.Polarity = "negative"
		default:
			e.Polarity = "none"
		}
		if pos {
			e.PositivePrecision = pi * m1[2] / (pi*m1[2] + (1-pi)*m0[2])
		}
		if neg {
			e.NegativePrecision = (1 - pi) * m0[1] / ((1-pi)*m0[1] + pi*m1[1])
		}
		if cov := pi*(1-m1[0]) + (1-pi)*(1-m0[0]); cov > 0 && (pos || neg) {
			e.Accuracy = (pi*m1[2] + (1-pi)*m0[1]) / cov
		}
		e.Group = []string{name}
		for _, c := range comps {
			if slices.Contains(c, j) {
				e.Group = memberNames(mod.names, c)
			}
		}
		out[j] = e
	}
	return out
}

// FitInfo describes how the fit went.
type FitInfo struct {
	Rows int `json:"rows"`
	// AllAbstain is the number of rows on which every function abstained;
	// AllAbstainPositive is the P(positive) they are given
	// (Model.QuietPositive).
	AllAbstain         int     `json:"all_abstain"`
	AllAbstainPositive float64 `json:"all_abstain_positive"`
	// Patterns is the number of distinct vote patterns EM ran over; 0 when
	// there were too many of them (more than half the rows) and EM ran
	// over the rows.
	Patterns int `json:"patterns"`
	// Iterations and Converged describe the last EM run (over all rows).
	Iterations int  `json:"iterations"`
	Converged  bool `json:"converged"`
	// LogLikelihood is the log-likelihood of the matrix under the final
	// model (priors excluded), in nats.
	LogLikelihood float64 `json:"log_likelihood"`
	// Groups lists every set of more than one function modelled jointly:
	// a declared group, together with the functions linked to it or to
	// each other by detected dependencies.
	Groups [][]string `json:"groups"`
	// Detected lists the merges made by dependency detection, in order.
	Detected []Merge `json:"detected"`
	// Warnings flags fits that deserve a look: no convergence, functions
	// that never vote, classes swapped to keep the functions better than
	// random, an estimated positive share above one half (the latent class
	// may have locked onto a frequent function rather than the positives:
	// see docs/labeling.md on dependency groups).
	Warnings []string `json:"warnings"`
}

// Merge is one dependency found by detection: function B is modelled
// given function A's vote (and the class) instead of given the class only.
type Merge struct {
	A string `json:"a"`
	B string `json:"b"`
	// GainPerRow is the log-likelihood gain of the dependency on held-out
	// rows, nats per row.
	GainPerRow float64 `json:"gain_per_row"`
}

// Info returns the fit diagnostics.
func (mod *Model) Info() FitInfo {
	quiet := mod.quiet
	if views(mod.factors) == 0 {
		quiet = mod.rows // no function ever votes
	}
	fi := FitInfo{Rows: mod.rows, AllAbstain: quiet, AllAbstainPositive: mod.QuietPositive(), Patterns: mod.patterns,
		Iterations: mod.iterations, Converged: mod.converged, LogLikelihood: mod.logLik, Detected: slices.Clone(mod.detected)}
	if !mod.converged {
		fi.Warnings = append(fi.Warnings, fmt.Sprintf("EM did not converge in %d iterations", mod.iterations))
	}
	if mod.underIdentified {
		fi.Warnings = append(fi.Warnings, fmt.Sprintf("fewer than three functions (or groups) vote independently: the votes cannot identify the class balance, and the estimate (%.3f) rests on the priors and on where EM stopped; set class_balance if it is known", mod.ClassBalance()))
	}
	if mod.swapped {
		fi.Warnings = append(fi.Warnings, "EM converged to a solution where the functions are worse than random on average; the classes were swapped")
	}
	if cb := mod.ClassBalance(); cb > 0.5 {
		fi.Warnings = append(fi.Warnings, fmt.Sprintf("estimated positive share %.3f is above one half: the model may have locked onto a frequent function; declare dependent functions as a group", cb))
	}
	for j, s := range mod.sup {
		if !s.has(Positive) && !s.has(Negative) {
			fi.Warnings = append(fi.Warnings, fmt.Sprintf("function %s never votes", mod.names[j]))
		}
	}
	for _, w := range mod.neutralised() {
		fi.Warnings = append(fi.Warnings, fmt.Sprintf("function %s: its %s votes were given no weight (the fit found them no more frequent on the class they name than on the other); if they are known to be informative, the latent class may be a sub-type rather than the class: set class_balance or declare groups", mod.names[w.j], w.vote))
	}
	for _, c := range components(len(mod.names), mod.factors) {
		fi.Groups = append(fi.Groups, memberNames(mod.names, c))
	}
	return fi
}

type neutral struct {
	j    int
	vote string
}

// neutralised lists the votes of lone functions whose constraint to be
// evidence for the class they name binds: equally likely on both classes.
func (mod *Model) neutralised() []neutral {
	var out []neutral
	for fi, f := range mod.factors {
		if !f.lone() {
			continue
		}
		j, t := f.members[0], mod.p.theta[fi]
		for _, v := range []int8{Positive, Negative} {
			if l := mod.sup[j].local[vix(v)]; l >= 0 && math.Abs(t[1][l]-t[0][l]) <= 1e-9*t[0][l] {
				name := "positive"
				if v == Negative {
					name = "negative"
				}
				out = append(out, neutral{j, name})
			}
		}
	}
	return out
}

func memberNames(names []string, mem []int) []string {
	out := make([]string, len(mem))
	for i, j := range mem {
		out[i] = names[j]
	}
	return out
}
