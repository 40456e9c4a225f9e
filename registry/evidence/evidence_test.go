package evidence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/bundle"
	"github.com/faultline-dev/faultline/registry/evidence"
)

// modelText is a LightGBM text model (v3) of one tree over this build's
// features: raw score +10 when feature col exceeds 0.5, else −10 — or −10
// everywhere when never is set (a model that never flags).
func modelText(col int, never bool) []byte {
	names := features.Names()
	right := 10
	if never {
		right = -10
	}
	tree := fmt.Sprintf("Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=%d\nsplit_gain=1\nthreshold=0.5\ndecision_type=2\n"+
		"left_child=-1\nright_child=-2\nleaf_value=-10 %d\nleaf_weight=1 1\nleaf_count=1 1\n"+
		"internal_value=0\ninternal_weight=2\ninternal_count=2\nis_linear=0\nshrinkage=1\n\n\n", col, right)
	infos := make([]string, len(names))
	for i := range infos {
		infos[i] = "[-10:10]"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=%d\n", len(names)-1)
	b.WriteString("objective=binary sigmoid:1\n")
	fmt.Fprintf(&b, "feature_names=%s\nfeature_infos=%s\ntree_sizes=%d\n\n", strings.Join(names, " "), strings.Join(infos, " "), len(tree))
	b.WriteString(tree)
	b.WriteString("end of trees\n\nfeature_importances:\n\nparameters:\n[boosting: gbdt]\nend of parameters\n\npandas_categorical:null\n")
	return []byte(b.String())
}

// newRegistry is an empty registry in a temporary folder.
func newRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	b, err := registry.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return registry.New(b, registry.DefaultConfig())
}

// register stores a version whose models at 10, 20 and 60 minutes are
// modelText(ensemble_faulty, never), with threshold 0.5 and the default
// feature settings.
func register(t *testing.T, r *registry.Registry, run string, never bool) *registry.Version {
	t.Helper()
	return registerWith(t, r, run, never, nil)
}

// registerSchema is register (a model that flags like the ensemble) with
// its feature schema changed by edit: a version trained by another build.
func registerSchema(t *testing.T, r *registry.Registry, run string, edit func(*bundle.Schema)) *registry.Version {
	t.Helper()
	return registerWith(t, r, run, false, edit)
}

func registerWith(t *testing.T, r *registry.Registry, run string, never bool, edit func(*bundle.Schema)) *registry.Version {
	t.Helper()
	cfg := features.DefaultConfig()
	info, err := features.DescribeSchema(cfg)
	if err != nil {
		t.Fatal(err)
	}
	schema := bundle.Schema(info)
	if edit != nil {
		edit(&schema)
	}
	nv := registry.NewVersion{
		Name: "faultline", FeatureSchema: schema, Horizons: []int{10, 20, 60},
		Thresholds: map[int]float64{10: 0.5, 20: 0.5, 60: 0.5}, Models: map[int][]byte{},
		Lineage: registry.Lineage{RunID: run, Source: "weak"},
		// What a version says about itself plays no part.
		Metrics: registry.Metrics{EvalSetHash: "claimed", Values: map[string]float64{"policy.precision": 1, "policy.recall": 1}},
	}
	for _, h := range nv.Horizons {
		nv.Models[h] = modelText(features.EnsembleFaulty, never)
	}
	v, err := r.Register(context.Background(), nv)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fixture is a simulated fleet in an embedded store, a work folder whose
// split puts the newest 40% of deploys in "test" with weak labels equal to
// the simulator's truth, and one annotation contradicting a weak label.
type fixture struct {
	st        history.Store
	dir       string
	test      []string
	weak      map[string]bool
	annotated string
	gold      map[string]bool // gold labels of test deploys (the simulator annotates some too)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st := embeddedtest.Open(t)
	cfg := simulate.DefaultConfig()
	cfg.Services, cfg.Environments, cfg.Days, cfg.Seed, cfg.Workers = 6, []string{"prod-us1"}, 4, 11, 1
	cfg.FaultRate = 0.3
	if _, _, err := simulate.Into(ctx, cfg, st, nil); err != nil {
		t.Fatal(err)
	}
	deps, err := st.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	truth, err := st.Truth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	faulty := map[string]bool{}
	for _, tr := range truth {
		faulty[tr.DeploymentID] = tr.Faulty
	}
	f := &fixture{st: st, dir: t.TempDir(), weak: map[string]bool{}}
	var split []workdir.SplitRow
	labels := &workdir.Labels{}
	cut := len(deps) * 6 / 10
	for i, d := range deps {
		s := workdir.SplitTrain
		if i >= cut {
			s = workdir.SplitTest
			f.test = append(f.test, d.ID)
			f.weak[d.ID] = faulty[d.ID]
		}
		split = append(split, workdir.SplitRow{DeploymentID: d.ID, Split: s})
		y := int8(0)
		if faulty[d.ID] {
			y = 1
		}
		labels.IDs = append(labels.IDs, d.ID)
		labels.PFaulty = append(labels.PFaulty, float64(y))
		labels.Label = append(labels.Label, y)
	}
	if err := workdir.WriteSplit(filepath.Join(f.dir, workdir.SplitFile), split); err != nil {
		t.Fatal(err)
	}
	if err := workdir.WriteLabels(filepath.Join(f.dir, workdir.LabelsFile), labels); err != nil {
		t.Fatal(err)
	}
	// A human says one healthy test deploy was faulty.
	for _, id := range f.test {
		if !f.weak[id] {
			f.annotated = id
			break
		}
	}
	tx, err := st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.AddAnnotations(ctx, []history.Annotation{{DeploymentID: f.annotated, Label: history.LabelFaulty, Annotator: "alice", AnnotatedAt: time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.test) < 20 {
		t.Fatalf("only %d test deploys", len(f.test))
	}
	anns, err := st.Annotations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := history.GoldLabels(anns)
	f.gold = map[string]bool{}
	for _, id := range f.test {
		if y, ok := all[id]; ok {
			f.gold[id] = y
		}
	}
	if !f.gold[f.annotated] {
		t.Fatalf("annotation of %s lost", f.annotated)
	}
	return f
}

// expected computes, independently of the evaluator, the confusion of the
// model that flags at the first horizon where the ensemble is unanimous
// (sequential) and of the baseline (the ensemble at 60 minutes), against
// gold-or-weak labels, from a full offline extraction's feature files.
func (f *fixture) expected(t *testing.T) (model, base metrics.Confusion) {
	t.Helper()
	work := t.TempDir()
	if _, err := extract.Run(context.Background(), f.st, work, extract.Options{Config: features.DefaultConfig(), Workers: 1}); err != nil {
		t.Fatal(err)
	}
	ens := map[int]map[string]float64{}
	for _, h := range []int{10, 20, 60} {
		tab, err := workdir.ReadFeatures(filepath.Join(work, workdir.FeaturesFile(h)), features.Schema[features.EnsembleFaulty].Name)
		if err != nil {
			t.Fatal(err)
		}
		ens[h] = map[string]float64{}
		var row []float64
		for i, id := range tab.IDs {
			row = tab.Row(i, row)
			ens[h][id] = row[0]
		}
	}
	for _, id := range f.test {
		y, ok := f.gold[id]
		if !ok {
			y = f.weak[id]
		}
		flagged := false
		for _, h := range []int{10, 20, 60} {
			if v, ok := ens[h][id]; ok && v >= 0.5 {
				flagged = true
				break
			}
		}
		model.Add(flagged, y)
		v, ok := ens[60][id]
		base.Add(ok && v >= 0.5, y)
	}
	return model, base
}

// The gate's evidence is computed from the history store and the work
// folder, never from what a version says: a model that flags when the
// checks agree and a model that never flags (both claiming precision and
// recall 1) are scored on the same deploys, against gold labels where
// present and weak labels otherwise, and the numbers equal an independent
// computation from the offline extraction's files.
func TestEvaluatorScoresFromTheStore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r := newRegistry(t)
	good := register(t, r, "run-1", false)
	never := register(t, r, "run-2", true)
	ev := evidence.New(evidence.Options{History: f.st, Registry: r, Workdir: f.dir, Workers: 1,
		Now: func() time.Time { return time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) }})

	e, err := ev.Evaluate(ctx, never, good)
	if err != nil {
		t.Fatal(err)
	}
	set := e.Set
	if set.Deploys != len(f.test) || set.Extracted != len(f.test) || set.Split != "test" || set.Reference != evidence.RefGoldOrWeak ||
		set.FromGold != len(f.gold) || set.FromWeak != len(f.test)-len(f.gold) || set.Labeled != len(f.test) || set.BaselineMinutes != 60 ||
		!regexp.MustCompile(`^eg-[0-9a-f]{16}$`).MatchString(set.Hash) {
		t.Fatalf("evaluation set %+v (%d test deploys)", set, len(f.test))
	}
	wantModel, wantBase := f.expected(t)
	t.Logf("%d test deploys; model %+v, baseline %+v", len(f.test), wantModel, wantBase)
	if wantModel.TP == 0 || wantBase.TP == 0 {
		t.Fatalf("the fixture needs detected faults: model %+v, baseline %+v", wantModel, wantBase)
	}
	refs := func(s *registry.Scored) []string {
		var out []string
		for _, p := range s.Policy {
			out = append(out, p.Reference)
		}
		return out
	}
	for _, c := range []struct {
		name string
		s    *registry.Scored
		want metrics.Confusion
	}{{"current (good)", e.Current, wantModel}, {"baseline", &e.Baseline, wantBase}} {
		h, ok := c.s.Headline()
		if !ok || h.Confusion != c.want {
			t.Errorf("%s: confusion %+v, want %+v", c.name, h.Confusion, c.want)
		}
		if !slices.Equal(refs(c.s), []string{"gold_or_weak", "gold", "weak"}) {
			t.Errorf("%s: references %v", c.name, refs(c.s))
		}
		if h.Recall.N == 0 || !(h.Recall.Lo <= h.Recall.Value && h.Recall.Value <= h.Recall.Hi) {
			t.Errorf("%s: recall without interval %+v", c.name, h.Recall)
		}
	}
	if e.Current.Version != good.Version || e.Candidate.Version != never.Version {
		t.Errorf("versions %d, %d", e.Candidate.Version, e.Current.Version)
	}
	// Every test deploy is labelled here, so the flags counted over the
	// set are the headline's flagged ones.
	if e.Current.Flagged != wantModel.TP+wantModel.FP || e.Candidate.Flagged != 0 {
		t.Errorf("flagged %d and %d, want %d and 0", e.Current.Flagged, e.Candidate.Flagged, wantModel.TP+wantModel.FP)
	}
	nh, _ := e.Candidate.Headline()
	if nh.Confusion.TP+nh.Confusion.FP != 0 || nh.Precision.N != 0 || nh.Recall.K != 0 || nh.Recall.N != wantModel.TP+wantModel.FN {
		t.Errorf("never-flagging model scored %+v", nh)
	}
	if _, ok := e.Candidate.Values["policy.precision"]; ok || e.Candidate.Values["policy.recall"] != 0 {
		t.Errorf("never-flagging model's values %v", e.Candidate.Values)
	}
	if e.Current.Values["policy.recall"] != wantModel.Recall() || e.Current.Policy[1].Confusion.N() != len(f.gold) || e.Current.Policy[2].Confusion.N() != len(f.test) {
		t.Errorf("good model's values %v, scores %+v", e.Current.Values, e.Current.Policy)
	}

	// Time to detection on the faults both flag: none here (the candidate
	// flags nothing); against itself, every fault it finds, so its own mean.
	if _, ok := e.Candidate.Values[registry.MetricSharedMTTD]; ok {
		t.Errorf("shared time to detection with a candidate that flags nothing: %v", e.Candidate.Values)
	}
	self, err := ev.Evaluate(ctx, good, good)
	if err != nil {
		t.Fatal(err)
	}
	if c, h, own := self.Candidate.Values[registry.MetricSharedMTTD], self.Current.Values[registry.MetricSharedMTTD], e.Current.Values["policy.mttd_min"]; !(own > 0) || c != own || h != own {
		t.Errorf("shared time to detection against itself: %v and %v, want its own mean %v", c, h, own)
	}

	// The gate on that evidence: the good model meets the floors (its
	// recall is at least the baseline's: it flags every deploy the
	// baseline does, and earlier); the never-flagging one, imported with
	// claims of perfection, is refused.
	mv, err := r.Promote(ctx, "faultline", good.Version, "production", registry.PromoteOptions{Evaluator: ev, Floors: &registry.Floors{RecallVsBaseline: true}})
	if err != nil {
		t.Fatalf("good model: %v", err)
	}
	if !mv.Decision.Passed || mv.Decision.EvalSetHash != set.Hash {
		t.Errorf("decision %+v", mv.Decision)
	}
	var buf bytes.Buffer
	if _, err := r.Export(ctx, registry.Ref{Name: "faultline", Version: never.Version}, &buf); err != nil {
		t.Fatal(err)
	}
	imp, err := r.Import(ctx, &buf, registry.ImportOptions{Schema: detector.Schema(), From: "forged.tar.gz"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Promote(ctx, "faultline", imp.Version, "production", registry.PromoteOptions{Evaluator: ev})
	var ge *registry.GateError
	if !errors.As(err, &ge) || ge.Decision.Evidence == nil || ge.Decision.Current != good.Version {
		t.Fatalf("forged import: %v, want a refusal on computed evidence", err)
	}
	for _, fl := range ge.Decision.Floors {
		if fl.Passed {
			t.Errorf("floor %s passed for a model that never flags: %+v", fl.Floor, fl)
		}
	}
	if cur, err := r.Get(ctx, "production"); err != nil || cur.Version != good.Version {
		t.Errorf("production is %v (%v), want %d", cur, err, good.Version)
	}
	got, err := r.Get(ctx, fmt.Sprint(imp.Version))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := got.Verified()
	if !ok || m.EvalSetHash != set.Hash || m.Values["policy.recall"] != 0 {
		t.Errorf("gate's scores not recorded on the import: %+v", got.Evaluations)
	}
	var detail struct {
		Set registry.EvalSet `json:"set"`
	}
	if err := json.Unmarshal(m.Detail, &detail); err != nil || detail.Set.Workdir != f.dir {
		t.Errorf("detail %s (%v)", m.Detail, err)
	}
}

// Without an evaluation set or labels there is no evidence.
func TestEvaluatorNeedsAnEvaluationSet(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r := newRegistry(t)
	v := register(t, r, "run-1", false)
	for _, tc := range []struct {
		name string
		o    evidence.Options
		want string
	}{
		{"no folder", evidence.Options{History: f.st, Registry: r, DefaultWorkdir: t.TempDir()}, "no evaluation set"},
		{"empty folder", evidence.Options{History: f.st, Registry: r, Workdir: t.TempDir()}, "split.parquet"},
		{"no such split", evidence.Options{History: f.st, Registry: r, Workdir: f.dir, Split: "valid"}, `split "valid"`},
		{"no store", evidence.Options{Registry: r, Workdir: f.dir}, "no history store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evidence.New(tc.o).Evaluate(ctx, v, nil)
			if !errors.Is(err, registry.ErrNoEvidence) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrNoEvidence mentioning %q", err, tc.want)
			}
		})
	}
}

// A production model of an older feature schema — trained before the
// features were redefined — cannot be scored by this build, and no
// detector of this build can load it: the gate judges the candidate on the
// floors alone and says why, instead of refusing every candidate for want
// of the holder's scores. A candidate of another schema is still refused.
func TestEvaluatorHolderOfAnotherSchema(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r := newRegistry(t)
	old := registerSchema(t, r, "run-0", func(s *bundle.Schema) { s.Version, s.Hash = "fl-features-v0", "0123456789abcdef" })
	if _, err := r.Promote(ctx, "faultline", old.Version, "production", registry.PromoteOptions{Force: true, Reason: "trained by an older build"}); err != nil {
		t.Fatal(err)
	}
	good := register(t, r, "run-1", false)
	ev := evidence.New(evidence.Options{History: f.st, Registry: r, Workdir: f.dir, Workers: 1})

	e, err := ev.Evaluate(ctx, good, old)
	if err != nil {
		t.Fatalf("evaluate against a holder of another schema: %v", err)
	}
	if e.Current != nil || !strings.Contains(e.CurrentUnscorable, "schema") || !strings.Contains(e.CurrentUnscorable, fmt.Sprintf("faultline@%d", old.Version)) {
		t.Fatalf("current %+v, unscorable %q", e.Current, e.CurrentUnscorable)
	}
	mv, err := r.Promote(ctx, "faultline", good.Version, "production", registry.PromoteOptions{Evaluator: ev, Floors: &registry.Floors{RecallVsBaseline: true}})
	if err != nil {
		t.Fatalf("promote over a holder of another schema: %v", err)
	}
	d := mv.Decision
	if !d.Passed || d.Current != old.Version || len(d.Rules) != 0 || len(d.Floors) == 0 || !strings.Contains(d.Message, "was not compared") {
		t.Errorf("decision %+v", d)
	}

	// The other way round: a candidate this build cannot score has no evidence.
	older := registerSchema(t, r, "run-2", func(s *bundle.Schema) { s.Version, s.Hash = "fl-features-v0", "0123456789abcdef" })
	_, err = r.Promote(ctx, "faultline", older.Version, "production", registry.PromoteOptions{Evaluator: ev})
	var ge *registry.GateError
	if !errors.As(err, &ge) || !errors.Is(err, registry.ErrNoEvidence) {
		t.Fatalf("candidate of another schema: %v, want a refusal without evidence", err)
	}
}
