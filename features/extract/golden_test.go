package extract

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/internal/workdir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenFleet is the small simulated fleet the golden files pin.
func goldenFleet() simulate.Config {
	c := simulate.DefaultConfig()
	c.Services = 3
	c.Environments = []string{"prod-a", "prod-b"}
	c.Days = 3
	c.DeploysPerDay = 5
	c.FaultRate = 0.3
	c.OutagesPerDay = 1
	c.Seed = 7
	return c
}

func goldenCSV(t *testing.T, dir string, h int) []byte {
	t.Helper()
	tab, err := readTable(filepath.Join(dir, workdir.FeaturesFile(h)))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("deployment_id," + strings.Join(tab.Columns, ",") + "\n")
	for i, id := range tab.IDs {
		b.WriteString(id)
		for _, v := range tab.Rows[i] {
			b.WriteByte(',')
			b.WriteString(strconv.FormatFloat(v, 'g', 10, 64))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// inputDigest summarises the simulated history: deployments, and per
// stream the metric rows, requests, errors and signature rows.
func inputDigest(t *testing.T, r history.Reader) string {
	t.Helper()
	ctx := context.Background()
	deps, err := r.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	h := fnv.New64a()
	for _, d := range deps {
		fmt.Fprintf(h, "%s|%s|%d\n", d.ID, d.Version, d.StartedAt.Unix())
	}
	streams, err := r.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows, req, errs, sigs int64
	for _, st := range streams {
		ss, err := r.Metrics(ctx, st, history.Range{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			rows += int64(s.Len())
			for i := range s.Minutes {
				req += int64(s.Requests[i])
				errs += int64(s.Errors[i])
			}
		}
		g, err := r.Signatures(ctx, st, history.Range{})
		if err != nil {
			t.Fatal(err)
		}
		sigs += int64(len(g))
	}
	return fmt.Sprintf("deployments=%d deploy_hash=%x metric_rows=%d requests=%d errors=%d signature_rows=%d\n",
		len(deps), h.Sum64(), rows, req, errs, sigs)
}

// TestGoldenSimulatedFleet pins the extracted features of a small
// simulated fleet. After an intended change (and a new SchemaVersion when
// columns change) run: go test ./features/extract -run Golden -update
func TestGoldenSimulatedFleet(t *testing.T) {
	ctx := context.Background()
	st := simulated(t, goldenFleet())
	dir := t.TempDir()
	cfg := features.DefaultConfig()
	cfg.BlockDays = 1
	sum, err := Run(ctx, st, dir, Options{Config: cfg, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Deployments < 20 {
		t.Fatalf("golden fleet has only %d deployments", sum.Deployments)
	}
	// The input first: when the simulator's output changed, say so rather
	// than report feature differences.
	inSum := inputDigest(t, st)
	inPath := filepath.Join("testdata", "golden_input.txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(inPath, []byte(inSum), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want, err := os.ReadFile(inPath); err != nil || string(want) != inSum {
		t.Fatalf("the simulated golden fleet changed (internal/simulate output differs from %s: %q vs %q); "+
			"if that is intended, regenerate with: go test ./features/extract -run Golden -update", inPath, inSum, want)
	}
	for _, h := range cfg.Horizons {
		got := goldenCSV(t, dir, h)
		path := filepath.Join("testdata", fmt.Sprintf("golden_h%d.csv", h))
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
			for i := 0; i < min(len(gl), len(wl)); i++ {
				if gl[i] != wl[i] {
					t.Fatalf("h=%d: %s differs at line %d:\n got  %.300s\n want %.300s", h, path, i+1, gl[i], wl[i])
				}
			}
			t.Fatalf("h=%d: %s: %d lines, want %d", h, path, len(gl), len(wl))
		}
	}
	// deploys.parquet lists every deployment, sorted by start.
	deps, err := workdir.ReadDeploys(filepath.Join(dir, workdir.DeploysFile))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(deps)) != sum.Deployments {
		t.Errorf("deploys.parquet has %d rows, summary %d", len(deps), sum.Deployments)
	}
	for i := 1; i < len(deps); i++ {
		if deps[i].StartedAt.Before(deps[i-1].StartedAt) {
			t.Fatalf("deploys.parquet not sorted by start at row %d", i+1)
		}
	}
	back, err := workdir.ReadExtract(filepath.Join(dir, workdir.ExtractFile))
	if err != nil || back.SchemaHash != features.SchemaHash() {
		t.Errorf("extract.json: %+v, %v", back, err)
	}
}
