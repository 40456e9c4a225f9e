package historytest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// Run runs the conformance suite: the contract of history.Store that every
// backend keeps (docs/schema.md, docs/embedded-store.md). newStore returns
// a fresh, empty store for each subtest and closes it at t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) history.Store) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("RangeReads", func(t *testing.T) { testRangeReads(t, newStore(t)) })
	t.Run("DeploymentByID", func(t *testing.T) { testDeploymentByID(t, newStore(t)) })
	t.Run("StreamReadsOrderAndRanges", func(t *testing.T) {
		s := newStore(t)
		ms, sigs := StreamFixture()
		ImportStreamFixture(t, s, ms, sigs)
		CheckStreams(t, s, ms, sigs)
	})
	t.Run("ReimportIsIdempotent", func(t *testing.T) { testReimport(t, newStore(t)) })
	t.Run("UpsertMergesWithStoredRows", func(t *testing.T) { testUpsert(t, newStore(t)) })
	t.Run("MissingDeployment", func(t *testing.T) { testMissingDeployment(t, newStore) })
	t.Run("RollbackAbandonsImport", func(t *testing.T) { testRollback(t, newStore(t)) })
	t.Run("RollbackInference", func(t *testing.T) { testRollbackInference(t, newStore) })
	t.Run("InferenceIndependentOfImportOrder", func(t *testing.T) { testImportOrder(t, newStore) })
	t.Run("Truth", func(t *testing.T) { testTruth(t, newStore(t)) })
	// Data as teams have it (issue 13) and refused rows (issue 14).
	t.Run("AggregateAndRealValuedMetrics", func(t *testing.T) { testAggregate(t, newStore(t)) })
	t.Run("KPIs", func(t *testing.T) { testKPIs(t, newStore) })
	t.Run("UndeployedVersions", func(t *testing.T) { testUndeployed(t, newStore) })
	t.Run("MinutesFloored", func(t *testing.T) { testMinutesFloored(t, newStore(t)) })
	t.Run("RefusedRows", func(t *testing.T) { testRefusedRows(t, newStore) })
}

// CheckSummary fails t when got differs from want.
func CheckSummary(t testing.TB, what string, got, want history.ImportSummary) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s summary\n got %+v\nwant %+v", what, got, want)
	}
}

func testRoundTrip(t *testing.T, s history.Store) {
	f := NewFixture()
	CheckSummary(t, "import", Import(t, s, f), Summary(f))
	Diff(t, Read(t, s), f.Expected())
}

func testRangeReads(t *testing.T, s history.Store) {
	ctx := context.Background()
	Import(t, s, NewFixture())
	tests := []struct {
		name          string
		r             history.Range
		wantVersions  []string
		wantFirst     int // first minute of the first series
		wantLen0      int // minutes of the first series
		wantSigs      int
		wantDeploys   []string
		wantIncidents []string
	}{
		{"all", history.Range{}, []string{"v1", "v2"}, 0, 90 - 29, 33, []string{"d1", "d4", "d5", "d2", "d3"}, []string{"i1", "i2"}},
		{"rollout", history.Range{From: Min(30), Until: Min(40)}, []string{"v1", "v2"}, 30, 2, 10, []string{"d2"}, nil},
		{"across the month boundary", history.Range{From: Min(25), Until: Min(35)}, []string{"v1", "v2"}, 25, 7, 7, []string{"d2"}, nil},
		{"from mid-minute", history.Range{From: Min(39).Add(time.Second), Until: Min(45)}, []string{"v2"}, 40, 5, 6, nil, []string{"i1"}},
		{"until only", history.Range{Until: Min(1)}, []string{"v1"}, 0, 1, 0, []string{"d1"}, nil},
		{"after", history.Range{From: Min(200)}, nil, 0, 0, 0, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ser, err := s.Metrics(ctx, APIProd, tc.r)
			must(t, err)
			var vs []string
			for _, x := range ser {
				vs = append(vs, x.Version)
			}
			if !slices.Equal(vs, tc.wantVersions) {
				t.Fatalf("versions %v, want %v", vs, tc.wantVersions)
			}
			if len(ser) > 0 {
				if got := ser[0].Minutes[0] - history.UnixMinute(T0); got != int64(tc.wantFirst) {
					t.Errorf("first minute %d, want %d", got, tc.wantFirst)
				}
				if ser[0].Len() != tc.wantLen0 {
					t.Errorf("len %d, want %d", ser[0].Len(), tc.wantLen0)
				}
			}
			sigs, err := s.Signatures(ctx, APIProd, tc.r)
			must(t, err)
			if len(sigs) != tc.wantSigs {
				t.Errorf("%d signatures, want %d", len(sigs), tc.wantSigs)
			}
			for _, sg := range sigs {
				if !tc.r.Contains(sg.Minute) {
					t.Errorf("signature at %v outside %+v", sg.Minute, tc.r)
				}
			}
			deps, err := s.Deployments(ctx, tc.r)
			must(t, err)
			var ids []string
			for _, d := range deps {
				ids = append(ids, d.ID)
			}
			if !slices.Equal(ids, tc.wantDeploys) {
				t.Errorf("deployments %v, want %v", ids, tc.wantDeploys)
			}
			inc, err := s.Incidents(ctx, tc.r)
			must(t, err)
			ids = nil
			for _, d := range inc {
				ids = append(ids, d.ID)
			}
			if !slices.Equal(ids, tc.wantIncidents) {
				t.Errorf("incidents %v, want %v", ids, tc.wantIncidents)
			}
		})
	}
	unknown := history.Stream{Service: "nope", Environment: "x"}
	if ser, err := s.Metrics(ctx, unknown, history.Range{}); err != nil || len(ser) != 0 {
		t.Errorf("metrics of an unknown stream: %v, %v", ser, err)
	}
	if sigs, err := s.Signatures(ctx, unknown, history.Range{}); err != nil || len(sigs) != 0 {
		t.Errorf("signatures of an unknown stream: %v, %v", sigs, err)
	}
}

// testDeploymentByID: the lookup by id returns what Deployments lists,
// sees upserts and later imports, and reports unknown ids without error.
func testDeploymentByID(t *testing.T, s history.Store) {
	ctx := context.Background()
	lookup := func(id string) (history.Deployment, bool) {
		t.Helper()
		d, ok, err := s.DeploymentByID(ctx, id)
		must(t, err)
		return d, ok
	}
	if _, ok := lookup("d1"); ok {
		t.Fatal("an empty store found d1")
	}
	f := NewFixture()
	Import(t, s, f)
	all := func() []history.Deployment {
		t.Helper()
		deps, err := s.Deployments(ctx, history.Range{})
		must(t, err)
		return deps
	}
	check := func(what string) {
		t.Helper()
		for _, want := range all() {
			got, ok := lookup(want.ID)
			if !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: DeploymentByID(%q) = %+v, %v; want %+v", what, want.ID, got, ok, want)
			}
		}
		for _, id := range []string{"nope", "", "d", "d10"} {
			if d, ok := lookup(id); ok {
				t.Errorf("%s: DeploymentByID(%q) found %+v", what, id, d)
			}
		}
	}
	check("imported")

	// An upsert, and deployments of a later import over other days.
	var g Fixture
	f.Deployments[0].Author = "zed"
	g.Deployments = append(g.Deployments, f.Deployments[0])
	for i := range 3 {
		g.Deployments = append(g.Deployments, history.Deployment{ID: fmt.Sprintf("late-%d", i), Service: "api", Environment: "prod",
			Version: fmt.Sprintf("v%d", 10+i), StartedAt: Min(3000 + 1440*i), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1})
	}
	Import(t, s, g)
	if d, ok := lookup(f.Deployments[0].ID); !ok || d.Author != "zed" {
		t.Errorf("after upsert: %+v, %v", d, ok)
	}
	if d, ok := lookup("late-2"); !ok || !d.StartedAt.Equal(Min(3000+2*1440)) || d.Version != "v12" {
		t.Errorf("late-2: %+v, %v", d, ok)
	}
	check("after a second import")
}

func testReimport(t *testing.T, s history.Store) {
	f := NewFixture()
	Import(t, s, f)
	want := f.Expected()
	// Services given; none is created the second time.
	wantSum := Summary(f)
	wantSum.Services = int64(len(f.Services))
	CheckSummary(t, "re-import", Import(t, s, f), wantSum)
	Diff(t, Read(t, s), want)

	// Same keys, other values: replaced, never duplicated.
	f.Services[0].Team = "platform"
	f.Deployments[0].Author = "zed"
	f.Metrics[0].Requests, f.Metrics[0].LatencyP99 = 999, 42
	f.Signatures[0].Count = 77
	f.Incidents[1].Severity = "sev1"
	f.Annotations[0].Label = history.LabelHealthy
	f.KPIs[1].Unit, f.KPIs[1].Direction = "s", history.BothWorse
	f.KPIValues[0].Value = 0.5
	Import(t, s, f)
	Diff(t, Read(t, s), f.Expected())
}

func testUpsert(t *testing.T, s history.Store) {
	f := NewFixture()
	Import(t, s, f)
	// An import of a few rows replaces those and keeps every other row.
	var g Fixture
	f.Deployments[0].Author = "zed"
	g.Deployments = f.Deployments[:1]
	f.Metrics[0].Errors = 98
	f.Metrics[len(f.Metrics)-1].Requests = 5000
	g.Metrics = []history.Metric{f.Metrics[0], f.Metrics[len(f.Metrics)-1]}
	f.Signatures[0].Count = 42
	g.Signatures = f.Signatures[:1]
	f.Annotations[2].Note = "checked"
	g.Annotations = f.Annotations[2:]
	f.Incidents[0].ResolvedAt = Min(80)
	g.Incidents = f.Incidents[:1]
	f.KPIs[0].Kind = history.KPIGauge
	g.KPIs = f.KPIs[:1]
	f.KPIValues[len(f.KPIValues)-1].Value = 0.125
	g.KPIValues = f.KPIValues[len(f.KPIValues)-1:]
	want := history.ImportSummary{Deployments: 1, Metrics: 2, Signatures: 1, Incidents: 1, Annotations: 1, KPIs: 1, KPIValues: 1}
	CheckSummary(t, "upsert", Import(t, s, g), want)
	Diff(t, Read(t, s), f.Expected())
}

func testMissingDeployment(t *testing.T, newStore func(t *testing.T) history.Store) {
	ctx := context.Background()
	ghosts := []history.Annotation{
		{DeploymentID: "ghost-2", Label: history.LabelFaulty},
		{DeploymentID: "ghost-1", Label: history.LabelFaulty},
		{DeploymentID: "ghost-1", Label: history.LabelHealthy, Annotator: "y"},
	}
	wantMissing := []string{"ghost-1", "ghost-2"}
	check := func(t *testing.T, err error) {
		t.Helper()
		var mde *history.MissingDeploymentError
		if !errors.As(err, &mde) || !slices.Equal(mde.DeploymentIDs, wantMissing) {
			t.Fatalf("Commit: %v, want *MissingDeploymentError naming %v", err, wantMissing)
		}
	}

	t.Run("empty store stays empty", func(t *testing.T) {
		s := newStore(t)
		f := NewFixture()
		f.Annotations = append(f.Annotations, ghosts...)
		_, err := TryImport(t, s, f)
		check(t, err)
		Diff(t, Read(t, s), Empty())
	})
	t.Run("stored history unchanged", func(t *testing.T) {
		s := newStore(t)
		f := NewFixture()
		Import(t, s, f)
		g := NewFixture()
		for i := range g.Metrics {
			g.Metrics[i].Errors = 0
		}
		g.Deployments = append(g.Deployments, history.Deployment{ID: "d9", Service: "new", Environment: "prod", Version: "v1", StartedAt: Min(1), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1})
		g.Annotations = append([]history.Annotation{{DeploymentID: "d1", Label: history.LabelHealthy, Annotator: "x"}}, ghosts...)
		_, err := TryImport(t, s, g)
		check(t, err)
		Diff(t, Read(t, s), f.Expected())
	})
	t.Run("deployment stored or in the same import", func(t *testing.T) {
		s := newStore(t)
		Import(t, s, NewFixture())
		tx, err := s.BeginImport(ctx)
		must(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
		// The annotation comes before its deployment: order does not matter.
		must(t, tx.AddAnnotations(ctx, []history.Annotation{
			{DeploymentID: "d10", Label: history.LabelFaulty},
			{DeploymentID: "d1", Label: history.LabelHealthy, Annotator: "x"},
		}))
		must(t, tx.AddDeployments(ctx, []history.Deployment{{ID: "d10", Service: "api", Environment: "prod", Version: "v3", StartedAt: Min(100), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1}}))
		sum, err := tx.Commit(ctx)
		must(t, err)
		if sum.Annotations != 2 || sum.Deployments != 1 {
			t.Errorf("summary %+v", sum)
		}
		anns, err := s.Annotations(ctx)
		must(t, err)
		if len(anns) != 5 {
			t.Errorf("%d annotations, want 5", len(anns))
		}
	})
}

func testRollback(t *testing.T, s history.Store) {
	ctx := context.Background()
	Import(t, s, NewFixture())
	before := Read(t, s)
	tx, err := s.BeginImport(ctx)
	must(t, err)
	g := NewFixture()
	for i := range g.Metrics {
		g.Metrics[i].Requests += 1000
	}
	g.Deployments = append(g.Deployments, history.Deployment{ID: "d9", Service: "new", Environment: "prod", Version: "x", StartedAt: Min(1), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1})
	g.Add(t, tx)
	must(t, tx.Rollback(ctx))
	if err := tx.Rollback(ctx); err != nil {
		t.Errorf("second Rollback: %v", err)
	}
	if _, err := tx.Commit(ctx); err == nil {
		t.Error("Commit after Rollback succeeded")
	}
	Diff(t, Read(t, s), before)
	// The store takes the next import.
	Import(t, s, g)
}

// dep is a deployment of service s for the inference cases.
func dep(id, env, version string, minute int, kind history.Kind) history.Deployment {
	return history.Deployment{ID: id, Service: "s", Environment: env, Version: version, StartedAt: Min(minute),
		FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1, Kind: kind}
}

// kindsOf returns the kind of every stored deployment, with a "*" suffix
// when it was inferred.
func kindsOf(t *testing.T, s history.Reader) map[string]string {
	t.Helper()
	deps, err := s.Deployments(context.Background(), history.Range{})
	must(t, err)
	out := map[string]string{}
	for _, d := range deps {
		k := string(d.Kind)
		if d.KindInferred {
			k += "*"
		}
		out[d.ID] = k
	}
	return out
}

func importDeployments(t *testing.T, s history.Store, deps []history.Deployment) history.ImportSummary {
	t.Helper()
	return Import(t, s, Fixture{Deployments: deps})
}

func testRollbackInference(t *testing.T, newStore func(t *testing.T) history.Store) {
	const (
		D  = "deploy*"   // inferred deploy
		R  = "rollback*" // inferred rollback
		GD = "deploy"    // given deploy
		GR = "rollback"  // given rollback
	)
	tests := []struct {
		name    string
		imports [][]history.Deployment
		want    map[string]string // ID → kind, "*" when inferred
		rbs     []int64           // RollbacksInferred of each import
	}{
		{
			name:    "version deployed earlier in the store",
			imports: [][]history.Deployment{{dep("a", "p", "v1", 0, history.KindDeploy), dep("b", "p", "v2", 10, history.KindDeploy)}, {dep("c", "p", "v1", 20, "")}},
			want:    map[string]string{"a": GD, "b": GD, "c": R},
			rbs:     []int64{0, 1},
		},
		{
			name:    "version deployed earlier in the same import; environments are separate",
			imports: [][]history.Deployment{{dep("a", "p", "v1", 0, ""), dep("b", "p", "v2", 10, ""), dep("c", "p", "v1", 20, ""), dep("d", "q", "v1", 30, "")}},
			want:    map[string]string{"a": D, "b": D, "c": R, "d": D},
			rbs:     []int64{1},
		},
		{
			name:    "a later deployment of the version does not make an earlier one a rollback",
			imports: [][]history.Deployment{{dep("z", "p", "v1", 100, history.KindDeploy)}, {dep("a", "p", "v1", 0, "")}},
			want:    map[string]string{"a": D, "z": GD},
			rbs:     []int64{0, 0},
		},
		{
			// Issue 11: PostgreSQL made b a rollback, the embedded store left it a deploy.
			name:    "a backfilled earlier deployment makes a stored inferred deploy a rollback",
			imports: [][]history.Deployment{{dep("b", "p", "v2", 60, "")}, {dep("a", "p", "v2", 0, "")}},
			want:    map[string]string{"a": D, "b": R},
			rbs:     []int64{0, 0},
		},
		{
			name: "backfill among other stored deployments",
			imports: [][]history.Deployment{
				{dep("a", "p", "v1", 600, ""), dep("b", "p", "v2", 660, "")},
				{dep("c", "p", "v1", 720, ""), dep("e", "p", "v3", 780, "")},
				{dep("z", "p", "v2", 0, "")},
			},
			want: map[string]string{"z": D, "a": D, "b": R, "c": R, "e": D},
			rbs:  []int64{0, 1, 0},
		},
		{
			name:    "same start: the smaller ID is earlier",
			imports: [][]history.Deployment{{dep("y", "p", "v1", 0, "")}, {dep("x", "p", "v1", 0, "")}},
			want:    map[string]string{"x": D, "y": R},
			rbs:     []int64{0, 0},
		},
		{
			name:    "IDs compare byte-wise",
			imports: [][]history.Deployment{{dep("a", "p", "v1", 0, ""), dep("B", "p", "v1", 0, "")}},
			want:    map[string]string{"B": D, "a": R},
			rbs:     []int64{1},
		},
		{
			name:    "a given kind is kept and counts as an earlier deployment",
			imports: [][]history.Deployment{{dep("a", "p", "v1", 0, history.KindRollback), dep("b", "p", "v1", 5, history.KindDeploy), dep("c", "p", "v1", 10, "")}},
			want:    map[string]string{"a": GR, "b": GD, "c": R},
			rbs:     []int64{1},
		},
		{
			name:    "a given kind replaces an inferred one",
			imports: [][]history.Deployment{{dep("a", "p", "v1", 0, ""), dep("b", "p", "v1", 10, "")}, {dep("b", "p", "v1", 10, history.KindDeploy)}},
			want:    map[string]string{"a": D, "b": GD},
			rbs:     []int64{1, 0},
		},
		{
			name:    "an inferred kind replaces a given one",
			imports: [][]history.Deployment{{dep("a", "p", "v1", 0, ""), dep("b", "p", "v1", 10, history.KindDeploy)}, {dep("b", "p", "v1", 10, "")}},
			want:    map[string]string{"a": D, "b": R},
			rbs:     []int64{0, 1},
		},
		{
			name:    "a changed version re-infers the later deployments",
			imports: [][]history.Deployment{{dep("a", "p", "v1", 0, ""), dep("b", "p", "v1", 10, "")}, {dep("a", "p", "v0", 0, "")}},
			want:    map[string]string{"a": D, "b": D},
			rbs:     []int64{1, 0},
		},
		{
			name:    "a deployment moved to another environment re-infers the one it left",
			imports: [][]history.Deployment{{dep("a", "p", "v1", 0, ""), dep("b", "p", "v1", 10, ""), dep("c", "q", "v1", 5, "")}, {dep("a", "q", "v1", 0, "")}},
			want:    map[string]string{"a": D, "b": D, "c": R},
			rbs:     []int64{1, 0},
		},
		{
			name:    "KindInferred given to an import is ignored",
			imports: [][]history.Deployment{{{ID: "a", Service: "s", Environment: "p", Version: "v1", StartedAt: Min(0), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1, Kind: history.KindRollback, KindInferred: true}}},
			want:    map[string]string{"a": GR},
			rbs:     []int64{0},
		},
		{
			name:    "re-importing the same deployments changes nothing",
			imports: [][]history.Deployment{{dep("a", "p", "v1", 0, ""), dep("b", "p", "v2", 10, ""), dep("c", "p", "v1", 20, "")}, {dep("a", "p", "v1", 0, ""), dep("b", "p", "v2", 10, ""), dep("c", "p", "v1", 20, "")}},
			want:    map[string]string{"a": D, "b": D, "c": R},
			rbs:     []int64{1, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			for i, deps := range tc.imports {
				if sum := importDeployments(t, s, deps); sum.RollbacksInferred != tc.rbs[i] {
					t.Errorf("import %d: RollbacksInferred %d, want %d", i+1, sum.RollbacksInferred, tc.rbs[i])
				}
			}
			if got := kindsOf(t, s); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("kinds %v, want %v", got, tc.want)
			}
		})
	}
}

// testImportOrder imports one set of deployments in several orders and
// splits: the kinds must come out the same.
func testImportOrder(t *testing.T, newStore func(t *testing.T) history.Store) {
	all := []history.Deployment{
		dep("a", "p", "v1", 0, ""), dep("b", "p", "v2", 10, ""), dep("c", "p", "v1", 20, ""),
		dep("d", "p", "v3", 30, history.KindDeploy), dep("e", "p", "v2", 40, ""), dep("f", "p", "v2", 40, ""),
		dep("g", "q", "v2", 5, ""), dep("h", "q", "v1", 15, ""), dep("i", "q", "v2", 25, history.KindDeploy),
	}
	want := map[string]string{"a": "deploy*", "b": "deploy*", "c": "rollback*", "d": "deploy", "e": "rollback*", "f": "rollback*",
		"g": "deploy*", "h": "deploy*", "i": "deploy"}
	reversed := slices.Clone(all)
	slices.Reverse(reversed)
	var one [][]history.Deployment
	for _, d := range reversed {
		one = append(one, []history.Deployment{d})
	}
	var odd, even []history.Deployment
	for i, d := range all {
		if i%2 == 0 {
			even = append(even, d)
		} else {
			odd = append(odd, d)
		}
	}
	for _, tc := range []struct {
		name    string
		imports [][]history.Deployment
	}{
		{"one import", [][]history.Deployment{all}},
		{"one import each, latest first", one},
		{"odd ones, then even ones", [][]history.Deployment{odd, even}},
		{"later half first", [][]history.Deployment{all[4:], all[:4]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			for _, deps := range tc.imports {
				importDeployments(t, s, deps)
			}
			if got := kindsOf(t, s); !reflect.DeepEqual(got, want) {
				t.Errorf("kinds %v, want %v", got, want)
			}
		})
	}
}

func testTruth(t *testing.T, s history.Store) {
	ctx := context.Background()
	if _, err := s.Truth(ctx); !errors.Is(err, history.ErrNoTruth) {
		t.Fatalf("Truth on a fresh store: %v, want ErrNoTruth", err)
	}
	in := []history.Truth{
		{DeploymentID: "d2", Faulty: true, Shape: "shift", OnsetMinute: 3, Confounders: "blip,outage", Severity: 0.85, KPI: "throughput", Direction: "down"},
		{DeploymentID: "d1", OnsetMinute: -1},
	}
	must(t, s.PutTruth(ctx, in))
	in[1].Confounders = "seasonal"
	must(t, s.PutTruth(ctx, in[1:]))
	got, err := s.Truth(ctx)
	must(t, err)
	if want := []history.Truth{in[1], in[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("truth %+v, want %+v", got, want)
	}
	// Truth is not history.
	Diff(t, Read(t, s), Empty())
}
