package lightgbm

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Marshal renders m as LightGBM text, version v3, that
// github.com/dmitryikh/leaves and LightGBM load. It needs feature names and
// infos, and every per-node and per-leaf array of each tree; categorical
// splits and linear trees are not supported. The output is deterministic
// (floats in their shortest exact form, feature importances recomputed from
// the trees), so ParseStrict then Marshal gives the same bytes.
func (m *Model) Marshal() ([]byte, error) {
	nf := len(m.FeatureNames)
	if nf == 0 {
		return nil, fmt.Errorf("lightgbm export: model has no features")
	}
	if m.MaxFeatureIdx != nf-1 {
		return nil, fmt.Errorf("lightgbm export: %d feature names but max_feature_idx %d", nf, m.MaxFeatureIdx)
	}
	if len(m.Trees) == 0 {
		return nil, fmt.Errorf("lightgbm export: model has no trees")
	}
	if len(m.FeatureInfos) != nf {
		return nil, fmt.Errorf("lightgbm export: %d feature infos for %d features", len(m.FeatureInfos), nf)
	}
	if len(m.MonotoneConstraints) != 0 && len(m.MonotoneConstraints) != nf {
		return nil, fmt.Errorf("lightgbm export: %d monotone constraints for %d features", len(m.MonotoneConstraints), nf)
	}
	for _, name := range m.FeatureNames {
		if name == "" || strings.ContainsAny(name, " \t\r\n=") {
			return nil, fmt.Errorf("lightgbm export: feature name %q must be non-empty without spaces or '='", name)
		}
	}
	for _, c := range m.MonotoneConstraints {
		if c < -1 || c > 1 {
			return nil, fmt.Errorf("lightgbm export: monotone constraint %d (want -1, 0 or 1)", c)
		}
	}
	for _, p := range m.Parameters {
		if strings.ContainsAny(p, "\r\n") || p == "end of parameters" {
			return nil, fmt.Errorf("lightgbm export: parameter line %q", p)
		}
	}
	blocks := make([][]byte, len(m.Trees))
	sizes := make([]string, len(m.Trees))
	for i := range m.Trees {
		b, err := m.Trees[i].marshal(i, nf)
		if err != nil {
			return nil, err
		}
		blocks[i] = b
		sizes[i] = strconv.Itoa(len(b))
	}
	var buf bytes.Buffer
	buf.WriteString("tree\n")
	buf.WriteString("version=v3\n")
	fmt.Fprintf(&buf, "num_class=%d\n", m.NumClass)
	fmt.Fprintf(&buf, "num_tree_per_iteration=%d\n", m.NumTreePerIteration)
	fmt.Fprintf(&buf, "label_index=%d\n", m.LabelIndex)
	fmt.Fprintf(&buf, "max_feature_idx=%d\n", nf-1)
	if m.Objective != "" {
		buf.WriteString("objective=" + m.Objective + "\n")
	}
	if m.AverageOutput {
		buf.WriteString("average_output\n")
	}
	buf.WriteString("feature_names=" + strings.Join(m.FeatureNames, " ") + "\n")
	if len(m.MonotoneConstraints) > 0 {
		mc := make([]string, len(m.MonotoneConstraints))
		for i, c := range m.MonotoneConstraints {
			mc[i] = strconv.Itoa(c)
		}
		buf.WriteString("monotone_constraints=" + strings.Join(mc, " ") + "\n")
	}
	buf.WriteString("feature_infos=" + strings.Join(m.FeatureInfos, " ") + "\n")
	buf.WriteString("tree_sizes=" + strings.Join(sizes, " ") + "\n")
	buf.WriteString("\n")
	for _, b := range blocks {
		buf.Write(b)
	}
	buf.WriteString("end of trees\n")
	buf.WriteString("\nfeature_importances:\n")
	imp := m.SplitImportance()
	order := make([]int, 0, nf)
	for f, c := range imp {
		if c > 0 {
			order = append(order, f)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return imp[order[a]] > imp[order[b]] })
	for _, f := range order {
		fmt.Fprintf(&buf, "%s=%d\n", m.FeatureNames[f], imp[f])
	}
	buf.WriteString("\nparameters:\n")
	for _, p := range m.Parameters {
		buf.WriteString(p + "\n")
	}
	buf.WriteString("end of parameters\n")
	return buf.Bytes(), nil
}

// Complete reports whether the tree carries everything Marshal writes over
// nf features: every per-node and per-leaf array at its length, splits on
// features in range, nodes that form one tree, numerical splits only (no
// categorical split, no linear tree).
func (t *Tree) Complete(nf int) error {
	ni := t.NumLeaves - 1
	if t.NumLeaves < 1 || len(t.LeafValue) != t.NumLeaves || len(t.LeafWeight) != t.NumLeaves || len(t.LeafCount) != t.NumLeaves ||
		len(t.SplitFeature) != ni || len(t.SplitGain) != ni || len(t.Threshold) != ni || len(t.DecisionType) != ni ||
		len(t.LeftChild) != ni || len(t.RightChild) != ni || len(t.InternalValue) != ni || len(t.InternalWeight) != ni || len(t.InternalCount) != ni {
		return fmt.Errorf("inconsistent array lengths")
	}
	if t.NumCat != 0 || t.IsLinear {
		return fmt.Errorf("categorical splits and linear trees are not supported")
	}
	for _, f := range t.SplitFeature {
		if f < 0 || f >= nf {
			return fmt.Errorf("split feature %d out of range", f)
		}
	}
	for _, dt := range t.DecisionType {
		if dt&CategoricalMask != 0 || dt < 0 || dt > math.MaxInt8 {
			return fmt.Errorf("decision type %d", dt)
		}
	}
	_, err := t.structure()
	return err
}

func (t *Tree) marshal(idx, nf int) ([]byte, error) {
	if err := t.Complete(nf); err != nil {
		return nil, fmt.Errorf("lightgbm export: tree %d: %w", idx, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Tree=%d\n", idx)
	fmt.Fprintf(&b, "num_leaves=%d\n", t.NumLeaves)
	b.WriteString("num_cat=0\n")
	writeInts(&b, "split_feature", t.SplitFeature)
	writeFloats(&b, "split_gain", t.SplitGain)
	writeFloats(&b, "threshold", t.Threshold)
	writeInts(&b, "decision_type", t.DecisionType)
	writeInts(&b, "left_child", t.LeftChild)
	writeInts(&b, "right_child", t.RightChild)
	writeFloats(&b, "leaf_value", t.LeafValue)
	writeFloats(&b, "leaf_weight", t.LeafWeight)
	writeInts(&b, "leaf_count", t.LeafCount)
	writeFloats(&b, "internal_value", t.InternalValue)
	writeFloats(&b, "internal_weight", t.InternalWeight)
	writeInts(&b, "internal_count", t.InternalCount)
	b.WriteString("is_linear=0\n")
	b.WriteString("shrinkage=" + FormatFloat(t.Shrinkage) + "\n")
	b.WriteString("\n\n")
	return b.Bytes(), nil
}

func writeInts[T int | int32 | int64](b *bytes.Buffer, key string, v []T) {
	b.WriteString(key)
	b.WriteByte('=')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatInt(int64(x), 10))
	}
	b.WriteByte('\n')
}

func writeFloats(b *bytes.Buffer, key string, v []float64) {
	b.WriteString(key)
	b.WriteByte('=')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(FormatFloat(x))
	}
	b.WriteByte('\n')
}

// FormatFloat writes the shortest decimal that parses back to exactly v
// ("inf" and "-inf" for infinities, as LightGBM writes them), the form of
// every float in Marshal's output and of the trainer's parameter lines.
func FormatFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "inf"
	}
	if math.IsInf(v, -1) {
		return "-inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
