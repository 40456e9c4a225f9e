package models

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/models/lightgbm"
)

// Tree is one regression tree in LightGBM's layout. Internal nodes are
// numbered 0..NumLeaves-2 (0 is the root); a child index c < 0 names leaf ^c.
// A row goes left at node i when its value of SplitFeature[i] is <=
// Threshold[i], or, when the value is NaN, when DefaultLeft[i] is true.
// LeafValue already includes the shrinkage (and, in a model's first tree,
// the initial score).
type Tree struct {
	NumLeaves      int
	SplitFeature   []int32
	SplitGain      []float64
	Threshold      []float64
	DefaultLeft    []bool
	LeftChild      []int32
	RightChild     []int32
	LeafValue      []float64
	LeafWeight     []float64
	LeafCount      []int64
	InternalValue  []float64
	InternalWeight []float64
	InternalCount  []int64
	Shrinkage      float64

	thresholdBin []uint8 // training only: the bin index behind Threshold
	leafParent   []int32 // training only
}

func newTree(maxLeaves int) Tree {
	return Tree{
		NumLeaves:  1,
		LeafValue:  append(make([]float64, 0, maxLeaves), 0),
		LeafWeight: append(make([]float64, 0, maxLeaves), 0),
		LeafCount:  append(make([]int64, 0, maxLeaves), 0),
		leafParent: append(make([]int32, 0, maxLeaves), -1),
		Shrinkage:  1,
	}
}

// split turns leaf l into an internal node; l becomes its left child and a
// new leaf (index NumLeaves) its right child, as LightGBM numbers them.
func (t *Tree) split(l, feature int, threshold float64, bin int, defaultLeft bool, gain float64,
	value, weight float64, count int64,
	lv, lw float64, lc int64, rv, rw float64, rc int64) {
	node := int32(t.NumLeaves - 1)
	r := t.NumLeaves
	if parent := t.leafParent[l]; parent >= 0 {
		if t.LeftChild[parent] == ^int32(l) {
			t.LeftChild[parent] = node
		} else {
			t.RightChild[parent] = node
		}
	}
	t.SplitFeature = append(t.SplitFeature, int32(feature))
	t.SplitGain = append(t.SplitGain, gain)
	t.Threshold = append(t.Threshold, threshold)
	t.thresholdBin = append(t.thresholdBin, uint8(bin))
	t.DefaultLeft = append(t.DefaultLeft, defaultLeft)
	t.LeftChild = append(t.LeftChild, ^int32(l))
	t.RightChild = append(t.RightChild, ^int32(r))
	t.InternalValue = append(t.InternalValue, value)
	t.InternalWeight = append(t.InternalWeight, weight)
	t.InternalCount = append(t.InternalCount, count)
	t.LeafValue[l], t.LeafWeight[l], t.LeafCount[l] = lv, lw, lc
	t.LeafValue = append(t.LeafValue, rv)
	t.LeafWeight = append(t.LeafWeight, rw)
	t.LeafCount = append(t.LeafCount, rc)
	t.leafParent[l] = node
	t.leafParent = append(t.leafParent, node)
	t.NumLeaves++
}

func (t *Tree) scale(s float64) {
	for i := range t.LeafValue {
		t.LeafValue[i] *= s
	}
	for i := range t.InternalValue {
		t.InternalValue[i] *= s
	}
	t.Shrinkage = s
}

func (t *Tree) addBias(b float64) {
	for i := range t.LeafValue {
		t.LeafValue[i] += b
	}
	for i := range t.InternalValue {
		t.InternalValue[i] += b
	}
}

// leafIndex returns the leaf that row (raw feature values) falls into.
func (t *Tree) leafIndex(row []float64) int {
	if t.NumLeaves <= 1 {
		return 0
	}
	node := int32(0)
	for node >= 0 {
		node = t.child(node, row[t.SplitFeature[node]])
	}
	return int(^node)
}

// child returns where value v of node's split feature goes from node: the
// child node, or ^leaf (negative) at a leaf. A missing value (NaN) follows
// the node's default direction.
func (t *Tree) child(node int32, v float64) int32 {
	if v != v {
		if t.DefaultLeft[node] {
			return t.LeftChild[node]
		}
		return t.RightChild[node]
	}
	if v <= t.Threshold[node] {
		return t.LeftChild[node]
	}
	return t.RightChild[node]
}

func (t *Tree) predict(row []float64) float64 { return t.LeafValue[t.leafIndex(row)] }

// predictCol is predict of row i of the column-major table cols (cols[f][i]
// is feature f): the same path, reading only the features on it rather
// than copying the row first.
func (t *Tree) predictCol(cols [][]float64, i int) float64 {
	if t.NumLeaves <= 1 {
		return t.LeafValue[0]
	}
	node := int32(0)
	for node >= 0 {
		node = t.child(node, cols[t.SplitFeature[node]][i])
	}
	return t.LeafValue[^node]
}

// Model is a binary GBDT: P(positive) = sigmoid(sum of the trees' leaf values).
type Model struct {
	Trees        []Tree
	FeatureNames []string
	// FeatureInfos are LightGBM's per-feature "[min:max]" strings ("none" for unusable features).
	FeatureInfos []string
	// Parameters are the lines of the file's parameters section, e.g. "[learning_rate: 0.05]".
	Parameters []string
	// Monotone holds the monotone constraint of every feature (+1
	// non-decreasing, −1 non-increasing, 0 none) the model was trained
	// with; nil when it has none (the trainer sets it only when a feature
	// is constrained). Exported as the header line monotone_constraints
	// when not nil.
	Monotone []int8
}

// NumFeatures returns the number of input features.
func (m *Model) NumFeatures() int { return len(m.FeatureNames) }

// PredictRaw returns the raw score (log-odds) of one row of raw feature
// values, summing the trees in order exactly as leaves does.
func (m *Model) PredictRaw(row []float64) float64 {
	s := 0.0
	for i := range m.Trees {
		s += m.Trees[i].predict(row)
	}
	return s
}

// Predict returns P(positive) for one row.
func (m *Model) Predict(row []float64) float64 { return metrics.Sigmoid(m.PredictRaw(row)) }

// PredictCols scores a column-major table (Cols[f][i]) and returns
// probabilities.
func (m *Model) PredictCols(cols [][]float64) ([]float64, error) {
	if len(cols) != m.NumFeatures() {
		return nil, fmt.Errorf("predict: %d columns, model has %d features", len(cols), m.NumFeatures())
	}
	n := 0
	if len(cols) > 0 {
		n = len(cols[0])
	}
	out := make([]float64, n)
	parallelChunks(n, defaultThreads(), func(lo, hi int) {
		row := make([]float64, len(cols))
		for i := lo; i < hi; i++ {
			for f := range cols {
				row[f] = cols[f][i]
			}
			out[i] = m.Predict(row)
		}
	})
	return out, nil
}

// SplitImportance returns the number of splits on each feature.
func (m *Model) SplitImportance() []int {
	imp := make([]int, m.NumFeatures())
	for _, t := range m.Trees {
		for _, f := range t.SplitFeature {
			if int(f) < len(imp) {
				imp[f]++
			}
		}
	}
	return imp
}

func defaultThreads() int { return max(1, runtime.GOMAXPROCS(0)) }

// fmtFloat writes the shortest decimal that parses back to exactly v, as
// the LightGBM text format does.
func fmtFloat(v float64) string { return lightgbm.FormatFloat(v) }

// lightGBMParameters renders params as the parameters section of a LightGBM
// model file (names as LightGBM spells them).
func (p Params) lightGBMParameters() []string {
	return []string{
		"[boosting: gbdt]",
		"[objective: binary]",
		"[num_iterations: " + strconv.Itoa(p.NumTrees) + "]",
		"[learning_rate: " + fmtFloat(p.LearningRate) + "]",
		"[num_leaves: " + strconv.Itoa(p.MaxLeaves) + "]",
		"[max_depth: " + strconv.Itoa(depthOrMinus1(p.MaxDepth)) + "]",
		"[min_data_in_leaf: " + strconv.Itoa(p.MinDataInLeaf) + "]",
		"[min_sum_hessian_in_leaf: " + fmtFloat(p.MinSumHessian) + "]",
		"[lambda_l2: " + fmtFloat(p.Lambda) + "]",
		"[min_gain_to_split: " + fmtFloat(p.MinGain) + "]",
		"[bagging_fraction: " + fmtFloat(p.Subsample) + "]",
		"[feature_fraction: " + fmtFloat(p.ColsampleByTree) + "]",
		"[max_bin: " + strconv.Itoa(p.MaxBins) + "]",
		"[early_stopping_round: " + strconv.Itoa(p.EarlyStoppingRounds) + "]",
		"[seed: " + strconv.FormatUint(p.Seed, 10) + "]",
		"[trainer: faultline]",
	}
}

// monotoneParameters are the parameter lines LightGBM writes for monotone
// constraints (values joined by commas, the "basic" method: the one the
// trainer implements); none without constraints.
func (p Params) monotoneParameters() []string {
	if !p.constrained() {
		return nil
	}
	vals := make([]string, len(p.Monotone))
	for i, c := range p.Monotone {
		vals[i] = strconv.Itoa(int(c))
	}
	return []string{
		"[monotone_constraints: " + strings.Join(vals, ",") + "]",
		"[monotone_constraints_method: basic]",
	}
}

func depthOrMinus1(d int) int {
	if d <= 0 {
		return -1
	}
	return d
}
