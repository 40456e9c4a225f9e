package workdir

import (
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/metrics"
)

func TestLabelsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		l    Labels
	}{
		{"two functions", Labels{IDs: []string{"a", "b", "c"}, Functions: []string{"rollback", "incident"},
			Votes: [][]int8{{1, -1, 0}, {-1, -1, 1}}, PFaulty: []float64{0.9, 0.4, 0.7}, Label: []int8{1, -1, 1}, Gold: []int8{-1, 1, 0}}},
		{"no function", Labels{IDs: []string{"a"}, PFaulty: []float64{0.2}, Label: []int8{0}, Gold: []int8{-1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), LabelsFile)
			if err := WriteLabels(path, &tt.l); err != nil {
				t.Fatal(err)
			}
			got, err := ReadLabels(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.l) {
				t.Errorf("read %+v, want %+v", *got, tt.l)
			}
			cols, err := ReadColumns(path)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"deployment_id"}
			for _, f := range tt.l.Functions {
				want = append(want, LFPrefix+f)
			}
			if want = append(want, "p_faulty", "label", "gold"); !slices.Equal(cols.Names, want) {
				t.Errorf("columns %v, want %v", cols.Names, want)
			}
		})
	}
}

// Labels without Gold are written with no annotation on any row.
func TestWriteLabelsWithoutGold(t *testing.T) {
	path := filepath.Join(t.TempDir(), LabelsFile)
	if err := WriteLabels(path, &Labels{IDs: []string{"a", "b"}, PFaulty: []float64{0.2, 0.9}, Label: []int8{0, 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLabels(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Gold, []int8{GoldNone, GoldNone}) {
		t.Errorf("gold %v, want none on both rows", got.Gold)
	}
}

func TestWriteLabelsLengths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LabelsFile)
	bad := []Labels{
		{IDs: []string{"a", "b"}, PFaulty: []float64{0.1}, Label: []int8{0, 0}},
		{IDs: []string{"a"}, Functions: []string{"x"}, PFaulty: []float64{0.1}, Label: []int8{0}},
		{IDs: []string{"a"}, Functions: []string{"x"}, Votes: [][]int8{{1, 0}}, PFaulty: []float64{0.1}, Label: []int8{0}},
		{IDs: []string{"a"}, PFaulty: []float64{0.1}, Label: []int8{0}, Gold: []int8{1, 0}},
	}
	for i := range bad {
		wantErr(t, WriteLabels(path, &bad[i]), path)
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("refused writes left %v", got)
	}
}

type testLabelRow struct {
	ID      string  `parquet:"deployment_id"`
	LF      float64 `parquet:"lf_x"`
	Note    string  `parquet:"lf_note"`
	PFaulty float64 `parquet:"p_faulty"`
	Label   int8    `parquet:"label"`
}

func TestReadLabelsErrors(t *testing.T) {
	tests := []struct {
		name string
		rows []testLabelRow
		want []string // substrings of the error
	}{
		{"twice", []testLabelRow{{"a", 1, "", 0.5, 1}, {"a", 0, "", 0.5, 0}}, []string{"row 2", `"a"`, "twice"}},
		{"label range", []testLabelRow{{"a", 1, "", 0.5, 1}, {"b", 0, "", 0.5, 2}}, []string{"row 2", "label 2"}},
		{"p range", []testLabelRow{{"a", 1, "", 1.5, 1}}, []string{"row 1", "p_faulty 1.5"}},
		{"p NaN labelled", []testLabelRow{{"a", 1, "", math.NaN(), 0}}, []string{"row 1", "p_faulty NaN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), LabelsFile)
			if err := parquet.WriteFile(path, tt.rows); err != nil {
				t.Fatal(err)
			}
			_, err := ReadLabels(path)
			wantErr(t, err, append(tt.want, path)...)
		})
	}
	// an abstained row may carry any p_faulty; a text lf_ column is not a vote;
	// a vote other than 0 or 1 is an abstention
	path := filepath.Join(t.TempDir(), LabelsFile)
	if err := parquet.WriteFile(path, []testLabelRow{{"a", 0.5, "x", math.NaN(), -1}}); err != nil {
		t.Fatal(err)
	}
	l, err := ReadLabels(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Functions, []string{"x"}) || l.Votes[0][0] != -1 || l.Label[0] != -1 {
		t.Errorf("abstained row read as %+v", l)
	}
	// a file without the gold column (written before it existed): no annotation
	if !slices.Equal(l.Gold, []int8{GoldNone}) {
		t.Errorf("no gold column: gold %v, want [%d]", l.Gold, GoldNone)
	}
	// gold outside {-1, 0, 1}; null gold is no annotation
	type goldRow struct {
		ID    string   `parquet:"deployment_id"`
		P     float64  `parquet:"p_faulty"`
		Label int8     `parquet:"label"`
		Gold  *float64 `parquet:"gold,optional"`
	}
	one, two := 1.0, 2.0
	if err := parquet.WriteFile(path, []goldRow{{"a", 0.1, 0, &one}, {"b", 0.1, 0, nil}}); err != nil {
		t.Fatal(err)
	}
	if l, err = ReadLabels(path); err != nil || !slices.Equal(l.Gold, []int8{1, GoldNone}) {
		t.Errorf("gold 1 and null: %v, %v; want [1 %d]", l, err, GoldNone)
	}
	if err := parquet.WriteFile(path, []goldRow{{"a", 0.1, 0, &one}, {"b", 0.1, 0, &two}}); err != nil {
		t.Fatal(err)
	}
	_, err = ReadLabels(path)
	wantErr(t, err, "row 2", "gold", path)
	// missing column, text label, malformed file, missing file
	type noLabel struct {
		ID string  `parquet:"deployment_id"`
		P  float64 `parquet:"p_faulty"`
	}
	if err := parquet.WriteFile(path, []noLabel{{"a", 0.1}}); err != nil {
		t.Fatal(err)
	}
	_, err = ReadLabels(path)
	wantErr(t, err, `no column "label"`, path)
	type textLabel struct {
		ID    string  `parquet:"deployment_id"`
		P     float64 `parquet:"p_faulty"`
		Label string  `parquet:"label"`
	}
	if err := parquet.WriteFile(path, []textLabel{{"a", 0.1, "faulty"}}); err != nil {
		t.Fatal(err)
	}
	_, err = ReadLabels(path)
	wantErr(t, err, "row 1", "want an integer", path)
	malformed := writeText(t, LabelsFile, "not parquet")
	_, err = ReadLabels(malformed)
	wantErr(t, err, malformed)
	if _, err := ReadLabels(filepath.Join(t.TempDir(), LabelsFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestLoneFaulty: one faulty vote and no healthy one, and whose.
func TestLoneFaulty(t *testing.T) {
	for _, tc := range []struct {
		votes []int8
		want  int
		ok    bool
	}{
		{[]int8{-1, 1, -1}, 1, true},
		{[]int8{1, 1, -1}, -1, false},   // seconded
		{[]int8{1, -1, 0}, -1, false},   // contradicted
		{[]int8{-1, -1, -1}, -1, false}, // no vote
		{[]int8{0, 0}, -1, false},
	} {
		got, ok := LoneFaulty(len(tc.votes), func(f int) int8 { return tc.votes[f] })
		if got != tc.want || ok != tc.ok {
			t.Errorf("LoneFaulty(%v) = %d, %v, want %d, %v", tc.votes, got, ok, tc.want, tc.ok)
		}
	}
	l := &Labels{Functions: []string{"a", "b"}, Votes: [][]int8{{-1, 1}, {1, 1}}}
	if fn, ok := l.LoneFaulty(0); !ok || fn != "b" {
		t.Errorf("row 0: %q, %v, want b", fn, ok)
	}
	if _, ok := l.LoneFaulty(1); ok {
		t.Error("row 1 has two faulty votes")
	}
}

// TestLoneRevision: the annotations revise p only with enough of them and
// when p lies outside their interval, to the interval's nearer end.
func TestLoneRevision(t *testing.T) {
	for _, tc := range []struct {
		p      float64
		k, n   int
		want   float64 // NaN: the upper end; -1: the lower end; else p unchanged
		revise bool
	}{
		{0.94, 3, 10, math.NaN(), true},
		{0.50, 12, 12, -1, true},
		{0.93, 11, 12, 0.93, false},
		{0.94, 0, 4, 0.94, false}, // too few annotated
		{math.NaN(), 0, 10, math.NaN(), false},
	} {
		got, ok := LoneRevision(tc.p, tc.k, tc.n)
		iv := metrics.Wilson(tc.k, tc.n)
		want := tc.want
		switch {
		case tc.revise && math.IsNaN(tc.want):
			want = iv.Hi
		case tc.want == -1:
			want = iv.Lo
		}
		if ok != tc.revise || !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("LoneRevision(%v, %d, %d) = %v, %v, want %v, %v", tc.p, tc.k, tc.n, got, ok, want, tc.revise)
		}
	}
}
