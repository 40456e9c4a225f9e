package registrytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/bundle"
)

// Names is the feature schema the suite registers models with.
var Names = []string{"err_rate_ratio", "impact_pass", "temporal_pass", "persistence_pass", "new_signatures", "inconclusive"}

// Schema is the bundle.Schema of Names.
var Schema = bundle.Schema{Version: "test-1", Hash: "h-test-1", Names: Names, ConfigHash: "c1", Config: []byte(`{"MinRequests":300}`)}

// NewVersion returns a registrable version of name whose metrics (on
// evaluation set evalSet) are recall and ttd, with models seeded by seed.
func NewVersion(name string, seed uint64, evalSet string, recall, ttd float64) registry.NewVersion {
	return registry.NewVersion{
		Name: name, CreatedBy: "suite", FeatureSchema: Schema,
		Horizons:   []int{10, 20, 60},
		Thresholds: map[int]float64{10: 0.8, 20: 0.7, 60: 0.5},
		Policy:     []byte(`{"kind":"sequential"}`),
		Params:     []byte(`{"trees":5}`),
		Metrics: registry.Metrics{EvalSetHash: evalSet, Values: map[string]float64{
			"policy.recall": recall, "policy.mttd_min": ttd, "policy.precision": 0.9,
		}},
		Lineage: registry.Lineage{RunID: "run-1", Source: "weak", DatasetHash: "d1", LabelHash: "l1", CodeVersion: "test"},
		Models: map[int][]byte{
			10: ModelText(seed, Names, 5, 6, true),
			20: ModelText(seed+1, Names, 5, 6, false),
			60: ModelText(seed+2, Names, 5, 6, true),
		},
		Files: map[string][]byte{"train.json": []byte(`{"source":"weak"}`)},
	}
}

// Run runs the conformance suite; open returns a fresh, empty backend for
// each subtest.
func Run(t *testing.T, open func(t *testing.T) registry.Backend) {
	ctx := context.Background()
	newReg := func(t *testing.T) *registry.Registry {
		b := open(t)
		t.Cleanup(func() { b.Close() })
		return registry.New(b, registry.DefaultConfig())
	}

	t.Run("VersionsMonotonicAndArtifacts", func(t *testing.T) {
		r := newReg(t)
		for want := 1; want <= 3; want++ {
			v, err := r.Register(ctx, NewVersion("m", uint64(want), "e1", 0.5, 20))
			if err != nil {
				t.Fatal(err)
			}
			if v.Version != want {
				t.Fatalf("version %d, want %d", v.Version, want)
			}
		}
		other, err := r.Register(ctx, NewVersion("other", 9, "e1", 0.5, 20))
		if err != nil {
			t.Fatal(err)
		}
		if other.Version != 1 {
			t.Errorf("first version of a new name is %d, want 1", other.Version)
		}
		models, err := r.Backend().Models(ctx)
		if err != nil || !slices.Equal(models, []string{"m", "other"}) {
			t.Fatalf("Models = %v, %v", models, err)
		}
		vs, err := r.Backend().Versions(ctx, "m")
		if err != nil || len(vs) != 3 {
			t.Fatalf("Versions = %d, %v", len(vs), err)
		}
		for i, v := range vs {
			if v.Version != i+1 {
				t.Errorf("Versions[%d].Version = %d", i, v.Version)
			}
		}
		got, err := r.Get(ctx, "m@2")
		if err != nil {
			t.Fatal(err)
		}
		want := NewVersion("m", 2, "e1", 0.5, 20)
		if !reflect.DeepEqual(got.Lineage, want.Lineage) || got.Metrics.EvalSetHash != "e1" || got.Metrics.Values["policy.recall"] != 0.5 ||
			!slices.Equal(got.FeatureSchema.Names, Names) || got.FeatureSchema.Hash != Schema.Hash || got.FeatureSchema.ConfigHash != "c1" || !strings.Contains(string(got.FeatureSchema.Config), "300") || got.Thresholds[20] != 0.7 ||
			!slices.Equal(got.Horizons, []int{10, 20, 60}) || got.CreatedBy != "suite" || got.CreatedAt.IsZero() {
			t.Errorf("round trip differs: %+v", got)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, got.Params); err != nil || compact.String() != `{"trees":5}` {
			t.Errorf("params %s", got.Params)
		}
		models2, err := r.Models(ctx, got)
		if err != nil {
			t.Fatal(err)
		}
		for h, data := range want.Models {
			if !bytes.Equal(models2[h], data) {
				t.Errorf("model h%d differs after round trip", h)
			}
			a, _ := got.Artifact(bundle.ModelFileName(h))
			if a.SHA256 != bundle.Sum(data) || a.Horizon != h || a.Size != int64(len(data)) {
				t.Errorf("artifact h%d = %+v", h, a)
			}
		}
		if tj, err := r.ReadArtifact(ctx, got, "train.json"); err != nil || string(tj) != `{"source":"weak"}` {
			t.Errorf("train.json = %q, %v", tj, err)
		}
		// Content addressing: the same bytes in two versions share one blob.
		v1, _ := r.Get(ctx, "m@1")
		a1, _ := v1.Artifact("train.json")
		a2, _ := got.Artifact("train.json")
		if a1.SHA256 != a2.SHA256 {
			t.Errorf("equal contents, different hashes")
		}
		if _, err := r.Get(ctx, "m@9"); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("missing version: %v, want ErrNotFound", err)
		}
		if _, err := r.Get(ctx, "m@production"); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("missing alias: %v, want ErrNotFound", err)
		}
	})

	t.Run("ConcurrentRegister", func(t *testing.T) {
		r := newReg(t)
		const n = 8
		var wg sync.WaitGroup
		got := make([]int, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := r.Register(ctx, NewVersion("c", uint64(i), "e1", 0.5, 20))
				errs[i] = err
				if err == nil {
					got[i] = v.Version
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(got)
		for i, v := range got {
			if v != i+1 {
				t.Fatalf("concurrent versions %v, want 1..%d", got, n)
			}
		}
	})

	t.Run("Gate", func(t *testing.T) {
		r := newReg(t)
		reg := func(seed uint64, set string, recall, ttd float64) int {
			v, err := r.Register(ctx, NewVersion("g", seed, set, recall, ttd))
			if err != nil {
				t.Fatal(err)
			}
			return v.Version
		}
		v1 := reg(1, "e1", 0.60, 20)
		v2 := reg(2, "e1", 0.595, 18) // recall drop within 0.01, faster: passes
		v3 := reg(3, "e1", 0.50, 15)  // recall drops by 0.095: refused
		v4 := reg(4, "e1", 0.70, 25)  // slower: refused
		v5 := reg(5, "e2", 0.90, 5)   // other evaluation set: refused
		mv, err := r.Promote(ctx, "g", v1, "production", registry.PromoteOptions{By: "alice"})
		if err != nil {
			t.Fatalf("first promotion: %v", err)
		}
		if mv.From != 0 || mv.To != v1 || mv.Seq != 1 || mv.Decision == nil || !mv.Decision.Passed {
			t.Errorf("first move %+v", mv)
		}
		if _, err := r.Promote(ctx, "g", v2, "production", registry.PromoteOptions{By: "bob"}); err != nil {
			t.Fatalf("better candidate refused: %v", err)
		}
		for _, tc := range []struct {
			v       int
			evalSet bool
			metric  string
		}{{v3, false, "policy.recall"}, {v4, false, "policy.mttd_min"}, {v5, true, ""}} {
			_, err := r.Promote(ctx, "g", tc.v, "production", registry.PromoteOptions{By: "carol"})
			var ge *registry.GateError
			if !errors.As(err, &ge) || !errors.Is(err, registry.ErrGateRefused) {
				t.Fatalf("v%d: err %v, want a gate refusal", tc.v, err)
			}
			if errors.Is(err, registry.ErrEvalSetMismatch) != tc.evalSet {
				t.Errorf("v%d: eval set mismatch = %v, want %v (%v)", tc.v, !tc.evalSet, tc.evalSet, err)
			}
			if tc.metric != "" {
				failed := false
				for _, rr := range ge.Decision.Rules {
					if rr.Metric == tc.metric && !rr.Passed {
						failed = true
					}
				}
				if !failed {
					t.Errorf("v%d: rule %s did not fail: %+v", tc.v, tc.metric, ge.Decision.Rules)
				}
			}
		}
		cur, err := r.Get(ctx, "g@production")
		if err != nil || cur.Version != v2 {
			t.Fatalf("production = %v, %v; want %d (refusals must not move it)", cur, err, v2)
		}
		if _, err := r.Promote(ctx, "g", v3, "production", registry.PromoteOptions{Force: true}); err == nil {
			t.Errorf("force without reason accepted")
		}
		mv, err = r.Promote(ctx, "g", v5, "production", registry.PromoteOptions{By: "dave", Force: true, Reason: "incident 42 hotfix"})
		if err != nil {
			t.Fatal(err)
		}
		if !mv.Forced || mv.Decision == nil || mv.Decision.Passed || !mv.Decision.Forced || mv.From != v2 {
			t.Errorf("forced move %+v", mv)
		}
		// Custom rules from options.
		if _, err := r.Promote(ctx, "g", v3, "staging", registry.PromoteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Promote(ctx, "g", v1, "staging", registry.PromoteOptions{Rules: []registry.Rule{{Metric: "policy.mttd_min", Better: "lower", Tolerance: 10}}}); err != nil {
			t.Errorf("custom rule: %v", err)
		}
		hist, err := r.Backend().History(ctx, "g", "production")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 3 {
			t.Fatalf("production history has %d moves, want 3: %+v", len(hist), hist)
		}
		wantTo := []int{v1, v2, v5}
		for i, m := range hist {
			if m.Seq != int64(i+1) || m.To != wantTo[i] || m.Alias != "production" || m.Name != "g" || m.At.IsZero() {
				t.Errorf("move %d: %+v", i, m)
			}
		}
		if hist[1].By != "bob" || hist[2].Reason != "incident 42 hotfix" || !hist[2].Forced {
			t.Errorf("who/why lost: %+v", hist)
		}
		if d := hist[1].Decision; d == nil || len(d.Rules) != 3 || d.Rules[0].Candidate == nil || *d.Rules[0].Candidate != 0.595 || *d.Rules[0].Current != 0.60 {
			t.Errorf("comparison not recorded: %+v", d)
		}
		all, err := r.Backend().History(ctx, "g", "")
		if err != nil || len(all) != 5 {
			t.Errorf("history of all aliases: %d moves, %v; want 5", len(all), err)
		}
		as, err := r.Backend().Aliases(ctx, "g")
		if err != nil || len(as) != 2 || as[0].Alias != "production" || as[0].Version != v5 || as[1].Alias != "staging" || as[1].Version != v1 {
			t.Errorf("aliases %+v, %v", as, err)
		}
		if _, err := r.Promote(ctx, "g", 99, "production", registry.PromoteOptions{}); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("promote missing version: %v", err)
		}
	})

	t.Run("ReEvaluation", func(t *testing.T) {
		r := newReg(t)
		v1, err := r.Register(ctx, NewVersion("e", 1, "set-a", 0.6, 20))
		if err != nil {
			t.Fatal(err)
		}
		v2, err := r.Register(ctx, NewVersion("e", 2, "set-b", 0.65, 19))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Promote(ctx, "e", v1.Version, "production", registry.PromoteOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = r.Promote(ctx, "e", v2.Version, "production", registry.PromoteOptions{})
		if !errors.Is(err, registry.ErrEvalSetMismatch) {
			t.Fatalf("different evaluation sets: %v, want ErrEvalSetMismatch", err)
		}
		// The production model evaluated on the candidate's set: comparable now.
		m := registry.Metrics{EvalSetHash: "set-b", Values: map[string]float64{
			"policy.recall": 0.64, "policy.mttd_min": 19.5, "policy.precision": 0.9}}
		if err := r.AddEvaluation(ctx, "e", v1.Version, m); err != nil {
			t.Fatal(err)
		}
		got, err := r.Get(ctx, "e@1")
		if err != nil {
			t.Fatal(err)
		}
		if em, ok := got.EvaluationOn("set-b"); !ok || em.Values["policy.recall"] != 0.64 {
			t.Fatalf("evaluation not stored: %+v", got.Evaluations)
		}
		mv, err := r.Promote(ctx, "e", v2.Version, "production", registry.PromoteOptions{})
		if err != nil {
			t.Fatalf("promotion after re-evaluation: %v", err)
		}
		if mv.Decision.EvalSetHash != "set-b" || mv.Decision.Current != v1.Version {
			t.Errorf("decision %+v", mv.Decision)
		}
		if err := r.AddEvaluation(ctx, "e", 42, m); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("evaluation of a missing version: %v", err)
		}
	})

	t.Run("ConcurrentPromotions", func(t *testing.T) {
		r := newReg(t)
		const nv = 4
		for i := range nv {
			if _, err := r.Register(ctx, NewVersion("p", uint64(i), "e1", 0.5, 20)); err != nil {
				t.Fatal(err)
			}
		}
		const workers, each = 12, 5
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					to := 1 + (w+i)%nv
					_, err := r.Promote(ctx, "p", to, "production", registry.PromoteOptions{By: fmt.Sprintf("w%d", w), Reason: fmt.Sprintf("w%d-%d", w, i), Force: true})
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		hist, err := r.Backend().History(ctx, "p", "production")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != workers*each {
			t.Fatalf("history has %d moves, want %d: moves were lost", len(hist), workers*each)
		}
		reasons := map[string]bool{}
		slices.SortFunc(hist, func(a, b registry.Move) int { return int(a.Seq - b.Seq) })
		prev := 0
		for i, m := range hist {
			if m.Seq != int64(i+1) {
				t.Fatalf("seq %d at position %d", m.Seq, i)
			}
			if m.From != prev {
				t.Fatalf("move %d: from %d, but the previous move left the alias at %d", m.Seq, m.From, prev)
			}
			prev = m.To
			reasons[m.Reason] = true
		}
		if len(reasons) != workers*each {
			t.Errorf("%d distinct moves recorded, want %d", len(reasons), workers*each)
		}
		cur, err := r.Get(ctx, "p@production")
		if err != nil || cur.Version != prev {
			t.Errorf("alias at %v, last move to %d (%v)", cur, prev, err)
		}
	})

	t.Run("ExportImport", func(t *testing.T) {
		r := newReg(t)
		v, err := r.Register(ctx, NewVersion("x", 7, "e1", 0.5, 20))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		m, err := r.Export(ctx, registry.Ref{Name: "x", Version: v.Version}, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if m.Model != "x" || m.Version != 1 || len(m.Files) != 4 {
			t.Errorf("manifest %+v", m)
		}
		imp, err := r.Import(ctx, bytes.NewReader(buf.Bytes()), registry.ImportOptions{Name: "y", Schema: Schema, By: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		if imp.Name != "y" || imp.Version != 1 || imp.Metrics.EvalSetHash != "e1" || imp.Thresholds[60] != 0.5 {
			t.Errorf("imported %+v", imp)
		}
		for _, h := range v.Horizons {
			a, _ := v.Artifact(bundle.ModelFileName(h))
			b, _ := imp.Artifact(bundle.ModelFileName(h))
			if a.SHA256 != b.SHA256 {
				t.Errorf("h%d: imported model differs", h)
			}
		}
		other := Schema
		other.Names = append(slices.Clone(Names[1:]), Names[0])
		if _, err := r.Import(ctx, bytes.NewReader(buf.Bytes()), registry.ImportOptions{Schema: other}); !errors.Is(err, registry.ErrSchemaMismatch) {
			t.Errorf("import with another schema: %v, want ErrSchemaMismatch", err)
		}
		tampered := TamperGzip(t, buf.Bytes(), "model_h20.txt")
		var ce *bundle.ChecksumError
		if _, err := r.Import(ctx, bytes.NewReader(tampered), registry.ImportOptions{Schema: Schema}); !errors.As(err, &ce) || ce.File != "model_h20.txt" {
			t.Errorf("tampered import: %v, want a checksum error on model_h20.txt", err)
		}
		vs, _ := r.Backend().Versions(ctx, "x")
		if len(vs) != 1 {
			t.Errorf("refused imports registered versions: %d", len(vs))
		}
	})
}
