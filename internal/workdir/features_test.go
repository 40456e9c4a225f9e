package workdir

import (
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/features"
)

// vector returns a feature vector whose values tell the row and column.
func vector(row int) []float64 {
	v := make([]float64, features.NumFeatures)
	for f := range v {
		v[f] = float64(row*1000 + f)
	}
	v[features.EnsembleFaulty] = math.NaN()
	return v
}

func TestFeaturesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FeaturesFile(60))
	w, err := CreateFeatures(path)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 2500) // more than one buffered batch
	for i := range ids {
		ids[i] = "d" + strconv.Itoa(i)
		if err := w.Add(ids[i], vector(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := entries(t, dir); len(got) != 1 || got[0] == FeaturesFile(60) {
		t.Fatalf("before Close the folder holds %v, want only a temporary file", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	all, err := ReadFeatures(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := all.CheckSchema(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all.IDs, ids) || !slices.Equal(all.Names, features.Names()) {
		t.Fatalf("ids or names differ: %d ids, names %v", len(all.IDs), all.Names)
	}
	var row []float64
	for i := range ids {
		row = all.Row(i, row)
		want := vector(i)
		for f := range row {
			if row[f] != want[f] && !(math.IsNaN(row[f]) && math.IsNaN(want[f])) {
				t.Fatalf("row %d column %s = %v, want %v", i, all.Names[f], row[f], want[f])
			}
		}
	}
	one, err := ReadFeatures(path, features.Schema[features.ImpactPass].Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Names) != 1 || one.Feature(features.ImpactPass)[7] != float64(7000+features.ImpactPass) || one.Feature(features.EnsembleFaulty) != nil {
		t.Errorf("one column read as %v", one.Names)
	}
	if err := one.CheckSchema(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("CheckSchema of one column: %v, want an error naming the file", err)
	}
}

func TestFeaturesAbort(t *testing.T) {
	dir := t.TempDir()
	w, err := CreateFeatures(filepath.Join(dir, FeaturesFile(10)))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add("a", vector(1)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, w.Add("b", vector(1)[:3]), "deployment b", "3 values")
	w.Abort()
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("after Abort the folder holds %v", got)
	}
}

type testFeatureRow struct {
	ID    string  `parquet:"deployment_id"`
	Err   float64 `parquet:"err_ratio"`
	Count int32   `parquet:"count"`
	Ens   float64 `parquet:"ensemble_faulty"`
}

func TestReadFeaturesOwnColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), FeaturesFile(60))
	rows := []testFeatureRow{{"a", 1.5, 3, 1}, {"b", math.NaN(), 4, 0}, {"c", 0.5, 5, math.NaN()}}
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
	all, err := ReadFeatures(path)
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
	if c := all.Feature(features.EnsembleFaulty); c[0] != 1 || c[1] != 0 || !math.IsNaN(c[2]) {
		t.Errorf("ensemble_faulty = %v", c)
	}
	if all.Column("nope") != nil {
		t.Error("absent column not nil")
	}
	wantErr(t, all.CheckSchema(), path, "4 columns")
}

func TestReadFeaturesErrors(t *testing.T) {
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
	type noID struct {
		X float64 `parquet:"x"`
	}
	noid := filepath.Join(dir, "noid.parquet")
	if err := parquet.WriteFile(noid, []noID{{1}}); err != nil {
		t.Fatal(err)
	}
	malformed := writeText(t, FeaturesFile(10), "PAR1 but not Parquet")
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
		{"no id column", noid, []string{"x"}, []string{"noid.parquet", `no column "deployment_id"`}},
		{"malformed", malformed, nil, []string{malformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFeatures(tt.path, tt.names...)
			wantErr(t, err, tt.want...)
		})
	}
	if _, err := ReadFeatures(filepath.Join(dir, "missing.parquet")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}
