package lightgbm

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Parse reads any LightGBM text model (version v2, v3 or v4, as LightGBM
// itself or Marshal writes it): any objective, optional feature names,
// internal values and per-node statistics, values separated by any white
// space, lines it does not know skipped. It checks what using the model
// needs: a header with max_feature_idx, at least one tree, trees whose
// nodes form one tree with splits on features in range, and as many
// feature names (when present) as features. Errors name the line.
func Parse(data []byte) (*Model, error) { return parse(data, false) }

// ParseStrict reads the exact layout Marshal writes, and requires what a
// lossless round trip and the trainer's own predictions need: version v3,
// one binary output (objective ObjectiveBinary), feature names and infos,
// tree_sizes matching each tree's bytes, every per-node and per-leaf array,
// numerical splits with missing type NaN, no linear trees. Marshal of what
// it returns gives the same bytes back. Errors name the line.
func ParseStrict(data []byte) (*Model, error) { return parse(data, true) }

type line struct {
	text  string
	no    int // 1-based line number
	start int // byte offset
}

func splitLines(data []byte, trimCR bool) []line {
	var lines []line
	for off, no := 0, 1; off < len(data); no++ {
		end := bytes.IndexByte(data[off:], '\n')
		var s string
		if end < 0 {
			s = string(data[off:])
		} else {
			s = string(data[off : off+end])
		}
		if trimCR {
			s = strings.TrimRight(s, "\r")
		}
		lines = append(lines, line{text: s, no: no, start: off})
		if end < 0 {
			break
		}
		off += end + 1
	}
	return lines
}

func errAt(l line, format string, a ...any) error {
	return fmt.Errorf("line %d: %s", l.no, fmt.Sprintf(format, a...))
}

// header is the key=value lines before the trees; a line without '=' is a
// key with an empty value (e.g. average_output).
type header struct {
	kv   map[string]string
	line map[string]line
}

func (h *header) need(k string) (string, line, error) {
	v, ok := h.kv[k]
	if !ok {
		return "", line{}, fmt.Errorf("header: missing %s", k)
	}
	return v, h.line[k], nil
}

func parse(data []byte, strict bool) (*Model, error) {
	lines := splitLines(data, !strict)
	if strict && (len(lines) == 0 || lines[0].text != "tree") {
		return nil, fmt.Errorf("line 1: not a LightGBM text model (want \"tree\")")
	}
	// The header: strictly, the lines after "tree" up to the first blank
	// line; otherwise every line before the first tree.
	h := header{kv: map[string]string{}, line: map[string]line{}}
	pos := 0
	if strict {
		pos = 1
	}
	for ; pos < len(lines); pos++ {
		l := lines[pos]
		if strict && l.text == "" || strings.HasPrefix(l.text, "Tree=") || l.text == "end of trees" {
			break
		}
		k, v, ok := strings.Cut(l.text, "=")
		if !ok && !strict && l.text != "average_output" {
			continue
		}
		h.kv[k], h.line[k] = v, l
	}
	m, sizes, err := parseHeader(&h, strict)
	if err != nil {
		return nil, err
	}
	if strict {
		pos++ // the blank line after the header
		if pos, err = strictTrees(m, lines, pos, len(data), sizes); err != nil {
			return nil, err
		}
		if pos >= len(lines) || lines[pos].text != "end of trees" {
			if pos < len(lines) {
				return nil, errAt(lines[pos], "want \"end of trees\"")
			}
			return nil, fmt.Errorf("missing \"end of trees\"")
		}
	} else {
		if pos, err = looseTrees(m, lines, pos); err != nil {
			return nil, err
		}
		if len(m.Trees) == 0 {
			return nil, fmt.Errorf("no trees")
		}
	}
	// feature_importances are recomputed from the trees; the parameters
	// are kept.
	inParams := false
	for pos++; pos < len(lines); pos++ {
		switch l := lines[pos].text; {
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

// parseHeader reads the header; strictly, it also returns tree_sizes.
func parseHeader(h *header, strict bool) (*Model, []int, error) {
	m := &Model{NumClass: 1, NumTreePerIteration: 1}
	v, l, err := h.need("version")
	switch {
	case err != nil && !strict:
		return nil, nil, fmt.Errorf("not a LightGBM text model: no version line in the header")
	case err != nil:
		return nil, nil, err
	case strict && v != "v3":
		return nil, nil, errAt(l, "version=%s not supported (want v3)", v)
	case v != "v2" && v != "v3" && v != "v4":
		return nil, nil, errAt(l, "unsupported model version %q", v)
	}
	if strict {
		for k, want := range map[string]string{"num_class": "1", "num_tree_per_iteration": "1", "objective": ObjectiveBinary} {
			v, l, err := h.need(k)
			if err != nil {
				return nil, nil, err
			}
			if v != want {
				return nil, nil, errAt(l, "%s=%s not supported (want %s)", k, v, want)
			}
		}
	}
	intKey := func(k string, dst *int) error {
		v, ok := h.kv[k]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return errAt(h.line[k], "%s: bad value %q", k, v)
		}
		*dst = n
		return nil
	}
	if err := intKey("num_class", &m.NumClass); err != nil {
		return nil, nil, err
	}
	m.NumTreePerIteration = m.NumClass
	for k, dst := range map[string]*int{"num_tree_per_iteration": &m.NumTreePerIteration, "label_index": &m.LabelIndex} {
		if err := intKey(k, dst); err != nil {
			return nil, nil, err
		}
	}
	mfi, l, err := h.need("max_feature_idx")
	if err != nil {
		return nil, nil, err
	}
	if m.MaxFeatureIdx, err = strconv.Atoi(mfi); err != nil || m.MaxFeatureIdx < 0 {
		return nil, nil, errAt(l, "bad max_feature_idx %q", mfi)
	}
	nf := m.NumFeatures()
	m.Objective = h.kv["objective"]
	_, m.AverageOutput = h.kv["average_output"]
	list := func(k string) []string {
		if strict {
			return strings.Split(h.kv[k], " ")
		}
		return strings.Fields(h.kv[k])
	}
	if _, l, err := h.need("feature_names"); err == nil {
		m.FeatureNames = list("feature_names")
		if len(m.FeatureNames) != nf {
			return nil, nil, errAt(l, "%d feature names, max_feature_idx says %d", len(m.FeatureNames), nf)
		}
	} else if strict {
		return nil, nil, err
	}
	if _, l, err := h.need("feature_infos"); err == nil {
		m.FeatureInfos = list("feature_infos")
		if strict && len(m.FeatureInfos) != nf {
			return nil, nil, errAt(l, "%d feature infos for %d features", len(m.FeatureInfos), nf)
		}
	} else if strict {
		return nil, nil, err
	}
	if mc, ok := h.kv["monotone_constraints"]; ok && strings.TrimSpace(mc) != "" {
		l := h.line["monotone_constraints"]
		for _, s := range list("monotone_constraints") {
			c, err := strconv.Atoi(s)
			if err != nil || c < -1 || c > 1 {
				return nil, nil, errAt(l, "monotone_constraints: bad value %q (want -1, 0 or 1)", s)
			}
			m.MonotoneConstraints = append(m.MonotoneConstraints, c)
		}
		if len(m.MonotoneConstraints) != nf {
			return nil, nil, errAt(l, "%d monotone constraints for %d features", len(m.MonotoneConstraints), nf)
		}
	}
	if !strict {
		return m, nil, nil
	}
	ts, l, err := h.need("tree_sizes")
	if err != nil {
		return nil, nil, err
	}
	var sizes []int
	for _, s := range strings.Split(ts, " ") {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			return nil, nil, errAt(l, "bad tree size %q", s)
		}
		sizes = append(sizes, v)
	}
	return m, sizes, nil
}

// strictTrees reads the trees at lines[pos:] as Marshal writes them: one
// block per tree_sizes entry, "Tree=i" then key=value lines then two blank
// lines, each block exactly its size in bytes. It returns the position
// after the trees.
func strictTrees(m *Model, lines []line, pos, dataLen int, sizes []int) (int, error) {
	for i, size := range sizes {
		if pos >= len(lines) {
			return pos, fmt.Errorf("tree %d: unexpected end of file", i)
		}
		startLine := lines[pos]
		if startLine.text != "Tree="+strconv.Itoa(i) {
			return pos, errAt(startLine, "want Tree=%d, got %q", i, startLine.text)
		}
		b := &block{idx: i, kv: map[string]string{}, line: map[string]int{}, strict: true}
		pos++
		for ; pos < len(lines) && lines[pos].text != ""; pos++ {
			k, v, ok := strings.Cut(lines[pos].text, "=")
			if !ok {
				return pos, errAt(lines[pos], "tree %d: expected key=value", i)
			}
			b.kv[k], b.line[k] = v, lines[pos].no
		}
		for j := 0; j < 2 && pos < len(lines) && lines[pos].text == ""; j++ {
			pos++
		}
		end := dataLen
		if pos < len(lines) {
			end = lines[pos].start
		}
		if got := end - startLine.start; got != size {
			return pos, errAt(startLine, "tree %d is %d bytes, tree_sizes says %d", i, got, size)
		}
		t, err := parseTree(b, m.NumFeatures())
		if err != nil {
			return pos, err
		}
		m.Trees = append(m.Trees, t)
	}
	return pos, nil
}

// looseTrees reads every "Tree=" block up to "end of trees" or the end of
// the file, skipping lines that are not key=value. It returns the position
// of "end of trees" (or the end).
func looseTrees(m *Model, lines []line, pos int) (int, error) {
	var blocks []*block
	for ; pos < len(lines); pos++ {
		s := lines[pos].text
		if s == "end of trees" {
			break
		}
		if strings.HasPrefix(s, "Tree=") {
			blocks = append(blocks, &block{idx: len(blocks), kv: map[string]string{}, line: map[string]int{}})
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok || len(blocks) == 0 {
			continue
		}
		cur := blocks[len(blocks)-1]
		cur.kv[k], cur.line[k] = v, lines[pos].no
	}
	for _, b := range blocks {
		t, err := parseTree(b, m.NumFeatures())
		if err != nil {
			return pos, err
		}
		m.Trees = append(m.Trees, t)
	}
	return pos, nil
}

// block is the key=value lines of one tree block.
type block struct {
	idx  int               // tree index
	kv   map[string]string // values by key
	line map[string]int    // 1-based line of each key
	// strict: the layout Marshal writes (values separated by exactly one
	// space, every array present); otherwise LightGBM's optional parts may
	// be absent and values are separated by any white space.
	strict bool
}

func (b *block) fail(key, format string, a ...any) error {
	if l, ok := b.line[key]; ok {
		return fmt.Errorf("line %d: tree %d: %s: %s", l, b.idx, key, fmt.Sprintf(format, a...))
	}
	return fmt.Errorf("tree %d: %s: %s", b.idx, key, fmt.Sprintf(format, a...))
}

func (b *block) has(key string) bool {
	_, ok := b.kv[key]
	return ok
}

func (b *block) get(key string) (string, error) {
	v, ok := b.kv[key]
	if !ok {
		return "", b.fail(key, "missing")
	}
	return v, nil
}

func (b *block) fields(key string, want int) ([]string, error) {
	v, err := b.get(key)
	if err != nil {
		return nil, err
	}
	var f []string
	if !b.strict {
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

func parseValues[T any](b *block, key string, want int, parse func(string) (T, error)) ([]T, error) {
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

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
func parseInt64(s string) (int64, error)   { return strconv.ParseInt(s, 10, 64) }
func parseInt(s string) (int, error)       { return strconv.Atoi(s) }

func (b *block) floats(key string, want int) ([]float64, error) {
	return parseValues(b, key, want, parseFloat)
}

func (b *block) ints(key string, want int) ([]int, error) {
	return parseValues(b, key, want, parseInt)
}

// optional reads an array that is required strictly and otherwise read
// when present and well-formed (nil if not: LightGBM's optional
// statistics never make a model unusable).
func optional[T any](b *block, key string, want int, parse func(string) (T, error)) ([]T, error) {
	if !b.strict {
		if !b.has(key) {
			return nil, nil
		}
		v, err := parseValues(b, key, want, parse)
		if err != nil {
			return nil, nil
		}
		return v, nil
	}
	return parseValues(b, key, want, parse)
}

// parseTree reads a tree block over nf features: leaf values, splits and
// children, checking that the nodes form one tree whose splits use
// features in range. Strictly, every key Marshal writes is required (the
// split keys even for a single leaf) and only numerical splits with missing
// type NaN are accepted; otherwise decision_type, threshold, internal
// values and statistics are read when present.
func parseTree(b *block, nf int) (Tree, error) {
	var t Tree
	nl, err := b.get("num_leaves")
	if err != nil {
		return t, err
	}
	t.NumLeaves, err = strconv.Atoi(nl)
	if err != nil || t.NumLeaves < 1 {
		return t, b.fail("num_leaves", "bad value %q", nl)
	}
	if b.strict {
		if v, _ := b.get("num_cat"); v != "0" {
			return t, b.fail("num_cat", "categorical splits are not supported")
		}
		if v, ok := b.kv["is_linear"]; ok && v != "0" {
			return t, b.fail("is_linear", "linear trees are not supported")
		}
	} else {
		if n, err := strconv.Atoi(b.kv["num_cat"]); err == nil {
			t.NumCat = n
		}
		t.IsLinear = b.kv["is_linear"] != "" && b.kv["is_linear"] != "0"
	}
	if t.LeafValue, err = b.floats("leaf_value", t.NumLeaves); err != nil {
		return t, err
	}
	ni := t.NumLeaves - 1
	if ni > 0 || b.strict {
		if t.SplitFeature, err = b.ints("split_feature", ni); err != nil {
			return t, err
		}
		if b.strict || b.has("decision_type") {
			if t.DecisionType, err = b.ints("decision_type", ni); err != nil {
				return t, err
			}
		}
		if t.LeftChild, err = b.ints("left_child", ni); err != nil {
			return t, err
		}
		if t.RightChild, err = b.ints("right_child", ni); err != nil {
			return t, err
		}
		if b.strict || b.has("threshold") {
			if t.Threshold, err = b.floats("threshold", ni); err != nil {
				return t, err
			}
		}
		for i, f := range t.SplitFeature {
			if f < 0 || f >= nf {
				return t, b.fail("split_feature", "node %d: feature %d out of range", i, f)
			}
		}
	}
	if t.SplitGain, err = optional(b, "split_gain", ni, parseFloat); err != nil {
		return t, err
	}
	if t.LeafWeight, err = optional(b, "leaf_weight", t.NumLeaves, parseFloat); err != nil {
		return t, err
	}
	if t.LeafCount, err = optional(b, "leaf_count", t.NumLeaves, parseInt64); err != nil {
		return t, err
	}
	// node values come from internal_value: when present it must be readable
	if (b.strict || b.has("internal_value")) && (ni > 0 || b.strict) {
		if t.InternalValue, err = b.floats("internal_value", ni); err != nil {
			return t, err
		}
	}
	if t.InternalWeight, err = optional(b, "internal_weight", ni, parseFloat); err != nil {
		return t, err
	}
	if t.InternalCount, err = optional(b, "internal_count", ni, parseInt64); err != nil {
		return t, err
	}
	t.Shrinkage = 1
	if sh, err := b.get("shrinkage"); err == nil {
		if t.Shrinkage, err = strconv.ParseFloat(sh, 64); err != nil {
			if b.strict {
				return t, b.fail("shrinkage", "%v", err)
			}
			t.Shrinkage = 1
		}
	} else if b.strict {
		return t, err
	}
	if b.strict {
		for i, dt := range t.DecisionType {
			if dt&CategoricalMask != 0 {
				return t, b.fail("decision_type", "node %d: categorical split not supported", i)
			}
			if mt := (dt >> 2) & 3; mt != 2 {
				return t, b.fail("decision_type", "node %d: missing type %d not supported (only NaN)", i, mt)
			}
		}
	}
	if t.shape, err = newShape(&t, b.fail); err != nil {
		return t, err
	}
	return t, nil
}
