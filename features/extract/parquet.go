package extract

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/atomicfile"
)

// DeployRow is one row of deploys.parquet.
type DeployRow struct {
	DeploymentID string    `parquet:"deployment_id"`
	Service      string    `parquet:"service"`
	Environment  string    `parquet:"environment"`
	Version      string    `parquet:"version"`
	StartedAt    time.Time `parquet:"started_at,timestamp(millisecond)"`
	Kind         string    `parquet:"kind"`
}

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

// featureWriter writes features_hH.parquet rows.
type featureWriter struct {
	af  *atomicfile.File
	w   *parquet.Writer
	buf []parquet.Row
}

func newFeatureWriter(path string) (*featureWriter, error) {
	af, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	w := parquet.NewWriter(af, featureSchema(), parquet.Compression(&parquet.Zstd))
	return &featureWriter{af: af, w: w}, nil
}

func (fw *featureWriter) add(id string, v []float64) error {
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

func (fw *featureWriter) flush() error {
	if len(fw.buf) == 0 {
		return nil
	}
	if _, err := fw.w.WriteRows(fw.buf); err != nil {
		return fmt.Errorf("write %s: %w", fw.af.Path(), err)
	}
	fw.buf = fw.buf[:0]
	return nil
}

func (fw *featureWriter) close() error {
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

func writeDeploys(path string, rows []DeployRow) error {
	af, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	w := parquet.NewGenericWriter[DeployRow](af, parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		af.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		af.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return af.Commit()
}

// FeatureTable is a features_hH.parquet file read back.
type FeatureTable struct {
	Columns []string // deployment_id excluded
	IDs     []string
	Rows    [][]float64
}

// ReadFeatures reads a features_hH.parquet file written by Run, checking
// that its columns are those of features.Schema. It shares its reading
// with ReadFeatureColumns and returns the rows, not the columns.
func ReadFeatures(path string) (*FeatureTable, error) {
	names := features.Names()
	t := &FeatureTable{}
	ids, cols, err := scanFeatures(path, func(cols []string) error {
		if len(cols) != 1+len(names) || cols[0] != "deployment_id" {
			return fmt.Errorf("read %s: %d columns, want deployment_id and %d features of %s", path, len(cols), len(names), features.SchemaVersion)
		}
		for i, c := range cols[1:] {
			if c != names[i] {
				return fmt.Errorf("read %s: column %d is %q, want %q (schema %s)", path, i+1, c, names[i], features.SchemaVersion)
			}
		}
		return nil
	}, nil, func(rows int, cols []string) {
		flat := make([]float64, rows*len(cols))
		t.Rows = make([][]float64, rows)
		for i := range t.Rows {
			t.Rows[i] = flat[i*len(cols) : (i+1)*len(cols) : (i+1)*len(cols)]
		}
	}, func(f, i int, x float64) { t.Rows[i][f] = x })
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read features: %w", err)
		}
		return nil, err
	}
	t.IDs, t.Columns = ids, cols
	return t, nil
}

// ReadDeploys reads deploys.parquet, in file order. It is the one reader of
// that file for every stage. Columns other than deployment_id that the file
// lacks read as zero values. An empty or repeated deployment_id is an error
// naming the file and row; a missing file gives an error wrapping
// fs.ErrNotExist.
func ReadDeploys(path string) ([]DeployRow, error) {
	rows, err := parquet.ReadFile[DeployRow](path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	seen := make(map[string]bool, len(rows))
	for i, r := range rows {
		if r.DeploymentID == "" {
			return nil, fmt.Errorf("%s: row %d: empty deployment_id", path, i+1)
		}
		if seen[r.DeploymentID] {
			return nil, fmt.Errorf("%s: row %d: deployment %q appears twice", path, i+1, r.DeploymentID)
		}
		seen[r.DeploymentID] = true
	}
	return rows, nil
}
