package labeling

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

// File names in the work directory.
const (
	LabelsFile   = "labels.parquet"
	ReportFile   = "lf_report.json"
	DeploysFile  = "deploys.parquet"
	featuresFile = "features_h%d.parquet"
)

// FeaturesFile returns the name of the features file of horizon h minutes.
func FeaturesFile(h int) string { return fmt.Sprintf(featuresFile, h) }

// readParquetColumns reads the named top-level columns of a Parquet file.
// Every value of a column is returned in row order; an absent column is an
// error naming the file.
func readParquetColumns(path string, names ...string) (map[string][]parquet.Value, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[string][]parquet.Value, len(names))
	for _, name := range names {
		leaf, ok := pf.Schema().Lookup(name)
		if !ok {
			return nil, 0, fmt.Errorf("%s: no column %q", path, name)
		}
		var vals []parquet.Value
		for _, rg := range pf.RowGroups() {
			pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
			for {
				page, err := pages.ReadPage()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					pages.Close()
					return nil, 0, fmt.Errorf("%s: column %s: %w", path, name, err)
				}
				buf := make([]parquet.Value, page.NumValues())
				vr := page.Values()
				got := 0
				for got < len(buf) {
					k, err := vr.ReadValues(buf[got:])
					got += k
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						parquet.Release(page)
						pages.Close()
						return nil, 0, fmt.Errorf("%s: column %s: %w", path, name, err)
					}
					if k == 0 {
						break
					}
				}
				for i := range buf[:got] {
					buf[i] = buf[i].Clone()
				}
				vals = append(vals, buf[:got]...)
				parquet.Release(page)
			}
			pages.Close()
		}
		if int64(len(vals)) != pf.NumRows() {
			return nil, 0, fmt.Errorf("%s: column %s has %d values for %d rows", path, name, len(vals), pf.NumRows())
		}
		out[name] = vals
	}
	return out, int(pf.NumRows()), nil
}

// readDeployIDs reads the deployment_id column of deploys.parquet.
func readDeployIDs(path string) ([]string, error) {
	cols, n, err := readParquetColumns(path, "deployment_id")
	if err != nil {
		return nil, err
	}
	ids := make([]string, n)
	seen := make(map[string]bool, n)
	for i, v := range cols["deployment_id"] {
		if v.IsNull() || v.String() == "" {
			return nil, fmt.Errorf("%s: row %d: empty deployment_id", path, i+1)
		}
		ids[i] = v.String()
		if seen[ids[i]] {
			return nil, fmt.Errorf("%s: row %d: deployment %s listed twice", path, i+1, ids[i])
		}
		seen[ids[i]] = true
	}
	return ids, nil
}

// readEnsemble reads deployment_id → ensemble_faulty from a features file.
func readEnsemble(path string) (map[string]float64, error) {
	cols, n, err := readParquetColumns(path, "deployment_id", "ensemble_faulty")
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, n)
	ids, ens := cols["deployment_id"], cols["ensemble_faulty"]
	for i := range n {
		v := math.NaN()
		if !ens[i].IsNull() {
			v = ens[i].Double()
		}
		if !math.IsNaN(v) && v != 0 && v != 1 {
			return nil, fmt.Errorf("%s: row %d: ensemble_faulty %v is not 0, 1 or NaN", path, i+1, v)
		}
		out[ids[i].String()] = v
	}
	return out, nil
}

// labelsRowType builds the row struct of labels.parquet: deployment_id, one
// int8 column per function, p_faulty, label — in that order.
func labelsRowType(functions []string) reflect.Type {
	fields := []reflect.StructField{{Name: "DeploymentID", Type: reflect.TypeFor[string](), Tag: `parquet:"deployment_id"`}}
	for i, name := range functions {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("LF%d", i), Type: reflect.TypeFor[int8](), Tag: reflect.StructTag(fmt.Sprintf(`parquet:"lf_%s"`, name)),
		})
	}
	fields = append(fields,
		reflect.StructField{Name: "PFaulty", Type: reflect.TypeFor[float64](), Tag: `parquet:"p_faulty"`},
		reflect.StructField{Name: "Label", Type: reflect.TypeFor[int8](), Tag: `parquet:"label"`})
	return reflect.StructOf(fields)
}

// writeLabels writes labels.parquet atomically.
func writeLabels(path string, ids []string, m *labelmodel.Matrix, p []float64, label []int8) error {
	typ := labelsRowType(m.Names)
	schema := parquet.SchemaOf(reflect.New(typ).Interface())
	return atomicfile.Write(path, func(w io.Writer) error {
		pw := parquet.NewWriter(w, schema)
		row := reflect.New(typ).Elem()
		k := len(m.Names)
		for i, id := range ids {
			row.Field(0).SetString(id)
			for j := range k {
				row.Field(1 + j).SetInt(int64(m.Cols[j][i]))
			}
			row.Field(1 + k).SetFloat(p[i])
			row.Field(2 + k).SetInt(int64(label[i]))
			if err := pw.Write(row.Addr().Interface()); err != nil {
				return err
			}
		}
		return pw.Close()
	})
}

// writeJSONFile writes v as indented JSON atomically.
func writeJSONFile(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
