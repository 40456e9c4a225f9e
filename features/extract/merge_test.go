package extract

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/labeling"
	"github.com/faultline-dev/faultline/models/train"
)

// extractShards runs every shard of an n-way split of r into
// root/shard-i and returns the folders.
func extractShards(t *testing.T, r history.Reader, root string, n int, cfg features.Config) []string {
	t.Helper()
	var dirs []string
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("shard-%d", i))
		if _, err := Run(context.Background(), r, dir, Options{Config: cfg, Shard: i, Shards: n}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

// sameFiles fails unless every named file (relative to the folders) has
// the same bytes in a and b.
func sameFiles(t *testing.T, a, b string, names ...string) {
	t.Helper()
	for _, name := range names {
		x, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s: %d bytes unsharded, %d bytes from the merged shards; they differ", name, len(x), len(y))
		}
	}
}

// TestShardedRunByteIdentical extracts a simulated fleet whole and in 3
// shards, merges the shards, and runs label and train on both work
// directories: every file of the two must be byte-identical.
func TestShardedRunByteIdentical(t *testing.T) {
	ctx := context.Background()
	sc := simulate.DefaultConfig()
	sc.Services, sc.Days, sc.Seed = 6, 6, 3
	sc.FaultRate = 0.15
	st := simulated(t, sc)
	fc := features.DefaultConfig()
	fc.SeasonalDays = 1

	root := t.TempDir()
	whole, merged := filepath.Join(root, "whole"), filepath.Join(root, "merged")
	want, err := Run(ctx, st, whole, Options{Config: fc})
	if err != nil {
		t.Fatal(err)
	}
	dirs := extractShards(t, st, filepath.Join(root, "shards"), 3, fc)
	var parts int64
	for _, d := range dirs {
		s, err := workdir.ReadExtract(filepath.Join(d, workdir.ExtractFile))
		if err != nil {
			t.Fatal(err)
		}
		if s.Deployments == 0 || s.Deployments == want.Deployments {
			t.Fatalf("%s holds %d of %d deployments: the split does not exercise the merge", d, s.Deployments, want.Deployments)
		}
		parts += s.Deployments
	}
	if parts != want.Deployments {
		t.Fatalf("shards hold %d deployments, the whole run %d", parts, want.Deployments)
	}
	// Folders in any order.
	got, err := Merge(ctx, merged, []string{dirs[2], dirs[0], dirs[1]}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Deployments != want.Deployments || got.Streams != want.Streams || got.Shard != "" || got.ShardStreams != nil {
		t.Errorf("merged summary %+v, want %+v", got, want)
	}
	extracted := []string{workdir.DeploysFile, workdir.ExtractFile}
	for _, h := range fc.SortedHorizons() {
		extracted = append(extracted, workdir.FeaturesFile(h))
	}
	sameFiles(t, whole, merged, extracted...)

	tc := train.DefaultConfig()
	tc.GBDT.NumTrees, tc.GBDT.EarlyStoppingRounds = 40, 10
	now := func() time.Time { return time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) }
	for _, dir := range []string{whole, merged} {
		if _, err := labeling.Run(ctx, labeling.DefaultConfig(), labeling.Input{History: st, Workdir: dir}); err != nil {
			t.Fatal(err)
		}
		if _, err := train.Run(ctx, tc, train.RunOptions{Workdir: dir, Labels: train.LabelsWeak, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	labels, err := workdir.ReadLabels(filepath.Join(merged, workdir.LabelsFile))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(labels.IDs)) != want.Deployments {
		t.Errorf("labels.parquet has %d rows for %d deployments", len(labels.IDs), want.Deployments)
	}
	outputs := []string{workdir.LabelsFile, workdir.LFReportFile, workdir.SplitFile, filepath.Join(workdir.ModelDir(train.LabelsWeak), workdir.TrainFile)}
	for _, h := range tc.Horizons {
		outputs = append(outputs, filepath.Join(workdir.ModelDir(train.LabelsWeak), workdir.ModelFile(h)))
	}
	sameFiles(t, whole, merged, outputs...)
}

// TestMergeRefuses: shards that are not the complete, disjoint parts of
// one extraction are refused before anything is written, with an error
// naming the folder; the parts of one extraction merge into the whole.
func TestMergeRefuses(t *testing.T) {
	ctx := context.Background()
	r, _ := genHistory(6, []string{"prod-a", "prod-b"}, 2, 5)
	cfg := testConfig()
	root := t.TempDir()
	three := extractShards(t, r, filepath.Join(root, "three"), 3, cfg)
	two := extractShards(t, r, filepath.Join(root, "two"), 2, cfg)
	whole := filepath.Join(root, "whole")
	if _, err := Run(ctx, r, whole, Options{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	// Shard 1 of the same split, with another configuration, or a range.
	other, ranged := filepath.Join(root, "other"), filepath.Join(root, "ranged")
	otherCfg := cfg
	otherCfg.BaselineMinutes++
	if _, err := Run(ctx, r, other, Options{Config: otherCfg, Shard: 1, Shards: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, r, ranged, Options{Config: cfg, Shard: 1, Shards: 3, Range: history.Range{From: r.deps[3].StartedAt}}); err != nil {
		t.Fatal(err)
	}
	// swapped holds shard 2's files under shard 1's extract.json.
	swapped := filepath.Join(root, "swapped")
	copyDir(t, three[2], swapped)
	copyFile(t, filepath.Join(three[1], workdir.ExtractFile), filepath.Join(swapped, workdir.ExtractFile))
	empty := filepath.Join(root, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		dirs []string
		out  string
		want []string
	}{
		{"missing shard", []string{three[0], three[2]}, "", []string{"shard 1/3 missing"}},
		{"shard twice", []string{three[0], three[1], three[1], three[2]}, "", []string{three[1], "both shard 1/3"}},
		{"different splits", []string{three[0], two[1], three[2]}, "", []string{two[1], "shard 1/2", "shard 0/3"}},
		{"unsharded among shards", []string{three[0], whole, three[2]}, "", []string{whole, "not a shard"}},
		{"different configuration", []string{three[0], other, three[2]}, "", []string{other, "config_hash"}},
		{"different range", []string{three[0], ranged, three[2]}, "", []string{ranged, "from"}},
		{"not a work directory", []string{three[0], empty, three[2]}, "", []string{empty, "no extract.json"}},
		{"output is a shard", three, three[1], []string{three[1], "output folder"}},
		{"files of another shard", []string{three[0], swapped, three[2]}, "", []string{swapped, "shard 1/3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.out
			if out == "" {
				out = filepath.Join(t.TempDir(), "out")
			}
			_, err := Merge(ctx, out, tt.dirs, MergeOptions{})
			if err == nil {
				t.Fatalf("merged, want an error saying %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tt.out == "" {
				if _, err := os.Stat(filepath.Join(out, workdir.ExtractFile)); !os.IsNotExist(err) {
					t.Errorf("a refused merge wrote %s (stat: %v)", workdir.ExtractFile, err)
				}
			}
		})
	}

	names := []string{workdir.DeploysFile, workdir.ExtractFile}
	for _, h := range cfg.SortedHorizons() {
		names = append(names, workdir.FeaturesFile(h))
	}
	// The shards merge into the whole, deployments skipped at some
	// horizons (too little data after their start) included.
	sum, err := workdir.ReadExtract(filepath.Join(whole, workdir.ExtractFile))
	if err != nil {
		t.Fatal(err)
	}
	skipped := false
	for _, h := range sum.Horizons {
		skipped = skipped || h.Skipped > 0 && h.Rows > 0
	}
	if !skipped {
		t.Fatalf("no horizon has both rows and skipped deployments: %+v", sum.Horizons)
	}
	merged := filepath.Join(root, "merged")
	if _, err := Merge(ctx, merged, three, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, whole, merged, names...)
	// A single unsharded folder is the whole: the merge copies it.
	out := filepath.Join(root, "copy")
	if _, err := Merge(ctx, out, []string{whole}, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, whole, out, names...)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		copyFile(t, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
