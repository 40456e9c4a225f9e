// Package registrytest holds the conformance suite that every registry
// backend passes, and test helpers shared by the registry and detector
// tests: a generator of random, valid LightGBM text models.
package registrytest

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// ModelText returns a random binary-classification model in LightGBM text
// (v3) format over the given feature names: nTrees trees of up to maxLeaves
// leaves, numerical splits with NaN sent to a default side. The model is
// deterministic in seed. It writes internal_value (like LightGBM) only when
// internalValues is set, so that both ways of attributing are exercised.
func ModelText(seed uint64, names []string, nTrees, maxLeaves int, internalValues bool) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var trees []string
	for t := 0; t < nTrees; t++ {
		trees = append(trees, randomTree(rng, t, len(names), maxLeaves, internalValues))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=%d\n", len(names)-1)
	b.WriteString("objective=binary sigmoid:1\n")
	fmt.Fprintf(&b, "feature_names=%s\n", strings.Join(names, " "))
	infos := make([]string, len(names))
	for i := range infos {
		infos[i] = "[-10:10]"
	}
	fmt.Fprintf(&b, "feature_infos=%s\n", strings.Join(infos, " "))
	sizes := make([]string, len(trees))
	for i, t := range trees {
		sizes[i] = fmt.Sprint(len(t))
	}
	fmt.Fprintf(&b, "tree_sizes=%s\n\n", strings.Join(sizes, " "))
	for _, t := range trees {
		b.WriteString(t)
	}
	b.WriteString("end of trees\n\nfeature_importances:\n\nparameters:\n[boosting: gbdt]\nend of parameters\n\npandas_categorical:null\n")
	return []byte(b.String())
}

type node struct {
	feature     int
	threshold   float64
	left, right int // >= 0 node, < 0 ^leaf
}

func randomTree(rng *rand.Rand, idx, nFeat, maxLeaves int, internalValues bool) string {
	nLeaves := 1 + rng.IntN(maxLeaves)
	var nodes []node
	var leafVals []float64
	var leafCnt []int
	// build recursively in preorder: root is node 0
	var build func(leaves int) int
	build = func(leaves int) int {
		if leaves == 1 {
			leafVals = append(leafVals, rng.NormFloat64()*0.3)
			leafCnt = append(leafCnt, 1+rng.IntN(100))
			return ^(len(leafVals) - 1)
		}
		i := len(nodes)
		nodes = append(nodes, node{feature: rng.IntN(nFeat), threshold: float64(rng.IntN(2000)-1000) / 100})
		nl := 1 + rng.IntN(leaves-1)
		l := build(nl)
		r := build(leaves - nl)
		nodes[i].left, nodes[i].right = l, r
		return i
	}
	build(nLeaves)
	var b strings.Builder
	fmt.Fprintf(&b, "Tree=%d\nnum_leaves=%d\nnum_cat=0\n", idx, nLeaves)
	join := func(n int, f func(i int) string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = f(i)
		}
		return strings.Join(s, " ")
	}
	if len(nodes) > 0 {
		fmt.Fprintf(&b, "split_feature=%s\n", join(len(nodes), func(i int) string { return fmt.Sprint(nodes[i].feature) }))
		fmt.Fprintf(&b, "split_gain=%s\n", join(len(nodes), func(int) string { return "1" }))
		fmt.Fprintf(&b, "threshold=%s\n", join(len(nodes), func(i int) string { return fmt.Sprint(nodes[i].threshold) }))
		// 10 = default left (2) | missing type NaN (8)
		fmt.Fprintf(&b, "decision_type=%s\n", join(len(nodes), func(i int) string { return fmt.Sprint(2 + 8*((i+idx)%2)) }))
		fmt.Fprintf(&b, "left_child=%s\n", join(len(nodes), func(i int) string { return fmt.Sprint(nodes[i].left) }))
		fmt.Fprintf(&b, "right_child=%s\n", join(len(nodes), func(i int) string { return fmt.Sprint(nodes[i].right) }))
	}
	fmt.Fprintf(&b, "leaf_value=%s\n", join(nLeaves, func(i int) string { return fmt.Sprint(leafVals[i]) }))
	fmt.Fprintf(&b, "leaf_weight=%s\n", join(nLeaves, func(i int) string { return fmt.Sprint(leafCnt[i]) }))
	fmt.Fprintf(&b, "leaf_count=%s\n", join(nLeaves, func(i int) string { return fmt.Sprint(leafCnt[i]) }))
	if len(nodes) > 0 {
		vals := make([]float64, len(nodes))
		cnts := make([]int, len(nodes))
		var walk func(c int) (float64, int)
		walk = func(c int) (float64, int) {
			if c < 0 {
				return leafVals[^c] * float64(leafCnt[^c]), leafCnt[^c]
			}
			s1, n1 := walk(nodes[c].left)
			s2, n2 := walk(nodes[c].right)
			vals[c], cnts[c] = (s1+s2)/float64(n1+n2), n1+n2
			return s1 + s2, n1 + n2
		}
		walk(0)
		if internalValues {
			fmt.Fprintf(&b, "internal_value=%s\n", join(len(nodes), func(i int) string { return fmt.Sprint(vals[i]) }))
			fmt.Fprintf(&b, "internal_weight=%s\n", join(len(nodes), func(i int) string { return fmt.Sprint(cnts[i]) }))
			fmt.Fprintf(&b, "internal_count=%s\n", join(len(nodes), func(i int) string { return fmt.Sprint(cnts[i]) }))
		}
	}
	b.WriteString("is_linear=0\nshrinkage=0.1\n\n\n")
	return b.String()
}
