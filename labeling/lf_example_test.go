package labeling

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/internal/workdir"
)

// This file is a complete labeling function, registered by this file alone:
// a test-only example that proves that adding a function takes one file
// (plus its entry in docs/labeling.md). It is disabled by default, so that
// the other tests of the package see only the built-ins.

func init() { registry = append(registry, largeChangeLF{}) }

// largeChangeLF votes faulty on a deployment whose change is at least
// MinLines lines (added plus deleted); it abstains when the size is unknown
// or smaller.
type largeChangeLF struct {
	Enabled  bool  `yaml:"enabled" json:"enabled"`     // default false
	MinLines int64 `yaml:"min_lines" json:"min_lines"` // default 1000
}

func (largeChangeLF) defaults() Function { return largeChangeLF{MinLines: 1000} }
func (largeChangeLF) Name() string       { return "large_change" }
func (largeChangeLF) Description() string {
	return "the change added and deleted at least large_change.min_lines lines"
}
func (largeChangeLF) Assumption() string {
	return "large changes break more often than small ones"
}
func (f largeChangeLF) Validate() error { return positive("min_lines", float64(f.MinLines)) }
func (f largeChangeLF) enabled() bool   { return f.Enabled }
func (largeChangeLF) needs() needs      { return needs{} }

func (f largeChangeLF) vote(d *deploy) int8 {
	if d.LinesAdded >= 0 && d.LinesDeleted >= 0 && d.LinesAdded+d.LinesDeleted >= f.MinLines {
		return faulty
	}
	return abstain
}

func TestExampleFunctionTakesOneFile(t *testing.T) {
	// Its section is part of the configuration, with its defaults.
	def := DefaultConfig()
	if f := def.Function("large_change"); f != (largeChangeLF{MinLines: 1000}) {
		t.Fatalf("default settings %+v", f)
	}
	y, err := yaml.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "large_change:\n    enabled: false\n    min_lines: 1000\n") {
		t.Errorf("configuration YAML lacks the example's section:\n%s", y)
	}
	// It is decoded strictly and validated under its name.
	if _, err := decodeSection(t, "labeling:\n  large_change:\n    min_line: 5\n"); err == nil || !strings.Contains(err.Error(), "min_line") {
		t.Errorf("unknown key in its section: error %v", err)
	}
	bad, err := decodeSection(t, "labeling:\n  large_change:\n    min_lines: 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Validate(); err == nil || err.Error() != "labeling.large_change.min_lines: 0 must be > 0" {
		t.Errorf("invalid setting: error %v", err)
	}

	// Enabled from the configuration, it votes, and its votes reach the
	// label model, labels.parquet and the report.
	cfg, err := decodeSection(t, "labeling:\n  large_change:\n    enabled: true\n    min_lines: 500\n")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range cfg.Functions {
		if r, ok := f.(RollbackLF); ok {
			r.Symptom.Enabled = false // it would read features files this test has not written
			cfg.Functions[i] = r
		} else if f.Name() != "large_change" {
			cfg.Functions[i] = setEnabled(f, false)
		}
	}
	h := fleetHistory()
	for i := range h.deps {
		switch h.deps[i].ID {
		case "b":
			h.deps[i].LinesAdded, h.deps[i].LinesDeleted = 400, 200
		case "e":
			h.deps[i].LinesAdded, h.deps[i].LinesDeleted = 5000, 0
		case "f":
			h.deps[i].LinesAdded, h.deps[i].LinesDeleted = 10, 10
		}
	}
	dir := t.TempDir()
	res, err := Run(context.Background(), cfg, Input{History: h, Workdir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Votes.Names, []string{FnRollback, "large_change"}) {
		t.Fatalf("vote matrix functions %v, want rollback then large_change", res.Votes.Names)
	}
	want := map[string]int8{"b": faulty, "e": faulty}
	for i, id := range res.IDs {
		w, ok := want[id]
		if !ok {
			w = abstain
		}
		if g := res.Votes.Cols[1][i]; g != w {
			t.Errorf("large_change on %s: vote %d, want %d", id, g, w)
		}
	}
	cols, n, err := readParquetColumns(filepath.Join(dir, workdir.LabelsFile), "deployment_id", "lf_large_change")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if id := cols["deployment_id"][i].String(); int8(cols["lf_large_change"][i].Int32()) != res.Votes.Cols[1][i] || id != res.IDs[i] {
			t.Errorf("labels.parquet row %d (%s): lf_large_change differs from the vote", i+1, id)
		}
	}
	fr := res.Report.Functions[1]
	if fr.Name != "large_change" || fr.Kind != "builtin" || fr.Description != (largeChangeLF{}).Description() ||
		fr.Votes.Faulty != 2 || fr.Polarity != "faulty" {
		t.Errorf("report entry %+v", fr)
	}
}
