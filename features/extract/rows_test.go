package extract

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// countingReader counts the metric minutes and streams read, to check that
// a narrow extraction reads only what its windows need. The extractor
// reads ahead: Metrics is called concurrently.
type countingReader struct {
	history.Reader
	mu      sync.Mutex
	streams map[history.Stream]bool
	lo, hi  int64
}

func (c *countingReader) Metrics(ctx context.Context, s history.Stream, r history.Range) ([]history.Series, error) {
	c.mu.Lock()
	c.streams[s] = true
	c.lo = min(c.lo, history.UnixMinute(r.From))
	c.hi = max(c.hi, history.UnixMinute(r.Until))
	c.mu.Unlock()
	return c.Reader.Metrics(ctx, s, r)
}

// Extract of a narrow selection (one deploy by id, or a short range) gives
// exactly the rows of a full Run's features_hH.parquet for those deploys,
// while reading only their environments' streams; Extract of everything
// gives every row of Run.
func TestExtractMatchesFullRun(t *testing.T) {
	ctx := context.Background()
	r := simulated(t, goldenFleet()) // with fleet-wide outages
	cfg := testConfig()
	full := t.TempDir()
	sum, err := Run(ctx, r, full, Options{Config: cfg, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := readAll(t, full, cfg.SortedHorizons())
	fullDeps, err := workdir.ReadDeploys(filepath.Join(full, workdir.DeploysFile))
	if err != nil {
		t.Fatal(err)
	}

	compare := func(name string, res *Result, wantIDs map[string]bool) {
		t.Helper()
		if len(res.Deploys) != len(wantIDs) {
			t.Fatalf("%s: %d deploys, want %d", name, len(res.Deploys), len(wantIDs))
		}
		for _, d := range res.Deploys {
			if !wantIDs[d.DeploymentID] {
				t.Fatalf("%s: deploy %s not selected", name, d.DeploymentID)
			}
		}
		for h, w := range want {
			tab := res.Features[h]
			n := 0
			for id := range wantIDs {
				if _, ok := w[id]; ok {
					n++
				}
			}
			if len(tab.IDs) != n {
				t.Fatalf("%s h%d: %d rows, full run has %d", name, h, len(tab.IDs), n)
			}
			for i, id := range tab.IDs {
				wv, ok := w[id]
				if !ok {
					t.Fatalf("%s h%d: %s has a row the full run lacks", name, h, id)
				}
				if f := sameVec(tab.Rows[i], wv); f >= 0 {
					t.Fatalf("%s h%d %s: feature %s = %v, full run %v", name, h, id, tab.Columns[f], tab.Rows[i][f], wv[f])
				}
			}
		}
	}

	// Everything.
	all, err := Extract(ctx, r, Options{Config: cfg, Workers: 2}, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, d := range fullDeps {
		ids[d.DeploymentID] = true
	}
	compare("all", all, ids)
	for i, hc := range sum.Horizons {
		if all.Summary.Horizons[i].Rows != hc.Rows || all.Summary.Horizons[i].Skipped != hc.Skipped {
			t.Errorf("h%d: extract counts %+v, run %+v", hc.Horizon, all.Summary.Horizons[i], hc)
		}
	}

	// One deploy by id, as check selects it, for deploys spread over the
	// history (first day: short look-back; last: data end) and deploys
	// whose fleet columns are not zero (other services elevated).
	B := int64(cfg.BaselineMinutes)
	pick := []int{0, len(fullDeps) / 3, len(fullDeps) / 2, len(fullDeps) - 1}
	h0 := cfg.SortedHorizons()[0]
	for k, d := range fullDeps {
		if v, ok := want[h0][d.DeploymentID]; ok && v[features.FleetElevatedFrac] > 0 && len(pick) < 10 {
			pick = append(pick, k)
		}
	}
	if len(pick) < 7 {
		t.Fatalf("only %d deploys with other services elevated: the test does not cover the fleet", len(pick)-4)
	}
	for _, k := range pick {
		d := fullDeps[k]
		cr := &countingReader{Reader: r, streams: map[history.Stream]bool{}, lo: 1 << 62, hi: -1 << 62}
		res, err := Extract(ctx, cr, Options{Config: cfg, Workers: 1, IDs: []string{d.DeploymentID},
			Range: history.Range{From: d.StartedAt, Until: d.StartedAt.Add(time.Millisecond)}}, ExtractOptions{})
		if err != nil {
			t.Fatal(err)
		}
		compare(d.DeploymentID, res, map[string]bool{d.DeploymentID: true})
		for s := range cr.streams {
			if s.Environment != d.Environment {
				t.Errorf("%s: read stream %s/%s of another environment", d.DeploymentID, s.Service, s.Environment)
			}
		}
		// The metric minutes read: the history the features read before
		// the start (seasonal days, the before/after replay), up to the
		// largest horizon after the window's end.
		s := history.UnixMinute(d.StartedAt)
		hmax := int64(cfg.SortedHorizons()[len(cfg.Horizons)-1])
		lookback := max(2*B, int64(cfg.HistoryMinutes()))
		if cr.lo < s-B-lookback || cr.hi > s+2*hmax {
			t.Errorf("%s: read minutes [%d, %d) around its start, want within [%d, %d]", d.DeploymentID, cr.lo-s, cr.hi-s, -B-lookback, 2*hmax)
		}
	}

	// A short range, as predict selects it, spilled to a file (removed).
	mid := fullDeps[len(fullDeps)/2].StartedAt
	rng := history.Range{From: mid, Until: mid.Add(3 * time.Hour)}
	defer func(m int64) { memSpillMax = m }(memSpillMax)
	memSpillMax = 0
	spill := filepath.Join(t.TempDir(), "spill")
	res, err := Extract(ctx, r, Options{Config: cfg, Workers: 2, Range: rng}, ExtractOptions{SpillDir: spill})
	if err != nil {
		t.Fatal(err)
	}
	if left, err := os.ReadDir(spill); err != nil || len(left) != 0 {
		t.Errorf("spill folder after Extract: %v, %v", left, err)
	}
	ids = map[string]bool{}
	for _, d := range fullDeps {
		if rng.Contains(d.StartedAt) {
			ids[d.DeploymentID] = true
		}
	}
	if len(ids) < 3 {
		t.Fatalf("only %d deploys in the range", len(ids))
	}
	compare("range", res, ids)
}

func TestMemSpill(t *testing.T) {
	var m memSpill
	m.Write([]byte("abc"))
	m.Write([]byte("defg"))
	p := make([]byte, 3)
	if n, err := m.ReadAt(p, 2); n != 3 || err != nil || string(p) != "cde" {
		t.Fatalf("ReadAt(2) = %d, %v, %q", n, err, p)
	}
	if n, err := m.ReadAt(p, 5); n != 2 || err == nil {
		t.Fatalf("ReadAt past the end = %d, %v", n, err)
	}
}
