package models

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/parquet-go/parquet-go"
)

// table is a Parquet file read column by column, by name.
type table struct {
	path  string
	names []string
	index map[string]int
	rows  int
	vals  [][]parquet.Value // vals[col][row]
}

// readTable reads every leaf column of a flat Parquet file.
func readTable(path string) (*table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	t := &table{path: path, index: map[string]int{}}
	for i, c := range pf.Schema().Columns() {
		if len(c) != 1 {
			return nil, fmt.Errorf("read %s: nested column %v not supported", path, c)
		}
		t.names = append(t.names, c[0])
		t.index[c[0]] = i
	}
	t.vals = make([][]parquet.Value, len(t.names))
	r := parquet.NewReader(bytes.NewReader(data), pf.Schema())
	defer r.Close()
	buf := make([]parquet.Row, 512)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			t.rows++
			seen := 0
			for _, v := range row {
				c := v.Column()
				if c < 0 || c >= len(t.vals) {
					return nil, fmt.Errorf("read %s: row %d: value of unknown column %d", path, t.rows, c)
				}
				t.vals[c] = append(t.vals[c], v.Clone())
				seen++
			}
			if seen != len(t.names) {
				return nil, fmt.Errorf("read %s: row %d: %d values, want %d", path, t.rows, seen, len(t.names))
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: row %d: %w", path, t.rows+1, err)
		}
	}
	return t, nil
}

func (t *table) col(name string) ([]parquet.Value, error) {
	i, ok := t.index[name]
	if !ok {
		return nil, fmt.Errorf("%s: no column %q", t.path, name)
	}
	return t.vals[i], nil
}

func (t *table) strings(name string) ([]string, error) {
	c, err := t.col(name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(c))
	for i, v := range c {
		if v.IsNull() {
			return nil, fmt.Errorf("%s: row %d: %s is null", t.path, i+1, name)
		}
		out[i] = string(v.ByteArray())
	}
	return out, nil
}

func (t *table) floats(name string) ([]float64, error) {
	c, err := t.col(name)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(c))
	for i, v := range c {
		switch {
		case v.IsNull():
			out[i] = math.NaN()
		case v.Kind() == parquet.Double:
			out[i] = v.Double()
		case v.Kind() == parquet.Float:
			out[i] = float64(v.Float())
		case v.Kind() == parquet.Int32:
			out[i] = float64(v.Int32())
		case v.Kind() == parquet.Int64:
			out[i] = float64(v.Int64())
		default:
			return nil, fmt.Errorf("%s: row %d: %s has type %v, want a number", t.path, i+1, name, v.Kind())
		}
	}
	return out, nil
}

func (t *table) ints(name string) ([]int64, error) {
	c, err := t.col(name)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(c))
	for i, v := range c {
		switch {
		case v.IsNull():
			return nil, fmt.Errorf("%s: row %d: %s is null", t.path, i+1, name)
		case v.Kind() == parquet.Int32:
			out[i] = int64(v.Int32())
		case v.Kind() == parquet.Int64:
			out[i] = v.Int64()
		default:
			return nil, fmt.Errorf("%s: row %d: %s has type %v, want an integer", t.path, i+1, name, v.Kind())
		}
	}
	return out, nil
}

// FeatureTable is a features_hH.parquet file: one row per deployment.
type FeatureTable struct {
	IDs   []string
	Names []string
	Cols  [][]float64 // Cols[f][row]
}

// ReadFeatureTable reads a features file: deployment_id then float64 feature columns.
func ReadFeatureTable(path string) (*FeatureTable, error) {
	t, err := readTable(path)
	if err != nil {
		return nil, err
	}
	if len(t.names) == 0 || t.names[0] != "deployment_id" {
		return nil, fmt.Errorf("%s: first column must be deployment_id", path)
	}
	ft := &FeatureTable{}
	if ft.IDs, err = t.strings("deployment_id"); err != nil {
		return nil, err
	}
	seen := make(map[string]int, len(ft.IDs))
	for i, id := range ft.IDs {
		if j, dup := seen[id]; dup {
			return nil, fmt.Errorf("%s: row %d: deployment %q already in row %d", path, i+1, id, j+1)
		}
		seen[id] = i
	}
	for _, name := range t.names[1:] {
		c, err := t.floats(name)
		if err != nil {
			return nil, err
		}
		ft.Names = append(ft.Names, name)
		ft.Cols = append(ft.Cols, c)
	}
	return ft, nil
}

// column returns the named column or nil.
func (ft *FeatureTable) column(name string) []float64 {
	for i, n := range ft.Names {
		if n == name {
			return ft.Cols[i]
		}
	}
	return nil
}

type deployRef struct {
	id        string
	startedAt int64 // ms since epoch
}

func readDeploys(path string) ([]deployRef, error) {
	t, err := readTable(path)
	if err != nil {
		return nil, err
	}
	ids, err := t.strings("deployment_id")
	if err != nil {
		return nil, err
	}
	ts, err := t.ints("started_at")
	if err != nil {
		return nil, err
	}
	out := make([]deployRef, len(ids))
	seen := make(map[string]bool, len(ids))
	for i := range ids {
		if seen[ids[i]] {
			return nil, fmt.Errorf("%s: row %d: deployment %q appears twice", path, i+1, ids[i])
		}
		seen[ids[i]] = true
		out[i] = deployRef{id: ids[i], startedAt: ts[i]}
	}
	return out, nil
}

type weakLabel struct {
	pFaulty float64
	label   int64
}

func readWeakLabels(path string) (map[string]weakLabel, error) {
	t, err := readTable(path)
	if err != nil {
		return nil, err
	}
	ids, err := t.strings("deployment_id")
	if err != nil {
		return nil, err
	}
	p, err := t.floats("p_faulty")
	if err != nil {
		return nil, err
	}
	l, err := t.ints("label")
	if err != nil {
		return nil, err
	}
	out := make(map[string]weakLabel, len(ids))
	for i, id := range ids {
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("%s: row %d: deployment %q appears twice", path, i+1, id)
		}
		if l[i] != -1 && !(p[i] >= 0 && p[i] <= 1) {
			return nil, fmt.Errorf("%s: row %d: p_faulty %v outside [0, 1]", path, i+1, p[i])
		}
		if l[i] < -1 || l[i] > 1 {
			return nil, fmt.Errorf("%s: row %d: label %d not in {-1, 0, 1}", path, i+1, l[i])
		}
		out[id] = weakLabel{pFaulty: p[i], label: l[i]}
	}
	return out, nil
}

// SplitRow is one row of split.parquet.
type SplitRow struct {
	DeploymentID string `parquet:"deployment_id"`
	Split        string `parquet:"split"`
}

// Split names.
const (
	SplitTrain = "train"
	SplitValid = "valid"
	SplitTest  = "test"
)

func writeSplit(path string, rows []SplitRow) error {
	return atomicfile.Write(path, func(f io.Writer) error {
		w := parquet.NewGenericWriter[SplitRow](f, parquet.Compression(&parquet.Zstd))
		if _, err := w.Write(rows); err != nil {
			return err
		}
		return w.Close()
	})
}

// ReadSplit reads split.parquet into deployment_id → split.
func ReadSplit(path string) (map[string]string, error) {
	rows, err := parquet.ReadFile[SplitRow](path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := make(map[string]string, len(rows))
	for i, r := range rows {
		switch r.Split {
		case SplitTrain, SplitValid, SplitTest:
		default:
			return nil, fmt.Errorf("%s: row %d: unknown split %q", path, i+1, r.Split)
		}
		if _, dup := out[r.DeploymentID]; dup {
			return nil, fmt.Errorf("%s: row %d: deployment %q in two rows", path, i+1, r.DeploymentID)
		}
		out[r.DeploymentID] = r.Split
	}
	return out, nil
}
