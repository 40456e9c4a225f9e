package importer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
)

// Every table the importer reads has its names in ExpectedFiles: a table
// added to tableOrder is accepted by CheckFolder without another change.
func TestExpectedFilesCoverEveryTable(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for _, table := range tableOrder {
		files[table+".csv"] = "x\n"
	}
	writeFiles(t, dir, files)
	if err := CheckFolder(dir); err != nil {
		t.Errorf("a folder of every table's CSV file: %v", err)
	}
	got := ExpectedFiles()
	if len(got) != 2*len(tableOrder) || got[0] != tableOrder[0]+".csv" || got[1] != tableOrder[0]+".parquet" {
		t.Errorf("ExpectedFiles() = %v", got)
	}
}

// The probes of issue 14: misnamed files, and the truth.csv the simulator
// used to write beside the import files, were skipped with exit 0.
func TestCheckFolder(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		dirs    []string
		unknown []UnknownFile // nil: accepted
	}{
		{name: "import files only", files: []string{"deployments.csv", "metrics.parquet", "kpis.csv", "kpi_values.csv"}},
		{name: "subfolders and hidden files are not read", files: []string{"deployments.csv", ".DS_Store", ".metrics.csv.swp"}, dirs: []string{"truth", "old"}},
		{name: "transposed letters", files: []string{"deploymnets.csv", "metrics.csv"},
			unknown: []UnknownFile{{"deploymnets.csv", "deployments.csv"}}},
		{name: "singular", files: []string{"deployments.csv", "metrics.csv", "annotation.csv"},
			unknown: []UnknownFile{{"annotation.csv", "annotations.csv"}}},
		{name: "simulator truth", files: []string{"deployments.csv", "metrics.csv", "truth.csv"},
			unknown: []UnknownFile{{Name: "truth.csv"}}},
		{name: "case, extension and compression", files: []string{"Deployments.CSV", "metrics.tsv", "incidents.json", "kpi_values.csv.gz", "README.md"},
			unknown: []UnknownFile{{"Deployments.CSV", "deployments.csv"}, {"README.md", ""}, {"incidents.json", "incidents.csv"},
				{"kpi_values.csv.gz", "kpi_values.csv"}, {"metrics.tsv", "metrics.csv"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				writeFiles(t, dir, map[string]string{f: "x\n"})
			}
			for _, d := range tc.dirs {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
				writeFiles(t, filepath.Join(dir, d), map[string]string{"truth.csv": "x\n"})
			}
			err := CheckFolder(dir)
			if tc.unknown == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ue *UnknownFilesError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v, want an *UnknownFilesError", err)
			}
			if !reflect.DeepEqual(ue.Files, tc.unknown) {
				t.Errorf("unknown files %+v, want %+v", ue.Files, tc.unknown)
			}
			msg := err.Error()
			for _, want := range []string{dir, "--ignore-unknown-files", "deployments, metrics", "NAME.csv or NAME.parquet"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			for _, u := range tc.unknown {
				if u.Suggestion != "" && !strings.Contains(msg, u.Name+" (did you mean "+u.Suggestion+"?)") {
					t.Errorf("message does not suggest %s for %s:\n%s", u.Suggestion, u.Name, msg)
				}
			}
		})
	}
}

// Import refuses a folder with an unknown file before reading anything,
// and with IgnoreUnknownFiles imports the rest.
func TestImportRefusesUnknownFiles(t *testing.T) {
	ctx := context.Background()
	st := embeddedtest.Open(t)
	dir := t.TempDir()
	files := baseFiles()
	files["annotation.csv"] = files["annotations.csv"]
	delete(files, "annotations.csv")
	writeFiles(t, dir, files)

	tx, err := st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Import(ctx, dir, tx, Options{})
	var ue *UnknownFilesError
	if !errors.As(err, &ue) || len(ue.Files) != 1 || ue.Files[0].Suggestion != "annotations.csv" {
		t.Fatalf("import with annotation.csv: %v", err)
	}
	if deps, _ := st.Deployments(ctx, history.Range{}); len(deps) != 0 {
		t.Fatalf("%d deployments imported from a refused folder", len(deps))
	}

	tx, err = st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Import(ctx, dir, tx, Options{IgnoreUnknownFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Deployments != 3 || sum.Annotations != 0 {
		t.Errorf("with IgnoreUnknownFiles: %d deployments, %d annotations; want 3 and 0 (annotation.csv skipped)", sum.Deployments, sum.Annotations)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"deploymnets", "deployments", 1},
		{"annotation", "annotations", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
