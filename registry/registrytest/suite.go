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

// NewVersion returns a registrable version of name whose registration
// metrics (on evaluation set evalSet) are recall and ttd, with models
// seeded by seed and the lineage of pipeline run "run-SEED".
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
		Lineage: registry.Lineage{RunID: fmt.Sprintf("run-%d", seed), Source: "weak", DatasetHash: "d1", LabelHash: "l1", CodeVersion: "test"},
		Models: map[int][]byte{
			10: ModelText(seed, Names, 5, 6, true),
			20: ModelText(seed+1, Names, 5, 6, false),
			60: ModelText(seed+2, Names, 5, 6, true),
		},
		Files: map[string][]byte{"train.json": []byte(`{"source":"weak"}`)},
	}
}

// newRegistry returns a registry over a fresh, empty backend, closed when
// the test ends.
type newRegistry func(t *testing.T) *registry.Registry

// Run runs the conformance suite; open returns a fresh, empty backend for
// each subtest.
func Run(t *testing.T, open func(t *testing.T) registry.Backend) {
	newReg := newRegistry(func(t *testing.T) *registry.Registry {
		b := open(t)
		t.Cleanup(func() { b.Close() })
		return registry.New(b, registry.DefaultConfig())
	})
	t.Run("VersionsMonotonicAndArtifacts", func(t *testing.T) { testVersionsMonotonicAndArtifacts(t, newReg) })
	t.Run("ConcurrentRegister", func(t *testing.T) { testConcurrentRegister(t, newReg) })
	t.Run("Gate", func(t *testing.T) { testGate(t, newReg) })
	t.Run("HolderMovesDuringEvaluation", func(t *testing.T) { testHolderMovesDuringEvaluation(t, newReg) })
	t.Run("Evaluations", func(t *testing.T) { testEvaluations(t, newReg) })
	t.Run("RegisterIdempotentPerRun", func(t *testing.T) { testRegisterIdempotentPerRun(t, newReg) })
	t.Run("ConcurrentPromotions", func(t *testing.T) { testConcurrentPromotions(t, newReg) })
	t.Run("ExportImport", func(t *testing.T) { testExportImport(t, newReg) })
}

func testVersionsMonotonicAndArtifacts(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
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
}

func testConcurrentRegister(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
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
}

// testGate walks one promotion history through the gate: floors, rules,
// refusals, forced moves and what each move records. It is long because it
// is one scenario: every step depends on the moves before it.
func testGate(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	r := newReg(t)
	reg := func(seed uint64) int {
		v, err := r.Register(ctx, NewVersion("g", seed, "e1", 0.9, 20))
		if err != nil {
			t.Fatal(err)
		}
		return v.Version
	}
	// Scores the gate computes (registration metrics are all equal and
	// play no part): the baseline finds 10 of 20 faults at precision 0.91
	// (above the floor, so that its recall binds).
	ev := NewEvaluator("set-1", Conf(10, 1, 10, 79, 60))
	v1 := reg(1)
	ev.Set(v1, Conf(18, 1, 2, 79, 20))
	v2 := reg(2)
	ev.Set(v2, Conf(18, 1, 2, 79, 18)) // as good, faster: passes
	v3 := reg(3)
	ev.Set(v3, Conf(15, 0, 5, 80, 15)) // recall 0.90 → 0.75: rule fails
	v4 := reg(4)
	ev.Set(v4, Conf(18, 1, 2, 79, 25)) // slower: rule fails
	v5 := reg(5)
	ev.Set(v5, Conf(20, 10, 0, 70, 10)) // precision 0.67: floor fails
	v6 := reg(6)
	ev.Set(v6, Conf(0, 0, 20, 80, 0)) // never flags: floors fail
	v7 := reg(7)
	ev.Set(v7, Conf(8, 0, 12, 80, 10)) // recall 0.4 < baseline 0.5: floor fails

	// No evidence, no promotion — not even the first.
	_, err := r.Promote(ctx, "g", v1, "production", registry.PromoteOptions{By: "alice"})
	if !errors.Is(err, registry.ErrGateRefused) || !errors.Is(err, registry.ErrNoEvidence) {
		t.Fatalf("promotion without an evaluator: %v, want a refusal for lack of evidence", err)
	}
	// The first version must meet the floors.
	for _, v := range []int{v5, v6, v7} {
		_, err := r.Promote(ctx, "g", v, "production", registry.PromoteOptions{Evaluator: ev})
		var ge *registry.GateError
		if !errors.As(err, &ge) || ge.Decision.Current != 0 || ge.Decision.Evidence == nil {
			t.Fatalf("first promotion of v%d: %v, want a refusal on the floors", v, err)
		}
		failed := 0
		for _, f := range ge.Decision.Floors {
			if !f.Passed {
				failed++
			}
		}
		if failed == 0 {
			t.Errorf("v%d: no floor failed: %+v", v, ge.Decision.Floors)
		}
	}
	if _, err := r.Get(ctx, "g@production"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("refused first promotions moved the alias: %v", err)
	}
	mv, err := r.Promote(ctx, "g", v1, "production", registry.PromoteOptions{By: "alice", Evaluator: ev})
	if err != nil {
		t.Fatalf("first promotion: %v", err)
	}
	if mv.From != 0 || mv.To != v1 || mv.Seq != 1 || mv.Decision == nil || !mv.Decision.Passed || len(mv.Decision.Floors) != 2 || mv.Decision.Evidence == nil {
		t.Errorf("first move %+v", mv)
	}
	if f := mv.Decision.Floors[0]; f.Floor != "precision" || f.Candidate.K != 18 || f.Candidate.N != 19 || !(f.Candidate.Lo < f.Candidate.Value && f.Candidate.Value < f.Candidate.Hi) {
		t.Errorf("precision floor without its interval: %+v", f)
	}
	if _, err := r.Promote(ctx, "g", v2, "production", registry.PromoteOptions{By: "bob", Evaluator: ev}); err != nil {
		t.Fatalf("better candidate refused: %v", err)
	}
	for _, tc := range []struct {
		v      int
		metric string // a rule that must fail, or "" for a floor
	}{{v3, "policy.recall"}, {v4, registry.MetricSharedMTTD}, {v5, ""}, {v6, ""}, {v7, ""}} {
		_, err := r.Promote(ctx, "g", tc.v, "production", registry.PromoteOptions{By: "carol", Evaluator: ev})
		var ge *registry.GateError
		if !errors.As(err, &ge) || !errors.Is(err, registry.ErrGateRefused) || errors.Is(err, registry.ErrNoEvidence) {
			t.Fatalf("v%d: err %v, want a gate refusal on evidence", tc.v, err)
		}
		if ge.Decision.Current != v2 || ge.Decision.EvalSetHash != "set-1" {
			t.Errorf("v%d: decision %+v", tc.v, ge.Decision)
		}
		failed := false
		for _, rr := range ge.Decision.Rules {
			if rr.Metric == tc.metric && !rr.Passed {
				failed = true
			}
		}
		for _, f := range ge.Decision.Floors {
			if tc.metric == "" && !f.Passed {
				failed = true
			}
		}
		if !failed {
			t.Errorf("v%d: nothing failed for %q: rules %+v floors %+v", tc.v, tc.metric, ge.Decision.Rules, ge.Decision.Floors)
		}
	}
	cur, err := r.Get(ctx, "g@production")
	if err != nil || cur.Version != v2 {
		t.Fatalf("production = %v, %v; want %d (refusals must not move it)", cur, err, v2)
	}
	// What the gate computed is recorded on both versions.
	if m, ok := cur.Verified(); !ok || m.EvalSetHash != "set-1" || m.Values["policy.recall"] != 0.9 || m.At.IsZero() {
		t.Errorf("gate evidence not recorded on v%d: %+v", v2, cur.Evaluations)
	}
	if got, _ := r.Get(ctx, fmt.Sprintf("g@%d", v6)); got == nil {
		t.Fatal("v6 vanished")
	} else if m, ok := got.Verified(); !ok || m.Values["policy.recall"] != 0 {
		t.Errorf("refused v6's evidence not recorded: %+v", got.Evaluations)
	}
	if _, err := r.Promote(ctx, "g", v3, "production", registry.PromoteOptions{Force: true}); err == nil {
		t.Errorf("force without reason accepted")
	}
	mv, err = r.Promote(ctx, "g", v6, "production", registry.PromoteOptions{By: "dave", Force: true, Reason: "incident 42 hotfix", Evaluator: ev})
	if err != nil {
		t.Fatal(err)
	}
	if !mv.Forced || mv.Decision == nil || mv.Decision.Passed || !mv.Decision.Forced || mv.From != v2 {
		t.Errorf("forced move %+v", mv)
	}
	// Forced without any evidence: recorded as such.
	mv, err = r.Promote(ctx, "g", v4, "production", registry.PromoteOptions{By: "erin", Force: true, Reason: "rollback to v4"})
	if err != nil {
		t.Fatal(err)
	}
	if !mv.Forced || mv.Decision.Evidence != nil || !strings.Contains(mv.Decision.Message, "no computed evidence") {
		t.Errorf("forced move without evidence %+v", mv.Decision)
	}
	// An evaluator that fails gives no evidence.
	bad := NewEvaluator("set-1", Conf(10, 2, 10, 78, 60))
	bad.Err = errors.New("history store unreachable")
	if _, err := r.Promote(ctx, "g", v1, "production", registry.PromoteOptions{Evaluator: bad}); !errors.Is(err, registry.ErrNoEvidence) || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("failing evaluator: %v", err)
	}
	// Aliases outside gated_aliases move freely; explicit rules gate them.
	if _, err := r.Promote(ctx, "g", v3, "staging", registry.PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Promote(ctx, "g", v1, "staging", registry.PromoteOptions{Evaluator: ev, Rules: []registry.Rule{{Metric: "policy.mttd_min", Better: "lower", Tolerance: 10}}}); err != nil {
		t.Errorf("custom rule: %v", err)
	}
	hist, err := r.Backend().History(ctx, "g", "production")
	if err != nil {
		t.Fatal(err)
	}
	wantTo := []int{v1, v2, v6, v4}
	if len(hist) != len(wantTo) {
		t.Fatalf("production history has %d moves, want %d: %+v", len(hist), len(wantTo), hist)
	}
	for i, m := range hist {
		if m.Seq != int64(i+1) || m.To != wantTo[i] || m.Alias != "production" || m.Name != "g" || m.At.IsZero() {
			t.Errorf("move %d: %+v", i, m)
		}
	}
	if hist[1].By != "bob" || hist[2].Reason != "incident 42 hotfix" || !hist[2].Forced || hist[3].Reason != "rollback to v4" {
		t.Errorf("who/why lost: %+v", hist)
	}
	d := hist[1].Decision
	if d == nil || len(d.Rules) != 3 || d.Rules[0].Candidate == nil || *d.Rules[0].Candidate != 0.9 || *d.Rules[0].Current != 0.9 ||
		d.Evidence == nil || d.Evidence.Set.Hash != "set-1" || d.Evidence.Current == nil || d.Evidence.Current.Version != v1 {
		t.Errorf("comparison not recorded: %+v", d)
	}
	if f := hist[2].Decision.Floors; len(f) != 2 || f[0].Passed || f[0].Candidate.N != 0 || f[1].Baseline == nil || f[1].Baseline.K != 10 {
		t.Errorf("forced move's floors not recorded: %+v", f)
	}
	all, err := r.Backend().History(ctx, "g", "")
	if err != nil || len(all) != 6 {
		t.Errorf("history of all aliases: %d moves, %v; want 6", len(all), err)
	}
	as, err := r.Backend().Aliases(ctx, "g")
	if err != nil || len(as) != 2 || as[0].Alias != "production" || as[0].Version != v4 || as[1].Alias != "staging" || as[1].Version != v1 {
		t.Errorf("aliases %+v, %v", as, err)
	}
	if _, err := r.Promote(ctx, "g", 99, "production", registry.PromoteOptions{}); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("promote missing version: %v", err)
	}
}

// testHolderMovesDuringEvaluation: the gate's evidence is computed outside
// the alias lock; when the alias moves meanwhile, the gate computes it again
// against the new holder rather than judging against a stale one.
func testHolderMovesDuringEvaluation(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	r := newReg(t)
	var vs []int
	for seed := uint64(1); seed <= 3; seed++ {
		v, err := r.Register(ctx, NewVersion("h", seed, "e1", 0.9, 20))
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v.Version)
	}
	ev := NewEvaluator("set-h", Conf(5, 0, 15, 80, 60))
	for _, v := range vs {
		ev.Set(v, Conf(18, 1, 2, 79, 20))
	}
	if _, err := r.Promote(ctx, "h", vs[0], "production", registry.PromoteOptions{Evaluator: ev}); err != nil {
		t.Fatal(err)
	}
	moved := false
	ev.Before = func(cand, cur *registry.Version) {
		if !moved {
			moved = true
			if _, err := r.Promote(ctx, "h", vs[1], "production", registry.PromoteOptions{Force: true, Reason: "meanwhile"}); err != nil {
				t.Error(err)
			}
		}
	}
	mv, err := r.Promote(ctx, "h", vs[2], "production", registry.PromoteOptions{Evaluator: ev})
	if err != nil {
		t.Fatal(err)
	}
	if mv.From != vs[1] || mv.Decision.Current != vs[1] || mv.Decision.Evidence.Current.Version != vs[1] {
		t.Errorf("judged against %d (evidence on %d), the alias was at %d", mv.Decision.Current, mv.Decision.Evidence.Current.Version, mv.From)
	}
}

func testEvaluations(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	r := newReg(t)
	v1, err := r.Register(ctx, NewVersion("e", 1, "set-a", 0.6, 20))
	if err != nil {
		t.Fatal(err)
	}
	if v1.Metrics.EvalSetHash != "set-a" {
		t.Fatalf("registration metrics %+v", v1.Metrics)
	}
	m := registry.Metrics{EvalSetHash: "set-b", Origin: registry.OriginEvaluation, Values: map[string]float64{
		"policy.recall": 0.64, "policy.mttd_min": 19.5, "policy.precision": 0.9}}
	if err := r.AddEvaluation(ctx, "e", v1.Version, m); err != nil {
		t.Fatal(err)
	}
	m.Values["policy.recall"] = 0.66 // a second evaluation on one set replaces the first
	if err := r.AddEvaluation(ctx, "e", v1.Version, m); err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, "e@1")
	if err != nil {
		t.Fatal(err)
	}
	if em, ok := got.EvaluationOn("set-b"); !ok || em.Values["policy.recall"] != 0.66 || em.Origin != registry.OriginEvaluation || len(got.Evaluations) != 1 {
		t.Fatalf("evaluation not stored: %+v", got.Evaluations)
	}
	if _, ok := got.Verified(); ok {
		t.Error("a pipeline evaluation counted as the gate's")
	}
	if err := r.AddEvaluation(ctx, "e", 42, m); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("evaluation of a missing version: %v", err)
	}
}

// testRegisterIdempotentPerRun: registration is idempotent per pipeline
// run: a run resumed after a kill during register gets its version back
// instead of a second one.
func testRegisterIdempotentPerRun(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	r := newReg(t)
	nv := NewVersion("i", 1, "e1", 0.5, 20)
	const n = 6
	var wg sync.WaitGroup
	got := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := r.Register(ctx, nv)
			errs[i] = err
			if err == nil {
				got[i] = v.Version
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != 1 {
			t.Fatalf("registration %d of run-1: version %d, %v; want 1", i, got[i], errs[i])
		}
	}
	again, err := r.Register(ctx, nv)
	if err != nil || again.Version != 1 || again.Lineage.RunID != "run-1" {
		t.Fatalf("registering run-1 again: %+v, %v", again, err)
	}
	vs, err := r.Backend().Versions(ctx, "i")
	if err != nil || len(vs) != 1 {
		t.Fatalf("%d versions after registering one run %d times, %v", len(vs), n+1, err)
	}
	// Another source of the same run, or another run: new versions.
	ens := NewVersion("i", 1, "e1", 0.5, 20)
	ens.Lineage.Source = "ensemble"
	if v, err := r.Register(ctx, ens); err != nil || v.Version != 2 {
		t.Errorf("ensemble models of run-1: %+v, %v; want version 2", v, err)
	}
	if v, err := r.Register(ctx, NewVersion("i", 2, "e1", 0.5, 20)); err != nil || v.Version != 3 {
		t.Errorf("run-2: %+v, %v; want version 3", v, err)
	}
	// The same run with other models is a conflict, not a silent reuse.
	other := NewVersion("i", 9, "e1", 0.5, 20)
	other.Lineage.RunID = "run-1"
	if _, err := r.Register(ctx, other); !errors.Is(err, registry.ErrRunConflict) {
		t.Errorf("run-1 with other models: %v, want ErrRunConflict", err)
	}
	// Without a run id (an import, a manual registration) nothing is keyed.
	anon := NewVersion("i", 1, "e1", 0.5, 20)
	anon.Lineage.RunID = ""
	for want := 4; want <= 5; want++ {
		if v, err := r.Register(ctx, anon); err != nil || v.Version != want {
			t.Errorf("registration without a run id: %+v, %v; want version %d", v, err, want)
		}
	}
	if vs, _ := r.Backend().Versions(ctx, "i"); len(vs) != 5 {
		t.Errorf("%d versions, want 5", len(vs))
	}
}

func testConcurrentPromotions(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
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
}

func testExportImport(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
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
	imp, err := r.Import(ctx, bytes.NewReader(buf.Bytes()), registry.ImportOptions{Name: "y", Schema: Schema, By: "ci", From: "x-1.tar.gz"})
	if err != nil {
		t.Fatal(err)
	}
	if imp.Name != "y" || imp.Version != 1 || imp.Thresholds[60] != 0.5 {
		t.Errorf("imported %+v", imp)
	}
	// Nothing the bundle says about itself is trusted: its metrics are
	// claims (unverified, on no evaluation set), its lineage is the
	// import's, with the claimed lineage kept aside.
	if imp.Metrics.Origin != registry.OriginBundle || imp.Metrics.EvalSetHash != "" || imp.Metrics.Values["policy.recall"] != 0.5 {
		t.Errorf("imported metrics %+v", imp.Metrics)
	}
	if l := imp.Lineage; l.Source != "import" || l.RunID != "" || l.ImportedFrom != "x-1.tar.gz" || l.Bundle != "x@1" || !strings.Contains(string(l.Claimed), "run-7") {
		t.Errorf("imported lineage %+v", l)
	}
	if _, ok := imp.Verified(); ok || !imp.Imported() {
		t.Errorf("imported version verified %v, imported %v", ok, imp.Imported())
	}
	stored, err := r.Get(ctx, "y@1")
	if err != nil || stored.Metrics.Origin != registry.OriginBundle || stored.Lineage.ImportedFrom != "x-1.tar.gz" || !stored.Imported() {
		t.Errorf("stored import %+v, %v", stored, err)
	}
	// Importing again is another version (no run id to key on).
	if again, err := r.Import(ctx, bytes.NewReader(buf.Bytes()), registry.ImportOptions{Name: "y", Schema: Schema}); err != nil || again.Version != 2 {
		t.Errorf("second import: %+v, %v", again, err)
	}
	// Its claims cannot promote it: without computed evidence the gate
	// refuses, and computed evidence below the floors refuses too.
	if _, err := r.Promote(ctx, "y", imp.Version, "production", registry.PromoteOptions{}); !errors.Is(err, registry.ErrNoEvidence) {
		t.Errorf("promoting an import without evidence: %v", err)
	}
	ev := NewEvaluator("set-x", Conf(10, 2, 10, 78, 60))
	ev.Set(imp.Version, Conf(0, 0, 20, 80, 0))
	if _, err := r.Promote(ctx, "y", imp.Version, "production", registry.PromoteOptions{Evaluator: ev}); !errors.Is(err, registry.ErrGateRefused) {
		t.Errorf("promoting an import that flags nothing: %v", err)
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
}
