package labeling

import (
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

// The label stage's outputs read back through package workdir's readers,
// the ones every other stage uses.
func TestOutputsReadBack(t *testing.T) {
	dir := t.TempDir()
	m := &labelmodel.Matrix{Names: []string{"rollback", "incident"}, Cols: [][]int8{{1, -1, 0}, {-1, -1, 1}}}
	if err := writeLabels(filepath.Join(dir, workdir.LabelsFile), []string{"a", "b", "c"}, m, []float64{0.9, 0.4, 0.7}, []int8{1, -1, 1}, []int8{-1, 0, 1}); err != nil {
		t.Fatal(err)
	}
	l, err := workdir.ReadLabels(filepath.Join(dir, workdir.LabelsFile))
	if err != nil {
		t.Fatal(err)
	}
	want := workdir.Labels{IDs: []string{"a", "b", "c"}, Functions: m.Names, Votes: m.Cols, PFaulty: []float64{0.9, 0.4, 0.7}, Label: []int8{1, -1, 1},
		Gold: []int8{-1, 0, 1}}
	if !reflect.DeepEqual(*l, want) {
		t.Errorf("labels.parquet read back as %+v, want %+v", *l, want)
	}

	rep := &Report{Schema: ReportSchema, Rows: 3, Labelled: 2, Faulty: 2, ClassBalance: 0.4,
		Model: labelmodel.FitInfo{Rows: 3, Iterations: 7, Groups: [][]string{{"rollback", "incident"}}},
		Functions: []FunctionReport{
			{Name: "rollback", Kind: "builtin", Coverage: 2.0 / 3, Overlap: 1.0 / 3, Conflict: metrics.Float(math.NaN()),
				Estimated: Estimated{Accuracy: 0.8}, Empirical: &Empirical{Annotated: 2, Correct: 1, Accuracy: 0.5}},
			{Name: "incident", Kind: "builtin", Coverage: 1.0 / 3, Estimated: Estimated{Accuracy: metrics.Float(math.NaN())}},
		}}
	if err := workdir.WriteLFReport(filepath.Join(dir, workdir.LFReportFile), rep); err != nil {
		t.Fatal(err)
	}
	got, err := workdir.ReadLFReport(filepath.Join(dir, workdir.LFReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if got.Schema != ReportSchema || got.Rows != 3 || got.Labelled != 2 || got.Faulty != 2 || got.ClassBalance != 0.4 || len(got.Functions) != 2 {
		t.Fatalf("lf_report.json read back as %+v", got)
	}
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	for i, f := range got.Functions {
		w := rep.Functions[i]
		if f.Name != w.Name || f.Kind != w.Kind || !same(float64(f.Coverage), float64(w.Coverage)) || !same(float64(f.Overlap), float64(w.Overlap)) ||
			!same(float64(f.Conflict), float64(w.Conflict)) || !same(float64(f.Estimated.Accuracy), float64(w.Estimated.Accuracy)) ||
			(f.Empirical == nil) != (w.Empirical == nil) || f.Empirical != nil && !same(float64(f.Empirical.Accuracy), float64(w.Empirical.Accuracy)) {
			t.Errorf("function %d read back as %+v, written %+v", i, f, w)
		}
	}
	if len(got.Model) == 0 {
		t.Error("label model fit not read back")
	}
}

// readParquetColumns reads the named top-level columns of a Parquet file
// (through workdir.ReadColumns). Every value of a column is returned in row
// order; an absent column is an error naming the file.
func readParquetColumns(path string, names ...string) (map[string][]parquet.Value, int, error) {
	c, err := workdir.ReadColumns(path, names...)
	if err != nil {
		return nil, 0, err
	}
	out := make(map[string][]parquet.Value, len(c.Names))
	for i, name := range c.Names {
		out[name] = c.Vals[i]
	}
	return out, c.Rows, nil
}
