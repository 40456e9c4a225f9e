package lightgbm_test

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dmitryikh/leaves"

	"github.com/faultline-dev/faultline/models/lightgbm"
)

// randomModel returns a deterministic random binary model over names, with
// every array Marshal writes: nTrees trees of up to maxLeaves leaves,
// numerical splits with NaN sent to a random default side.
func randomModel(seed uint64, names []string, nTrees, maxLeaves int) *lightgbm.Model {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	m := &lightgbm.Model{
		NumClass: 1, NumTreePerIteration: 1, MaxFeatureIdx: len(names) - 1,
		Objective: lightgbm.ObjectiveBinary, FeatureNames: names,
		Parameters: []string{"[boosting: gbdt]", "[seed: " + strconv.FormatUint(seed, 10) + "]"},
	}
	for range names {
		m.FeatureInfos = append(m.FeatureInfos, "[-10:10]")
	}
	for range nTrees {
		m.Trees = append(m.Trees, randomTree(rng, len(names), 1+rng.IntN(maxLeaves)))
	}
	return m
}

func randomTree(rng *rand.Rand, nf, nLeaves int) lightgbm.Tree {
	t := lightgbm.Tree{NumLeaves: nLeaves, Shrinkage: 0.1,
		SplitFeature: []int{}, SplitGain: []float64{}, Threshold: []float64{}, DecisionType: []int{},
		LeftChild: []int{}, RightChild: []int{}, InternalValue: []float64{}, InternalWeight: []float64{}, InternalCount: []int64{}}
	// build in preorder: the root is node 0
	var build func(leaves int) (c int, sum, weight float64, count int64)
	build = func(leaves int) (int, float64, float64, int64) {
		if leaves == 1 {
			v, n := rng.NormFloat64()*0.3, int64(1+rng.IntN(100))
			w := float64(n) * 0.2
			t.LeafValue = append(t.LeafValue, v)
			t.LeafWeight = append(t.LeafWeight, w)
			t.LeafCount = append(t.LeafCount, n)
			return ^(len(t.LeafValue) - 1), v * w, w, n
		}
		i := len(t.SplitFeature)
		dt := lightgbm.MissingNaN
		if rng.IntN(2) == 0 {
			dt |= lightgbm.DefaultLeftMask
		}
		t.SplitFeature = append(t.SplitFeature, rng.IntN(nf))
		t.SplitGain = append(t.SplitGain, rng.Float64()*10)
		t.Threshold = append(t.Threshold, float64(rng.IntN(2000)-1000)/100)
		t.DecisionType = append(t.DecisionType, dt)
		t.LeftChild = append(t.LeftChild, 0)
		t.RightChild = append(t.RightChild, 0)
		t.InternalValue = append(t.InternalValue, 0)
		t.InternalWeight = append(t.InternalWeight, 0)
		t.InternalCount = append(t.InternalCount, 0)
		nl := 1 + rng.IntN(leaves-1)
		l, s1, w1, n1 := build(nl)
		r, s2, w2, n2 := build(leaves - nl)
		t.LeftChild[i], t.RightChild[i] = l, r
		t.InternalValue[i], t.InternalWeight[i], t.InternalCount[i] = (s1+s2)/(w1+w2), w1+w2, n1+n2
		return i, s1 + s2, w1 + w2, n1 + n2
	}
	build(nLeaves)
	return t
}

func marshal(t testing.TB, m *lightgbm.Model) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var internalLine = regexp.MustCompile(`(?m)^internal_(value|weight|count)=.*\n`)

// withoutInternal drops the internal node lines, as some LightGBM writers
// do, and fixes tree_sizes so that the file stays loadable.
func withoutInternal(text []byte) []byte {
	return resize(internalLine.ReplaceAll(text, nil))
}

// resize recomputes the header's tree_sizes from the tree blocks.
func resize(text []byte) []byte {
	s := string(text)
	start := strings.Index(s, "Tree=")
	end := strings.Index(s, "end of trees")
	if start < 0 || end < 0 {
		return text
	}
	var sizes []string
	trees := s[start:end]
	for len(trees) > 0 {
		next := strings.Index(trees[1:], "\nTree=")
		n := len(trees)
		if next >= 0 {
			n = next + 2
		}
		sizes = append(sizes, strconv.Itoa(n))
		trees = trees[n:]
	}
	re := regexp.MustCompile(`(?m)^tree_sizes=.*$`)
	return []byte(re.ReplaceAllString(s, "tree_sizes="+strings.Join(sizes, " ")))
}

func loadLeaves(t testing.TB, text []byte, transform bool) *leaves.Ensemble {
	t.Helper()
	e, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(text)), transform)
	if err != nil {
		t.Fatalf("leaves cannot load the model: %v", err)
	}
	return e
}
