package promsource

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/promtest"
	"github.com/faultline-dev/faultline/registry/bundle"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

// Live is what batch.Check looks deployments up through.
var _ batch.DeploymentFinder = (*Live)(nil)

// randomDetector bundles random models over this build's feature schema:
// the test compares two ways of computing features, not model quality.
func randomDetector(t *testing.T) *detector.Detector {
	t.Helper()
	cfg := features.DefaultConfig()
	schema := detector.Schema()
	schema.ConfigHash = cfg.ConfigHash()
	hs := []int{10, 20, 60}
	b := &bundle.Bundle{
		Manifest: bundle.Manifest{Model: "faultline", Version: 1, FeatureSchema: schema, Horizons: hs,
			Thresholds: map[int]float64{10: 0.7, 20: 0.6, 60: 0.5}},
		Files: map[string][]byte{},
	}
	for _, h := range hs {
		b.Files[bundle.ModelFileName(h)] = registrytest.ModelText(uint64(100+h), features.Names(), 40, 8, false)
		b.Manifest.Files = append(b.Manifest.Files, bundle.FileEntry{Path: bundle.ModelFileName(h), Horizon: h})
	}
	var buf bytes.Buffer
	if err := bundle.Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	d, err := detector.LoadReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// truncate copies the import files of dir to a new folder, keeping the rows
// before cutoff (by minute, or started_at for deployments) and dropping
// incidents and annotations.
func truncate(t *testing.T, dir string, cutoff time.Time) string {
	t.Helper()
	out := t.TempDir()
	cut := cutoff.UTC().Format(time.RFC3339)
	for name, col := range map[string]int{"services.csv": -1, "deployments.csv": 4, "metrics.csv": 3, "error_signatures.csv": 3} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		first := true
		for sc.Scan() {
			l := sc.Text()
			// The simulator's fields hold no commas before the ones used.
			if first || col < 0 || strings.Split(l, ",")[col] < cut {
				b.WriteString(l + "\n")
			}
			first = false
		}
		f.Close()
		if err := os.WriteFile(filepath.Join(out, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// liveDeploy picks a deploy late in the fixture whose first hour has no
// other deploy of its stream and ends before the history does.
func liveDeploy(t *testing.T, deps []history.Deployment) history.Deployment {
	t.Helper()
	for i := len(deps) - 1; i >= 0; i-- {
		d := deps[i]
		if d.Kind != history.KindDeploy || d.StartedAt.After(histEnd.Add(-2*time.Hour)) {
			continue
		}
		clear := true
		for _, o := range deps {
			if o.ID != d.ID && o.Service == d.Service && o.Environment == d.Environment &&
				!o.StartedAt.Before(d.StartedAt) && o.StartedAt.Sub(d.StartedAt) <= time.Hour {
				clear = false
			}
		}
		if clear {
			return d
		}
	}
	t.Fatal("no deploy to judge in the fixture")
	return history.Deployment{}
}

// TestLiveCheckAgreesWithStore: a deploy in progress judged from the
// server at 10, 20 and 60 minutes gets the probabilities and verdict that
// `check` gives on a store holding the same minutes.
func TestLiveCheckAgreesWithStore(t *testing.T) {
	if testing.Short() {
		t.Skip("promtest: needs a Prometheus server; skipped with -short")
	}
	ctx := context.Background()
	dir := fixture(t)
	srv := promtest.Start(t, openMetricsOf(dir))
	d := randomDetector(t)
	full := embeddedtest.Open(t)
	fileImport(t, full, dir)
	deps, err := full.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	dep := liveDeploy(t, deps)
	// The deploy as a pipeline gives it by flags: no change size, no kind.
	live := history.Deployment{ID: dep.ID, Service: dep.Service, Environment: dep.Environment, Version: dep.Version,
		StartedAt: dep.StartedAt, FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1, Kind: history.KindDeploy}
	// The store before the deploy: what a nightly import left.
	before := embeddedtest.Open(t)
	fileImport(t, before, truncate(t, dir, dep.StartedAt))
	c := newClient(t, loadMapping(t), srv.URL)
	s := history.UnixMinute(dep.StartedAt)
	for _, h := range []int{10, 20, 60} {
		at := history.MinuteTime(s + int64(h))
		ref := embeddedtest.Open(t)
		fileImport(t, ref, truncate(t, dir, at))
		// The reference store holds the deploy as the flags describe it.
		tx, err := ref.BeginImport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.AddDeployments(ctx, []history.Deployment{live}); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		want, err := batch.Check(ctx, ref, d, dep.ID, batch.Options{Scratch: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		got, err := batch.Check(ctx, NewLive(c, before, live, at), d, dep.ID, batch.Options{Scratch: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		scored := 0
		for _, hh := range d.Horizons() {
			g, w := got.P[hh], want.P[hh]
			if !closeTo(g, w) {
				t.Errorf("at %d min: p_%d = %v from Prometheus, %v from the store", h, hh, g, w)
			}
			if hh <= h && math.IsNaN(g) {
				t.Errorf("at %d min: no p_%d, want one", h, hh)
			}
			if !math.IsNaN(g) {
				scored++
			}
		}
		if got.Result.Verdict != want.Result.Verdict || got.Result.Final != want.Result.Final {
			t.Errorf("at %d min: verdict %s (final %v) from Prometheus, %s (final %v) from the store",
				h, got.Result.Verdict, got.Result.Final, want.Result.Verdict, want.Result.Final)
		}
		t.Logf("%s at %d min: %s final=%v, %d horizons scored", dep.ID, h, got.Result.Verdict, got.Result.Final, scored)
	}
}
