package labeling

import (
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/workdir"
)

// Labels is labels.parquet read back: one entry per row, in file order.
type Labels struct {
	IDs     []string
	PFaulty []float64 // label-model posterior (NaN when null)
	Label   []int     // 1 faulty, 0 healthy, -1 every function abstained
	// LFNames are the numeric lf_ columns in file order (with the prefix);
	// Votes[f][row] is 1 faulty, 0 healthy, -1 abstain (any other value).
	LFNames []string
	Votes   [][]int8
}

// ReadLabels reads labels.parquet as written by Write. It is the one reader
// of that file for every stage. A null deployment_id or label, a repeated
// deployment, a label outside {-1, 0, 1} or, on a labelled row, a p_faulty
// outside [0, 1] is an error naming the file and row. A missing file gives an
// error wrapping fs.ErrNotExist.
func ReadLabels(path string) (*Labels, error) {
	c, err := workdir.ReadColumns(path)
	if err != nil {
		return nil, err
	}
	col := func(name string) ([]parquet.Value, error) {
		if i := c.Index(name); i >= 0 {
			return c.Vals[i], nil
		}
		return nil, fmt.Errorf("%s: no column %q", path, name)
	}
	var lfNames []string
	var lfCols [][]parquet.Value
	for i, name := range c.Names {
		if strings.HasPrefix(name, "lf_") && workdir.IsNumeric(c.Kinds[i]) {
			lfNames = append(lfNames, name)
			lfCols = append(lfCols, c.Vals[i])
		}
	}
	ids, err := col("deployment_id")
	if err != nil {
		return nil, err
	}
	ps, err := col("p_faulty")
	if err != nil {
		return nil, err
	}
	labels, err := col("label")
	if err != nil {
		return nil, err
	}
	n := c.Rows
	l := &Labels{IDs: make([]string, n), PFaulty: make([]float64, n), Label: make([]int, n), LFNames: lfNames}
	seen := make(map[string]bool, n)
	for i := range n {
		idv, pv, lv := ids[i], ps[i], labels[i]
		if idv.IsNull() {
			return nil, fmt.Errorf("%s: row %d: deployment_id is null", path, i+1)
		}
		id := string(idv.ByteArray())
		if seen[id] {
			return nil, fmt.Errorf("%s: row %d: deployment %q appears twice", path, i+1, id)
		}
		seen[id] = true
		p, _ := workdir.Number(pv)
		var lab int64
		switch {
		case lv.IsNull():
			return nil, fmt.Errorf("%s: row %d: label is null", path, i+1)
		case lv.Kind() == parquet.Int32:
			lab = int64(lv.Int32())
		case lv.Kind() == parquet.Int64:
			lab = lv.Int64()
		default:
			return nil, fmt.Errorf("%s: row %d: label has type %v, want an integer", path, i+1, lv.Kind())
		}
		if lab != -1 && !(p >= 0 && p <= 1) {
			return nil, fmt.Errorf("%s: row %d: p_faulty %v outside [0, 1]", path, i+1, p)
		}
		if lab < -1 || lab > 1 {
			return nil, fmt.Errorf("%s: row %d: label %d not in {-1, 0, 1}", path, i+1, lab)
		}
		l.IDs[i], l.PFaulty[i], l.Label[i] = id, p, int(lab)
	}
	for _, vals := range lfCols {
		votes := make([]int8, n)
		for i, v := range vals {
			x, _ := workdir.Number(v)
			votes[i] = -1
			if x == 0 || x == 1 {
				votes[i] = int8(x)
			}
		}
		l.Votes = append(l.Votes, votes)
	}
	return l, nil
}
