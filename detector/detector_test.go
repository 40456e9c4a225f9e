package detector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/models"
	"github.com/faultline-dev/faultline/registry/bundle"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

var horizons = []int{10, 20, 60}

// makeBundle writes a bundle whose models come from gen(h).
func makeBundle(t testing.TB, schema bundle.Schema, gen func(h int) []byte) []byte {
	t.Helper()
	b := &bundle.Bundle{
		Manifest: bundle.Manifest{Model: "faultline", Version: 3, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			FeatureSchema: schema, Horizons: horizons, Thresholds: map[int]float64{10: 0.9, 20: 0.8, 60: 0.6}},
		Files: map[string][]byte{bundle.MetricsName: []byte(`{"metrics":{}}`)},
	}
	for _, h := range horizons {
		b.Files[bundle.ModelFileName(h)] = gen(h)
		b.Manifest.Files = append(b.Manifest.Files, bundle.FileEntry{Path: bundle.ModelFileName(h), Horizon: h})
	}
	var buf bytes.Buffer
	if err := bundle.Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomModels(h int) []byte {
	return registrytest.ModelText(uint64(h), features.Names(), 30, 8, h != 20)
}

// randomRow draws a feature row with some NaNs.
func randomRow(rng *rand.Rand) []float64 {
	row := make([]float64, features.NumFeatures)
	for i := range row {
		switch rng.IntN(6) {
		case 0:
			row[i] = math.NaN()
		case 1:
			row[i] = 0
		default:
			row[i] = rng.NormFloat64() * 8
		}
	}
	return row
}

func TestLoadRefusesTamperedBundle(t *testing.T) {
	good := makeBundle(t, detector.Schema(), randomModels)
	if _, err := detector.LoadReader(bytes.NewReader(good)); err != nil {
		t.Fatalf("good bundle refused: %v", err)
	}
	for _, file := range []string{"model_h10.txt", "model_h60.txt", bundle.MetricsName, bundle.ManifestName, bundle.ManifestSumName} {
		t.Run(file, func(t *testing.T) {
			bad := registrytest.TamperGzip(t, good, file)
			_, err := detector.LoadReader(bytes.NewReader(bad))
			if err == nil {
				t.Fatal("tampered bundle accepted")
			}
			var ce *bundle.ChecksumError
			if file != bundle.ManifestName && file != bundle.ManifestSumName {
				if !errors.As(err, &ce) || ce.File != file {
					t.Errorf("error %v does not name %s", err, file)
				}
			} else if !errors.As(err, &ce) || ce.File != bundle.ManifestName {
				t.Errorf("error %v does not name the manifest", err)
			}
		})
	}
	// A byte flipped in the compressed stream itself.
	for _, pos := range []int{len(good) / 3, len(good) / 2, len(good) - 6} {
		bad := slices.Clone(good)
		bad[pos] ^= 0x20
		if _, err := detector.LoadReader(bytes.NewReader(bad)); err == nil {
			t.Errorf("byte %d of the gzip stream flipped: accepted", pos)
		}
	}
}

func TestLoadRefusesOtherSchema(t *testing.T) {
	s := detector.Schema()
	names := s.Names
	cases := map[string]bundle.Schema{
		"reordered": {Version: s.Version, Hash: s.Hash, Names: append([]string{names[1], names[0]}, names[2:]...)},
		"missing":   {Version: "old", Hash: "x", Names: names[:len(names)-1]},
		"extra":     {Version: "new", Hash: "y", Names: append(slices.Clone(names), "brand_new_feature")},
		"hash":      {Version: s.Version, Hash: "0000000000000000", Names: names},
		"config":    {Version: s.Version, Hash: s.Hash, Names: names, ConfigHash: "ffffffffffffffff"},
	}
	for name, sc := range cases {
		t.Run(name, func(t *testing.T) {
			b := makeBundle(t, sc, func(h int) []byte { return registrytest.ModelText(uint64(h), sc.Names, 3, 4, true) })
			_, err := detector.LoadReader(bytes.NewReader(b))
			if !errors.Is(err, detector.ErrSchemaMismatch) {
				t.Fatalf("err = %v, want ErrSchemaMismatch", err)
			}
		})
	}
	// Bundle schema right, but a model file reading a column this build
	// does not compute.
	b := makeBundle(t, s, func(h int) []byte {
		return registrytest.ModelText(uint64(h), append([]string{"brand_new_feature"}, names[1:]...), 3, 4, true)
	})
	if _, err := detector.LoadReader(bytes.NewReader(b)); !errors.Is(err, detector.ErrSchemaMismatch) {
		t.Errorf("model reads an unknown feature: err = %v, want ErrSchemaMismatch", err)
	}
}

// Predictions equal the model's own: a GBDT trained by package models,
// exported to LightGBM text, bundled and loaded by the detector, scores
// every row exactly as models.Model.Predict does; and the attribution adds
// up to the raw score.
func TestPredictionsEqualModel(t *testing.T) {
	names := features.Names()
	nf := len(names)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 2000
	data := &models.Data{Cols: make([][]float64, nf), Y: make([]float64, n)}
	for f := range data.Cols {
		data.Cols[f] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		row := randomRow(rng)
		for f := range row {
			data.Cols[f][i] = row[f]
		}
		z := 0.0
		if !math.IsNaN(row[3]) {
			z += row[3] / 4
		}
		if !math.IsNaN(row[7]) && row[7] > 2 {
			z += 1.5
		}
		if rng.Float64() < metrics.Sigmoid(z-0.5) {
			data.Y[i] = 1
		}
	}
	p := models.DefaultParams()
	p.NumTrees, p.MaxLeaves, p.MinDataInLeaf, p.EarlyStoppingRounds, p.Threads = 40, 15, 10, 0, 1
	ms := map[int]*models.Model{}
	texts := map[int][]byte{}
	// The 20-minute model reads a subset of the schema in another order,
	// as models trained with excluded features do.
	var sub []int
	for f := nf - 1; f >= 0; f-- {
		if f%3 == 0 || f == 7 {
			sub = append(sub, f)
		}
	}
	cols := map[int][]int{10: seq(nf), 20: sub, 60: seq(nf)}
	for _, h := range horizons {
		p.Seed = uint64(h)
		hn := make([]string, len(cols[h]))
		hd := &models.Data{Y: data.Y}
		for j, c := range cols[h] {
			hn[j] = names[c]
			hd.Cols = append(hd.Cols, data.Cols[c])
		}
		m, _, err := models.Train(context.Background(), p, hn, hd, nil)
		if err != nil {
			t.Fatal(err)
		}
		txt, err := m.MarshalLightGBM()
		if err != nil {
			t.Fatal(err)
		}
		ms[h], texts[h] = m, txt
	}
	d, err := detector.LoadReader(bytes.NewReader(makeBundle(t, detector.Schema(), func(h int) []byte { return texts[h] })))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for i := 0; i < 500; i++ {
		row := randomRow(rng)
		for _, h := range horizons {
			got, err := d.Predict(h, row)
			if err != nil {
				t.Fatal(err)
			}
			in := make([]float64, len(cols[h]))
			for j, c := range cols[h] {
				in[j] = row[c]
			}
			want := ms[h].Predict(in)
			if math.Abs(got-want) > 1e-12 {
				t.Fatalf("h%d row %d: detector %v, model %v", h, i, got, want)
			}
			e, err := d.Explain(h, row)
			if err != nil {
				t.Fatal(err)
			}
			sum := e.Bias
			for _, c := range e.Contributions {
				sum += c
			}
			if math.Abs(sum-e.Raw) > 1e-9 || math.Abs(e.P-want) > 1e-12 {
				t.Fatalf("h%d row %d: bias+contributions %v, raw %v", h, i, sum, e.Raw)
			}
			checked++
		}
	}
	if checked != 1500 {
		t.Fatalf("checked %d", checked)
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// Attribution on hand-made models: the reason for a flag is the feature
// that moved the score, both with and without internal_value in the file.
func TestReasonsNameTheDrivingFeature(t *testing.T) {
	names := features.Names()
	target := features.Index("inconclusive") - 1
	// One tree: split on target at 0.5; leaves -2 / +3; internal value 0.5.
	model := func(internal bool) []byte {
		s := "tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
		s += "max_feature_idx=" + itoa(len(names)-1) + "\nobjective=binary sigmoid:1\ntree_sizes=100\n\n"
		s += "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=" + itoa(target) + "\nsplit_gain=1\nthreshold=0.5\ndecision_type=2\n"
		s += "left_child=-1\nright_child=-2\nleaf_value=-2 3\nleaf_weight=1 1\nleaf_count=1 1\n"
		if internal {
			s += "internal_value=0.5\ninternal_weight=2\ninternal_count=2\n"
		}
		s += "shrinkage=1\n\n\nend of trees\n"
		return []byte(s)
	}
	for _, internal := range []bool{true, false} {
		d, err := detector.LoadReader(bytes.NewReader(makeBundle(t, detector.Schema(), func(int) []byte { return model(internal) })))
		if err != nil {
			t.Fatal(err)
		}
		row := make([]float64, len(names))
		row[target] = 1
		res, err := d.Decide(map[int][]float64{10: row})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != detector.Faulty || res.DetectedAt != 10 || !res.Final {
			t.Fatalf("verdict %+v", res)
		}
		if len(res.Reasons) != 1 || res.Reasons[0].Feature != names[target] || math.Abs(res.Reasons[0].Contribution-2.5) > 1e-12 {
			t.Errorf("reasons %+v, want %s +2.5", res.Reasons, names[target])
		}
		row[target] = 0
		res, err = d.Decide(map[int][]float64{10: row, 20: row})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != detector.Healthy || res.Final || res.DecidingHorizon != 20 || len(res.Scores) != 2 {
			t.Errorf("healthy so far: %+v", res)
		}
		if len(res.Reasons) != 1 || res.Reasons[0].Contribution != -2.5 {
			t.Errorf("healthy reasons %+v", res.Reasons)
		}
		row[features.Index("inconclusive")] = 1
		res, _ = d.Decide(map[int][]float64{10: row, 20: row, 60: row})
		if res.Verdict != detector.Inconclusive || !res.Final {
			t.Errorf("thin window: %+v", res)
		}
		// Aggregate-only metrics: no version has series of its own, so the
		// canary checks never judge (inconclusive 1); the before/after
		// checks judged the change, and the model's score is a verdict.
		agg := slices.Clone(row)
		agg[features.NewRequests], agg[features.PrevErrorRate], agg[features.OverlapMinutes] = 0, math.NaN(), 0
		agg[features.BAChecks] = 12
		for _, c := range []struct {
			name     string
			set      map[int]float64
			want     string
			unjudged bool
		}{
			{"before/after judged a change without a canary", nil, detector.Healthy, false},
			{"before/after could not judge", map[int]float64{features.BAChecks: 0}, detector.Inconclusive, true},
			{"before/after NaN", map[int]float64{features.BAChecks: math.NaN()}, detector.Inconclusive, true},
			{"a canary with too little traffic", map[int]float64{features.OverlapMinutes: 5, features.NewRequests: 20, features.PrevErrorRate: 0.01}, detector.Inconclusive, true},
		} {
			r := slices.Clone(agg)
			for k, v := range c.set {
				r[k] = v
			}
			res, _ = d.Decide(map[int][]float64{10: r, 20: r, 60: r})
			if res.Verdict != c.want || !res.Final || res.Scores[len(res.Scores)-1].Inconclusive != c.unjudged {
				t.Errorf("%s: %+v, want %s", c.name, res, c.want)
			}
		}
		res, _ = d.Decide(map[int][]float64{})
		if res.Verdict != detector.Inconclusive || res.Final {
			t.Errorf("no data: %+v", res)
		}
		if _, err := json.Marshal(res); err != nil {
			t.Error(err)
		}
	}
}

func itoa(i int) string { return string(mustJSON(i)) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Live windows: only horizons whose window has ended are computed, with
// the same features.Compute the extractor runs.
func TestEvaluateLiveWindow(t *testing.T) {
	d, err := detector.LoadReader(bytes.NewReader(makeBundle(t, detector.Schema(), randomModels)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)
	s0 := start.Unix() / 60
	var old, cur features.Series
	old.Version, cur.Version = "v1", "v2"
	for m := s0 - 120; m < s0+90; m++ {
		old.Minutes = append(old.Minutes, m)
		old.Requests = append(old.Requests, 1000)
		old.Errors = append(old.Errors, 5)
		if m >= s0 {
			cur.Minutes = append(cur.Minutes, m)
			cur.Requests = append(cur.Requests, 200)
			cur.Errors = append(cur.Errors, 40)
		}
	}
	in := &features.Input{Deploy: features.Deploy{ID: "d1", Service: "s", Environment: "e", Version: "v2", StartedAt: start,
		FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1}, Series: []features.Series{old, cur}}
	cfg := d.FeatureConfig()
	for _, tc := range []struct {
		after time.Duration
		want  []int
	}{{5 * time.Minute, nil}, {15 * time.Minute, []int{10}}, {25 * time.Minute, []int{10, 20}}, {90 * time.Minute, []int{10, 20, 60}}} {
		rows, err := d.Rows(in, start.Truncate(time.Minute).Add(tc.after))
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, h := range horizons {
			if row, ok := rows[h]; ok {
				got = append(got, h)
				w, err := features.NewWindow(in, h, &cfg)
				if err != nil {
					t.Fatal(err)
				}
				want := features.Compute(w, &cfg)
				for i := range want {
					if !(want[i] == row[i] || math.IsNaN(want[i]) && math.IsNaN(row[i])) {
						t.Fatalf("h%d %s: %v, want %v", h, features.Names()[i], row[i], want[i])
					}
				}
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("after %v: horizons %v, want %v", tc.after, got, tc.want)
		}
		res, err := d.Evaluate(in, start.Truncate(time.Minute).Add(tc.after))
		if err != nil {
			t.Fatal(err)
		}
		if len(tc.want) == 0 && res.Verdict != detector.Inconclusive {
			t.Errorf("no data yet: %s", res.Verdict)
		}
		if res.Verdict != detector.Faulty && res.Final != (len(tc.want) == 3) {
			t.Errorf("after %v: final %v", tc.after, res.Final)
		}
	}
}

// faultSignals are features a constrained test model is monotone in.
var faultSignals = []string{"impact_ratio", "impact_z", "impact_vs_seasonal_ratio", "cp_llr", "new_sig_rate", "p95_ratio", "impact_pass"}

// constrainedModel trains a model on schema rows whose label rises and
// then falls with impact_ratio (as weak labels do for faults replaced
// before anyone reacted), constrained non-decreasing in faultSignals.
func constrainedModel(t *testing.T) (*models.Model, []byte) {
	t.Helper()
	names := features.Names()
	nf := len(names)
	rng := rand.New(rand.NewPCG(7, 8))
	n := 4000
	data := &models.Data{Cols: make([][]float64, nf), Y: make([]float64, n)}
	for f := range data.Cols {
		data.Cols[f] = make([]float64, n)
	}
	ir, z, cp := features.Index("impact_ratio"), features.Index("impact_z"), features.Index("cp_llr")
	for i := 0; i < n; i++ {
		row := randomRow(rng)
		for f := range row {
			data.Cols[f][i] = row[f]
		}
		s := -1.0
		if x := row[ir]; x > 2 && x < 8 {
			s += 3
		} else if x >= 8 {
			s -= 1 // the inversion the constraint must not learn
		}
		if row[z] > 4 {
			s += 1
		}
		if row[cp] < -6 { // a fault signal whose label falls at the low end
			s += 1.5
		}
		if rng.Float64() < metrics.Sigmoid(s) {
			data.Y[i] = 1
		}
	}
	p := models.DefaultParams()
	p.NumTrees, p.MaxLeaves, p.MinDataInLeaf, p.EarlyStoppingRounds, p.Threads, p.LearningRate = 60, 15, 10, 0, 1, 0.1
	p.Monotone = make([]int8, nf)
	for _, n := range faultSignals {
		p.Monotone[features.Index(n)] = 1
	}
	m, _, err := models.Train(context.Background(), p, names, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := m.MarshalLightGBM()
	if err != nil {
		t.Fatal(err)
	}
	return m, txt
}

// Reasons never show a fault signal pushing towards healthy: for a model
// monotone in a feature, that feature's contribution is measured from its
// least alarming training value (the minimum), so it is ≥ 0 at every value
// that is not missing, and a faulty-looking row's reasons name the signals.
// Path attribution of the very same model does show such signals pushing
// towards healthy, which is why the rule exists. Unconstrained features
// keep their path attribution.
func TestReasonsMonotoneFeatures(t *testing.T) {
	m, txt := constrainedModel(t)
	d, err := detector.LoadReader(bytes.NewReader(makeBundle(t, detector.Schema(), func(int) []byte { return txt })))
	if err != nil {
		t.Fatal(err)
	}
	// the same trees without the constraints line: plain path attribution
	plain := bytes.Replace(txt, []byte("\nmonotone_constraints="), []byte("\nignored_constraints="), 1)
	dp, err := detector.LoadReader(bytes.NewReader(makeBundle(t, detector.Schema(), func(int) []byte { return plain })))
	if err != nil {
		t.Fatal(err)
	}
	names := features.Names()
	constrained := map[int]bool{}
	ref := map[int]float64{}
	for _, n := range faultSignals {
		f := features.Index(n)
		constrained[f] = true
		var lo, hi float64
		if _, err := fmt.Sscanf(m.FeatureInfos[f], "[%g:%g]", &lo, &hi); err != nil {
			t.Fatalf("%s: feature_infos %q: %v", n, m.FeatureInfos[f], err)
		}
		ref[f] = lo
	}
	rng := rand.New(rand.NewPCG(9, 10))
	pathNegative, flagged := 0, 0
	for i := 0; i < 400; i++ {
		row := randomRow(rng)
		if i%2 == 0 { // faulty-looking: a large error ratio and change point
			row[features.Index("impact_ratio")] = 5 + 20*rng.Float64()
			row[features.Index("impact_z")] = 10 + 20*rng.Float64()
			row[features.Index("cp_llr")] = 30 * rng.Float64()
		}
		e, err := d.Explain(60, row)
		if err != nil {
			t.Fatal(err)
		}
		ep, err := dp.Explain(60, row)
		if err != nil {
			t.Fatal(err)
		}
		if e.Raw != ep.Raw || e.Bias != ep.Bias {
			t.Fatalf("row %d: the constraints line changed the score", i)
		}
		for f, c := range e.Contributions {
			switch {
			case !constrained[f]:
				if c != ep.Contributions[f] {
					t.Fatalf("row %d: unconstrained %s contributes %v, path attribution %v", i, names[f], c, ep.Contributions[f])
				}
			case math.IsNaN(row[f]):
			case c < 0:
				t.Fatalf("row %d: %s = %v (reference %v) contributes %v towards healthy", i, names[f], row[f], ref[f], c)
			case row[f] > ref[f] && ep.Contributions[f] < 0:
				pathNegative++
			}
		}
		res, err := d.Decide(map[int][]float64{60: row})
		if err != nil {
			t.Fatal(err)
		}
		// Without reasons: the same decision, nothing else missing.
		quiet, err := d.DecideWithoutReasons(map[int][]float64{60: row})
		if err != nil {
			t.Fatal(err)
		}
		if len(quiet.Reasons) != 0 {
			t.Fatalf("row %d: DecideWithoutReasons gave %d reasons", i, len(quiet.Reasons))
		}
		withReasons := *res
		withReasons.Reasons = []detector.Reason{}
		if !reflect.DeepEqual(*quiet, withReasons) {
			t.Fatalf("row %d: DecideWithoutReasons %+v, Decide %+v", i, *quiet, *res)
		}
		for _, r := range res.Reasons {
			if f := features.Index(r.Feature); constrained[f] && !math.IsNaN(r.Value) && r.Contribution < 0 {
				t.Fatalf("row %d: %s verdict lists %s = %v at %v", i, res.Verdict, r.Feature, r.Value, r.Contribution)
			}
		}
		if i%2 == 0 && res.Verdict == detector.Faulty {
			flagged++
			if len(res.Reasons) == 0 || !constrained[features.Index(res.Reasons[0].Feature)] {
				t.Errorf("row %d: faulty-looking row flagged, top reason %+v is not a fault signal", i, res.Reasons)
			}
		}
	}
	if flagged < 100 {
		t.Errorf("%d of 200 faulty-looking rows flagged", flagged)
	}
	if pathNegative == 0 {
		t.Error("path attribution never pushed a fault signal above its reference towards healthy: the test does not exercise the rule")
	}
	t.Logf("path attribution pushed a fault signal above its reference towards healthy %d times; %d faulty-looking rows flagged", pathNegative, flagged)
}

// A look during a fleet event — at least the policy's fleet_event_share of
// the environment's other services elevated in its window — does not flag,
// and a verdict whose latest look was one is inconclusive; without the
// setting (bundles written before it), every look may flag.
func TestFleetEventLookDoesNotFlag(t *testing.T) {
	names := features.Names()
	target := features.Index("inconclusive") - 1
	// One tree: the fault signal (target 1) gives p = σ(3) ≈ 0.95, above
	// every threshold; 0 gives σ(−2).
	tree := "tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n" +
		"max_feature_idx=" + itoa(len(names)-1) + "\nobjective=binary sigmoid:1\ntree_sizes=100\n\n" +
		"Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=" + itoa(target) + "\nsplit_gain=1\nthreshold=0.5\ndecision_type=2\n" +
		"left_child=-1\nright_child=-2\nleaf_value=-2 3\nleaf_weight=1 1\nleaf_count=1 1\nshrinkage=1\n\n\nend of trees\n"
	load := func(share float64) *detector.Detector {
		t.Helper()
		var buf bytes.Buffer
		if err := bundle.Write(&buf, fleetBundle(t, []byte(tree), share)); err != nil {
			t.Fatal(err)
		}
		d, err := detector.LoadReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	row := func(fleetMax float64) []float64 {
		r := make([]float64, len(names))
		r[target], r[features.FleetElevatedMaxFrac] = 1, fleetMax
		return r
	}
	for _, c := range []struct {
		name           string
		share          float64
		fleet          map[int]float64 // fleet_elevated_max_frac per look
		verdict        string
		at             int
		fleetEventLook []int
		allEventLooks  []int // Result.FleetEventLooks: also after the flagging look
	}{
		{"no event", 0.1, map[int]float64{10: 0.05, 20: 0.05, 60: 0.05}, detector.Faulty, 10, nil, nil},
		{"no other service (NaN)", 0.1, map[int]float64{10: math.NaN(), 20: math.NaN(), 60: math.NaN()}, detector.Faulty, 10, nil, nil},
		{"event at the first look: the next flags", 0.1, map[int]float64{10: 0.2, 20: 0.05, 60: 0.05}, detector.Faulty, 20, []int{10}, []int{10}},
		{"event at the share exactly", 0.1, map[int]float64{10: 0.1, 20: 0.1, 60: 0.05}, detector.Faulty, 60, []int{10, 20}, []int{10, 20}},
		{"event after the flagging look", 0.1, map[int]float64{10: 0.05, 20: 0.05, 60: 0.3}, detector.Faulty, 10, nil, []int{60}},
		{"event throughout: inconclusive", 0.1, map[int]float64{10: 0.3, 20: 0.3, 60: 0.3}, detector.Inconclusive, 0, []int{10, 20, 60}, []int{10, 20, 60}},
		{"setting off", 0, map[int]float64{10: 0.3, 20: 0.3, 60: 0.3}, detector.Faulty, 10, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := load(c.share)
			if got := d.FleetEventShare(); got != c.share {
				t.Fatalf("FleetEventShare %v, want %v", got, c.share)
			}
			rows := map[int][]float64{}
			for h, f := range c.fleet {
				rows[h] = row(f)
			}
			res, err := d.Decide(rows)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != c.verdict || res.DetectedAt != c.at || !res.Final {
				t.Fatalf("verdict %s at %d (final %v), want %s at %d", res.Verdict, res.DetectedAt, res.Final, c.verdict, c.at)
			}
			var events []int
			for _, s := range res.Scores {
				if s.FleetEvent {
					events = append(events, s.Horizon)
					if s.Flagged || !s.Inconclusive || !(s.P > s.Threshold) {
						t.Errorf("look %d in a fleet event: %+v, want not flagged, inconclusive, P above its threshold", s.Horizon, s)
					}
				}
			}
			if !slices.Equal(events, c.fleetEventLook) {
				t.Errorf("fleet-event looks %v, want %v", events, c.fleetEventLook)
			}
			if !slices.Equal(res.FleetEventLooks, c.allEventLooks) {
				t.Errorf("FleetEventLooks %v, want %v", res.FleetEventLooks, c.allEventLooks)
			}
		})
	}
}

// fleetBundle is makeBundle's bundle with the model text for every horizon
// and a policy recording fleet_event_share (omitted when 0).
func fleetBundle(t *testing.T, model []byte, share float64) *bundle.Bundle {
	t.Helper()
	th := map[int]float64{10: 0.9, 20: 0.8, 60: 0.6}
	pol := map[string]any{"horizons": horizons, "thresholds": []float64{th[10], th[20], th[60]}}
	if share > 0 {
		pol["fleet_event_share"] = share
	}
	b := &bundle.Bundle{
		Manifest: bundle.Manifest{Model: "faultline", Version: 3, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			FeatureSchema: detector.Schema(), Horizons: horizons, Thresholds: th, Policy: mustJSON(pol)},
		Files: map[string][]byte{bundle.MetricsName: []byte(`{"metrics":{}}`)},
	}
	for _, h := range horizons {
		b.Files[bundle.ModelFileName(h)] = model
		b.Manifest.Files = append(b.Manifest.Files, bundle.FileEntry{Path: bundle.ModelFileName(h), Horizon: h})
	}
	return b
}
