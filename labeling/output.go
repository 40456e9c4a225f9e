package labeling

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/workdir"
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

// readDeployIDs reads the deployment_id column of deploys.parquet (through
// extract.ReadDeploys, the shared reader).
func readDeployIDs(path string) ([]string, error) {
	rows, err := extract.ReadDeploys(path)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.DeploymentID
	}
	return ids, nil
}

// readEnsemble reads deployment_id → ensemble_faulty from a features file
// (through extract.ReadFeatureColumns, the shared reader).
func readEnsemble(path string) (map[string]float64, error) {
	fc, err := extract.ReadFeatureColumns(path, "ensemble_faulty")
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(fc.IDs))
	ens := fc.Column("ensemble_faulty")
	for i, id := range fc.IDs {
		v := ens[i]
		if !math.IsNaN(v) && v != 0 && v != 1 {
			return nil, fmt.Errorf("%s: row %d: ensemble_faulty %v is not 0, 1 or NaN", path, i+1, v)
		}
		out[id] = v
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
