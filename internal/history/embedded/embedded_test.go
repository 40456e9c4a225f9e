package embedded

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

var t0 = time.Date(2026, 6, 1, 7, 0, 0, 0, time.UTC)

func min_(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

// fixture is a small history touching every table.
type fixture struct {
	services    []history.Service
	deployments []history.Deployment
	metrics     []history.Metric
	signatures  []history.Signature
	incidents   []history.Incident
	annotations []history.Annotation
}

func newFixture() fixture {
	f := fixture{
		services: []history.Service{{Name: "api", Team: "core", Tier: "critical"}, {Name: "web"}},
		deployments: []history.Deployment{
			{ID: "d1", Service: "api", Environment: "prod", Version: "v1", StartedAt: min_(0), FinishedAt: min_(5), CommitSHA: "abc", Author: "ann", FilesChanged: 3, LinesAdded: 10, LinesDeleted: 2, Kind: history.KindDeploy},
			{ID: "d2", Service: "api", Environment: "prod", Version: "v2", StartedAt: min_(30), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1},
			{ID: "d3", Service: "api", Environment: "prod", Version: "v1", StartedAt: min_(60), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1},
			{ID: "d4", Service: "web", Environment: "prod", Version: "v1", StartedAt: min_(10), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1},
			{ID: "d5", Service: "api", Environment: "staging", Version: "v2", StartedAt: min_(20), FilesChanged: 1, LinesAdded: 1, LinesDeleted: 0, Kind: history.KindRollback},
		},
		incidents: []history.Incident{
			{ID: "i1", Service: "api", Environment: "prod", OpenedAt: min_(40), ResolvedAt: min_(70), Severity: "sev2", DeploymentID: "d2"},
			{ID: "i2", Service: "db", OpenedAt: min_(50)},
		},
		annotations: []history.Annotation{
			{DeploymentID: "d2", Label: history.LabelFaulty, Annotator: "bob", AnnotatedAt: min_(600), Note: "errors, rolled back"},
			{DeploymentID: "d2", Label: history.LabelFaulty},
			{DeploymentID: "d4", Label: history.LabelHealthy, Annotator: "eve"},
		},
	}
	for m := 0; m < 90; m++ {
		v1 := m < 32 || m >= 61
		v2 := m >= 30 && m < 62
		if v1 {
			f.metrics = append(f.metrics, history.Metric{Service: "api", Environment: "prod", Version: "v1", Minute: min_(m), Requests: int64(100 + m), Errors: int64(m % 3), LatencyP50: 10, LatencyP95: 20, LatencyP99: float64(30 + m)})
		}
		if v2 {
			f.metrics = append(f.metrics, history.Metric{Service: "api", Environment: "prod", Version: "v2", Minute: min_(m), Requests: int64(50 + m), Errors: int64(m % 7), LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()})
			if m%2 == 0 {
				f.signatures = append(f.signatures,
					history.Signature{Service: "api", Environment: "prod", Version: "v2", Minute: min_(m), Fingerprint: "fp-new", Count: 2, ErrorType: "NullPointer", Endpoint: "/pay", StatusCode: 500},
					history.Signature{Service: "api", Environment: "prod", Version: "v2", Minute: min_(m), Fingerprint: "fp-base", Count: 1})
			}
		}
		f.metrics = append(f.metrics, history.Metric{Service: "web", Environment: "prod", Version: "v1", Minute: min_(m), Requests: 3, Errors: 0, LatencyP50: 1, LatencyP95: 2, LatencyP99: 3})
	}
	return f
}

func (f fixture) add(t *testing.T, tx history.ImportTx) {
	t.Helper()
	ctx := context.Background()
	must(t, tx.AddServices(ctx, f.services))
	must(t, tx.AddDeployments(ctx, f.deployments))
	// Metrics in several batches, streams interleaved.
	for i := 0; i < len(f.metrics); i += 37 {
		must(t, tx.AddMetrics(ctx, f.metrics[i:min(i+37, len(f.metrics))]))
	}
	must(t, tx.AddSignatures(ctx, f.signatures))
	must(t, tx.AddIncidents(ctx, f.incidents))
	must(t, tx.AddAnnotations(ctx, f.annotations))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, home string, opts Options) *Store {
	t.Helper()
	s, err := OpenOptions(context.Background(), home, opts)
	must(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func importFixture(t *testing.T, s *Store, f fixture) history.ImportSummary {
	t.Helper()
	ctx := context.Background()
	tx, err := s.BeginImport(ctx)
	must(t, err)
	f.add(t, tx)
	sum, err := tx.Commit(ctx)
	must(t, err)
	return sum
}

// dump is everything a Reader returns, with NaN replaced so that
// reflect.DeepEqual can compare it.
type dump struct {
	Services    []history.Service
	Deployments []history.Deployment
	Streams     []history.Stream
	Metrics     map[history.Stream][]history.Series
	Signatures  map[history.Stream][]history.Signature
	Incidents   []history.Incident
	Annotations []history.Annotation
}

func denan(xs []float64) {
	for i, x := range xs {
		if math.IsNaN(x) {
			xs[i] = -12345
		}
	}
}

func read(t *testing.T, r history.Reader) dump {
	t.Helper()
	ctx := context.Background()
	var d dump
	var err error
	d.Services, err = r.Services(ctx)
	must(t, err)
	d.Deployments, err = r.Deployments(ctx, history.Range{})
	must(t, err)
	d.Streams, err = r.Streams(ctx)
	must(t, err)
	d.Metrics = map[history.Stream][]history.Series{}
	d.Signatures = map[history.Stream][]history.Signature{}
	for _, st := range d.Streams {
		ser, err := r.Metrics(ctx, st, history.Range{})
		must(t, err)
		for i := range ser {
			denan(ser[i].P50)
			denan(ser[i].P95)
			denan(ser[i].P99)
		}
		d.Metrics[st] = ser
		d.Signatures[st], err = r.Signatures(ctx, st, history.Range{})
		must(t, err)
	}
	d.Incidents, err = r.Incidents(ctx, history.Range{})
	must(t, err)
	d.Annotations, err = r.Annotations(ctx)
	must(t, err)
	return d
}

// expected computes what a Reader must return for f imported into an empty
// store, independently of the store's code paths.
func expected(f fixture) dump {
	var d dump
	svc := map[string]history.Service{}
	for _, s := range f.services {
		svc[s.Name] = s
	}
	for _, n := range []string{"db"} { // named only by an incident
		svc[n] = history.Service{Name: n}
	}
	for _, s := range svc {
		d.Services = append(d.Services, s)
	}
	sort.Slice(d.Services, func(i, j int) bool { return d.Services[i].Name < d.Services[j].Name })
	kinds := map[string]history.Kind{"d2": history.KindDeploy, "d3": history.KindRollback, "d4": history.KindDeploy}
	for _, dep := range f.deployments {
		if dep.Kind == "" {
			dep.Kind, dep.KindInferred = kinds[dep.ID], true
		}
		d.Deployments = append(d.Deployments, dep)
	}
	sort.Slice(d.Deployments, func(i, j int) bool { return d.Deployments[i].StartedAt.Before(d.Deployments[j].StartedAt) })
	d.Streams = []history.Stream{{Service: "api", Environment: "prod"}, {Service: "api", Environment: "staging"}, {Service: "web", Environment: "prod"}}
	d.Metrics = map[history.Stream][]history.Series{}
	d.Signatures = map[history.Stream][]history.Signature{}
	for _, st := range d.Streams {
		var rows []history.Metric
		for _, m := range f.metrics {
			if m.Service == st.Service && m.Environment == st.Environment {
				rows = append(rows, m)
			}
		}
		var ser []history.Series
		for _, s := range history.SeriesOf(rows) {
			denan(s.P50)
			denan(s.P95)
			denan(s.P99)
			ser = append(ser, s)
		}
		d.Metrics[st] = ser
		var sigs []history.Signature
		for _, s := range f.signatures {
			if s.Service == st.Service && s.Environment == st.Environment {
				sigs = append(sigs, s)
			}
		}
		sort.SliceStable(sigs, func(i, j int) bool {
			a, b := sigs[i], sigs[j]
			if !a.Minute.Equal(b.Minute) {
				return a.Minute.Before(b.Minute)
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Fingerprint < b.Fingerprint
		})
		d.Signatures[st] = sigs
	}
	d.Incidents = append(d.Incidents, f.incidents...)
	d.Annotations = []history.Annotation{f.annotations[1], f.annotations[0], f.annotations[2]} // by deployment, annotator ("" < "bob")
	return d
}

func diff(t *testing.T, got, want dump) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", gv.Type().Field(i).Name, g, w)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"in memory", Options{}},
		{"spilled", Options{SpillBytes: 2000}}, // spills every few batches
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			f := newFixture()
			s := open(t, home, tc.opts)
			sum := importFixture(t, s, f)
			want := history.ImportSummary{Services: 3, Deployments: 5, Metrics: int64(len(f.metrics)), Signatures: int64(len(f.signatures)), Incidents: 2, Annotations: 3, RollbacksInferred: 1}
			if sum != want {
				t.Errorf("summary %+v, want %+v", sum, want)
			}
			exp := expected(f)
			diff(t, read(t, s), exp)
			// A fresh process (new Store) reads the same.
			diff(t, read(t, open(t, home, Options{})), exp)
			if tc.opts.SpillBytes > 0 {
				tmps, _ := filepath.Glob(filepath.Join(home, "history", tmpPrefix+"*"))
				if len(tmps) != 0 {
					t.Errorf("staging folders left behind: %v", tmps)
				}
			}
		})
	}
}

func TestRangeReads(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	importFixture(t, s, newFixture())
	ctx := context.Background()
	api := history.Stream{Service: "api", Environment: "prod"}
	tests := []struct {
		name          string
		r             history.Range
		wantVersions  []string
		wantFirst     int64 // first minute of the first series, relative to t0
		wantLen0      int
		wantDeploys   []string
		wantIncidents []string
	}{
		{"all", history.Range{}, []string{"v1", "v2"}, 0, 90 - 29, []string{"d1", "d4", "d5", "d2", "d3"}, []string{"i1", "i2"}},
		{"rollout", history.Range{From: min_(30), Until: min_(40)}, []string{"v1", "v2"}, 30, 2, []string{"d2"}, nil},
		{"from mid-minute", history.Range{From: min_(39).Add(time.Second), Until: min_(45)}, []string{"v2"}, 40, 5, nil, []string{"i1"}},
		{"after", history.Range{From: min_(200)}, nil, 0, 0, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ser, err := s.Metrics(ctx, api, tc.r)
			must(t, err)
			var vs []string
			for _, x := range ser {
				vs = append(vs, x.Version)
			}
			if !slices.Equal(vs, tc.wantVersions) {
				t.Fatalf("versions %v, want %v", vs, tc.wantVersions)
			}
			if len(ser) > 0 {
				if got := ser[0].Minutes[0] - history.UnixMinute(t0); got != tc.wantFirst {
					t.Errorf("first minute %d, want %d", got, tc.wantFirst)
				}
				if ser[0].Len() != tc.wantLen0 {
					t.Errorf("len %d, want %d", ser[0].Len(), tc.wantLen0)
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
	// Returned slices are copies: changing them does not change the store.
	ser, _ := s.Metrics(ctx, api, history.Range{})
	ser[0].Requests[0] = -1
	again, _ := s.Metrics(ctx, api, history.Range{})
	if again[0].Requests[0] == -1 {
		t.Error("Metrics returned the cache's own slice")
	}
	if ser, _ := s.Metrics(ctx, history.Stream{Service: "nope", Environment: "x"}, history.Range{}); ser != nil {
		t.Errorf("unknown stream gave %v", ser)
	}
}

func TestUpsertIdempotent(t *testing.T) {
	home := t.TempDir()
	s := open(t, home, Options{})
	f := newFixture()
	importFixture(t, s, f)
	first := read(t, s)
	sum := importFixture(t, s, f)
	if sum.Metrics != int64(len(f.metrics)) || sum.Deployments != 5 {
		t.Errorf("re-import summary %+v", sum)
	}
	diff(t, read(t, s), first)

	// Same keys, new values: replaced, never duplicated. Duplicates within one
	// import: the row added last wins.
	ctx := context.Background()
	tx, err := s.BeginImport(ctx)
	must(t, err)
	m := f.metrics[0]
	m.Errors = 99
	m2 := m
	m2.Errors = 98
	must(t, tx.AddMetrics(ctx, []history.Metric{m, m2}))
	d := f.deployments[0]
	d.Author = "zed"
	must(t, tx.AddDeployments(ctx, []history.Deployment{d}))
	a := f.annotations[0]
	a.Label = history.LabelHealthy
	must(t, tx.AddAnnotations(ctx, []history.Annotation{a}))
	sg := f.signatures[0]
	sg.Count = 42
	must(t, tx.AddSignatures(ctx, []history.Signature{sg}))
	sum, err = tx.Commit(ctx)
	must(t, err)
	if sum.Metrics != 1 {
		t.Errorf("duplicate rows in one import counted %d times", sum.Metrics)
	}
	got := read(t, s)
	api := history.Stream{Service: "api", Environment: "prod"}
	if got.Metrics[api][0].Errors[0] != 98 || got.Metrics[api][0].Len() != first.Metrics[api][0].Len() {
		t.Errorf("metric not upserted: errors %d, len %d", got.Metrics[api][0].Errors[0], got.Metrics[api][0].Len())
	}
	if len(got.Deployments) != 5 || got.Deployments[0].Author != "zed" {
		t.Errorf("deployment not upserted: %+v", got.Deployments[0])
	}
	if len(got.Annotations) != 3 || got.Annotations[1].Label != history.LabelHealthy {
		t.Errorf("annotation not upserted: %+v", got.Annotations)
	}
	var found bool
	for _, x := range got.Signatures[api] {
		if x.Minute.Equal(sg.Minute) && x.Fingerprint == sg.Fingerprint {
			found = x.Count == 42
		}
	}
	if !found || len(got.Signatures[api]) != len(first.Signatures[api]) {
		t.Errorf("signature not upserted")
	}
	// The untouched stream kept its file.
	web := history.Stream{Service: "web", Environment: "prod"}
	if !reflect.DeepEqual(got.Metrics[web], first.Metrics[web]) {
		t.Error("untouched stream changed")
	}
}

// dirState hashes the names and sizes of every file under dir.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Name() == lockName {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		var data []byte
		if !fi.IsDir() {
			data, _ = os.ReadFile(p)
		}
		fmt.Fprintf(&b, "%s %d %x\n", rel, fi.Size(), data)
		return nil
	})
	must(t, err)
	return b.String()
}

func TestRollbackLeavesGenerationUnchanged(t *testing.T) {
	home := t.TempDir()
	s := open(t, home, Options{SpillBytes: 1000})
	f := newFixture()
	importFixture(t, s, f)
	before := read(t, s)
	gen := s.Generation()
	state := dirState(t, filepath.Join(home, "history"))

	ctx := context.Background()
	tx, err := s.BeginImport(ctx)
	must(t, err)
	g := newFixture()
	for i := range g.metrics {
		g.metrics[i].Errors++
	}
	g.deployments = append(g.deployments, history.Deployment{ID: "d9", Service: "new", Environment: "prod", Version: "x", StartedAt: min_(1)})
	g.add(t, tx)
	must(t, tx.Rollback(ctx))
	must(t, tx.Rollback(ctx)) // twice is fine
	if _, err := tx.Commit(ctx); err == nil {
		t.Error("Commit after Rollback succeeded")
	}
	if s.Generation() != gen {
		t.Errorf("generation %d, want %d", s.Generation(), gen)
	}
	diff(t, read(t, s), before)
	diff(t, read(t, open(t, home, Options{})), before)
	if got := dirState(t, filepath.Join(home, "history")); got != state {
		t.Errorf("files changed by a rolled-back import:\n%s\nwant\n%s", got, state)
	}
}

func TestCrashLeavesStoreAsBefore(t *testing.T) {
	ctx := context.Background()
	t.Run("commit dies before CURRENT", func(t *testing.T) {
		home := t.TempDir()
		s := open(t, home, Options{})
		importFixture(t, s, newFixture())
		before := read(t, s)
		testHookBeforeInstall = func() error { return errors.New("simulated crash") }
		defer func() { testHookBeforeInstall = nil }()
		tx, err := s.BeginImport(ctx)
		must(t, err)
		g := newFixture()
		for i := range g.metrics {
			g.metrics[i].Requests += 1000
		}
		g.add(t, tx)
		if _, err := tx.Commit(ctx); err == nil || !strings.Contains(err.Error(), "simulated crash") {
			t.Fatalf("Commit: %v", err)
		}
		testHookBeforeInstall = nil
		// The dead commit's files are on disk but not in force.
		orphans, _ := filepath.Glob(filepath.Join(home, "history", dataDir, "g000002-*"))
		if len(orphans) == 0 {
			t.Fatal("hook ran before any file was written")
		}
		diff(t, read(t, open(t, home, Options{})), before)
		// The next import cleans them up and reuses the generation number.
		sum := importFixture(t, open(t, home, Options{}), newFixture())
		if sum.Deployments != 5 {
			t.Errorf("summary %+v", sum)
		}
		diff(t, read(t, open(t, home, Options{})), before)
	})
	t.Run("process dies mid-import", func(t *testing.T) {
		home := t.TempDir()
		s := open(t, home, Options{SpillBytes: 500})
		importFixture(t, s, newFixture())
		before := read(t, s)
		tx, err := s.BeginImport(ctx)
		must(t, err)
		g := newFixture()
		for i := range g.metrics {
			g.metrics[i].Errors = 0
		}
		g.add(t, tx)
		itx := tx.(*importTx)
		runs, _ := filepath.Glob(filepath.Join(itx.tmp, "run-*"))
		if len(runs) == 0 {
			t.Fatal("nothing spilled")
		}
		// Death: the kernel drops the flock; nothing else is cleaned.
		itx.lock.f.Close()
		s.mu.Lock()
		s.active = nil
		s.mu.Unlock()

		s2 := open(t, home, Options{})
		diff(t, read(t, s2), before)
		tx2, err := s2.BeginImport(ctx) // takes the freed lock, removes the staging folder
		must(t, err)
		if _, err := os.Stat(itx.tmp); !os.IsNotExist(err) {
			t.Errorf("abandoned staging folder still there: %v", err)
		}
		must(t, tx2.Rollback(ctx))
	})
}

func TestLockContention(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s1 := open(t, home, Options{})
	s2 := open(t, home, Options{})
	tx, err := s1.BeginImport(ctx)
	must(t, err)
	_, err = s2.BeginImport(ctx)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second writer: %v", err)
	}
	if err := s2.PutTruth(ctx, []history.Truth{{DeploymentID: "d1"}}); !errors.Is(err, ErrLocked) {
		t.Fatalf("PutTruth while locked: %v", err)
	}
	if _, err := s1.BeginImport(ctx); !errors.Is(err, ErrLocked) {
		t.Fatalf("second import on the same store: %v", err)
	}
	// Another process is refused too.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLockProcess$")
	cmd.Env = append(os.Environ(), "EMBEDDED_LOCK_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "LOCKED") {
		t.Fatalf("other process: %v\n%s", err, out)
	}
	must(t, tx.AddDeployments(ctx, newFixture().deployments))
	_, err = tx.Commit(ctx)
	must(t, err)
	tx2, err := s2.BeginImport(ctx)
	must(t, err)
	must(t, tx2.Rollback(ctx))
}

// TestHelperLockProcess is run by TestLockContention in a child process.
func TestHelperLockProcess(t *testing.T) {
	home := os.Getenv("EMBEDDED_LOCK_HOME")
	if home == "" {
		t.Skip("helper process for TestLockContention")
	}
	s, err := Open(context.Background(), home)
	must(t, err)
	defer s.Close()
	_, err = s.BeginImport(context.Background())
	if errors.Is(err, ErrLocked) {
		fmt.Println("LOCKED")
		return
	}
	t.Fatalf("BeginImport in a second process: %v", err)
}

func TestRollbackInference(t *testing.T) {
	dep := func(id, svc, env, ver string, m int, k history.Kind) history.Deployment {
		return history.Deployment{ID: id, Service: svc, Environment: env, Version: ver, StartedAt: min_(m), Kind: k}
	}
	tests := []struct {
		name     string
		existing []history.Deployment
		imported []history.Deployment
		want     map[string]history.Kind // ID → kind; inferred ones listed in inferred
		inferred []string
		nRollbk  int64
	}{
		{
			name:     "version in store",
			existing: []history.Deployment{dep("a", "s", "p", "v1", 0, history.KindDeploy), dep("b", "s", "p", "v2", 10, history.KindDeploy)},
			imported: []history.Deployment{dep("c", "s", "p", "v1", 20, "")},
			want:     map[string]history.Kind{"a": "deploy", "b": "deploy", "c": "rollback"},
			inferred: []string{"c"}, nRollbk: 1,
		},
		{
			name:     "version earlier in same import, other env is separate",
			imported: []history.Deployment{dep("a", "s", "p", "v1", 0, ""), dep("b", "s", "p", "v2", 10, ""), dep("c", "s", "p", "v1", 20, ""), dep("d", "s", "q", "v1", 30, "")},
			want:     map[string]history.Kind{"a": "deploy", "b": "deploy", "c": "rollback", "d": "deploy"},
			inferred: []string{"a", "b", "c", "d"}, nRollbk: 1,
		},
		{
			name:     "later deployment of same version does not make an earlier one a rollback",
			existing: []history.Deployment{dep("z", "s", "p", "v1", 100, history.KindDeploy)},
			imported: []history.Deployment{dep("a", "s", "p", "v1", 0, "")},
			want:     map[string]history.Kind{"a": "deploy", "z": "deploy"},
			inferred: []string{"a"},
		},
		{
			name:     "explicit kind kept",
			imported: []history.Deployment{dep("a", "s", "p", "v1", 0, history.KindRollback), dep("b", "s", "p", "v1", 5, history.KindDeploy)},
			want:     map[string]history.Kind{"a": "rollback", "b": "deploy"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, t.TempDir(), Options{})
			if tc.existing != nil {
				tx, err := s.BeginImport(ctx)
				must(t, err)
				must(t, tx.AddDeployments(ctx, tc.existing))
				_, err = tx.Commit(ctx)
				must(t, err)
			}
			tx, err := s.BeginImport(ctx)
			must(t, err)
			must(t, tx.AddDeployments(ctx, tc.imported))
			sum, err := tx.Commit(ctx)
			must(t, err)
			if sum.RollbacksInferred != tc.nRollbk {
				t.Errorf("RollbacksInferred %d, want %d", sum.RollbacksInferred, tc.nRollbk)
			}
			deps, err := s.Deployments(ctx, history.Range{})
			must(t, err)
			if len(deps) != len(tc.want) {
				t.Fatalf("%d deployments, want %d", len(deps), len(tc.want))
			}
			for _, d := range deps {
				if d.Kind != tc.want[d.ID] {
					t.Errorf("%s: kind %q, want %q", d.ID, d.Kind, tc.want[d.ID])
				}
				if d.KindInferred != slices.Contains(tc.inferred, d.ID) {
					t.Errorf("%s: KindInferred %v", d.ID, d.KindInferred)
				}
			}
		})
	}
}

func TestMissingDeployment(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s := open(t, home, Options{})
	importFixture(t, s, newFixture())
	before := read(t, s)
	tx, err := s.BeginImport(ctx)
	must(t, err)
	must(t, tx.AddAnnotations(ctx, []history.Annotation{
		{DeploymentID: "d1", Label: history.LabelHealthy, Annotator: "x"}, // exists in the store
		{DeploymentID: "ghost-2", Label: history.LabelFaulty},
		{DeploymentID: "ghost-1", Label: history.LabelFaulty},
		{DeploymentID: "ghost-1", Label: history.LabelFaulty, Annotator: "y"},
	}))
	must(t, tx.AddMetrics(ctx, newFixture().metrics[:3]))
	_, err = tx.Commit(ctx)
	var mde *history.MissingDeploymentError
	if !errors.As(err, &mde) || !slices.Equal(mde.DeploymentIDs, []string{"ghost-1", "ghost-2"}) {
		t.Fatalf("Commit: %v", err)
	}
	diff(t, read(t, open(t, home, Options{})), before)

	// An annotation of a deployment imported in the same transaction is fine.
	tx, err = s.BeginImport(ctx)
	must(t, err)
	must(t, tx.AddAnnotations(ctx, []history.Annotation{{DeploymentID: "d10", Label: history.LabelFaulty}}))
	must(t, tx.AddDeployments(ctx, []history.Deployment{{ID: "d10", Service: "api", Environment: "prod", Version: "v3", StartedAt: min_(100)}}))
	_, err = tx.Commit(ctx)
	must(t, err)
}

func TestTruth(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s := open(t, home, Options{})
	if _, err := s.Truth(ctx); !errors.Is(err, history.ErrNoTruth) {
		t.Fatalf("empty store: %v", err)
	}
	// Truth put during an import joins it: rolled back with it...
	tx, err := s.BeginImport(ctx)
	must(t, err)
	must(t, s.PutTruth(ctx, []history.Truth{{DeploymentID: "d1", Faulty: true}}))
	must(t, tx.Rollback(ctx))
	if _, err := s.Truth(ctx); !errors.Is(err, history.ErrNoTruth) {
		t.Fatalf("after rollback: %v", err)
	}
	// ...and committed with it.
	tx, err = s.BeginImport(ctx)
	must(t, err)
	must(t, tx.AddDeployments(ctx, newFixture().deployments))
	want := []history.Truth{
		{DeploymentID: "d1", Faulty: false, OnsetMinute: -1},
		{DeploymentID: "d2", Faulty: true, Shape: "step", OnsetMinute: 3, Confounders: "blip,outage", Severity: 4.5},
	}
	must(t, s.PutTruth(ctx, want))
	_, err = tx.Commit(ctx)
	must(t, err)
	// Alone, it commits a generation of its own (upsert by deployment).
	want[0].Confounders = "low_traffic"
	must(t, s.PutTruth(ctx, want[:1]))
	got, err := open(t, home, Options{}).Truth(ctx)
	must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("truth %+v, want %+v", got, want)
	}
	// Truth is not history.
	if d := read(t, s); len(d.Deployments) != 5 {
		t.Errorf("deployments %d", len(d.Deployments))
	}
}

func TestGarbageCollection(t *testing.T) {
	home := t.TempDir()
	s := open(t, home, Options{})
	for i := 0; i < 4; i++ {
		importFixture(t, s, newFixture())
	}
	dir := filepath.Join(home, "history")
	manifests, _ := filepath.Glob(filepath.Join(dir, manifestPref+"*"))
	if len(manifests) != 2 {
		t.Errorf("manifests kept: %v, want current and previous", manifests)
	}
	cur, err := readCurrent(dir)
	must(t, err)
	entries, _ := os.ReadDir(filepath.Join(dir, dataDir))
	keep := cur.files()
	prevGen := fmt.Sprintf("g%06d-", cur.Generation-1)
	for _, e := range entries {
		if !keep[dataDir+"/"+e.Name()] && !strings.HasPrefix(e.Name(), prevGen) {
			t.Errorf("unreferenced file %s kept", e.Name())
		}
	}
}

func TestSpillLastWins(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), Options{SpillBytes: 1}) // spill after every batch
	tx, err := s.BeginImport(ctx)
	must(t, err)
	for i := int64(1); i <= 3; i++ {
		must(t, tx.AddMetrics(ctx, []history.Metric{
			{Service: "a", Environment: "p", Version: "v", Minute: min_(1), Requests: 10, Errors: i},
			{Service: "b", Environment: "p", Version: "v", Minute: min_(int(i)), Requests: i},
		}))
		must(t, tx.AddSignatures(ctx, []history.Signature{{Service: "a", Environment: "p", Version: "v", Minute: min_(1), Fingerprint: "f", Count: i}}))
	}
	// With a 1-byte threshold every batch went to its own run file.
	if n := len(tx.(*importTx).runs); n != 6 {
		t.Fatalf("%d spill runs, want 6", n)
	}
	sum, err := tx.Commit(ctx)
	must(t, err)
	if sum.Metrics != 4 || sum.Signatures != 1 || sum.Services != 2 {
		t.Errorf("summary %+v", sum)
	}
	a, err := s.Metrics(ctx, history.Stream{Service: "a", Environment: "p"}, history.Range{})
	must(t, err)
	if len(a) != 1 || a[0].Len() != 1 || a[0].Errors[0] != 3 {
		t.Errorf("stream a: %+v", a)
	}
	b, err := s.Metrics(ctx, history.Stream{Service: "b", Environment: "p"}, history.Range{})
	must(t, err)
	if len(b) != 1 || !slices.Equal(b[0].Requests, []int64{1, 2, 3}) {
		t.Errorf("stream b: %+v", b)
	}
	sg, err := s.Signatures(ctx, history.Stream{Service: "a", Environment: "p"}, history.Range{})
	must(t, err)
	if len(sg) != 1 || sg[0].Count != 3 {
		t.Errorf("signatures: %+v", sg)
	}
}
