package labeling

import (
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

func TestReadLabelsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), LabelsFile)
	m := &labelmodel.Matrix{Names: []string{"rollback", "incident"}, Cols: [][]int8{{1, -1, 0}, {-1, -1, 1}}}
	if err := writeLabels(path, []string{"a", "b", "c"}, m, []float64{0.9, 0.4, 0.7}, []int8{1, -1, 1}); err != nil {
		t.Fatal(err)
	}
	l, err := ReadLabels(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.IDs, []string{"a", "b", "c"}) || !slices.Equal(l.PFaulty, []float64{0.9, 0.4, 0.7}) || !slices.Equal(l.Label, []int{1, -1, 1}) {
		t.Errorf("read %v %v %v", l.IDs, l.PFaulty, l.Label)
	}
	if !slices.Equal(l.LFNames, []string{"lf_rollback", "lf_incident"}) {
		t.Fatalf("lf names %v", l.LFNames)
	}
	for f := range m.Cols {
		if !slices.Equal(l.Votes[f], m.Cols[f]) {
			t.Errorf("votes of %s = %v, want %v", l.LFNames[f], l.Votes[f], m.Cols[f])
		}
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
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, LabelsFile) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
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
	if !slices.Equal(l.LFNames, []string{"lf_x"}) || l.Votes[0][0] != -1 || l.Label[0] != -1 {
		t.Errorf("abstained row read as %+v", l)
	}
	// missing column, missing file
	type noLabel struct {
		ID string  `parquet:"deployment_id"`
		P  float64 `parquet:"p_faulty"`
	}
	if err := parquet.WriteFile(path, []noLabel{{"a", 0.1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLabels(path); err == nil || !strings.Contains(err.Error(), `no column "label"`) || !strings.Contains(err.Error(), LabelsFile) {
		t.Errorf("missing label column: %v", err)
	}
	if _, err := ReadLabels(filepath.Join(t.TempDir(), LabelsFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}
