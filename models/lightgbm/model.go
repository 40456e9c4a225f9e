// Package lightgbm is LightGBM's text model format (version v3, as
// github.com/dmitryikh/leaves and LightGBM load it): the structure of a
// model (Model, Tree), one writer (Marshal), one reader (Parse, and
// ParseStrict for the exact layout Marshal writes), the check that a
// model's inputs are features of a schema (Load, Columns), and per-feature
// contributions to a raw score (Saabas attribution, Contributions).
//
// It uses the standard library only: the trainer (package models) converts
// its trees to a Model to export them, and the serving path (package
// detector) reads models with it without the training stack.
//
// In the format, leaf values already include the shrinkage (learning rate)
// and, in the first tree, the initial score: the raw score of a row is the
// sum of the leaf values it reaches, and P(positive) its sigmoid for the
// binary objective.
package lightgbm

import (
	"errors"
	"fmt"
)

// Decision-type bits of a split (LightGBM's tree.h): bit 0 marks a
// categorical split, bit 1 sends missing values left, bits 2-3 are the
// missing type (0 none, 1 zero, 2 NaN).
const (
	CategoricalMask = 1 << 0
	DefaultLeftMask = 1 << 1
	MissingNaN      = 2 << 2
)

// ObjectiveBinary is the objective Marshal's users write for a binary
// classifier: P(positive) = sigmoid(raw score).
const ObjectiveBinary = "binary sigmoid:1"

// ErrSchemaMismatch is returned (wrapped) by Load and Columns when a model
// reads features that the schema does not have.
var ErrSchemaMismatch = errors.New("feature schema mismatch")

// Model is a LightGBM text model: its header, trees and parameters.
// Optional parts LightGBM may leave out are nil when absent.
type Model struct {
	// NumClass is 1 for a binary classifier or a regression.
	NumClass int
	// NumTreePerIteration is the number of trees per boosting round (1
	// unless multi-class).
	NumTreePerIteration int
	LabelIndex          int
	// MaxFeatureIdx is the number of input features minus 1.
	MaxFeatureIdx int
	// Objective as written, e.g. ObjectiveBinary; "" when absent.
	Objective string
	// AverageOutput is set for random forests: the raw score is the mean,
	// not the sum, of the trees' outputs.
	AverageOutput bool
	// FeatureNames name the inputs; nil when the file lists none.
	FeatureNames []string
	// FeatureInfos are LightGBM's per-feature "[min:max]" strings ("none"
	// for unusable features); nil when absent.
	FeatureInfos []string
	// MonotoneConstraints are per feature -1, 0 or +1 (decreasing, none,
	// increasing); nil when the model has none. Written as the header line
	// monotone_constraints= when non-empty, as LightGBM does.
	MonotoneConstraints []int
	Trees               []Tree
	// Parameters are the lines of the parameters section, e.g.
	// "[learning_rate: 0.05]".
	Parameters []string
}

// Tree is one regression tree. Internal nodes are numbered
// 0..NumLeaves-2 (0 is the root); a child index c < 0 names leaf ^c. A row
// goes left at node i when its value of SplitFeature[i] is <= Threshold[i],
// or, when the value is missing, when DecisionType[i] has DefaultLeftMask.
// Per-node and per-leaf arrays other than SplitFeature, LeftChild,
// RightChild and LeafValue are nil when a file read by Parse leaves them
// out; Marshal needs them all.
type Tree struct {
	NumLeaves int
	// NumCat is the number of categorical splits; the writer supports none.
	NumCat         int
	SplitFeature   []int
	SplitGain      []float64
	Threshold      []float64
	DecisionType   []int
	LeftChild      []int
	RightChild     []int
	LeafValue      []float64
	LeafWeight     []float64
	LeafCount      []int64
	InternalValue  []float64
	InternalWeight []float64
	InternalCount  []int64
	// IsLinear marks linear trees (leaves holding linear models); the
	// writer supports none.
	IsLinear  bool
	Shrinkage float64

	shape *shape // set by the parser; see structure
}

// shape is a tree's topology read upwards, with the expected output of each
// internal node.
type shape struct {
	// leafParent[l] is the internal node whose child leaf l is; nodeParent
	// likewise for internal nodes (-1 at the root).
	leafParent []int
	nodeParent []int
	// nodeValue is each internal node's expected output: InternalValue
	// when written, else the leaf values averaged with leaf weights, leaf
	// counts or equal weights.
	nodeValue []float64
}

// NumFeatures returns the number of input features.
func (m *Model) NumFeatures() int { return m.MaxFeatureIdx + 1 }

// SplitImportance returns the number of splits on each feature.
func (m *Model) SplitImportance() []int {
	imp := make([]int, m.NumFeatures())
	for _, t := range m.Trees {
		for _, f := range t.SplitFeature {
			if f >= 0 && f < len(imp) {
				imp[f]++
			}
		}
	}
	return imp
}

// structure returns the tree's shape: the one the parser checked, or (for a
// tree built in memory) one computed now. It does not modify t.
func (t *Tree) structure() (*shape, error) {
	if t.shape != nil {
		return t.shape, nil
	}
	return newShape(t, nil)
}

// newShape checks that the nodes of t form one tree and computes its
// shape; fail reports an error against a key of the tree (nil: plain
// errors).
func newShape(t *Tree, fail func(key, format string, a ...any) error) (*shape, error) {
	if fail == nil {
		fail = func(key, format string, a ...any) error {
			return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...))
		}
	}
	ni := t.NumLeaves - 1
	s := &shape{leafParent: []int{-1}}
	if ni <= 0 {
		return s, nil
	}
	if len(t.LeftChild) != ni || len(t.RightChild) != ni || len(t.SplitFeature) != ni || len(t.LeafValue) != t.NumLeaves {
		return nil, fail("left_child", "inconsistent array lengths for %d leaves", t.NumLeaves)
	}
	for i := 0; i < ni; i++ {
		for _, c := range [2]int{t.LeftChild[i], t.RightChild[i]} {
			if c >= ni || c < 0 && ^c >= t.NumLeaves || c == 0 {
				return nil, fail("left_child", "node %d: child %d out of range", i, c)
			}
		}
	}
	// From the root, every node and leaf is reached exactly once.
	const unseen = -2
	s.nodeParent = make([]int, ni)
	s.leafParent = make([]int, t.NumLeaves)
	for i := range s.nodeParent {
		s.nodeParent[i] = unseen
	}
	for i := range s.leafParent {
		s.leafParent[i] = unseen
	}
	s.nodeParent[0] = -1
	stack := []int{0}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range [2]int{t.LeftChild[n], t.RightChild[n]} {
			if c < 0 {
				if s.leafParent[^c] != unseen {
					return nil, fail("left_child", "leaf %d reached twice", ^c)
				}
				s.leafParent[^c] = n
				continue
			}
			if s.nodeParent[c] != unseen {
				return nil, fail("left_child", "node %d reached twice", c)
			}
			s.nodeParent[c] = n
			stack = append(stack, c)
		}
	}
	for i, p := range s.nodeParent {
		if p == unseen {
			return nil, fail("left_child", "node %d unreachable from the root", i)
		}
	}
	for i, p := range s.leafParent {
		if p == unseen {
			return nil, fail("left_child", "leaf %d unreachable from the root", i)
		}
	}
	if len(t.InternalValue) == ni {
		s.nodeValue = t.InternalValue
	} else {
		s.nodeValue = averageNodeValues(t)
	}
	return s, nil
}

// averageNodeValues computes internal node values as the leaf values
// averaged with leaf weights, leaf counts or (when neither is there)
// equal weights.
func averageNodeValues(t *Tree) []float64 {
	w := make([]float64, t.NumLeaves)
	for i := range w {
		w[i] = 1
		switch {
		case len(t.LeafWeight) == t.NumLeaves:
			if t.LeafWeight[i] > 0 {
				w[i] = t.LeafWeight[i]
			}
		case len(t.LeafCount) == t.NumLeaves:
			if t.LeafCount[i] > 0 {
				w[i] = float64(t.LeafCount[i])
			}
		}
	}
	nv := make([]float64, t.NumLeaves-1)
	var walk func(c int) (sum, weight float64)
	walk = func(c int) (float64, float64) {
		if c < 0 {
			l := ^c
			return t.LeafValue[l] * w[l], w[l]
		}
		s1, w1 := walk(t.LeftChild[c])
		s2, w2 := walk(t.RightChild[c])
		nv[c] = (s1 + s2) / (w1 + w2)
		return s1 + s2, w1 + w2
	}
	walk(0)
	return nv
}

// RootValue is the tree's expected output before any split.
func (t *Tree) RootValue() float64 {
	s, err := t.structure()
	if err != nil || len(s.nodeValue) == 0 {
		return t.LeafValue[0]
	}
	return s.nodeValue[0]
}

// Contributions adds to contrib (indexed by feature) each feature's Saabas
// contribution to the raw score, given the leaf reached in each tree
// (leaves[i] for tree i, as returned by leaves' leaf-index predictions), and
// returns the bias (the sum of root values). The bias plus the sum of the
// contributions equals the raw score: along the path the row takes through
// a tree, every split moves the expected output from the node's value to
// the child's, and that change is credited to the split's feature.
func (m *Model) Contributions(leaves []int, contrib []float64) (bias float64, err error) {
	if len(leaves) != len(m.Trees) {
		return 0, fmt.Errorf("lightgbm: %d leaf indices for %d trees", len(leaves), len(m.Trees))
	}
	if len(contrib) <= m.MaxFeatureIdx {
		return 0, fmt.Errorf("lightgbm: contributions slice of %d for %d features", len(contrib), m.MaxFeatureIdx+1)
	}
	scale := 1.0
	if m.AverageOutput {
		scale = 1 / float64(len(m.Trees))
	}
	for i := range m.Trees {
		t := &m.Trees[i]
		l := leaves[i]
		if l < 0 || l >= len(t.LeafValue) {
			return 0, fmt.Errorf("lightgbm: tree %d: leaf %d out of range", i, l)
		}
		s, err := t.structure()
		if err != nil {
			return 0, fmt.Errorf("lightgbm: tree %d: %w", i, err)
		}
		root := t.LeafValue[0]
		if len(s.nodeValue) > 0 {
			root = s.nodeValue[0]
		}
		bias += scale * root
		child := t.LeafValue[l]
		for n := s.leafParent[l]; n >= 0; n = s.nodeParent[n] {
			if f := t.SplitFeature[n]; f >= 0 && f < len(contrib) {
				contrib[f] += scale * (child - s.nodeValue[n])
			}
			child = s.nodeValue[n]
		}
	}
	return bias, nil
}
