package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/historytest"
)

// The contract shared with the PostgreSQL store is tested by the
// conformance suite (suite_test.go); these tests cover what is particular
// to the embedded store: files, generations, the lock, spilling, caching.

var min_ = historytest.Min

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

func importFixture(t *testing.T, s *Store, f historytest.Fixture) history.ImportSummary {
	t.Helper()
	return historytest.Import(t, s, f)
}

var (
	newFixture = historytest.NewFixture
	read       = historytest.Read
	diff       = historytest.Diff
)

// TestReopenAndStaging: a fresh Store (another process) reads what a
// commit installed, and a spilled import leaves no staging folder.
func TestReopenAndStaging(t *testing.T) {
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
			importFixture(t, open(t, home, tc.opts), f)
			diff(t, read(t, open(t, home, Options{})), f.Expected())
			tmps, err := filepath.Glob(filepath.Join(home, "history", tmpPrefix+"*"))
			must(t, err)
			if len(tmps) != 0 {
				t.Errorf("staging folders left behind: %v", tmps)
			}
		})
	}
}

// TestReadsReturnCopies: changing a returned slice does not change the
// cache.
func TestReadsReturnCopies(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), Options{})
	importFixture(t, s, newFixture())
	ser, err := s.Metrics(ctx, historytest.APIProd, history.Range{})
	must(t, err)
	ser[0].Requests[0] = -1
	again, err := s.Metrics(ctx, historytest.APIProd, history.Range{})
	must(t, err)
	if again[0].Requests[0] == -1 {
		t.Error("Metrics returned the cache's own slice")
	}
}

// TestUpsertLastWinsAndStreamFiles: within one import the row added last
// wins (the PostgreSQL store rejects a key given twice instead), and an
// import rewrites the files of the streams it touches only.
func TestUpsertLastWinsAndStreamFiles(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), Options{})
	f := newFixture()
	importFixture(t, s, f)
	filesBefore := s.current().m.Streams
	tx, err := s.BeginImport(ctx)
	must(t, err)
	m := f.Metrics[0] // api/prod
	m.Errors = 99
	m2 := m
	m2.Errors = 98
	must(t, tx.AddMetrics(ctx, []history.Metric{m, m2}))
	d := f.Deployments[1]
	d.Author = "first"
	d2 := d
	d2.Author = "second"
	must(t, tx.AddDeployments(ctx, []history.Deployment{d, d2}))
	sum, err := tx.Commit(ctx)
	must(t, err)
	if sum.Metrics != 1 || sum.Deployments != 1 {
		t.Errorf("rows given twice in one import counted twice: %+v", sum)
	}
	f.Metrics[0] = m2
	f.Deployments[1] = d2
	diff(t, read(t, s), f.Expected())
	for i, sf := range s.current().m.Streams {
		st := history.Stream{Service: sf.Service, Environment: sf.Environment}
		if changed := sf.Metrics != filesBefore[i].Metrics; changed != (st == historytest.APIProd) {
			t.Errorf("stream %v: metrics file %s -> %s", st, filesBefore[i].Metrics, sf.Metrics)
		}
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

// TestAbandonedImportLeavesFilesUnchanged: a rolled-back import and a
// failed commit leave the generation and every file as they were.
func TestAbandonedImportLeavesFilesUnchanged(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, tx history.ImportTx)
	}{
		{"rolled back", func(t *testing.T, tx history.ImportTx) {
			must(t, tx.Rollback(ctx))
		}},
		{"annotation of an unknown deployment", func(t *testing.T, tx history.ImportTx) {
			must(t, tx.AddAnnotations(ctx, []history.Annotation{{DeploymentID: "ghost", Label: history.LabelFaulty}}))
			var mde *history.MissingDeploymentError
			if _, err := tx.Commit(ctx); !errors.As(err, &mde) {
				t.Fatalf("Commit: %v, want *MissingDeploymentError", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			s := open(t, home, Options{SpillBytes: 1000})
			importFixture(t, s, newFixture())
			before := read(t, s)
			gen := s.Generation()
			state := dirState(t, filepath.Join(home, "history"))

			tx, err := s.BeginImport(ctx)
			must(t, err)
			g := newFixture()
			for i := range g.Metrics {
				g.Metrics[i].Requests++
			}
			g.Deployments = append(g.Deployments, history.Deployment{ID: "d9", Service: "new", Environment: "prod", Version: "x", StartedAt: min_(1)})
			g.Add(t, tx)
			tc.end(t, tx)
			if s.Generation() != gen {
				t.Errorf("generation %d, want %d", s.Generation(), gen)
			}
			diff(t, read(t, open(t, home, Options{})), before)
			if got := dirState(t, filepath.Join(home, "history")); got != state {
				t.Errorf("files changed by an abandoned import:\n%s\nwant\n%s", got, state)
			}
		})
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
		for i := range g.Metrics {
			g.Metrics[i].Requests += 1000
		}
		g.Add(t, tx)
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
		for i := range g.Metrics {
			g.Metrics[i].Errors = 0
		}
		g.Add(t, tx)
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
	must(t, tx.AddDeployments(ctx, newFixture().Deployments))
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

// TestTruthJoinsOpenImport: truth put while an import of the Store is open
// commits or rolls back with it; alone, it commits a generation of its own.
func TestTruthJoinsOpenImport(t *testing.T) {
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
	must(t, tx.AddDeployments(ctx, newFixture().Deployments))
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
			{Service: "a", Environment: "p", Version: "v", Minute: min_(1), Requests: 10, Errors: float64(i)},
			{Service: "b", Environment: "p", Version: "v", Minute: min_(int(i)), Requests: float64(i)},
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
	if len(b) != 1 || !slices.Equal(b[0].Requests, []float64{1, 2, 3}) {
		t.Errorf("stream b: %+v", b)
	}
	sg, err := s.Signatures(ctx, history.Stream{Service: "a", Environment: "p"}, history.Range{})
	must(t, err)
	if len(sg) != 1 || sg[0].Count != 3 {
		t.Errorf("signatures: %+v", sg)
	}
}
