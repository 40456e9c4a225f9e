package simulate

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
)

func smallConfig() Config {
	c := DefaultConfig()
	c.Services = 8
	c.Days = 4
	c.DeploysPerDay = 6
	c.FaultRate = 0.15
	c.AnnotationRate = 0.2
	c.OutagesPerDay = 1
	return c
}

func writeAll(t *testing.T, cfg Config) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	if _, err := WriteFiles(context.Background(), cfg, dir); err != nil {
		t.Fatal(err)
	}
	// Every file, subfolders included (TruthFile), by base name.
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		out[e.Name()] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	cfg := smallConfig()
	a := writeAll(t, cfg)
	if want := OutputFiles(cfg); len(a) != len(want) {
		t.Fatalf("files %d, want %d %v (temporary files left?)", len(a), len(want), want)
	}
	cfg.Workers = 3 // scheduling must not matter
	b := writeAll(t, cfg)
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Errorf("%s differs between two runs with seed %d", name, cfg.Seed)
		}
	}
	cfg.Seed = 2
	c := writeAll(t, cfg)
	for _, name := range []string{"metrics.csv", "deployments.csv", "truth.csv"} {
		if bytes.Equal(a[name], c[name]) {
			t.Errorf("%s identical for seeds 1 and 2", name)
		}
	}
}

func TestRunIntoEmbedded(t *testing.T) {
	ctx := context.Background()
	st := embeddedtest.Open(t)
	tx, err := st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(ctx, smallConfig(), tx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	isum, err := tx.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v\n%+v", sum, isum)
	if isum.Metrics != sum.MetricRows || isum.Deployments != sum.Deployments {
		t.Errorf("store wrote %+v for %+v", isum, sum)
	}
	truth, err := st.Truth(ctx)
	if err != nil || int64(len(truth)) != sum.Deployments {
		t.Fatalf("truth: %d rows, %v", len(truth), err)
	}
	deps, err := st.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, d := range deps {
		ids[d.ID] = true
	}
	for _, tr := range truth {
		if !ids[tr.DeploymentID] {
			t.Errorf("truth for unknown deployment %s", tr.DeploymentID)
		}
	}
}

func TestConfigSection(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       func(*Config)
		wantErr    string
	}{
		{"empty keeps defaults", "", func(*Config) {}, ""},
		{"overrides", "simulate:\n  services: 3\n  days: 2\n  start: 2026-03-02T00:00:00Z\n  environments: [a]\n  fault_rate: 0.5\n",
			func(c *Config) {
				c.Services, c.Days, c.FaultRate = 3, 2, 0.5
				c.Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
				c.Environments = []string{"a"}
			}, ""},
		{"unknown key", "simulate:\n  servces: 3\n", nil, "servces"},
		{"invalid value", "simulate:\n  fault_rate: 2\n", nil, "fault_rate must be in [0, 1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := config.Parse("test.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got := DefaultConfig()
			err = f.Section("simulate", &got)
			if err == nil {
				err = got.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultConfig()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}
