package extract

import (
	"fmt"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/workdir"
)

// FeatureColumns is a features_hH.parquet file read column by column, with
// no check of the columns against features.Schema (ReadFeatures checks
// them): stages that read a few columns, or a test's own columns, use it.
type FeatureColumns struct {
	IDs   []string
	Names []string    // feature columns read, deployment_id excluded
	Cols  [][]float64 // Cols[f][row]; NaN for null
	index map[string]int
}

// Column returns the values of the named column, or nil when it was not read.
func (fc *FeatureColumns) Column(name string) []float64 {
	if i, ok := fc.index[name]; ok {
		return fc.Cols[i]
	}
	return nil
}

// ReadFeatureColumns reads deployment_id and the named numeric columns of a
// features_hH.parquet file, or every column when names is empty (then the
// file's first column must be deployment_id). It is the one column-wise
// reader of that file for every stage. A null or repeated deployment_id, or
// a value that is not a number, is an error naming the file and row; an
// absent column is an error naming the file; a missing file gives an error
// satisfying errors.Is(err, fs.ErrNotExist).
func ReadFeatureColumns(path string, names ...string) (*FeatureColumns, error) {
	fc := &FeatureColumns{index: map[string]int{}}
	ids, cols, err := scanFeatures(path, nil, names, func(rows int, cols []string) {
		fc.Cols = make([][]float64, len(cols))
		for f := range fc.Cols {
			fc.Cols[f] = make([]float64, rows)
		}
	}, func(f, i int, x float64) { fc.Cols[f][i] = x })
	if err != nil {
		return nil, err
	}
	fc.IDs, fc.Names = ids, cols
	for f, name := range cols {
		fc.index[name] = f
	}
	return fc, nil
}

// scanFeatures reads deployment_id and the named feature columns (all when
// names is empty) of a features file: check, when not nil, vets the names
// of the columns to read (deployment_id first) before any value is read;
// alloc is told the number of rows and the feature columns; set receives
// every value of feature column f at row i. It returns the ids and the
// feature columns read.
func scanFeatures(path string, check func(cols []string) error, names []string,
	alloc func(rows int, cols []string), set func(f, i int, x float64)) ([]string, []string, error) {
	pq, err := workdir.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer pq.Close()
	if len(names) == 0 {
		names = pq.Names()
		if check != nil {
			if err := check(names); err != nil {
				return nil, nil, err
			}
		}
		if len(names) == 0 || names[0] != "deployment_id" {
			return nil, nil, fmt.Errorf("%s: first column must be deployment_id", path)
		}
	} else {
		names = append([]string{"deployment_id"}, names...)
		if check != nil {
			if err := check(names); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, name := range names {
		if _, ok := pq.Kind(name); !ok {
			return nil, nil, fmt.Errorf("%s: no column %q", path, name)
		}
	}
	n := pq.Rows()
	ids := make([]string, n)
	seen := make(map[string]int, n)
	if err := pq.Column("deployment_id", func(i int, v parquet.Value) error {
		if v.IsNull() {
			return fmt.Errorf("%s: row %d: deployment_id is null", path, i+1)
		}
		id := string(v.ByteArray())
		if j, dup := seen[id]; dup {
			return fmt.Errorf("%s: row %d: deployment %q already in row %d", path, i+1, id, j+1)
		}
		seen[id] = i
		ids[i] = id
		return nil
	}); err != nil {
		return nil, nil, err
	}
	cols := names[1:]
	alloc(n, cols)
	for f, name := range cols {
		if err := pq.Column(name, func(i int, v parquet.Value) error {
			x, ok := workdir.Number(v)
			if !ok {
				return fmt.Errorf("%s: row %d: %s has type %v, want a number", path, i+1, name, v.Kind())
			}
			set(f, i, x)
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	return ids, cols, nil
}
