package models

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/faultline-dev/faultline/internal/parallel"
)

// Params are the gradient-boosting settings. The zero value is not useful:
// start from DefaultParams. YAML keys are those of the "train" config section.
type Params struct {
	// NumTrees is the maximum number of boosting rounds (default 500).
	NumTrees int `yaml:"num_trees" json:"num_trees"`
	// LearningRate is the shrinkage applied to every tree (default 0.05).
	LearningRate float64 `yaml:"learning_rate" json:"learning_rate"`
	// MaxLeaves bounds the leaves of a tree grown leaf-wise (default 15).
	MaxLeaves int `yaml:"max_leaves" json:"max_leaves"`
	// MaxDepth bounds the depth of a tree; 0 means unlimited (default 0).
	MaxDepth int `yaml:"max_depth" json:"max_depth"`
	// MinDataInLeaf is the minimum number of training rows in a leaf (default 20).
	MinDataInLeaf int `yaml:"min_data_in_leaf" json:"min_data_in_leaf"`
	// MinSumHessian is the minimum sum of hessians (weights × p(1−p)) in a leaf (default 1e-3).
	MinSumHessian float64 `yaml:"min_sum_hessian" json:"min_sum_hessian"`
	// Lambda is the L2 regularisation of leaf values (default 5).
	Lambda float64 `yaml:"lambda" json:"lambda"`
	// MinGain is the minimum gain of a split (default 0: any positive gain).
	MinGain float64 `yaml:"min_gain" json:"min_gain"`
	// Subsample is the fraction of rows drawn (without replacement) for each tree (default 0.8).
	Subsample float64 `yaml:"subsample" json:"subsample"`
	// ColsampleByTree is the fraction of features offered to each tree (default 0.5).
	ColsampleByTree float64 `yaml:"colsample_bytree" json:"colsample_bytree"`
	// MaxBins is the number of value bins per feature, at most 255; missing values get a bin of their own (default 255).
	MaxBins int `yaml:"max_bins" json:"max_bins"`
	// BinSampleRows is the number of rows sampled to find bin boundaries (default 200000).
	BinSampleRows int `yaml:"bin_sample_rows" json:"bin_sample_rows"`
	// EarlyStoppingRounds stops training when the validation log-loss has not
	// improved for this many rounds; 0 disables early stopping (default 50).
	EarlyStoppingRounds int `yaml:"early_stopping_rounds" json:"early_stopping_rounds"`
	// Threads is the number of goroutines building histograms; 0 means GOMAXPROCS.
	// Results do not depend on it.
	Threads int `yaml:"threads" json:"threads"`
	// Seed drives bagging, feature sampling and the bin sample (default 1).
	Seed uint64 `yaml:"seed" json:"seed"`
	// Monotone holds one monotone constraint per feature column: +1 makes
	// the raw score (so P(positive)) non-decreasing in that feature, −1
	// non-increasing, 0 leaves it free. Nil or all zeros: no constraint,
	// and the model is exactly the one trained without the field. The
	// constraints hold over non-missing values; a missing value (NaN)
	// follows each split's default direction and is not ordered against
	// the others. The train stage sets it from feature names (train.monotone).
	Monotone []int8 `yaml:"-" json:"-"`
}

// DefaultParams returns the documented defaults. They are regularised for
// the few thousand deployments (a few hundred faulty) of a typical history;
// chosen on the validation split of a simulated fleet (docs/models.md).
func DefaultParams() Params {
	return Params{
		NumTrees:            500,
		LearningRate:        0.05,
		MaxLeaves:           15,
		MaxDepth:            0,
		MinDataInLeaf:       20,
		MinSumHessian:       1e-3,
		Lambda:              5,
		Subsample:           0.8,
		ColsampleByTree:     0.5,
		MaxBins:             255,
		BinSampleRows:       200000,
		EarlyStoppingRounds: 50,
		Seed:                1,
	}
}

// Validate checks the settings; Train calls it.
func (p Params) Validate() error {
	switch {
	case p.NumTrees < 1:
		return fmt.Errorf("num_trees must be ≥ 1, got %d", p.NumTrees)
	case !(p.LearningRate > 0):
		return fmt.Errorf("learning_rate must be > 0, got %v", p.LearningRate)
	case p.MaxLeaves < 2:
		return fmt.Errorf("max_leaves must be ≥ 2, got %d", p.MaxLeaves)
	case p.MaxDepth < 0:
		return fmt.Errorf("max_depth must be ≥ 0, got %d", p.MaxDepth)
	case p.MinDataInLeaf < 0 || p.MinSumHessian < 0 || p.Lambda < 0 || p.MinGain < 0:
		return errors.New("min_data_in_leaf, min_sum_hessian, lambda and min_gain must be ≥ 0")
	case !(p.Subsample > 0 && p.Subsample <= 1):
		return fmt.Errorf("subsample must be in (0, 1], got %v", p.Subsample)
	case !(p.ColsampleByTree > 0 && p.ColsampleByTree <= 1):
		return fmt.Errorf("colsample_bytree must be in (0, 1], got %v", p.ColsampleByTree)
	case p.MaxBins < 2 || p.MaxBins > 255:
		return fmt.Errorf("max_bins must be in [2, 255], got %d", p.MaxBins)
	case p.EarlyStoppingRounds < 0:
		return fmt.Errorf("early_stopping_rounds must be ≥ 0, got %d", p.EarlyStoppingRounds)
	}
	for f, c := range p.Monotone {
		if c < -1 || c > 1 {
			return fmt.Errorf("monotone constraint of feature %d is %d, want -1, 0 or 1", f, c)
		}
	}
	return nil
}

// constrained reports whether any feature has a monotone constraint.
func (p Params) constrained() bool {
	for _, c := range p.Monotone {
		if c != 0 {
			return true
		}
	}
	return false
}

// Data is a column-major table for training or scoring: Cols[f][i] is
// feature f of row i (NaN when missing; ±Inf are ordinary, extreme values). Y holds targets in [0, 1] (soft
// labels allowed) and W optional non-negative row weights (nil: all 1).
type Data struct {
	Cols [][]float64
	Y    []float64
	W    []float64
}

// Rows returns the number of rows.
func (d *Data) Rows() int {
	if len(d.Cols) > 0 {
		return len(d.Cols[0])
	}
	return len(d.Y)
}

func (d *Data) check(name string, nf int, needY bool) error {
	if len(d.Cols) != nf {
		return fmt.Errorf("%s: %d feature columns, want %d", name, len(d.Cols), nf)
	}
	n := d.Rows()
	for f, c := range d.Cols {
		if len(c) != n {
			return fmt.Errorf("%s: column %d has %d rows, want %d", name, f, len(c), n)
		}
	}
	if needY {
		if len(d.Y) != n {
			return fmt.Errorf("%s: %d targets for %d rows", name, len(d.Y), n)
		}
		for i, y := range d.Y {
			if !(y >= 0 && y <= 1) {
				return fmt.Errorf("%s: row %d: target %v outside [0, 1]", name, i, y)
			}
		}
	}
	if d.W != nil {
		if len(d.W) != n {
			return fmt.Errorf("%s: %d weights for %d rows", name, len(d.W), n)
		}
		for i, w := range d.W {
			if !(w >= 0) || math.IsInf(w, 0) {
				return fmt.Errorf("%s: row %d: weight %v is not a finite non-negative number", name, i, w)
			}
		}
	}
	return nil
}

func (d *Data) weight(i int) float64 {
	if d.W == nil {
		return 1
	}
	return d.W[i]
}

// TrainResult describes a training run.
type TrainResult struct {
	// BestIteration is the number of trees kept (the best validation round, or all).
	BestIteration int `json:"best_iteration"`
	// TrainLogLoss is the weighted training log-loss of the final model
	// (before cutting back to BestIteration).
	TrainLogLoss float64 `json:"train_logloss"`
	// ValidLogLoss is the weighted validation log-loss after each round (empty without validation data).
	ValidLogLoss []float64 `json:"-"`
	// BestValidLogLoss is the validation log-loss of the kept model (NaN without validation data).
	BestValidLogLoss float64 `json:"best_valid_logloss"`
	// InitScore is the log-odds of the weighted mean target, folded into the first tree.
	InitScore float64 `json:"init_score"`
}

// histEntry accumulates one bin: sums of gradients and hessians. Row counts,
// needed only for min_data_in_leaf > 1, are kept apart (trainer.counts) so
// that the common path adds 16 bytes per row and feature.
type histEntry struct {
	G, H float64
}

type gradPair struct {
	G, H float64
}

// forceCounts makes every training keep row counts (tests compare both paths).
var forceCounts = false

// binsPerFeature is the fixed histogram stride: 255 value bins at most plus the missing bin.
const binsPerFeature = 256

// featHist is the histogram of one feature; a uint8 bin indexes it without
// a bounds check.
type featHist [binsPerFeature]histEntry

// featCounts holds the row counts of one feature's bins, like featHist.
type featCounts [binsPerFeature]uint32

// binMapper holds the bin boundaries of every feature. A value v goes to the
// first bin b with v <= upper[b]; NaN goes to bin len(upper) (the missing bin).
// The last upper bound is +Inf.
type binMapper struct {
	upper [][]float64
	min   []float64 // smallest and largest finite value seen (feature_infos); NaN if none
	max   []float64
	// search[f] holds the orderedKey of upper[f], padded with that of +Inf
	// to a power of two, for the branch-free binary search of binColumn.
	search [][]uint64
}

func (m *binMapper) numBins(f int) int { return len(m.upper[f]) }

// orderedKey maps a non-NaN float to an integer with the same order: a <=
// b exactly when orderedKey(a) <= orderedKey(b). Adding +0 turns −0 into
// +0, so that the two zeros, equal as floats, get one key.
func orderedKey(v float64) uint64 {
	b := math.Float64bits(v + 0)
	// negative: flip every bit (larger magnitudes are smaller); else set the sign bit
	return b ^ (uint64(int64(b)>>63) | 1<<63)
}

// binColumn sets out[i] to the bin of c[i] (see binMapper): the first
// index b with c[i] <= upper[f][b], found without branches (random values
// would mispredict them): every index below b is < c[i], and the answer
// lies in [b, b+2·step); the search table ends with +Inf.
func (m *binMapper) binColumn(f int, c []float64, out []uint8) {
	miss, s := uint8(len(m.upper[f])), m.search[f]
	out = out[:len(c)]
	for i, v := range c {
		if v != v {
			out[i] = miss
			continue
		}
		k := orderedKey(v)
		b := 0
		for step := len(s) >> 1; step > 0; step >>= 1 {
			_, less := bits.Sub64(s[b+step-1], k, 0) // 1 when s[b+step-1] < k
			b += step & -int(less)
		}
		out[i] = uint8(b)
	}
}

// setSearch fills m.search from m.upper.
func (m *binMapper) setSearch() {
	m.search = make([][]uint64, len(m.upper))
	for f, u := range m.upper {
		p := 1
		for p < len(u) {
			p <<= 1
		}
		s := make([]uint64, p)
		for i := range s {
			if i < len(u) {
				s[i] = orderedKey(u[i])
			} else {
				s[i] = orderedKey(math.Inf(1))
			}
		}
		m.search[f] = s
	}
}

// findBins computes bin boundaries of one column from a sample of its values:
// all distinct values get a bin when there are at most maxBins of them,
// otherwise greedy quantiles. Boundaries are midpoints between neighbouring
// distinct values, as LightGBM does.
func findBins(vals []float64, maxBins int) (upper []float64, lo, hi float64) {
	vals = slices.DeleteFunc(vals, func(v float64) bool { return v != v })
	if len(vals) == 0 {
		return []float64{math.Inf(1)}, math.NaN(), math.NaN()
	}
	slices.Sort(vals)
	lo, hi = vals[0], vals[len(vals)-1]
	distinct := make([]float64, 0, 64)
	counts := make([]int, 0, 64)
	for i, v := range vals {
		if i == 0 || v != vals[i-1] {
			distinct = append(distinct, v)
			counts = append(counts, 0)
		}
		counts[len(counts)-1]++
	}
	mid := func(i int) float64 { // boundary between distinct[i] and distinct[i+1]
		m := distinct[i] + (distinct[i+1]-distinct[i])/2
		if !(m < distinct[i+1] && m >= distinct[i]) || math.IsInf(m, 0) {
			// rounding, or an infinite neighbour: cut right after distinct[i]
			m = distinct[i]
		}
		return m
	}
	if len(distinct) <= maxBins {
		for i := 0; i+1 < len(distinct); i++ {
			upper = append(upper, mid(i))
		}
	} else {
		rest := len(vals)
		binsLeft := maxBins
		acc := 0
		for i := 0; i+1 < len(distinct) && binsLeft > 1; i++ {
			acc += counts[i]
			target := float64(rest) / float64(binsLeft)
			// cut when this bin is full, or when the next value alone would overfill it
			if float64(acc) >= target || float64(acc+counts[i+1]) > 1.5*target && acc > 0 && float64(acc) >= 0.5*target {
				upper = append(upper, mid(i))
				rest -= acc
				acc = 0
				binsLeft--
			}
		}
	}
	upper = slices.Compact(upper)
	upper = append(upper, math.Inf(1))
	return upper, lo, hi
}

func newBinMapper(cols [][]float64, maxBins, sampleRows int, seed uint64, threads int) *binMapper {
	nf := len(cols)
	n := 0
	if nf > 0 {
		n = len(cols[0])
	}
	var sample []int
	if sampleRows > 0 && n > sampleRows {
		// deterministic sample without replacement (selection sampling)
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		sample = make([]int, 0, sampleRows)
		need := sampleRows
		for i := 0; i < n && need > 0; i++ {
			if rng.IntN(n-i) < need {
				sample = append(sample, i)
				need--
			}
		}
	}
	m := &binMapper{upper: make([][]float64, nf), min: make([]float64, nf), max: make([]float64, nf)}
	parallelFor(nf, threads, func(f int) {
		var vals []float64
		if sample != nil {
			vals = make([]float64, len(sample))
			for k, i := range sample {
				vals[k] = cols[f][i]
			}
		} else {
			vals = slices.Clone(cols[f])
		}
		m.upper[f], m.min[f], m.max[f] = findBins(vals, maxBins)
	})
	m.setSearch()
	return m
}

// binColumns maps every column to bins.
func (m *binMapper) binColumns(cols [][]float64, threads int) [][]uint8 {
	out := make([][]uint8, len(cols))
	parallelFor(len(cols), threads, func(f int) {
		out[f] = make([]uint8, len(cols[f]))
		m.binColumn(f, cols[f], out[f])
	})
	return out
}

// parallelFor runs fn(0..n-1) on up to threads goroutines (threads ≤ 1:
// in order, on the caller's) with the project's one work queue,
// parallel.Do. Each index runs exactly once; results must not depend on
// which goroutine ran it.
func parallelFor(n, threads int, fn func(i int)) {
	_ = parallel.Do(n, max(1, threads), func(_, i int) error {
		fn(i)
		return nil
	})
}

// splitInfo is the best split found for a leaf.
type splitInfo struct {
	gain        float64
	feature     int
	bin         int // rows with bin <= this go left
	defaultLeft bool
	lG, lH      float64
}

type leafState struct {
	start, cnt int
	buf        int // the buffer holding the leaf's rows (trainer.rowsBuf)
	g, h       float64
	depth      int
	// lo and hi bound the leaf's output and those of every leaf grown
	// from it (monotone constraints; ±Inf without).
	lo, hi float64
	best   splitInfo
}

// trainer holds the buffers reused across trees: nothing is allocated per node.
type trainer struct {
	p       Params
	threads int
	n, nf   int
	bins    [][]uint8 // column-major: bins[f][i] (scoring a row sample's tree)
	rowBins []uint64  // row-major, in row order, packed: see binRows
	mapper  *binMapper
	gh      []gradPair // gradient pairs, in row order
	// A tree's rows, with their bins and gradient pairs, in node order.
	// Buffers come in pairs: a leaf holding rows [start, start+cnt) in
	// buffer b (leafState.buf) has them at rowsBuf[b][start:start+cnt],
	// their gradient pairs at ghBuf[b][start:start+cnt] and the bins of the
	// k active features at binsBuf[b][start*kw:(start+cnt)*kw], packed as
	// by binRows (column j is feature active[j]). A partition moves a
	// leaf's rows, bins and gradient pairs to the same range of the other
	// buffer, so that every node's histograms are built from contiguous
	// memory, with no copy back. While rootInRowBins, the root's bins are
	// those of rowBins itself (all features active, no row sample).
	rowsBuf       [2][]int32
	ghBuf         [2][]gradPair // ghBuf[0] is gh itself without a row sample: gh is scratch after the root's sums
	binsBuf       [2][]uint64
	ghSample      []gradPair
	goesLeft      []uint8 // partition scratch: 1 for the rows going left
	rootInRowBins bool
	k, kw         int            // number of active features, words per row
	hists         [][]featHist   // one per leaf slot; hists[l][j] is feature active[j]
	counts        [][]featCounts // row counts per bin, like hists; nil unless useCounts
	// useCounts: min_data_in_leaf > 1 needs exact row counts per bin;
	// otherwise a side is non-empty when it holds a row of positive hessian.
	useCounts bool
	leaves    []leafState
	active    []int // features offered to this tree
	// histGroups splits the columns of binsBuf into the histogram tasks of buildHist.
	histGroups []histGroup
	bagged     bool        // this tree sees a row sample; otherwise the root holds all rows in order
	featBest   []splitInfo // per feature: the split search of a leaf
	featBestR  []splitInfo // and of its sibling
	lossSums   []float64
	chunkLeft  []int
	// mono is Params.Monotone, nil when no feature is constrained: the
	// unconstrained model is then grown by exactly the code paths (and
	// arithmetic) it would be without the field.
	mono []int8
}

// Train fits a binary log-loss GBDT on train and, when valid is not nil,
// stops early on its log-loss. names labels the feature columns in the model
// file. Training is deterministic for Params.Seed and independent of
// Params.Threads.
func Train(ctx context.Context, p Params, names []string, train, valid *Data) (*Model, *TrainResult, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, fmt.Errorf("gbdt params: %w", err)
	}
	nf := len(train.Cols)
	if nf == 0 {
		return nil, nil, errors.New("train: no feature columns")
	}
	if len(names) != nf {
		return nil, nil, fmt.Errorf("train: %d feature names for %d columns", len(names), nf)
	}
	if len(p.Monotone) != 0 && len(p.Monotone) != nf {
		return nil, nil, fmt.Errorf("train: %d monotone constraints for %d columns", len(p.Monotone), nf)
	}
	if err := train.check("train", nf, true); err != nil {
		return nil, nil, err
	}
	n := train.Rows()
	if n == 0 {
		return nil, nil, errors.New("train: no rows")
	}
	if valid != nil {
		if err := valid.check("validation", nf, true); err != nil {
			return nil, nil, err
		}
		if valid.Rows() == 0 {
			valid = nil
		}
	}
	t := newTrainer(p, train.Cols)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}

	// init score: log-odds of the weighted mean target
	var sw, swy float64
	for i := 0; i < n; i++ {
		w := train.weight(i)
		sw += w
		swy += w * train.Y[i]
	}
	if !(sw > 0) {
		return nil, nil, errors.New("train: weights sum to zero")
	}
	mean := swy / sw
	mean = min(max(mean, 1e-15), 1-1e-15)
	init := math.Log(mean / (1 - mean))

	model := &Model{FeatureNames: slices.Clone(names), FeatureInfos: make([]string, nf)}
	for f := range nf {
		if math.IsNaN(t.mapper.min[f]) || t.mapper.min[f] == t.mapper.max[f] && len(t.mapper.upper[f]) == 1 {
			model.FeatureInfos[f] = "none"
		} else {
			model.FeatureInfos[f] = "[" + fmtFloat(t.mapper.min[f]) + ":" + fmtFloat(t.mapper.max[f]) + "]"
		}
	}
	model.Parameters = p.lightGBMParameters()
	if t.mono != nil {
		model.Monotone = slices.Clone(t.mono)
		// before "[trainer: faultline]", the last line
		last := len(model.Parameters) - 1
		model.Parameters = append(append(model.Parameters[:last:last], p.monotoneParameters()...), model.Parameters[last])
	}

	score := make([]float64, n)
	for i := range score {
		score[i] = init
	}
	var vscore []float64
	if valid != nil {
		vscore = make([]float64, valid.Rows())
		for i := range vscore {
			vscore[i] = init
		}
	}
	res := &TrainResult{InitScore: init, BestValidLogLoss: math.NaN()}
	best, bestRound := math.Inf(1), 0
	for round := 0; round < p.NumTrees; round++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		rng := rand.New(rand.NewPCG(p.Seed, uint64(round)+1))
		// gradients of the log-loss at the current scores, and the loss itself
		t.gradients(score, train, false)
		tree := t.growTree(rng)
		shrink := p.LearningRate
		tree.scale(shrink)
		if round == 0 {
			tree.addBias(init)
			// the scores already hold init; add only the tree's own part below
		}
		// update training scores
		if !t.bagged {
			// leaves hold disjoint rows: update them in parallel
			parallelFor(tree.NumLeaves, t.threads, func(l int) {
				v := tree.LeafValue[l]
				if round == 0 {
					v -= init
				}
				ls := t.leaves[l]
				for _, r := range t.rowsBuf[ls.buf][ls.start : ls.start+ls.cnt] {
					score[r] += v
				}
			})
		} else {
			bt := t.binnedTree(&tree)
			parallelChunks(n, t.threads, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					l := bt.leaf(t.bins, i)
					v := tree.LeafValue[l]
					if round == 0 {
						v -= init
					}
					score[i] += v
				}
			})
		}
		model.Trees = append(model.Trees, tree)
		if valid != nil {
			vr := valid.Rows()
			tr := &model.Trees[len(model.Trees)-1]
			parallelChunks(vr, t.threads, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					v := tr.predictCol(valid.Cols, i)
					if round == 0 {
						v -= init
					}
					vscore[i] += v
				}
			})
			ll := logLossScores(vscore, valid.Y, valid.W)
			res.ValidLogLoss = append(res.ValidLogLoss, ll)
			if ll < best-1e-12 {
				best, bestRound = ll, round+1
			} else if p.EarlyStoppingRounds > 0 && round+1-bestRound >= p.EarlyStoppingRounds {
				break
			}
		}
	}
	res.TrainLogLoss = t.gradients(score, train, true)
	if valid != nil {
		model.Trees = model.Trees[:bestRound]
		res.BestIteration = bestRound
		res.BestValidLogLoss = best
	} else {
		res.BestIteration = len(model.Trees)
	}
	return model, res, nil
}

// newTrainer bins the feature columns cols (validated) and allocates the
// buffers of training: nothing is allocated per tree or node after this.
func newTrainer(p Params, cols [][]float64) *trainer {
	threads := p.Threads
	if threads <= 0 {
		threads = defaultThreads()
	}
	nf := len(cols)
	n := len(cols[0])
	t := &trainer{p: p, threads: threads, n: n, nf: nf}
	if p.constrained() {
		t.mono = slices.Clone(p.Monotone)
	}
	t.mapper = newBinMapper(cols, p.MaxBins, p.BinSampleRows, p.Seed, threads)
	t.bins = t.mapper.binColumns(cols, threads)
	t.rowBins = binRows(t.bins, n, threads)
	t.gh = make([]gradPair, n)
	for b := range 2 {
		t.rowsBuf[b] = make([]int32, n)
		t.binsBuf[b] = make([]uint64, n*rowWords(nf))
	}
	t.ghBuf[1] = make([]gradPair, n)
	if p.Subsample < 1 {
		t.ghSample = make([]gradPair, n)
	}
	t.goesLeft = make([]uint8, n)
	t.hists = make([][]featHist, p.MaxLeaves)
	for i := range t.hists {
		t.hists[i] = make([]featHist, nf)
	}
	if t.useCounts = p.MinDataInLeaf > 1 || forceCounts; t.useCounts {
		t.counts = make([][]featCounts, p.MaxLeaves)
		for i := range t.counts {
			t.counts[i] = make([]featCounts, nf)
		}
	}
	t.leaves = make([]leafState, p.MaxLeaves)
	t.featBest = make([]splitInfo, nf)
	t.featBestR = make([]splitInfo, nf)
	return t
}

// gradients fills t.gh at the scores and, when withLoss, returns the weighted
// mean log-loss there (NaN otherwise). Chunk sums are added in chunk order:
// deterministic for any Threads.
func (t *trainer) gradients(score []float64, d *Data, withLoss bool) float64 {
	n := len(score)
	nc := (n + gradChunk - 1) / gradChunk
	if cap(t.lossSums) < 2*nc {
		t.lossSums = make([]float64, 2*nc)
	}
	sums := t.lossSums[:2*nc]
	parallelFor(nc, t.threads, func(c int) {
		lo, hi := c*gradChunk, min(n, (c+1)*gradChunk)
		var ls, ws float64
		for i := lo; i < hi; i++ {
			s := score[i]
			y := d.Y[i]
			w := d.weight(i)
			e := math.Exp(-s)
			pr := 1 / (1 + e)
			if withLoss {
				var loss float64
				if s > -30 {
					loss = (1-y)*s + math.Log1p(e) // log(1+e^s) − y·s
				} else {
					loss = math.Log1p(math.Exp(s)) - y*s
				}
				ls += w * loss
				ws += w
			}
			t.gh[i] = gradPair{G: w * (pr - y), H: w * max(pr*(1-pr), 1e-16)}
		}
		sums[2*c], sums[2*c+1] = ls, ws
	})
	if !withLoss {
		return math.NaN()
	}
	var ls, ws float64
	for c := 0; c < nc; c++ {
		ls += sums[2*c]
		ws += sums[2*c+1]
	}
	return ls / ws
}

const gradChunk = 16384

func parallelChunks(n, threads int, fn func(lo, hi int)) {
	const chunk = 16384
	nc := (n + chunk - 1) / chunk
	parallelFor(nc, threads, func(c int) {
		fn(c*chunk, min(n, (c+1)*chunk))
	})
}

func logLossScores(score, y, w []float64) float64 {
	var s, sw float64
	for i, sc := range score {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		s += wi * logLossOne(sc, y[i])
		sw += wi
	}
	if sw == 0 {
		return math.NaN()
	}
	return s / sw
}

// logLossOne is the log-loss of raw score sc against target y, computed stably.
func logLossOne(sc, y float64) float64 {
	// -y log σ(s) - (1-y) log(1-σ(s)) = log(1+e^s) - y s
	var sp float64
	if sc > 0 {
		sp = sc + math.Log1p(math.Exp(-sc))
	} else {
		sp = math.Log1p(math.Exp(sc))
	}
	return sp - y*sc
}

// growTree grows one tree leaf-wise on the current gradients.
func (t *trainer) growTree(rng *rand.Rand) Tree {
	p := t.p
	// feature subsample
	t.active = t.active[:0]
	if p.ColsampleByTree < 1 {
		k := max(1, int(math.Round(p.ColsampleByTree*float64(t.nf))))
		perm := rng.Perm(t.nf)
		t.active = append(t.active, perm[:k]...)
		sort.Ints(t.active)
	} else {
		for f := 0; f < t.nf; f++ {
			t.active = append(t.active, f)
		}
	}
	t.k = len(t.active)
	t.kw = rowWords(t.k)
	t.setHistGroups()
	// row subsample
	nRoot := t.n
	if p.Subsample < 1 {
		nRoot = 0
		for i := 0; i < t.n; i++ {
			if rng.Float64() < p.Subsample {
				t.rowsBuf[0][nRoot] = int32(i)
				nRoot++
			}
		}
		t.bagged = true
	} else {
		parallelChunks(t.n, t.threads, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				t.rowsBuf[0][i] = int32(i)
			}
		})
		t.bagged = false
	}
	tree := newTree(p.MaxLeaves)
	root := &t.leaves[0]
	*root = leafState{start: 0, cnt: nRoot, lo: math.Inf(-1), hi: math.Inf(1)}
	var g, h float64 // in row order, on one goroutine: the same sums for any Threads
	for _, r := range t.rowsBuf[0][:nRoot] {
		g += t.gh[r].G
		h += t.gh[r].H
	}
	root.g, root.h = g, h
	t.ghBuf[0] = t.gh
	if t.bagged {
		t.ghBuf[0] = t.ghSample
	}
	t.rootInRowBins = !t.bagged && t.k == t.nf
	if !t.rootInRowBins {
		t.gatherRoot(nRoot)
	}
	tree.LeafValue[0] = t.boundedOutput(root.g, root.h, root.lo, root.hi)
	tree.LeafWeight[0] = root.h
	tree.LeafCount[0] = int64(root.cnt)
	if nRoot == 0 {
		return tree
	}
	var c0 []featCounts
	if t.useCounts {
		c0 = t.counts[0]
	}
	sRoot := t.newLeafSearch(0, t.featBest)
	t.buildHist(t.hists[0], c0, 0, 0, nRoot, func(j int) { t.searchFeature(&sRoot, j) })
	t.finishSearch(&sRoot)
	for tree.NumLeaves < p.MaxLeaves {
		// the leaf with the largest gain; ties go to the lowest index
		bl, bg := -1, 0.0
		for l := 0; l < tree.NumLeaves; l++ {
			if g := t.leaves[l].best.gain; g > bg {
				bl, bg = l, g
			}
		}
		if bl < 0 {
			break
		}
		t.split(&tree, bl)
	}
	return tree
}

// gatherRoot fills buffer 0's bins (and gradient pairs, with a row sample) with the
// active features' bins (and gradient pairs) of rows[:nRoot].
func (t *trainer) gatherRoot(nRoot int) {
	kw, nfw := t.kw, rowWords(t.nf)
	parallelChunks(nRoot, t.threads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := int(t.rowsBuf[0][i])
			src := t.rowBins[r*nfw : r*nfw+nfw]
			dst := t.binsBuf[0][i*kw : i*kw+kw]
			if kw == nfw && t.k == t.nf {
				copy(dst, src)
			} else {
				clear(dst)
				for j, f := range t.active {
					dst[j>>3] |= uint64(binAt(src, f)) << (8 * (j & 7))
				}
			}
			if t.bagged {
				t.ghBuf[0][i] = t.gh[r]
			}
		}
	})
}

func (t *trainer) leafOutput(g, h float64) float64 {
	return -g / (h + t.p.Lambda)
}

// boundedOutput is the output of a leaf with sums g, h whose value must
// lie in [lo, hi] (monotone constraints); leafOutput without them.
func (t *trainer) boundedOutput(g, h, lo, hi float64) float64 {
	v := t.leafOutput(g, h)
	if t.mono != nil {
		v = min(max(v, lo), hi)
	}
	return v
}

// split applies the best split of leaf l: l becomes the left child, a new leaf the right.
func (t *trainer) split(tree *Tree, l int) {
	ls := &t.leaves[l]
	s := ls.best
	r := tree.NumLeaves
	// partition rows, stable; the children's bins and gradient pairs are
	// needed only if they can be split
	depth := ls.depth + 1
	canSplit := tree.NumLeaves+1 < t.p.MaxLeaves && (t.p.MaxDepth == 0 || depth < t.p.MaxDepth)
	nl := t.partition(ls, s, canSplit)
	buf := 1 - ls.buf
	nr := ls.cnt - nl

	parentG, parentH := ls.g, ls.h
	lo, hi := ls.lo, ls.hi
	lv := t.boundedOutput(s.lG, s.lH, lo, hi)
	rv := t.boundedOutput(parentG-s.lG, parentH-s.lH, lo, hi)
	upper := t.mapper.upper[s.feature][s.bin]
	tree.split(l, s.feature, upper, s.bin, s.defaultLeft, s.gain,
		t.boundedOutput(parentG, parentH, lo, hi), parentH, int64(ls.cnt),
		lv, s.lH, int64(nl),
		rv, parentH-s.lH, int64(nr))

	// Children inherit the bounds; a split on a constrained feature also
	// puts the midpoint of the two outputs between them, so that every leaf
	// later grown on the low side stays at or below every leaf grown on the
	// high side (split search kept lv <= rv for +1, lv >= rv for −1).
	lLo, lHi, rLo, rHi := lo, hi, lo, hi
	if t.mono != nil {
		if c := t.mono[s.feature]; c != 0 {
			mid := lv + (rv-lv)/2
			if c > 0 {
				lHi, rLo = min(hi, mid), max(lo, mid)
			} else {
				lLo, rHi = max(lo, mid), min(hi, mid)
			}
		}
	}
	t.leaves[r] = leafState{start: ls.start + nl, cnt: nr, buf: buf, g: parentG - s.lG, h: parentH - s.lH, depth: depth, lo: rLo, hi: rHi}
	*ls = leafState{start: ls.start, cnt: nl, buf: buf, g: s.lG, h: s.lH, depth: depth, lo: lLo, hi: lHi}
	t.leaves[r].best.gain = 0

	if !canSplit {
		return
	}
	canL := nl >= 2*max(1, t.p.MinDataInLeaf)
	canR := nr >= 2*max(1, t.p.MinDataInLeaf)
	if !canL && !canR {
		return
	}
	// Build the smaller child, subtract it from the parent (in l's slot)
	// for the sibling, and search both children's splits: one parallel
	// pass, each task finishing the features whose histograms it built.
	hl, hr := t.hists[l], t.hists[r]
	var cl, cr []featCounts
	if t.useCounts {
		cl, cr = t.counts[l], t.counts[r]
	}
	leftSmaller := nl <= nr
	start, cnt := t.leaves[r].start, nr
	if leftSmaller {
		start, cnt = ls.start, nl // left's histogram, temporarily in r's slot
	}
	var sl, sr leafSearch
	if canL {
		sl = t.newLeafSearch(l, t.featBest)
	}
	if canR {
		sr = t.newLeafSearch(r, t.featBestR)
	}
	t.buildHist(hr, cr, buf, start, cnt, func(j int) {
		nb := t.mapper.numBins(t.active[j]) + 1
		a, b := hl[j][:nb], hr[j][:nb]
		if leftSmaller { // r's slot holds the left child: swap, then subtract
			for i := range a {
				pa, pb := a[i], b[i]
				a[i] = pb
				b[i] = histEntry{pa.G - pb.G, pa.H - pb.H}
			}
		} else {
			for i := range a {
				a[i].G -= b[i].G
				a[i].H -= b[i].H
			}
		}
		if cl != nil {
			ca, cb := cl[j][:nb], cr[j][:nb]
			for i := range ca {
				if leftSmaller {
					ca[i], cb[i] = cb[i], ca[i]-cb[i]
				} else {
					ca[i] -= cb[i]
				}
			}
		}
		if canL {
			t.searchFeature(&sl, j)
		}
		if canR {
			t.searchFeature(&sr, j)
		}
	})
	if canL {
		t.finishSearch(&sl)
	}
	if canR {
		t.finishSearch(&sr)
	}
}

// partitionChunk is the row count per goroutine of a parallel partition.
const partitionChunk = 1 << 13

// partition moves the rows of leaf ls, with their bins and gradient pairs
// (only when withData), to the same range of the other buffer, stably, the
// rows going left under split s first, and returns their number. Two
// passes: mark the rows going left, then copy every row to its place,
// branch-free. Large leaves go in parallel chunks; a stable partition is
// unique, so the result does not depend on the chunking.
func (t *trainer) partition(ls *leafState, s splitInfo, withData bool) int {
	kw := t.kw
	start, cnt, from := ls.start, ls.cnt, ls.buf
	srcBins := t.binsBuf[from]
	if t.rootInRowBins {
		srcBins = t.rowBins // the root's first partition
		t.rootInRowBins = false
	}
	rows := t.rowsBuf[from][start : start+cnt]
	m := marker{col: t.bins[s.feature], rows: rows,
		missBin: uint8(t.mapper.numBins(s.feature)), thr: uint8(s.bin), dl: s.defaultLeft, left: t.goesLeft[start : start+cnt]}
	mv := mover{
		rows: rows, gh: t.ghBuf[from][start : start+cnt], bins: srcBins[start*kw : (start+cnt)*kw],
		toRows: t.rowsBuf[1-from][start : start+cnt], toGH: t.ghBuf[1-from][start : start+cnt],
		toBins: t.binsBuf[1-from][start*kw : (start+cnt)*kw], kw: kw, left: m.left, rowsOnly: !withData,
	}
	if t.threads <= 1 || cnt < 2*partitionChunk {
		nl := m.mark(0, cnt)
		mv.move(0, cnt, 0, nl)
		return nl
	}
	nc := (cnt + partitionChunk - 1) / partitionChunk
	if cap(t.chunkLeft) < nc {
		t.chunkLeft = make([]int, nc)
	}
	left := t.chunkLeft[:nc]
	parallelFor(nc, t.threads, func(c int) {
		left[c] = m.mark(c*partitionChunk, min(cnt, (c+1)*partitionChunk))
	})
	nl := 0
	for _, k := range left {
		nl += k
	}
	parallelFor(nc, t.threads, func(c int) {
		lo := c * partitionChunk
		lBefore := 0
		for _, k := range left[:c] {
			lBefore += k
		}
		// left rows before this chunk, then right ones after all left ones
		mv.move(lo, min(cnt, lo+partitionChunk), lBefore, nl+lo-lBefore)
	})
	return nl
}

// marker marks the rows of a leaf going left under a split on a feature
// whose column-major bins are col: left[i] = 1 when the bin of rows[i] is
// <= thr, or is the missing bin and dl. (A column of one byte a row, read
// in increasing row order, is lighter on memory than the rows' words.)
type marker struct {
	col          []uint8
	rows         []int32
	missBin, thr uint8
	dl           bool
	left         []uint8
}

// mark marks rows [lo, hi) and returns how many go left.
func (m *marker) mark(lo, hi int) int {
	var dl uint8
	if m.dl {
		dl = 1
	}
	left := m.left[lo:hi]
	rows, col := m.rows[lo:hi], m.col
	rows = rows[:len(left)]
	n := 0
	for i := range left {
		b := col[rows[i]]
		var l uint8
		if b <= m.thr {
			l = 1
		}
		if b == m.missBin {
			l = dl
		}
		left[i] = l
		n += int(l)
	}
	return n
}

// mover copies marked rows, with their gradient pairs and bins, to their
// places in the other buffer.
type mover struct {
	rows, toRows []int32
	gh, toGH     []gradPair
	bins, toBins []uint64
	kw           int
	left         []uint8
	rowsOnly     bool // move the rows only
}

// move copies rows [lo, hi): the left ones to toRows[l...], the others to
// toRows[r...], in order.
func (m *mover) move(lo, hi, l, r int) {
	left := m.left[lo:hi]
	if m.rowsOnly {
		moveRows(left, m.rows[lo:hi], nil, m.toRows, nil, l, r)
		return
	}
	// one loop for rows and gradient pairs, one for bins: fewer live
	// values than a single loop, which keeps them in registers
	moveRows(left, m.rows[lo:hi], m.gh[lo:hi], m.toRows, m.toGH, l, r)
	kw := m.kw
	bins, toBins := m.bins[lo*kw:hi*kw], m.toBins
	for i, isL := range left {
		// d = isL ? l : r, without a branch: the directions are random
		mask := -int(isL)
		d := r ^ ((l ^ r) & mask)
		l += int(isL)
		r += 1 - int(isL)
		copyWords(toBins[d*kw:d*kw+kw], bins[i*kw:i*kw+kw])
	}
}

// moveRows is mover.move for rows and gradient pairs (gh nil: rows only).
func moveRows(left []uint8, rows []int32, gh []gradPair, toRows []int32, toGH []gradPair, l, r int) {
	rows = rows[:len(left)]
	if gh == nil {
		for i, isL := range left {
			mask := -int(isL)
			d := r ^ ((l ^ r) & mask)
			l += int(isL)
			r += 1 - int(isL)
			toRows[d] = rows[i]
		}
		return
	}
	gh = gh[:len(left)]
	for i, isL := range left {
		mask := -int(isL)
		d := r ^ ((l ^ r) & mask)
		l += int(isL)
		r += 1 - int(isL)
		toRows[d] = rows[i]
		toGH[d] = gh[i]
	}
}

// copyWords copies src to dst, which has the same length: one row's bins,
// too short for a call to memmove to pay.
func copyWords(dst, src []uint64) {
	dst = dst[:len(src)]
	for i, w := range src {
		dst[i] = w
	}
}

// rowWords is the number of words holding k bins.
func rowWords(k int) int { return (k + 7) / 8 }

// binRows packs column-major bins row-major: row i's words are
// out[i*kw:(i+1)*kw] (kw = rowWords(len(cols))), and column f's bin is
// byte f&7 (from the least significant) of word f>>3. Packing into words
// lets a partition move a row with a few word copies and a histogram task
// read eight bins with one load. In parallel over blocks of rows.
func binRows(cols [][]uint8, n, threads int) []uint64 {
	kw := rowWords(len(cols))
	out := make([]uint64, n*kw)
	parallelChunks(n, threads, func(lo, hi int) {
		for f, c := range cols {
			w, sh := f>>3, 8*(f&7)
			for i, b := range c[lo:hi] {
				out[(lo+i)*kw+w] |= uint64(b) << sh
			}
		}
	})
	return out
}

// binAt returns column f's bin from a row's words.
func binAt(row []uint64, f int) uint8 { return uint8(row[f>>3] >> (8 * (f & 7))) }

// Histogram construction. Every bin is the sum of its rows' gradient pairs
// in row order (the node's rows stay in row order: partitions are stable),
// whichever grouping builds it, so the histograms, hence the model, are the
// same for any Threads.
//
// A node's rows are contiguous in binsBuf and ghBuf (see trainer): a row's
// gradient pair is loaded once and added to the bins of a group of
// features, read eight at a time from the row's words, and the node is one
// sequential stream. Groups hold at most histGroupWidth features (40 × 4 KiB
// of histogram stays in L2) and there are at least Threads of them: threads
// build disjoint features, with no reduction and no shared cache lines.
const (
	// histTaskRows is the least rows × features worth a second goroutine.
	histTaskRows = 1 << 16
	// histGroupWidth bounds the features of a histogram task.
	histGroupWidth = 40
)

// histGroup is a range of binsBuf columns that one task builds.
type histGroup struct{ j0, j1 int }

// setHistGroups splits the k columns into the tasks of buildHist, of
// about equal widths, cut at multiples of 4 columns (half words) where
// possible: histNode reads half and whole words with unrolled code.
func (t *trainer) setHistGroups() {
	k := t.k
	g := min(k, max(t.threads, (k+histGroupWidth-1)/histGroupWidth))
	t.histGroups = t.histGroups[:0]
	j0 := 0
	for i := 1; i <= g; i++ {
		j1 := k
		if i < g {
			j1 = max(j0+1, (i*k/g+2)&^3) // nearest multiple of 4, not empty
		}
		if j1 > k-(g-i) { // leave a column for each remaining group
			j1 = k - (g - i)
		}
		t.histGroups = append(t.histGroups, histGroup{j0, j1})
		j0 = j1
	}
}

// buildHist fills dst (and cdst, the row counts, when not nil) with the
// histograms of the node holding rows [start, start+cnt) of buffer buf,
// then calls done(j) for each column j, on the goroutine that built it, as
// soon as its histogram is complete.
func (t *trainer) buildHist(dst []featHist, cdst []featCounts, buf, start, cnt int, done func(j int)) {
	kw := t.kw
	bins := t.binsBuf[buf]
	if t.rootInRowBins {
		bins = t.rowBins
	}
	bins = bins[start*kw : (start+cnt)*kw]
	gh := t.ghBuf[buf][start : start+cnt]
	threads := t.threads
	if cnt*t.k < histTaskRows {
		threads = 1
	}
	parallelFor(len(t.histGroups), threads, func(g int) {
		j0, j1 := t.histGroups[g].j0, t.histGroups[g].j1
		for j := j0; j < j1; j++ {
			nb := t.mapper.numBins(t.active[j]) + 1
			clear(dst[j][:nb])
			if cdst != nil {
				clear(cdst[j][:nb])
			}
		}
		if cdst != nil {
			histNodeCounts(dst, cdst, bins, kw, j0, j1, gh)
		} else {
			histNode(dst, bins, kw, j0, j1, gh)
		}
		for j := j0; j < j1; j++ {
			done(j)
		}
	})
}

// histNode adds gh[i] to the bins of columns [j0, j1) of row i of bins (kw
// words a row), for every i; h[j] is column j. Whole words, and half words
// at the ends, go through unrolled code whose histograms sit at constant
// offsets; other columns one at a time.
func histNode(h []featHist, bins []uint64, kw, j0, j1 int, gh []gradPair) {
	w0, w1 := (j0+7)>>3, j1>>3 // whole words [w0, w1)
	if w0 > w1 {               // j0 and j1 in one word
		w0, w1 = j1>>3, j1>>3
	}
	head, tail := min(j1, w0<<3), max(j0, w1<<3) // columns [j0, head) and [tail, j1) apart
	headHalf := head-j0 == 4 && j0&7 == 4        // the high half of word j0>>3
	tailHalf := j1-tail == 4 && tail&7 == 0      // the low half of word tail>>3
	for i, g := range gh {
		row := bins[i*kw : i*kw+kw]
		if headHalf {
			v, hw := row[j0>>3]>>32, (*[4]featHist)(h[j0:])
			e := &hw[0][uint8(v)]
			e.G += g.G
			e.H += g.H
			e = &hw[1][uint8(v>>8)]
			e.G += g.G
			e.H += g.H
			e = &hw[2][uint8(v>>16)]
			e.G += g.G
			e.H += g.H
			e = &hw[3][uint8(v>>24)]
			e.G += g.G
			e.H += g.H
		} else {
			for j := j0; j < head; j++ {
				e := &h[j][uint8(row[j>>3]>>(8*(j&7)))]
				e.G += g.G
				e.H += g.H
			}
		}
		for w := w0; w < w1; w++ {
			v := row[w]
			hw := (*[8]featHist)(h[w<<3:])
			e := &hw[0][uint8(v)]
			e.G += g.G
			e.H += g.H
			e = &hw[1][uint8(v>>8)]
			e.G += g.G
			e.H += g.H
			e = &hw[2][uint8(v>>16)]
			e.G += g.G
			e.H += g.H
			e = &hw[3][uint8(v>>24)]
			e.G += g.G
			e.H += g.H
			e = &hw[4][uint8(v>>32)]
			e.G += g.G
			e.H += g.H
			e = &hw[5][uint8(v>>40)]
			e.G += g.G
			e.H += g.H
			e = &hw[6][uint8(v>>48)]
			e.G += g.G
			e.H += g.H
			e = &hw[7][uint8(v>>56)]
			e.G += g.G
			e.H += g.H
		}
		if tailHalf {
			v, hw := row[tail>>3], (*[4]featHist)(h[tail:])
			e := &hw[0][uint8(v)]
			e.G += g.G
			e.H += g.H
			e = &hw[1][uint8(v>>8)]
			e.G += g.G
			e.H += g.H
			e = &hw[2][uint8(v>>16)]
			e.G += g.G
			e.H += g.H
			e = &hw[3][uint8(v>>24)]
			e.G += g.G
			e.H += g.H
		} else {
			for j := tail; j < j1; j++ {
				e := &h[j][uint8(row[j>>3]>>(8*(j&7)))]
				e.G += g.G
				e.H += g.H
			}
		}
	}
}

// histNodeCounts is histNode that also counts rows per bin, one column at a
// time (min_data_in_leaf > 1: the small tables of typical use).
func histNodeCounts(h []featHist, cn []featCounts, bins []uint64, kw, j0, j1 int, gh []gradPair) {
	for i, g := range gh {
		row := bins[i*kw : i*kw+kw]
		for j := j0; j < j1; j++ {
			b := uint8(row[j>>3] >> (8 * (j & 7)))
			e := &h[j][b]
			e.G += g.G
			e.H += g.H
			cn[j][b]++
		}
	}
}

// leafSearch is the split search of one leaf: newLeafSearch, then
// searchFeature for every active feature (in any order, on any goroutine),
// then finishSearch.
type leafSearch struct {
	l                           int
	parentScore, minData, total float64
	bc                          boundedGain
	best                        []splitInfo // per feature
}

func (t *trainer) newLeafSearch(l int, best []splitInfo) leafSearch {
	ls := &t.leaves[l]
	p := t.p
	parentScore := ls.g * ls.g / (ls.h + p.Lambda)
	// With monotone constraints, a leaf with a finite bound scores every
	// split with outputs clamped to its bounds, against its own (clamped)
	// output; a constrained feature's splits must also keep the outputs in
	// its direction (mc below).
	var bc boundedGain
	if t.mono != nil {
		bc = boundedGain{lambda: p.Lambda, lo: ls.lo, hi: ls.hi, bounded: !math.IsInf(ls.lo, -1) || !math.IsInf(ls.hi, 1), parent: parentScore}
		if bc.bounded {
			bc.parent = gainAt(ls.g, ls.h, p.Lambda, t.boundedOutput(ls.g, ls.h, ls.lo, ls.hi))
		}
	}
	return leafSearch{l: l, parentScore: parentScore, minData: float64(max(1, p.MinDataInLeaf)), total: float64(ls.cnt), bc: bc, best: best}
}

// searchFeature finds the best split of the leaf on feature active[j],
// from its complete histogram, into s.best[active[j]].
func (t *trainer) searchFeature(s *leafSearch, j int) {
	f := t.active[j]
	ls := &t.leaves[s.l]
	hist := t.hists[s.l]
	p := t.p
	parentScore, minData, total, bc := s.parentScore, s.minData, s.total, &s.bc
	best := splitInfo{gain: 0, feature: -1}
	// useMC: score with bc (the feature is constrained, or the leaf is
	// bounded); mc is the feature's constraint, 0 for clamping only.
	var mc int8
	useMC := false
	if t.mono != nil {
		mc = t.mono[f]
		useMC = mc != 0 || bc.bounded
	}
	nb := t.mapper.numBins(f)
	if nb < 2 {
		s.best[f] = best
		return
	}
	h := hist[j][:nb+1]
	var cnt []uint32
	if t.useCounts {
		cnt = t.counts[s.l][j][:nb+1]
	}
	nonEmpty := func(b int) bool { return h[b].H > 0 || cnt != nil && cnt[b] > 0 }
	lastNZ := -1 // highest non-empty value bin
	for b := nb - 1; b >= 0; b-- {
		if nonEmpty(b) {
			lastNZ = b
			break
		}
	}
	miss := h[nb]
	missNZ := nonEmpty(nb)
	var missC float64
	if cnt != nil {
		missC = float64(cnt[nb])
	}
	var cg, ch, cc float64
	seen := false
	for b := 0; b < nb-1; b++ {
		e := h[b]
		nz := nonEmpty(b)
		if !nz && b > 0 {
			continue
		}
		seen = seen || nz
		cg += e.G
		ch += e.H
		if cnt != nil {
			cc += float64(cnt[b])
		}
		// missing right
		var ok bool
		if cnt != nil {
			ok = cc >= minData && total-cc >= minData
		} else {
			ok = seen && (b < lastNZ || missNZ)
		}
		if ok {
			lG, lH := cg, ch
			rG, rH := ls.g-lG, ls.h-lH
			if lH >= p.MinSumHessian && rH >= p.MinSumHessian {
				var gain float64
				if !useMC {
					gain = lG*lG/(lH+p.Lambda) + rG*rG/(rH+p.Lambda) - parentScore
				} else {
					gain = bc.gain(lG, lH, rG, rH, mc)
				}
				if gain > best.gain {
					dl := false
					if !missNZ {
						dl = lH > rH // no missing values here: send them to the heavier side
					}
					best = splitInfo{gain: gain, feature: f, bin: b, defaultLeft: dl, lG: lG, lH: lH}
				}
			}
		}
		// missing left
		if missNZ {
			if cnt != nil {
				lc := cc + missC
				ok = lc >= minData && total-lc >= minData
			} else {
				ok = b < lastNZ
			}
			if ok {
				lG, lH := cg+miss.G, ch+miss.H
				rG, rH := ls.g-lG, ls.h-lH
				if lH >= p.MinSumHessian && rH >= p.MinSumHessian {
					var gain float64
					if !useMC {
						gain = lG*lG/(lH+p.Lambda) + rG*rG/(rH+p.Lambda) - parentScore
					} else {
						gain = bc.gain(lG, lH, rG, rH, mc)
					}
					if gain > best.gain {
						best = splitInfo{gain: gain, feature: f, bin: b, defaultLeft: true, lG: lG, lH: lH}
					}
				}
			}
		}
	}
	s.best[f] = best
}

// finishSearch sets the leaf's best split: the best over the active
// features, the lowest feature on ties.
func (t *trainer) finishSearch(s *leafSearch) {
	best := splitInfo{gain: 0, feature: -1}
	for _, f := range t.active {
		if b := s.best[f]; b.feature >= 0 && b.gain > best.gain {
			best = b
		}
	}
	if best.feature >= 0 && !(best.gain > t.p.MinGain) {
		best = splitInfo{gain: 0, feature: -1}
	}
	t.leaves[s.l].best = best
}

// boundedGain scores splits under monotone constraints (LightGBM's "basic"
// method, XGBoost's approach): both children's outputs are clamped to the
// leaf's bounds [lo, hi]; a split on a feature constrained +1 (−1) whose
// left output (the lower values) is above (below) its right output is
// rejected; in a bounded leaf the gain is measured at the clamped outputs,
// against the leaf's own clamped output (parent).
type boundedGain struct {
	lambda, lo, hi float64
	bounded        bool    // lo or hi finite
	parent         float64 // the leaf's score: G²/(H+λ), or gainAt its clamped output when bounded
}

// gain returns the split's gain, 0 when the constraint rejects it.
func (b *boundedGain) gain(lG, lH, rG, rH float64, c int8) float64 {
	lv := min(max(-lG/(lH+b.lambda), b.lo), b.hi)
	rv := min(max(-rG/(rH+b.lambda), b.lo), b.hi)
	if c > 0 && lv > rv || c < 0 && lv < rv {
		return 0
	}
	if !b.bounded { // nothing clamped: the usual formula
		return lG*lG/(lH+b.lambda) + rG*rG/(rH+b.lambda) - b.parent
	}
	return gainAt(lG, lH, b.lambda, lv) + gainAt(rG, rH, b.lambda, rv) - b.parent
}

// gainAt is the score of a leaf with sums g, h at output v: twice the
// decrease of the second-order loss g·v + (h+λ)·v²/2 from v = 0, which is
// g²/(h+λ) at the optimal v = −g/(h+λ).
func gainAt(g, h, lambda, v float64) float64 {
	return -(2*g*v + (h+lambda)*v*v)
}

// binnedTree is a tree over bin indices, for scoring training rows.
type binnedTree struct {
	t       *Tree
	missBin []uint8
}

func (t *trainer) binnedTree(tr *Tree) binnedTree {
	mb := make([]uint8, len(tr.SplitFeature))
	for i, f := range tr.SplitFeature {
		mb[i] = uint8(t.mapper.numBins(int(f)))
	}
	return binnedTree{t: tr, missBin: mb}
}

func (b binnedTree) leaf(bins [][]uint8, i int) int {
	tr := b.t
	if tr.NumLeaves == 1 {
		return 0
	}
	node := int32(0)
	for {
		v := bins[tr.SplitFeature[node]][i]
		var left bool
		if v == b.missBin[node] {
			left = tr.DefaultLeft[node]
		} else {
			left = v <= tr.thresholdBin[node]
		}
		if left {
			node = tr.LeftChild[node]
		} else {
			node = tr.RightChild[node]
		}
		if node < 0 {
			return int(^node)
		}
	}
}
