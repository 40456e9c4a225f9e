package workdir

import (
	"fmt"
	"reflect"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/atomicfile"
)

// deploymentID is the first column of features_hH.parquet.
const deploymentID = "deployment_id"

// featureSchema is the Parquet schema of features_hH.parquet: deployment_id,
// then every feature of features.Schema in order (float64). A struct type
// built at run time keeps the column order (parquet.Group would sort it).
func featureSchema() *parquet.Schema {
	fields := []reflect.StructField{{Name: "DeploymentID", Type: reflect.TypeFor[string](), Tag: `parquet:"deployment_id"`}}
	for i, f := range features.Schema {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: reflect.TypeFor[float64](),
			Tag:  reflect.StructTag(fmt.Sprintf(`parquet:"%s"`, f.Name)),
		})
	}
	return parquet.SchemaOf(reflect.New(reflect.StructOf(fields)).Elem().Interface())
}

// FeatureWriter writes features_hH.parquet row by row: deployment_id, then
// the features.Schema vector (float64, NaN undefined). Nothing is visible at
// the path until Close; Abort drops the file.
type FeatureWriter struct {
	af  *atomicfile.File
	w   *parquet.Writer
	buf []parquet.Row
}

// CreateFeatures starts features_hH.parquet at path.
func CreateFeatures(path string) (*FeatureWriter, error) {
	af, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	w := parquet.NewWriter(af, featureSchema(), parquet.Compression(&parquet.Zstd))
	return &FeatureWriter{af: af, w: w}, nil
}

// Add appends the row of deployment id; v has features.NumFeatures values
// and may be reused after Add returns.
func (fw *FeatureWriter) Add(id string, v []float64) error {
	if len(v) != features.NumFeatures {
		return fmt.Errorf("write %s: deployment %s: %d values, want %d", fw.af.Path(), id, len(v), features.NumFeatures)
	}
	row := make(parquet.Row, 0, 1+len(v))
	row = append(row, parquet.ByteArrayValue([]byte(id)).Level(0, 0, 0))
	for i, x := range v {
		row = append(row, parquet.DoubleValue(x).Level(0, 0, i+1))
	}
	fw.buf = append(fw.buf, row)
	if len(fw.buf) >= 1024 {
		return fw.flush()
	}
	return nil
}

func (fw *FeatureWriter) flush() error {
	if len(fw.buf) == 0 {
		return nil
	}
	if _, err := fw.w.WriteRows(fw.buf); err != nil {
		return fmt.Errorf("write %s: %w", fw.af.Path(), err)
	}
	fw.buf = fw.buf[:0]
	return nil
}

// Close writes the remaining rows and installs the file at its path; on
// error nothing is installed.
func (fw *FeatureWriter) Close() error {
	if err := fw.flush(); err != nil {
		fw.af.Abort()
		return err
	}
	if err := fw.w.Close(); err != nil {
		fw.af.Abort()
		return fmt.Errorf("write %s: %w", fw.af.Path(), err)
	}
	return fw.af.Commit()
}

// Abort drops the file being written.
func (fw *FeatureWriter) Abort() { fw.af.Abort() }

// Features is a features_hH.parquet file read column by column.
type Features struct {
	Path  string
	IDs   []string    // deployment_id, in row order
	Names []string    // feature columns read, deployment_id excluded
	Cols  [][]float64 // Cols[f][row]; NaN for null
	index map[string]int
}

// Column returns the values of the named column, or nil when it was not read.
func (ft *Features) Column(name string) []float64 {
	if i, ok := ft.index[name]; ok {
		return ft.Cols[i]
	}
	return nil
}

// Feature returns the values of feature f (an index of features.Schema,
// e.g. features.EnsembleFaulty), or nil when that column was not read.
func (ft *Features) Feature(f int) []float64 {
	return ft.Column(features.Schema[f].Name)
}

// Row returns the values of row i in the order of Names, appended to dst[:0].
func (ft *Features) Row(i int, dst []float64) []float64 {
	dst = dst[:0]
	for _, c := range ft.Cols {
		dst = append(dst, c[i])
	}
	return dst
}

// CheckSchema checks that the columns read are those of features.Schema, in
// order: a file read whole that a model of this build may score.
func (ft *Features) CheckSchema() error {
	names := features.Names()
	if len(ft.Names) != len(names) {
		return fmt.Errorf("read %s: %d columns, want deployment_id and %d features of %s", ft.Path, 1+len(ft.Names), len(names), features.SchemaVersion)
	}
	for i, c := range ft.Names {
		if c != names[i] {
			return fmt.Errorf("read %s: column %d is %q, want %q (schema %s)", ft.Path, i+1, c, names[i], features.SchemaVersion)
		}
	}
	return nil
}

// ReadFeatures reads deployment_id and the named numeric columns of
// features_hH.parquet at path, or every column when names is empty (then the
// file's first column must be deployment_id). It checks no column against
// features.Schema (CheckSchema does), so stages may read a few columns and
// tests may write their own. A null or repeated deployment_id, or a value
// that is not a number, is an error naming the file and row; an absent
// column is an error naming the file; a missing file gives an error
// satisfying errors.Is(err, fs.ErrNotExist).
func ReadFeatures(path string, names ...string) (*Features, error) {
	pq, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer pq.Close()
	if len(names) == 0 {
		names = pq.Names()
		if len(names) == 0 || names[0] != deploymentID {
			return nil, fmt.Errorf("%s: first column must be %s", path, deploymentID)
		}
		names = names[1:]
	}
	for _, name := range append([]string{deploymentID}, names...) {
		if _, ok := pq.Kind(name); !ok {
			return nil, fmt.Errorf("%s: no column %q", path, name)
		}
	}
	n := pq.Rows()
	out := &Features{Path: path, IDs: make([]string, n), Names: names, Cols: make([][]float64, len(names)), index: make(map[string]int, len(names))}
	seen := make(map[string]int, n)
	if err := pq.Column(deploymentID, func(i int, v parquet.Value) error {
		if v.IsNull() {
			return fmt.Errorf("%s: row %d: deployment_id is null", path, i+1)
		}
		id := string(v.ByteArray())
		if j, dup := seen[id]; dup {
			return fmt.Errorf("%s: row %d: deployment %q already in row %d", path, i+1, id, j+1)
		}
		seen[id] = i
		out.IDs[i] = id
		return nil
	}); err != nil {
		return nil, err
	}
	for f, name := range names {
		col := make([]float64, n)
		if err := pq.Column(name, func(i int, v parquet.Value) error {
			x, ok := Number(v)
			if !ok {
				return fmt.Errorf("%s: row %d: %s has type %v, want a number", path, i+1, name, v.Kind())
			}
			col[i] = x
			return nil
		}); err != nil {
			return nil, err
		}
		out.Cols[f] = col
		out.index[name] = f
	}
	return out, nil
}
