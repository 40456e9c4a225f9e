// Package scripts holds the tests of the repository's shell scripts.
package scripts

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchScaleSmoke runs scripts/bench-scale.sh (make bench-scale) end to
// end on two tiny fleets: every step it measures at full size — simulate,
// import, each stage command and the whole `faultline run` — runs here
// too, and the Markdown tables it prints must hold a figure for each.
func TestBenchScaleSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "faultline")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/faultline")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.CommandContext(ctx, "bash", "bench-scale.sh", bin, data)
	cmd.Env = append(os.Environ(), "SCALE_SIZES=tiny=4:3:4 small=6:4:4", "SCALE_SAMPLE=0.1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench-scale.sh: %v\n%s", err, tail(stderr.String(), 3000))
	}
	md, err := os.ReadFile(filepath.Join(data, "bench-scale.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(md, out) {
		t.Errorf("bench-scale.md differs from what the script printed")
	}
	tables := markdownTables(string(out))
	if len(tables) != 3 {
		t.Fatalf("got %d tables, want 3 (sizes, stage commands, faultline run):\n%s", len(tables), out)
	}

	sizes := tables[0]
	deploys := map[string]int{}
	for _, row := range sizes.rows {
		n, err := strconv.Atoi(strings.ReplaceAll(sizes.cell(t, row, "deployments"), ",", ""))
		if err != nil || n <= 0 {
			t.Errorf("size %s: deployments %q", row[0], sizes.cell(t, row, "deployments"))
		}
		deploys[row[0]] = n
		for _, col := range []string{"import files", "store", "disk needed (≤)"} {
			if !regexp.MustCompile(`^\d+\.\d\d GB$`).MatchString(sizes.cell(t, row, col)) {
				t.Errorf("size %s: %s %q", row[0], col, sizes.cell(t, row, col))
			}
		}
	}
	if len(deploys) != 2 || deploys["small"] <= deploys["tiny"] {
		t.Errorf("deployments by size %v: want tiny < small", deploys)
	}

	stages := tables[1]
	want := []string{"simulate", "import", "extract", "label", "train-weak", "train-ensemble", "evaluate", "register", "promote", "export"}
	checkStages(t, "stage commands", stages, want)
	checkStages(t, "faultline run", tables[2], append(want[2:], "(whole run)"))
}

// checkStages checks that tab has a row for every stage of want (a refused
// promotion counts), each with a wall time, a CPU time and a peak memory for
// both sizes, and a growth factor — except the run's stages shorter than a
// sample, which may have no CPU or memory figure.
func checkStages(t *testing.T, what string, tab table, want []string) {
	t.Helper()
	got := map[string][]string{}
	for _, row := range tab.rows {
		stage, _, _ := strings.Cut(row[0], " (") // "promote (refused)", "export (candidate)"
		got[stage] = row
	}
	number := regexp.MustCompile(`^\d+(\.\d+)?$`)
	for _, stage := range want {
		row, ok := got[stage]
		if !ok {
			t.Errorf("%s: no row for %s", what, stage)
			continue
		}
		sampled := what == "faultline run" && stage != "(whole run)"
		for _, size := range []string{"tiny", "small"} {
			if c := tab.cell(t, row, size+" wall s"); !number.MatchString(c) {
				t.Errorf("%s: %s: %s wall %q", what, stage, size, c)
			}
			for _, col := range []string{" CPU s", " peak MiB"} {
				if c := tab.cell(t, row, size+col); !number.MatchString(c) && !(sampled && c == "") {
					t.Errorf("%s: %s: %s%s %q", what, stage, size, col, c)
				}
			}
		}
		if c := tab.cell(t, row, "growth small/tiny wall"); c != "" && !strings.HasSuffix(c, "×") {
			t.Errorf("%s: %s: growth %q", what, stage, c)
		}
	}
}

type table struct {
	header []string
	rows   [][]string
}

func (tab table) cell(t *testing.T, row []string, col string) string {
	t.Helper()
	for i, h := range tab.header {
		if h == col && i < len(row) {
			return row[i]
		}
	}
	t.Fatalf("no column %q in %q", col, tab.header)
	return ""
}

// markdownTables returns the tables of a Markdown text, without their
// separator lines.
func markdownTables(s string) []table {
	var tabs []table
	var cur *table
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "|") {
			cur = nil
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case cur == nil:
			tabs = append(tabs, table{header: cells})
			cur = &tabs[len(tabs)-1]
		case strings.HasPrefix(cells[0], "---"):
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	return tabs
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
