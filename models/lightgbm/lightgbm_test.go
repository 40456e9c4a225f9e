package lightgbm_test

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/models/lightgbm"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// smallModel is a fixed model: two trees over two features, the second a
// single leaf.
func smallModel() *lightgbm.Model {
	return &lightgbm.Model{
		NumClass: 1, NumTreePerIteration: 1, MaxFeatureIdx: 1, Objective: lightgbm.ObjectiveBinary,
		FeatureNames: []string{"x", "z"}, FeatureInfos: []string{"[0:11]", "[0:1]"},
		Trees: []lightgbm.Tree{
			{
				NumLeaves: 3, SplitFeature: []int{0, 1}, SplitGain: []float64{4.5, 1.25}, Threshold: []float64{4.5, 0.5},
				DecisionType: []int{lightgbm.MissingNaN | lightgbm.DefaultLeftMask, lightgbm.MissingNaN},
				LeftChild:    []int{^0, ^1}, RightChild: []int{1, ^2},
				LeafValue: []float64{-0.25, 0.125, 0.5}, LeafWeight: []float64{1, 2, 3}, LeafCount: []int64{4, 8, 12},
				InternalValue: []float64{0.1, 0.35}, InternalWeight: []float64{6, 5}, InternalCount: []int64{24, 20},
				Shrinkage: 1,
			},
			{
				NumLeaves: 1, SplitFeature: []int{}, SplitGain: []float64{}, Threshold: []float64{}, DecisionType: []int{},
				LeftChild: []int{}, RightChild: []int{}, LeafValue: []float64{0.0625}, LeafWeight: []float64{6}, LeafCount: []int64{24},
				InternalValue: []float64{}, InternalWeight: []float64{}, InternalCount: []int64{},
				Shrinkage: 0.3,
			},
		},
		Parameters: []string{"[boosting: gbdt]", "[objective: binary]"},
	}
}

// The writer's exact text: guards the format leaves loads.
func TestMarshalGolden(t *testing.T) {
	got := marshal(t, smallModel())
	path := filepath.Join("testdata", "small_model.txt")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("model text differs from %s (run with -update if the change is intended):\n%s", path, got)
	}
	e := loadLeaves(t, got, false)
	for _, tc := range []struct {
		row []float64
		raw float64
	}{
		{[]float64{1, 0}, -0.25 + 0.0625},
		{[]float64{math.NaN(), 1}, -0.25 + 0.0625}, // NaN goes left at the root
		{[]float64{5, 0}, 0.125 + 0.0625},
		{[]float64{5, math.NaN()}, 0.5 + 0.0625}, // NaN goes right at node 1
	} {
		if got := e.PredictSingle(tc.row, 0); got != tc.raw {
			t.Errorf("leaves predicts %v for %v, want %v", got, tc.row, tc.raw)
		}
	}
}

// Marshal, ParseStrict and Parse agree: each parse of Marshal's output
// marshals back to the same bytes.
func TestRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		names := []string{"a", "b", "c", "d"}[:1+seed%4]
		m := randomModel(seed, names, 3+int(seed), 9)
		data := marshal(t, m)
		for name, parse := range map[string]func([]byte) (*lightgbm.Model, error){"strict": lightgbm.ParseStrict, "loose": lightgbm.Parse} {
			back, err := parse(data)
			if err != nil {
				t.Fatalf("seed %d: %s parse of own output: %v", seed, name, err)
			}
			if again := marshal(t, back); !bytes.Equal(again, data) {
				t.Fatalf("seed %d: %s: re-serialised model differs", seed, name)
			}
		}
		loadLeaves(t, data, true)
	}
}

func TestTreeSizesAreExact(t *testing.T) {
	s := string(marshal(t, randomModel(3, []string{"a", "b", "c"}, 5, 8)))
	var sizes []int
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(l, "tree_sizes="); ok {
			for _, f := range strings.Fields(v) {
				n, _ := strconv.Atoi(f)
				sizes = append(sizes, n)
			}
		}
	}
	if len(sizes) != 5 {
		t.Fatalf("%d tree sizes for 5 trees", len(sizes))
	}
	off := strings.Index(s, "Tree=0\n")
	for i, n := range sizes {
		block := s[off : off+n]
		if !strings.HasPrefix(block, "Tree="+strconv.Itoa(i)+"\n") || !strings.HasSuffix(block, "\n\n\n") {
			t.Fatalf("tree %d: block of %d bytes is not one tree: %q...", i, n, block[:min(20, len(block))])
		}
		off += n
	}
	if !strings.HasPrefix(s[off:], "end of trees\n") {
		t.Errorf("after the trees: %q", s[off:min(off+20, len(s))])
	}
	// a wrong size is caught by the strict reader, ignored by the other
	bad := strings.Replace(s, "tree_sizes="+strconv.Itoa(sizes[0]), "tree_sizes="+strconv.Itoa(sizes[0]+1), 1)
	if _, err := lightgbm.ParseStrict([]byte(bad)); err == nil || !strings.Contains(err.Error(), "tree_sizes") {
		t.Errorf("wrong tree size: err = %v", err)
	}
	if _, err := lightgbm.Parse([]byte(bad)); err != nil {
		t.Errorf("loose reader: %v", err)
	}
}

func TestParseStrictErrors(t *testing.T) {
	gm := randomModel(1, []string{"f0", "f1", "f2"}, 2, 6)
	for i := range gm.Trees {
		for j := range gm.Trees[i].DecisionType {
			gm.Trees[i].DecisionType[j] = lightgbm.MissingNaN
		}
	}
	good := string(marshal(t, gm))
	for _, tc := range []struct{ name, from, to, want string }{
		{"version", "version=v3", "version=v9", "version"},
		{"objective", "objective=binary sigmoid:1", "objective=regression", "objective"},
		{"names", "feature_names=f0 f1 f2", "feature_names=f0 f1", "feature names"},
		{"categorical", "num_cat=0", "num_cat=1", "categorical"},
		{"linear", "is_linear=0", "is_linear=1", "linear"},
		{"missing type", "decision_type=" + strconv.Itoa(lightgbm.MissingNaN), "decision_type=0", "missing type"},
		{"first line", "tree\n", "forest\n", "tree"},
	} {
		bad := strings.Replace(good, tc.from, tc.to, 1)
		if bad == good {
			t.Fatalf("%s: %q not in the model", tc.name, tc.from)
		}
		_, err := lightgbm.ParseStrict([]byte(bad))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "line") {
			t.Errorf("%s: err = %v, want mention of %q and a line", tc.name, err, tc.want)
		}
	}
	for _, key := range []string{"split_gain", "leaf_weight", "leaf_count", "internal_value", "internal_weight", "internal_count", "shrinkage", "threshold", "decision_type"} {
		i := strings.Index(good, "\n"+key+"=")
		j := strings.Index(good[i+1:], "\n")
		bad := resize([]byte(good[:i] + good[i+1+j:]))
		if _, err := lightgbm.ParseStrict(bad); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("without %s: err = %v", key, err)
		}
		if _, err := lightgbm.Parse(bad); err != nil {
			t.Errorf("loose reader without %s: %v", key, err)
		}
	}
	if _, err := lightgbm.ParseStrict([]byte("hello\n")); err == nil {
		t.Error("garbage accepted")
	}
}

func TestParseErrors(t *testing.T) {
	good := string(withoutInternal(marshal(t, randomModel(1, []string{"a", "b"}, 5, 6))))
	if !strings.Contains(good, "split_feature=") {
		t.Fatal("test model has no split")
	}
	cases := map[string]string{
		"empty":          "",
		"no version":     strings.Replace(good, "version=v3\n", "", 1),
		"bad version":    strings.Replace(good, "version=v3", "version=v9", 1),
		"feature range":  strings.Replace(strings.Replace(good, "max_feature_idx=1", "max_feature_idx=0", 1), "feature_names=a b\n", "", 1),
		"leaf count":     strings.Replace(good, "num_leaves=", "num_leaves=1", 1),
		"names count":    strings.Replace(good, "feature_names=a b", "feature_names=a", 1),
		"no trees":       good[:strings.Index(good, "Tree=0")] + "end of trees\n",
		"no max feature": strings.Replace(good, "max_feature_idx=1\n", "", 1),
		"bad monotone":   strings.Replace(good, "feature_infos=", "monotone_constraints=1 2\nfeature_infos=", 1),
		"unreachable":    strings.Replace(good, "left_child=", "left_child=-1 ", 1),
	}
	for name, text := range cases {
		if _, err := lightgbm.Parse([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Parse accepts what ParseStrict does and agrees with it; it also accepts
// LightGBM files ParseStrict rejects (other versions, no internal values,
// no feature names, CRLF line ends, extra white space, other objectives).
func TestParseAcceptsBoth(t *testing.T) {
	own := marshal(t, randomModel(5, []string{"a", "b", "c"}, 4, 7))
	strict, err := lightgbm.ParseStrict(own)
	if err != nil {
		t.Fatal(err)
	}
	loose, err := lightgbm.Parse(own)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(strict.FeatureNames, loose.FeatureNames) || len(strict.Trees) != len(loose.Trees) {
		t.Fatalf("headers differ")
	}
	for i := range strict.Trees {
		a, b := strict.Trees[i], loose.Trees[i]
		if a.NumLeaves != b.NumLeaves || !slices.Equal(a.LeafValue, b.LeafValue) || !slices.Equal(a.SplitFeature, b.SplitFeature) ||
			!slices.Equal(a.Threshold, b.Threshold) || !slices.Equal(a.DecisionType, b.DecisionType) || !slices.Equal(a.InternalValue, b.InternalValue) ||
			!slices.Equal(a.LeftChild, b.LeftChild) || !slices.Equal(a.RightChild, b.RightChild) {
			t.Fatalf("tree %d differs", i)
		}
	}

	lgb := string(withoutInternal(own))
	for name, text := range map[string]string{
		"no internal values": lgb,
		"version v4":         strings.Replace(lgb, "version=v3", "version=v4", 1),
		"no feature names":   strings.Replace(lgb, "feature_names=a b c\n", "", 1),
		"CRLF":               strings.ReplaceAll(lgb, "\n", "\r\n"),
		"regression":         strings.Replace(lgb, "objective=binary sigmoid:1", "objective=regression", 1),
		"double spaces":      strings.Replace(lgb, "feature_names=a b c", "feature_names=a  b c", 1),
	} {
		if _, err := lightgbm.ParseStrict([]byte(text)); err == nil {
			t.Errorf("%s: the strict reader accepts it; the test needs a file it rejects", name)
		}
		m, err := lightgbm.Parse([]byte(text))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(m.Trees) != 4 || m.NumFeatures() != 3 {
			t.Errorf("%s: %d trees, %d features", name, len(m.Trees), m.NumFeatures())
		}
	}
}

// Attribution adds up to leaves' raw score on random models, with node
// values from internal_value and computed from leaf weights.
func TestContributionsSumToRawScore(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, internal := range []bool{true, false} {
		for seed := uint64(0); seed < 5; seed++ {
			text := marshal(t, randomModel(seed, names, 20, 10))
			if !internal {
				text = withoutInternal(text)
			}
			ens := loadLeaves(t, text, false)
			m, err := lightgbm.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Trees) != ens.NEstimators() || m.MaxFeatureIdx != 4 || strings.Join(m.FeatureNames, ",") != "a,b,c,d,e" {
				t.Fatalf("header %+v", m)
			}
			leafEns := ens.EnsembleWithLeafPredictions()
			for i := 0; i < 200; i++ {
				row := make([]float64, len(names))
				for j := range row {
					row[j] = rng.NormFloat64() * 6
					if rng.IntN(5) == 0 {
						row[j] = math.NaN()
					}
				}
				var raw [1]float64
				if err := ens.Predict(row, 0, raw[:]); err != nil {
					t.Fatal(err)
				}
				lf := make([]float64, ens.NEstimators())
				if err := leafEns.Predict(row, 0, lf); err != nil {
					t.Fatal(err)
				}
				li := make([]int, len(lf))
				for k, x := range lf {
					li[k] = int(x)
				}
				c := make([]float64, len(names))
				bias, err := m.Contributions(li, c)
				if err != nil {
					t.Fatal(err)
				}
				sum := bias
				for _, x := range c {
					sum += x
				}
				if math.Abs(sum-raw[0]) > 1e-9 {
					t.Fatalf("internal=%v seed %d row %d: bias+contributions %v, raw %v", internal, seed, i, sum, raw[0])
				}
			}
		}
	}
}

// A model built in memory attributes like the same model parsed.
func TestContributionsInMemory(t *testing.T) {
	m := randomModel(9, []string{"a", "b", "c"}, 6, 8)
	parsed, err := lightgbm.Parse(marshal(t, m))
	if err != nil {
		t.Fatal(err)
	}
	leaves := make([]int, len(m.Trees))
	for i, tr := range m.Trees {
		leaves[i] = tr.NumLeaves - 1
	}
	c1, c2 := make([]float64, 3), make([]float64, 3)
	b1, err1 := m.Contributions(leaves, c1)
	b2, err2 := parsed.Contributions(leaves, c2)
	if err1 != nil || err2 != nil || b1 != b2 || !slices.Equal(c1, c2) {
		t.Errorf("in memory %v %v %v, parsed %v %v %v", b1, c1, err1, b2, c2, err2)
	}
	if _, err := m.Contributions(leaves[:1], c1); err == nil {
		t.Error("too few leaf indices accepted")
	}
}

// average_output (random forests) is read, written, and scales the
// attribution to leaves' mean of the trees.
func TestAverageOutput(t *testing.T) {
	m := randomModel(4, []string{"a", "b"}, 5, 6)
	m.AverageOutput = true
	text := marshal(t, m)
	if !strings.Contains(string(text), "\naverage_output\n") {
		t.Fatalf("no average_output line:\n%s", text[:200])
	}
	back, err := lightgbm.Parse(text)
	if err != nil || !back.AverageOutput {
		t.Fatalf("parse: %v, average_output %v", err, back != nil && back.AverageOutput)
	}
	ens := loadLeaves(t, text, false)
	row := []float64{1.5, -2}
	lf := make([]float64, ens.NEstimators())
	if err := ens.EnsembleWithLeafPredictions().Predict(row, 0, lf); err != nil {
		t.Fatal(err)
	}
	li := make([]int, len(lf))
	for k, x := range lf {
		li[k] = int(x)
	}
	c := make([]float64, 2)
	bias, err := back.Contributions(li, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := bias+c[0]+c[1], ens.PredictSingle(row, 0); math.Abs(got-want) > 1e-12 {
		t.Errorf("bias+contributions %v, leaves %v", got, want)
	}
}

// Monotone constraints are written as a header line only when set, read
// back by both readers, and leave the file loadable by leaves.
func TestMonotoneConstraints(t *testing.T) {
	m := randomModel(2, []string{"a", "b", "c"}, 3, 5)
	if strings.Contains(string(marshal(t, m)), "monotone_constraints") {
		t.Error("monotone_constraints written without constraints")
	}
	m.MonotoneConstraints = []int{1, 0, -1}
	text := marshal(t, m)
	if !strings.Contains(string(text), "\nfeature_names=a b c\nmonotone_constraints=1 0 -1\nfeature_infos=") {
		t.Errorf("header:\n%s", text[:200])
	}
	for name, parse := range map[string]func([]byte) (*lightgbm.Model, error){"strict": lightgbm.ParseStrict, "loose": lightgbm.Parse} {
		back, err := parse(text)
		if err != nil || !slices.Equal(back.MonotoneConstraints, m.MonotoneConstraints) {
			t.Errorf("%s: %v, constraints %v", name, err, back)
		}
	}
	loadLeaves(t, text, true)
	m.MonotoneConstraints = []int{1, 0}
	if _, err := m.Marshal(); err == nil {
		t.Error("2 constraints for 3 features written")
	}
	m.MonotoneConstraints = []int{1, 0, 2}
	if _, err := m.Marshal(); err == nil {
		t.Error("constraint 2 written")
	}
}

func TestMarshalRefuses(t *testing.T) {
	for name, change := range map[string]func(m *lightgbm.Model){
		"no features":     func(m *lightgbm.Model) { m.FeatureNames, m.FeatureInfos, m.MaxFeatureIdx = nil, nil, -1 },
		"no trees":        func(m *lightgbm.Model) { m.Trees = nil },
		"infos":           func(m *lightgbm.Model) { m.FeatureInfos = m.FeatureInfos[:1] },
		"name with space": func(m *lightgbm.Model) { m.FeatureNames[0] = "a b" },
		"short array":     func(m *lightgbm.Model) { m.Trees[0].LeafWeight = nil },
		"feature range":   func(m *lightgbm.Model) { m.Trees[0].SplitFeature[0] = 7 },
		"categorical":     func(m *lightgbm.Model) { m.Trees[0].NumCat = 1 },
	} {
		m := smallModel()
		change(m)
		if _, err := m.Marshal(); err == nil {
			t.Errorf("%s: written", name)
		}
	}
}

func TestLoad(t *testing.T) {
	schema := []string{"a", "b", "c", "d"}
	text := marshal(t, randomModel(6, []string{"c", "a"}, 3, 5))
	m, cols, err := lightgbm.Load(text, schema)
	if err != nil || !slices.Equal(cols, []int{2, 0}) || m.NumFeatures() != 2 {
		t.Fatalf("subset in another order: cols %v, err %v", cols, err)
	}
	unnamed := strings.Replace(string(text), "feature_names=c a\n", "", 1)
	if _, cols, err := lightgbm.Load([]byte(unnamed), schema); err != nil || !slices.Equal(cols, []int{0, 1}) {
		t.Errorf("without names: cols %v, err %v", cols, err)
	}
	if _, _, err := lightgbm.Load([]byte(unnamed), schema[:1]); !errors.Is(err, lightgbm.ErrSchemaMismatch) {
		t.Errorf("without names, more features than the schema: %v", err)
	}
	if _, _, err := lightgbm.Load(text, []string{"a", "b"}); !errors.Is(err, lightgbm.ErrSchemaMismatch) || !strings.Contains(err.Error(), `"c"`) {
		t.Errorf("unknown feature: %v", err)
	}
	twice := strings.Replace(string(text), "feature_names=c a", "feature_names=a a", 1)
	if _, _, err := lightgbm.Load([]byte(twice), schema); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("feature listed twice: %v", err)
	}
	multi := strings.Replace(string(text), "num_class=1", "num_class=3", 1)
	if _, _, err := lightgbm.Load([]byte(multi), schema); err == nil || !strings.Contains(err.Error(), "num_class") {
		t.Errorf("three outputs: %v", err)
	}
	if _, _, err := lightgbm.Load([]byte("tree\n"), schema); err == nil {
		t.Error("garbage loaded")
	}
}

func FuzzParseStrict(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "small_model.txt")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("tree\nversion=v3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := lightgbm.ParseStrict(data)
		if err != nil {
			return
		}
		// whatever parses strictly round-trips
		out, err := m.Marshal()
		if err != nil {
			return // e.g. feature names with characters the writer refuses
		}
		m2, err := lightgbm.ParseStrict(out)
		if err != nil {
			t.Fatalf("re-parse of re-serialised model: %v", err)
		}
		out2, err := m2.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("second round trip differs: %v", err)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add(marshal(f, randomModel(1, []string{"a", "b"}, 2, 4)))
	f.Add(withoutInternal(marshal(f, randomModel(2, []string{"a"}, 1, 1))))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := lightgbm.Parse(data)
		if err != nil {
			return
		}
		// Any accepted model attributes its first leaves and maps its
		// columns without panicking, and what it writes reads back.
		leaves := make([]int, len(m.Trees))
		if m.MaxFeatureIdx < 1<<16 {
			m.Contributions(leaves, make([]float64, m.MaxFeatureIdx+1))
		}
		m.Columns([]string{"a", "b"})
		if out, err := m.Marshal(); err == nil {
			m2, err := lightgbm.Parse(out)
			if err != nil {
				t.Fatalf("parse of what Marshal wrote: %v", err)
			}
			if out2, err := m2.Marshal(); err != nil || !bytes.Equal(out, out2) {
				t.Fatalf("second round trip differs: %v", err)
			}
		}
	})
}
