package models

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/internal/atomicfile"
)

// LightGBM decision_type bits (see LightGBM's tree.h).
const (
	lgbDefaultLeftMask = 1 << 1
	lgbMissingNaN      = 2 << 2
)

// MarshalLightGBM renders m as a LightGBM text model (version v3, binary
// objective with sigmoid 1) that github.com/dmitryikh/leaves and LightGBM load.
// Every split uses missing type NaN with the learned default direction; the
// output is deterministic, so reading and re-marshalling gives the same bytes.
func (m *Model) MarshalLightGBM() ([]byte, error) {
	nf := m.NumFeatures()
	if nf == 0 {
		return nil, fmt.Errorf("lightgbm export: model has no features")
	}
	if len(m.Trees) == 0 {
		return nil, fmt.Errorf("lightgbm export: model has no trees")
	}
	if len(m.FeatureInfos) != nf {
		return nil, fmt.Errorf("lightgbm export: %d feature infos for %d features", len(m.FeatureInfos), nf)
	}
	for _, name := range m.FeatureNames {
		if name == "" || strings.ContainsAny(name, " \t\r\n=") {
			return nil, fmt.Errorf("lightgbm export: feature name %q must be non-empty without spaces or '='", name)
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
	buf.WriteString("num_class=1\n")
	buf.WriteString("num_tree_per_iteration=1\n")
	buf.WriteString("label_index=0\n")
	fmt.Fprintf(&buf, "max_feature_idx=%d\n", nf-1)
	buf.WriteString("objective=binary sigmoid:1\n")
	buf.WriteString("feature_names=" + strings.Join(m.FeatureNames, " ") + "\n")
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

func (t *Tree) marshal(idx, nf int) ([]byte, error) {
	ni := t.NumLeaves - 1
	if t.NumLeaves < 1 || len(t.LeafValue) != t.NumLeaves || len(t.LeafWeight) != t.NumLeaves || len(t.LeafCount) != t.NumLeaves ||
		len(t.SplitFeature) != ni || len(t.SplitGain) != ni || len(t.Threshold) != ni || len(t.DefaultLeft) != ni ||
		len(t.LeftChild) != ni || len(t.RightChild) != ni || len(t.InternalValue) != ni || len(t.InternalWeight) != ni || len(t.InternalCount) != ni {
		return nil, fmt.Errorf("lightgbm export: tree %d: inconsistent array lengths", idx)
	}
	for _, f := range t.SplitFeature {
		if f < 0 || int(f) >= nf {
			return nil, fmt.Errorf("lightgbm export: tree %d: split feature %d out of range", idx, f)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Tree=%d\n", idx)
	fmt.Fprintf(&b, "num_leaves=%d\n", t.NumLeaves)
	b.WriteString("num_cat=0\n")
	writeInts(&b, "split_feature", t.SplitFeature)
	writeFloats(&b, "split_gain", t.SplitGain)
	writeFloats(&b, "threshold", t.Threshold)
	dt := make([]int32, ni)
	for i, dl := range t.DefaultLeft {
		dt[i] = lgbMissingNaN
		if dl {
			dt[i] |= lgbDefaultLeftMask
		}
	}
	writeInts(&b, "decision_type", dt)
	writeInts(&b, "left_child", t.LeftChild)
	writeInts(&b, "right_child", t.RightChild)
	writeFloats(&b, "leaf_value", t.LeafValue)
	writeFloats(&b, "leaf_weight", t.LeafWeight)
	writeInts(&b, "leaf_count", t.LeafCount)
	writeFloats(&b, "internal_value", t.InternalValue)
	writeFloats(&b, "internal_weight", t.InternalWeight)
	writeInts(&b, "internal_count", t.InternalCount)
	b.WriteString("is_linear=0\n")
	b.WriteString("shrinkage=" + fmtFloat(t.Shrinkage) + "\n")
	b.WriteString("\n\n")
	return b.Bytes(), nil
}

func writeInts[T int32 | int64](b *bytes.Buffer, key string, v []T) {
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
		b.WriteString(fmtFloat(x))
	}
	b.WriteByte('\n')
}

// WriteLightGBMFile writes the model to path atomically (temporary name in
// the same folder, then rename).
func (m *Model) WriteLightGBMFile(path string) error {
	data, err := m.MarshalLightGBM()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

// ReadLightGBMFile reads a model written by MarshalLightGBM.
func ReadLightGBMFile(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	m, err := ParseLightGBM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ReadLightGBM reads a LightGBM text model from r.
func ReadLightGBM(r io.Reader) (*Model, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	return ParseLightGBM(data)
}

type lgbLine struct {
	text  string
	no    int // 1-based line number
	start int // byte offset
}

// ParseLightGBM parses the subset of LightGBM's text format that
// MarshalLightGBM writes: binary objective, numerical splits, missing type
// NaN or None. Errors name the line.
func ParseLightGBM(data []byte) (*Model, error) {
	var lines []lgbLine
	for off, no := 0, 1; off < len(data); no++ {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			lines = append(lines, lgbLine{text: string(data[off:]), no: no, start: off})
			break
		}
		lines = append(lines, lgbLine{text: string(data[off : off+end]), no: no, start: off})
		off += end + 1
	}
	pos := 0
	errAt := func(l lgbLine, format string, a ...any) error {
		return fmt.Errorf("line %d: %s", l.no, fmt.Sprintf(format, a...))
	}
	if len(lines) == 0 || lines[0].text != "tree" {
		return nil, fmt.Errorf("line 1: not a LightGBM text model (want \"tree\")")
	}
	pos = 1
	header := map[string]string{}
	headerLine := map[string]lgbLine{}
	for ; pos < len(lines) && lines[pos].text != ""; pos++ {
		k, v, ok := strings.Cut(lines[pos].text, "=")
		if !ok {
			header[lines[pos].text] = ""
			headerLine[lines[pos].text] = lines[pos]
			continue
		}
		header[k] = v
		headerLine[k] = lines[pos]
	}
	need := func(k string) (string, error) {
		v, ok := header[k]
		if !ok {
			return "", fmt.Errorf("header: missing %s", k)
		}
		return v, nil
	}
	for k, want := range map[string]string{"version": "v3", "num_class": "1", "num_tree_per_iteration": "1", "objective": "binary sigmoid:1"} {
		v, err := need(k)
		if err != nil {
			return nil, err
		}
		if v != want {
			return nil, errAt(headerLine[k], "%s=%s not supported (want %s)", k, v, want)
		}
	}
	mfi, err := need("max_feature_idx")
	if err != nil {
		return nil, err
	}
	maxIdx, err := strconv.Atoi(mfi)
	if err != nil || maxIdx < 0 {
		return nil, errAt(headerLine["max_feature_idx"], "bad max_feature_idx %q", mfi)
	}
	nf := maxIdx + 1
	m := &Model{}
	fn, err := need("feature_names")
	if err != nil {
		return nil, err
	}
	m.FeatureNames = strings.Split(fn, " ")
	if len(m.FeatureNames) != nf {
		return nil, errAt(headerLine["feature_names"], "%d feature names, max_feature_idx says %d", len(m.FeatureNames), nf)
	}
	fi, err := need("feature_infos")
	if err != nil {
		return nil, err
	}
	m.FeatureInfos = strings.Split(fi, " ")
	if len(m.FeatureInfos) != nf {
		return nil, errAt(headerLine["feature_infos"], "%d feature infos for %d features", len(m.FeatureInfos), nf)
	}
	ts, err := need("tree_sizes")
	if err != nil {
		return nil, err
	}
	var sizes []int
	for _, s := range strings.Split(ts, " ") {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			return nil, errAt(headerLine["tree_sizes"], "bad tree size %q", s)
		}
		sizes = append(sizes, v)
	}
	pos++ // blank line after the header
	for i, size := range sizes {
		if pos >= len(lines) {
			return nil, fmt.Errorf("tree %d: unexpected end of file", i)
		}
		startLine := lines[pos]
		if startLine.text != "Tree="+strconv.Itoa(i) {
			return nil, errAt(startLine, "want Tree=%d, got %q", i, startLine.text)
		}
		b := &lgbBlock{idx: i, kv: map[string]string{}, line: map[string]int{}, exact: true}
		pos++
		for ; pos < len(lines) && lines[pos].text != ""; pos++ {
			k, v, ok := strings.Cut(lines[pos].text, "=")
			if !ok {
				return nil, errAt(lines[pos], "tree %d: expected key=value", i)
			}
			b.kv[k], b.line[k] = v, lines[pos].no
		}
		// the block ends with two blank lines
		for j := 0; j < 2 && pos < len(lines) && lines[pos].text == ""; j++ {
			pos++
		}
		end := len(data)
		if pos < len(lines) {
			end = lines[pos].start
		}
		if got := end - startLine.start; got != size {
			return nil, errAt(startLine, "tree %d is %d bytes, tree_sizes says %d", i, got, size)
		}
		t, err := parseTree(b, nf)
		if err != nil {
			return nil, err
		}
		m.Trees = append(m.Trees, t)
	}
	if pos >= len(lines) || lines[pos].text != "end of trees" {
		if pos < len(lines) {
			return nil, errAt(lines[pos], "want \"end of trees\"")
		}
		return nil, fmt.Errorf("missing \"end of trees\"")
	}
	pos++
	// feature_importances (recomputed from the trees) and parameters
	inParams := false
	for ; pos < len(lines); pos++ {
		l := lines[pos].text
		switch {
		case l == "parameters:":
			inParams = true
		case l == "end of parameters":
			inParams = false
		case inParams:
			m.Parameters = append(m.Parameters, l)
		}
	}
	return m, nil
}

// parseTree reads a tree block as MarshalLightGBM writes it: the shared
// structure (parseTextTree) plus every value a round trip needs; only
// numerical splits with missing type NaN.
func parseTree(b *lgbBlock, nf int) (Tree, error) {
	var t Tree
	if v, _ := b.get("num_cat"); v != "0" {
		return t, b.fail("num_cat", "categorical splits are not supported")
	}
	if v, ok := b.kv["is_linear"]; ok && v != "0" {
		return t, b.fail("is_linear", "linear trees are not supported")
	}
	tt, err := parseTextTree(b, nf)
	if err != nil {
		return t, err
	}
	t.NumLeaves, t.LeafValue, t.Threshold = tt.NumLeaves, tt.LeafValue, tt.Threshold
	ni := t.NumLeaves - 1
	if t.SplitGain, err = b.floats("split_gain", ni); err != nil {
		return t, err
	}
	if t.LeafWeight, err = b.floats("leaf_weight", t.NumLeaves); err != nil {
		return t, err
	}
	if t.LeafCount, err = b.ints("leaf_count", t.NumLeaves); err != nil {
		return t, err
	}
	if t.InternalValue, err = b.floats("internal_value", ni); err != nil {
		return t, err
	}
	if t.InternalWeight, err = b.floats("internal_weight", ni); err != nil {
		return t, err
	}
	if t.InternalCount, err = b.ints("internal_count", ni); err != nil {
		return t, err
	}
	sh, err := b.get("shrinkage")
	if err != nil {
		return t, err
	}
	if t.Shrinkage, err = strconv.ParseFloat(sh, 64); err != nil {
		return t, b.fail("shrinkage", "%v", err)
	}
	t.SplitFeature = make([]int32, ni)
	t.DefaultLeft = make([]bool, ni)
	t.LeftChild = make([]int32, ni)
	t.RightChild = make([]int32, ni)
	for i := 0; i < ni; i++ {
		dt := tt.DecisionType[i]
		if dt&1 != 0 {
			return t, b.fail("decision_type", "node %d: categorical split not supported", i)
		}
		if mt := (dt >> 2) & 3; mt != 2 {
			return t, b.fail("decision_type", "node %d: missing type %d not supported (only NaN)", i, mt)
		}
		t.DefaultLeft[i] = dt&lgbDefaultLeftMask != 0
		t.SplitFeature[i] = int32(tt.SplitFeature[i])
		t.LeftChild[i] = int32(tt.Left[i])
		t.RightChild[i] = int32(tt.Right[i])
	}
	return t, nil
}
