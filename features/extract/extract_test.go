package extract

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/workdir"
)

func testConfig() features.Config {
	c := features.DefaultConfig()
	c.SeasonalDays = 1
	c.BlockDays = 1 // several blocks per stream, to exercise the seams
	return c
}

func readAll(t *testing.T, dir string, hs []int) map[int]map[string][]float64 {
	t.Helper()
	out := map[int]map[string][]float64{}
	for _, h := range hs {
		tab, err := readTable(filepath.Join(dir, workdir.FeaturesFile(h)))
		if err != nil {
			t.Fatal(err)
		}
		out[h] = map[string][]float64{}
		for i, id := range tab.IDs {
			if _, dup := out[h][id]; dup {
				t.Fatalf("h=%d: deployment %s twice", h, id)
			}
			out[h][id] = tab.Rows[i]
		}
	}
	return out
}

func itoa(i int) string { return fmtInt(i) }

func sameVec(a, b []float64) int {
	for i := range a {
		if !(a[i] == b[i] || math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return i
		}
	}
	return -1
}

func TestExtractShardsDisjointAndComplete(t *testing.T) {
	ctx := context.Background()
	r, _ := genHistory(6, []string{"prod-a", "prod-b"}, 3, 1)
	cfg := testConfig()
	full := t.TempDir()
	sum, err := Run(ctx, r, full, Options{Config: cfg, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Deployments != int64(len(r.deps)) || sum.Deployments < 50 {
		t.Fatalf("extracted %d deployments of %d", sum.Deployments, len(r.deps))
	}
	want := readAll(t, full, cfg.Horizons)
	const n = 3
	got := map[int]map[string][]float64{}
	var deploys int64
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		s, err := Run(ctx, r, dir, Options{Config: cfg, Shard: i, Shards: n, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		deploys += s.Deployments
		part := readAll(t, dir, cfg.Horizons)
		for h, rows := range part {
			if got[h] == nil {
				got[h] = map[string][]float64{}
			}
			for id, v := range rows {
				if _, dup := got[h][id]; dup {
					t.Errorf("h=%d: %s in two shards", h, id)
				}
				got[h][id] = v
			}
		}
	}
	if deploys != sum.Deployments {
		t.Errorf("shards hold %d deployments, the whole %d", deploys, sum.Deployments)
	}
	for _, h := range cfg.Horizons {
		if len(got[h]) != len(want[h]) {
			t.Errorf("h=%d: shards have %d rows, whole run %d", h, len(got[h]), len(want[h]))
		}
		for id, v := range want[h] {
			if i := sameVec(v, got[h][id]); got[h][id] == nil || i >= 0 {
				t.Errorf("h=%d %s: shard row differs from the whole run (column %d)", h, id, i)
				break
			}
		}
	}
}

// TestExtractPointInTime changes everything in the history after one
// deploy's start+H — metrics, signatures, later deploys — and checks that
// the deploy's row at H is unchanged.
func TestExtractPointInTime(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	for _, h := range cfg.Horizons {
		r, _ := genHistory(4, []string{"prod-a"}, 2, 2)
		target := r.deps[len(r.deps)/2]
		cut := history.UnixMinute(target.StartedAt) + int64(h)
		cutTime := target.StartedAt.Add(time.Duration(h) * time.Minute)
		for i := range r.deps {
			if r.deps[i].ID == target.ID {
				r.deps[i].FinishedAt = cutTime.Add(2 * time.Minute) // not known yet at the cut
			}
		}
		dir1 := t.TempDir()
		if _, err := Run(ctx, r, dir1, Options{Config: cfg}); err != nil {
			t.Fatal(err)
		}
		// Perturb the future of every stream.
		for st, ss := range r.metrics {
			for k := range ss {
				for i, m := range ss[k].Minutes {
					if m >= cut {
						ss[k].Errors[i] = ss[k].Requests[i]
						ss[k].P95[i] *= 7
					}
				}
			}
			for i := range r.sigs[st] {
				if !r.sigs[st][i].Minute.Before(history.MinuteTime(cut)) {
					r.sigs[st][i].Fingerprint = "future"
				}
			}
		}
		for i := range r.deps {
			d := &r.deps[i]
			if !d.StartedAt.Before(cutTime) {
				d.StartedAt = d.StartedAt.Add(-time.Duration(i%3) * time.Minute)
				if d.StartedAt.Before(cutTime) {
					d.StartedAt = cutTime
				}
				d.Kind = history.KindRollback
			}
			if d.ID == target.ID {
				d.FinishedAt = time.Time{}
			}
		}
		r.deps = append(r.deps, history.Deployment{ID: "zz-later", Service: target.Service, Environment: target.Environment,
			Version: "later", StartedAt: cutTime.Add(30 * time.Second), FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1})
		dir2 := t.TempDir()
		if _, err := Run(ctx, r, dir2, Options{Config: cfg}); err != nil {
			t.Fatal(err)
		}
		a, b := readAll(t, dir1, []int{h}), readAll(t, dir2, []int{h})
		va, vb := a[h][target.ID], b[h][target.ID]
		if va == nil || vb == nil {
			t.Fatalf("h=%d: target %s missing", h, target.ID)
		}
		if i := sameVec(va, vb); i >= 0 {
			t.Errorf("h=%d: %s changed (%v → %v) when only data after start+H changed", h, features.Schema[i].Name, va[i], vb[i])
		}
	}
}

// TestExtractEmptyRangeAndBadShard: a range without deployments writes
// empty files; an out-of-range shard is an error.
func TestExtractEmptyRangeAndBadShard(t *testing.T) {
	ctx := context.Background()
	r, _ := genHistory(2, []string{"prod-a"}, 1, 3)
	dir := t.TempDir()
	far := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sum, err := Run(ctx, r, dir, Options{Config: testConfig(), Range: history.Range{From: far}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Deployments != 0 {
		t.Errorf("deployments = %d, want 0", sum.Deployments)
	}
	got := readAll(t, dir, testConfig().Horizons)
	for h, rows := range got {
		if len(rows) != 0 {
			t.Errorf("h=%d: %d rows, want 0", h, len(rows))
		}
	}
	if _, err := Run(ctx, r, t.TempDir(), Options{Config: testConfig(), Shard: 3, Shards: 3}); err == nil {
		t.Error("shard 3 of 3 accepted")
	}
	for _, s := range []string{"1/0", "2/2", "-1/3", "a/b", "3"} {
		if _, _, err := ParseShard(s); err == nil {
			t.Errorf("ParseShard(%q) accepted", s)
		}
	}
	if i, n, err := ParseShard("2/5"); err != nil || i != 2 || n != 5 {
		t.Errorf("ParseShard(2/5) = %d, %d, %v", i, n, err)
	}
	// A file that is not a feature table is refused with its name.
	if _, err := readTable(filepath.Join(dir, workdir.DeploysFile)); err == nil || !strings.Contains(err.Error(), "deploys.parquet") {
		t.Errorf("readTable(deploys.parquet) = %v, want an error naming the file", err)
	}
}
