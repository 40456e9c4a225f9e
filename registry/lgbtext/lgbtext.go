// Package lgbtext reads the structure of LightGBM text (v3) models — header
// and tree topology, not the decision rules — for what inference libraries
// do not expose: the feature names a model was trained with and per-feature
// contributions to a prediction (Saabas path attribution).
//
// Predictions themselves come from github.com/dmitryikh/leaves; this package
// attributes a prediction given the leaf that leaves reached in each tree,
// so the two can never disagree about the path.
package lgbtext

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Model is the structure of a LightGBM text model.
type Model struct {
	NumClass      int
	MaxFeatureIdx int
	// FeatureNames as written by the trainer; nil when absent.
	FeatureNames  []string
	Objective     string
	AverageOutput bool
	Trees         []Tree
}

// Tree is one tree's topology and node values.
type Tree struct {
	// SplitFeature, Left and Right have one entry per internal node. A
	// negative child c is the leaf ^c (LightGBM's encoding).
	SplitFeature []int
	Left, Right  []int
	LeafValue    []float64
	// NodeValue is each internal node's expected output: LightGBM's
	// internal_value when written, else the leaf values averaged with
	// leaf_weight, leaf_count or equal weights.
	NodeValue []float64
	// leafParent[l] is the internal node whose child leaf l is; nodeParent
	// likewise for internal nodes (-1 at the root).
	leafParent []int
	nodeParent []int
}

// Parse reads a LightGBM text model.
func Parse(data []byte) (*Model, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	m := &Model{NumClass: 1, MaxFeatureIdx: -1}
	line := 0
	section := "header"
	var cur map[string]string
	curLine := 0
	flush := func() error {
		if cur == nil {
			return nil
		}
		t, err := parseTree(cur)
		if err != nil {
			return fmt.Errorf("line %d: tree %d: %w", curLine, len(m.Trees), err)
		}
		m.Trees = append(m.Trees, t)
		cur = nil
		return nil
	}
	sawVersion := false
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		if s == "end of trees" {
			if err := flush(); err != nil {
				return nil, err
			}
			section = "end"
			break
		}
		if strings.HasPrefix(s, "Tree=") {
			if err := flush(); err != nil {
				return nil, err
			}
			section = "tree"
			cur = map[string]string{}
			curLine = line
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		switch section {
		case "header":
			switch k {
			case "version":
				if v != "v2" && v != "v3" && v != "v4" {
					return nil, fmt.Errorf("line %d: unsupported model version %q", line, v)
				}
				sawVersion = true
			case "num_class":
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, fmt.Errorf("line %d: num_class: %w", line, err)
				}
				m.NumClass = n
			case "max_feature_idx":
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, fmt.Errorf("line %d: max_feature_idx: %w", line, err)
				}
				m.MaxFeatureIdx = n
			case "feature_names":
				m.FeatureNames = strings.Fields(v)
			case "objective":
				m.Objective = v
			}
			if k == "average_output" {
				m.AverageOutput = true
			}
		case "tree":
			cur[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if !sawVersion {
		return nil, fmt.Errorf("not a LightGBM text model: no version line in the header")
	}
	if m.MaxFeatureIdx < 0 {
		return nil, fmt.Errorf("header: no max_feature_idx")
	}
	if len(m.Trees) == 0 {
		return nil, fmt.Errorf("no trees")
	}
	for i, t := range m.Trees {
		for _, f := range t.SplitFeature {
			if f > m.MaxFeatureIdx {
				return nil, fmt.Errorf("tree %d: split on feature %d beyond max_feature_idx %d", i, f, m.MaxFeatureIdx)
			}
		}
	}
	return m, nil
}

func ints(kv map[string]string, k string, n int) ([]int, error) {
	f := strings.Fields(kv[k])
	if len(f) != n {
		return nil, fmt.Errorf("%s: %d values, want %d", k, len(f), n)
	}
	out := make([]int, n)
	for i, s := range f {
		x, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
		}
		out[i] = x
	}
	return out, nil
}

func floats(kv map[string]string, k string, n int) ([]float64, error) {
	f := strings.Fields(kv[k])
	if len(f) != n {
		return nil, fmt.Errorf("%s: %d values, want %d", k, len(f), n)
	}
	out := make([]float64, n)
	for i, s := range f {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
		}
		out[i] = x
	}
	return out, nil
}

func parseTree(kv map[string]string) (Tree, error) {
	var t Tree
	nl, err := strconv.Atoi(kv["num_leaves"])
	if err != nil || nl < 1 {
		return t, fmt.Errorf("num_leaves %q", kv["num_leaves"])
	}
	if t.LeafValue, err = floats(kv, "leaf_value", nl); err != nil {
		return t, err
	}
	t.leafParent = make([]int, nl)
	t.leafParent[0] = -1
	if nl == 1 {
		return t, nil
	}
	nn := nl - 1
	if t.SplitFeature, err = ints(kv, "split_feature", nn); err != nil {
		return t, err
	}
	if t.Left, err = ints(kv, "left_child", nn); err != nil {
		return t, err
	}
	if t.Right, err = ints(kv, "right_child", nn); err != nil {
		return t, err
	}
	t.nodeParent = make([]int, nn)
	for i := range t.nodeParent {
		t.nodeParent[i] = -2
	}
	for i := range t.leafParent {
		t.leafParent[i] = -2
	}
	t.nodeParent[0] = -1
	for i := 0; i < nn; i++ {
		for _, c := range [2]int{t.Left[i], t.Right[i]} {
			if c >= 0 {
				if c >= nn || c == 0 || t.nodeParent[c] != -2 {
					return t, fmt.Errorf("node %d: bad child %d", i, c)
				}
				t.nodeParent[c] = i
			} else {
				l := ^c
				if l >= nl || t.leafParent[l] != -2 {
					return t, fmt.Errorf("node %d: bad leaf child %d", i, c)
				}
				t.leafParent[l] = i
			}
		}
	}
	for i, p := range t.nodeParent {
		if p == -2 {
			return t, fmt.Errorf("node %d is unreachable", i)
		}
	}
	for l, p := range t.leafParent {
		if p == -2 {
			return t, fmt.Errorf("leaf %d is unreachable", l)
		}
	}
	if _, ok := kv["internal_value"]; ok {
		if t.NodeValue, err = floats(kv, "internal_value", nn); err != nil {
			return t, err
		}
		return t, nil
	}
	w := make([]float64, nl)
	var lw []float64
	if _, ok := kv["leaf_weight"]; ok {
		lw, _ = floats(kv, "leaf_weight", nl)
	}
	if lw == nil {
		if _, ok := kv["leaf_count"]; ok {
			lw, _ = floats(kv, "leaf_count", nl)
		}
	}
	for i := range w {
		w[i] = 1
		if lw != nil && lw[i] > 0 {
			w[i] = lw[i]
		}
	}
	t.NodeValue = make([]float64, nn)
	var walk func(c int) (sum, weight float64)
	walk = func(c int) (float64, float64) {
		if c < 0 {
			l := ^c
			return t.LeafValue[l] * w[l], w[l]
		}
		s1, w1 := walk(t.Left[c])
		s2, w2 := walk(t.Right[c])
		t.NodeValue[c] = (s1 + s2) / (w1 + w2)
		return s1 + s2, w1 + w2
	}
	walk(0)
	return t, nil
}

// RootValue is the tree's expected output before any split.
func (t *Tree) RootValue() float64 {
	if len(t.NodeValue) == 0 {
		return t.LeafValue[0]
	}
	return t.NodeValue[0]
}

// Contributions adds to contrib (indexed by feature) each feature's Saabas
// contribution to the raw score, given the leaf reached in each tree
// (leaves[i] for tree i, as returned by leaves' leaf-index predictions), and
// returns the bias (the sum of root values). The bias plus the sum of the
// contributions equals the raw score.
func (m *Model) Contributions(leaves []int, contrib []float64) (bias float64, err error) {
	if len(leaves) != len(m.Trees) {
		return 0, fmt.Errorf("lgbtext: %d leaf indices for %d trees", len(leaves), len(m.Trees))
	}
	if len(contrib) <= m.MaxFeatureIdx {
		return 0, fmt.Errorf("lgbtext: contributions slice of %d for %d features", len(contrib), m.MaxFeatureIdx+1)
	}
	scale := 1.0
	if m.AverageOutput {
		scale = 1 / float64(len(m.Trees))
	}
	for i := range m.Trees {
		t := &m.Trees[i]
		l := leaves[i]
		if l < 0 || l >= len(t.LeafValue) {
			return 0, fmt.Errorf("lgbtext: tree %d: leaf %d out of range", i, l)
		}
		bias += scale * t.RootValue()
		child := t.LeafValue[l]
		for n := t.leafParent[l]; n >= 0; n = t.nodeParent[n] {
			contrib[t.SplitFeature[n]] += scale * (child - t.NodeValue[n])
			child = t.NodeValue[n]
		}
	}
	return bias, nil
}
