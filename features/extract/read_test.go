package extract

import (
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

type testFeatureRow struct {
	ID    string  `parquet:"deployment_id"`
	Err   float64 `parquet:"err_ratio"`
	Count int32   `parquet:"count"`
	Ens   float64 `parquet:"ensemble_faulty"`
}

func TestReadFeatureColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "features_h60.parquet")
	rows := []testFeatureRow{{"a", 1.5, 3, 1}, {"b", math.NaN(), 4, 0}, {"c", 0.5, 5, math.NaN()}}
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
	all, err := ReadFeatureColumns(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all.IDs, []string{"a", "b", "c"}) || !slices.Equal(all.Names, []string{"err_ratio", "count", "ensemble_faulty"}) {
		t.Fatalf("ids %v names %v", all.IDs, all.Names)
	}
	if c := all.Column("count"); !slices.Equal(c, []float64{3, 4, 5}) {
		t.Errorf("count = %v", c)
	}
	if c := all.Column("err_ratio"); c[0] != 1.5 || !math.IsNaN(c[1]) || c[2] != 0.5 {
		t.Errorf("err_ratio = %v", c)
	}
	if all.Column("nope") != nil {
		t.Error("absent column not nil")
	}
	one, err := ReadFeatureColumns(path, "ensemble_faulty")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(one.Names, []string{"ensemble_faulty"}) || one.Column("err_ratio") != nil {
		t.Errorf("selected columns %v", one.Names)
	}
	if c := one.Column("ensemble_faulty"); c[0] != 1 || c[1] != 0 || !math.IsNaN(c[2]) {
		t.Errorf("ensemble_faulty = %v", c)
	}
}

func TestReadFeatureColumnsErrors(t *testing.T) {
	dir := t.TempDir()
	dup := filepath.Join(dir, "dup.parquet")
	if err := parquet.WriteFile(dup, []testFeatureRow{{"a", 1, 1, 1}, {"b", 1, 1, 1}, {"a", 1, 1, 1}}); err != nil {
		t.Fatal(err)
	}
	type textRow struct {
		ID   string `parquet:"deployment_id"`
		Name string `parquet:"name"`
	}
	text := filepath.Join(dir, "text.parquet")
	if err := parquet.WriteFile(text, []textRow{{"a", "x"}}); err != nil {
		t.Fatal(err)
	}
	type idSecond struct {
		X  float64 `parquet:"x"`
		ID string  `parquet:"deployment_id"`
	}
	second := filepath.Join(dir, "second.parquet")
	if err := parquet.WriteFile(second, []idSecond{{1, "a"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		names []string
		want  []string
	}{
		{"repeated id", dup, nil, []string{"dup.parquet", "row 3", `"a"`, "row 1"}},
		{"text column", text, nil, []string{"text.parquet", "row 1", "name", "want a number"}},
		{"absent column", dup, []string{"nope"}, []string{"dup.parquet", `no column "nope"`}},
		{"id not first", second, nil, []string{"second.parquet", "first column must be deployment_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFeatureColumns(tt.path, tt.names...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := ReadFeatureColumns(filepath.Join(dir, "missing.parquet")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestReadDeploysChecksIDs(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	tests := []struct {
		name string
		rows []DeployRow
		want []string
	}{
		{"ok", []DeployRow{{DeploymentID: "a", StartedAt: at}, {DeploymentID: "b", StartedAt: at}}, nil},
		{"empty", []DeployRow{{DeploymentID: "a"}, {DeploymentID: ""}}, []string{"row 2", "empty deployment_id"}},
		{"twice", []DeployRow{{DeploymentID: "a"}, {DeploymentID: "b"}, {DeploymentID: "a"}}, []string{"row 3", `"a"`, "twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "deploys.parquet")
			if err := writeDeploys(path, tt.rows); err != nil {
				t.Fatal(err)
			}
			got, err := ReadDeploys(path)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 2 || got[1].DeploymentID != "b" || !got[0].StartedAt.Equal(at) {
					t.Errorf("read %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, "deploys.parquet") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestParseSummary(t *testing.T) {
	s, err := ParseSummary([]byte(`{"schema_version":"v3","schema_hash":"h","config_hash":"c","horizons":[{"horizon":10,"rows":4}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.SchemaVersion != "v3" || s.SchemaHash != "h" || s.ConfigHash != "c" || len(s.Horizons) != 1 || s.Horizons[0].Rows != 4 {
		t.Errorf("parsed %+v", s)
	}
	if _, err := ParseSummary([]byte(`{"schema_version":`)); err == nil {
		t.Error("truncated JSON accepted")
	}
}
