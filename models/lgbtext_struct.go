package models

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// This file holds the one LightGBM text reader. ParseLightGBMText reads any
// LightGBM text model (v2–v4, as LightGBM itself or MarshalLightGBM writes
// it) into its structure, for what inference libraries do not expose: the
// feature names and per-feature contributions (Saabas attribution).
// ParseLightGBM (lgbtext.go) reads the exact layout MarshalLightGBM writes
// and interprets each tree with the same code (parseTextTree), then
// requires everything a round trip needs.

// LightGBMText is the structure of a LightGBM text model: header and tree
// topology, not the decision rules of categorical splits.
type LightGBMText struct {
	NumClass      int
	MaxFeatureIdx int
	// FeatureNames as written by the trainer; nil when absent.
	FeatureNames  []string
	Objective     string
	AverageOutput bool
	Trees         []TextTree
}

// TextTree is one tree's topology and node values as written.
type TextTree struct {
	NumLeaves int
	// SplitFeature, Left and Right have one entry per internal node. A
	// negative child c is the leaf ^c (LightGBM's encoding).
	SplitFeature []int
	Left, Right  []int
	// Threshold and DecisionType per internal node; nil when absent.
	Threshold    []float64
	DecisionType []int
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

// lgbBlock is the key=value lines of one tree block.
type lgbBlock struct {
	idx  int               // tree index
	kv   map[string]string // values by key
	line map[string]int    // 1-based line of each key
	// exact: values are separated by exactly one space (as MarshalLightGBM
	// writes them); otherwise by any white space.
	exact bool
}

func (b *lgbBlock) fail(key, format string, a ...any) error {
	if l, ok := b.line[key]; ok {
		return fmt.Errorf("line %d: tree %d: %s: %s", l, b.idx, key, fmt.Sprintf(format, a...))
	}
	return fmt.Errorf("tree %d: %s: %s", b.idx, key, fmt.Sprintf(format, a...))
}

func (b *lgbBlock) has(key string) bool {
	_, ok := b.kv[key]
	return ok
}

func (b *lgbBlock) get(key string) (string, error) {
	v, ok := b.kv[key]
	if !ok {
		return "", b.fail(key, "missing")
	}
	return v, nil
}

func (b *lgbBlock) fields(key string, want int) ([]string, error) {
	v, err := b.get(key)
	if err != nil {
		return nil, err
	}
	var f []string
	if !b.exact {
		f = strings.Fields(v)
	} else if v != "" {
		f = strings.Split(v, " ")
	} else if want != 0 {
		return nil, b.fail(key, "empty, want %d values", want)
	}
	if len(f) != want {
		return nil, b.fail(key, "%d values, want %d", len(f), want)
	}
	return f, nil
}

func (b *lgbBlock) floats(key string, want int) ([]float64, error) {
	return parseValues(b, key, want, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
}

func (b *lgbBlock) ints(key string, want int) ([]int64, error) {
	return parseValues(b, key, want, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
}

func parseValues[T any](b *lgbBlock, key string, want int, parse func(string) (T, error)) ([]T, error) {
	f, err := b.fields(key, want)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(f))
	for i, s := range f {
		if out[i], err = parse(s); err != nil {
			return nil, b.fail(key, "value %d: %v", i, err)
		}
	}
	return out, nil
}

func toInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// parseTextTree reads a tree block over nf features: leaf values, splits
// and children, checking that the nodes form one tree whose splits use
// features in range, and computes the node values. With b.exact the split
// keys are required even for a single leaf, as MarshalLightGBM writes them;
// decision_type and threshold are read when present.
func parseTextTree(b *lgbBlock, nf int) (TextTree, error) {
	var t TextTree
	nl, err := b.get("num_leaves")
	if err != nil {
		return t, err
	}
	t.NumLeaves, err = strconv.Atoi(nl)
	if err != nil || t.NumLeaves < 1 {
		return t, b.fail("num_leaves", "bad value %q", nl)
	}
	if t.LeafValue, err = b.floats("leaf_value", t.NumLeaves); err != nil {
		return t, err
	}
	ni := t.NumLeaves - 1
	t.leafParent = []int{-1}
	if ni == 0 && !b.exact {
		return t, nil
	}
	var sf, lc, rc []int64
	if sf, err = b.ints("split_feature", ni); err != nil {
		return t, err
	}
	if b.exact || b.has("decision_type") {
		dt, err := b.ints("decision_type", ni)
		if err != nil {
			return t, err
		}
		t.DecisionType = toInts(dt)
	}
	if lc, err = b.ints("left_child", ni); err != nil {
		return t, err
	}
	if rc, err = b.ints("right_child", ni); err != nil {
		return t, err
	}
	if b.exact || b.has("threshold") {
		if t.Threshold, err = b.floats("threshold", ni); err != nil {
			return t, err
		}
	}
	for i := 0; i < ni; i++ {
		if sf[i] < 0 || sf[i] >= int64(nf) {
			return t, b.fail("split_feature", "node %d: feature %d out of range", i, sf[i])
		}
		for _, c := range []int64{lc[i], rc[i]} {
			if c >= int64(ni) || c < 0 && ^c >= int64(t.NumLeaves) || c == 0 {
				return t, b.fail("left_child", "node %d: child %d out of range", i, c)
			}
		}
	}
	t.SplitFeature, t.Left, t.Right = toInts(sf), toInts(lc), toInts(rc)
	if ni == 0 {
		return t, nil
	}
	// The nodes must form one tree: from the root, every node and leaf is
	// reached exactly once.
	const unseen = -2
	t.nodeParent = make([]int, ni)
	t.leafParent = make([]int, t.NumLeaves)
	for i := range t.nodeParent {
		t.nodeParent[i] = unseen
	}
	for i := range t.leafParent {
		t.leafParent[i] = unseen
	}
	t.nodeParent[0] = -1
	stack := []int{0}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range [2]int{t.Left[n], t.Right[n]} {
			if c < 0 {
				if t.leafParent[^c] != unseen {
					return t, b.fail("left_child", "leaf %d reached twice", ^c)
				}
				t.leafParent[^c] = n
				continue
			}
			if t.nodeParent[c] != unseen {
				return t, b.fail("left_child", "node %d reached twice", c)
			}
			t.nodeParent[c] = n
			stack = append(stack, c)
		}
	}
	for i, p := range t.nodeParent {
		if p == unseen {
			return t, b.fail("left_child", "node %d unreachable from the root", i)
		}
	}
	for i, p := range t.leafParent {
		if p == unseen {
			return t, b.fail("left_child", "leaf %d unreachable from the root", i)
		}
	}
	if b.exact || b.has("internal_value") {
		t.NodeValue, err = b.floats("internal_value", ni)
		return t, err
	}
	t.NodeValue = averageNodeValues(b, &t)
	return t, nil
}

// averageNodeValues computes internal node values as the leaf values
// averaged with leaf_weight, leaf_count or (when neither is readable)
// equal weights.
func averageNodeValues(b *lgbBlock, t *TextTree) []float64 {
	var lw []float64
	if b.has("leaf_weight") {
		lw, _ = b.floats("leaf_weight", t.NumLeaves)
	}
	if lw == nil && b.has("leaf_count") {
		lw, _ = b.floats("leaf_count", t.NumLeaves)
	}
	w := make([]float64, t.NumLeaves)
	for i := range w {
		w[i] = 1
		if lw != nil && lw[i] > 0 {
			w[i] = lw[i]
		}
	}
	nv := make([]float64, t.NumLeaves-1)
	var walk func(c int) (sum, weight float64)
	walk = func(c int) (float64, float64) {
		if c < 0 {
			l := ^c
			return t.LeafValue[l] * w[l], w[l]
		}
		s1, w1 := walk(t.Left[c])
		s2, w2 := walk(t.Right[c])
		nv[c] = (s1 + s2) / (w1 + w2)
		return s1 + s2, w1 + w2
	}
	walk(0)
	return nv
}

// ParseLightGBMText reads the structure of any LightGBM text model (v2, v3
// or v4; any objective; optional feature_names and internal values). Lines
// it does not know are skipped. Errors name the line.
func ParseLightGBMText(data []byte) (*LightGBMText, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	m := &LightGBMText{NumClass: 1, MaxFeatureIdx: -1}
	var blocks []*lgbBlock
	var cur *lgbBlock
	line := 0
	sawVersion := false
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		if s == "end of trees" {
			break
		}
		if strings.HasPrefix(s, "Tree=") {
			cur = &lgbBlock{idx: len(blocks), kv: map[string]string{}, line: map[string]int{}}
			blocks = append(blocks, cur)
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		if cur != nil {
			cur.kv[k], cur.line[k] = v, line
			continue
		}
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
		case "average_output":
			m.AverageOutput = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line, err)
	}
	if !sawVersion {
		return nil, fmt.Errorf("not a LightGBM text model: no version line in the header")
	}
	if m.MaxFeatureIdx < 0 {
		return nil, fmt.Errorf("header: no max_feature_idx")
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("no trees")
	}
	for _, b := range blocks {
		t, err := parseTextTree(b, m.MaxFeatureIdx+1)
		if err != nil {
			return nil, err
		}
		m.Trees = append(m.Trees, t)
	}
	return m, nil
}

// RootValue is the tree's expected output before any split.
func (t *TextTree) RootValue() float64 {
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
func (m *LightGBMText) Contributions(leaves []int, contrib []float64) (bias float64, err error) {
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
		bias += scale * t.RootValue()
		child := t.LeafValue[l]
		for n := t.leafParent[l]; n >= 0; n = t.nodeParent[n] {
			contrib[t.SplitFeature[n]] += scale * (child - t.NodeValue[n])
			child = t.NodeValue[n]
		}
	}
	return bias, nil
}
