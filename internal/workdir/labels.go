package workdir

import (
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/metrics"
)

// LFPrefix starts the name of the vote column of each labeling function in
// labels.parquet: lf_NAME.
const LFPrefix = "lf_"

// Labels is labels.parquet: one entry per row, in file order. Its columns
// are deployment_id, one int8 vote column lf_NAME per function, p_faulty,
// label and gold.
type Labels struct {
	IDs []string
	// Functions names the labeling functions, without LFPrefix, in column
	// order; Votes[f][row] is 1 faulty, 0 healthy, -1 abstain.
	Functions []string
	Votes     [][]int8
	PFaulty   []float64 // label-model posterior (NaN when null)
	Label     []int8    // 1 faulty, 0 healthy, -1 every function abstained
	// Gold is the deployment's human annotation (history.GoldLabels): 1
	// faulty, 0 healthy, -1 none. Labeling functions and the label model
	// never read it; training does (train.annotations). Nil writes -1 on
	// every row; a file without the column (written before it existed)
	// reads as -1 on every row.
	Gold []int8
}

// GoldNone is Labels.Gold of a deployment nobody annotated.
const GoldNone int8 = -1

// LoneFaulty reports whether the n votes of one deployment (vote(f): 1
// faulty, 0 healthy, -1 abstain) hold exactly one faulty vote and no
// healthy one — a label resting on one function alone — and whose it is.
// The labeling report, training's annotate.csv and evaluation's report
// all single these out by this rule.
func LoneFaulty(n int, vote func(f int) int8) (int, bool) {
	lone := -1
	for f := range n {
		switch vote(f) {
		case 1:
			if lone >= 0 {
				return -1, false
			}
			lone = f
		case 0:
			return -1, false
		}
	}
	return lone, lone >= 0
}

// MinLoneAnnotated is the least number of a function's annotated lone
// faulty votes on which LoneRevision judges the label model's trust in it.
const MinLoneAnnotated = 5

// LoneRevision judges a function's lone faulty votes (LoneFaulty) against
// their annotations: p is the label model's p_faulty over them, k of the n
// annotated were annotated faulty. With at least MinLoneAnnotated of them,
// when p lies outside the Wilson 95% interval of k/n the annotations
// contradict the label model, and it returns the interval's end nearest p
// — the least revision they demand — with true; otherwise p and false. The
// labeling report warns by this rule, and training revises by it.
func LoneRevision(p float64, k, n int) (float64, bool) {
	if n < MinLoneAnnotated || math.IsNaN(p) {
		return p, false
	}
	iv := metrics.Wilson(k, n)
	switch {
	case p > iv.Hi:
		return iv.Hi, true
	case p < iv.Lo:
		return iv.Lo, true
	}
	return p, false
}

// LoneRevised is one function's revision by LoneRevision: its lone faulty
// votes (Deployments, labelled faulty), the label model's mean PFaulty
// over them, AnnotatedFaulty of the Annotated ones annotated faulty, and
// the Target its unannotated ones trained and counted in the threshold
// choice with.
type LoneRevised struct {
	Deployments     int     `json:"deployments"`
	PFaulty         float64 `json:"p_faulty"`
	Annotated       int     `json:"annotated"`
	AnnotatedFaulty int     `json:"annotated_faulty"`
	Target          float64 `json:"target"`
}

// LoneFaulty is the package function on row i: the function whose faulty
// vote was the row's only one, with no healthy vote.
func (l *Labels) LoneFaulty(i int) (string, bool) {
	f, ok := LoneFaulty(len(l.Votes), func(f int) int8 { return l.Votes[f][i] })
	if !ok {
		return "", false
	}
	return l.Functions[f], true
}

// labelsRowType builds the row struct of labels.parquet: deployment_id, one
// int8 column per function, p_faulty, label, gold — in that order.
func labelsRowType(functions []string) reflect.Type {
	fields := []reflect.StructField{{Name: "DeploymentID", Type: reflect.TypeFor[string](), Tag: `parquet:"deployment_id"`}}
	for i, name := range functions {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("LF%d", i), Type: reflect.TypeFor[int8](), Tag: reflect.StructTag(fmt.Sprintf(`parquet:"%s%s"`, LFPrefix, name)),
		})
	}
	fields = append(fields,
		reflect.StructField{Name: "PFaulty", Type: reflect.TypeFor[float64](), Tag: `parquet:"p_faulty"`},
		reflect.StructField{Name: "Label", Type: reflect.TypeFor[int8](), Tag: `parquet:"label"`},
		reflect.StructField{Name: "Gold", Type: reflect.TypeFor[int8](), Tag: `parquet:"gold"`})
	return reflect.StructOf(fields)
}

// WriteLabels writes labels.parquet at path, atomically.
func WriteLabels(path string, l *Labels) error {
	n, k := len(l.IDs), len(l.Functions)
	if len(l.Votes) != k || len(l.PFaulty) != n || len(l.Label) != n || l.Gold != nil && len(l.Gold) != n {
		return fmt.Errorf("write %s: %d functions with %d vote columns, %d ids, %d p_faulty, %d labels, %d gold", path, k, len(l.Votes), n,
			len(l.PFaulty), len(l.Label), len(l.Gold))
	}
	for f, v := range l.Votes {
		if len(v) != n {
			return fmt.Errorf("write %s: %d votes of %s for %d ids", path, len(v), l.Functions[f], n)
		}
	}
	typ := labelsRowType(l.Functions)
	schema := parquet.SchemaOf(reflect.New(typ).Interface())
	return atomicfile.Write(path, func(w io.Writer) error {
		pw := parquet.NewWriter(w, schema)
		row := reflect.New(typ).Elem()
		for i, id := range l.IDs {
			row.Field(0).SetString(id)
			for j := range k {
				row.Field(1 + j).SetInt(int64(l.Votes[j][i]))
			}
			row.Field(1 + k).SetFloat(l.PFaulty[i])
			row.Field(2 + k).SetInt(int64(l.Label[i]))
			gold := GoldNone
			if l.Gold != nil {
				gold = l.Gold[i]
			}
			row.Field(3 + k).SetInt(int64(gold))
			if err := pw.Write(row.Addr().Interface()); err != nil {
				return err
			}
		}
		return pw.Close()
	})
}

// ReadLabels reads labels.parquet at path. Numeric lf_ columns are votes
// (any value other than 0 or 1 reads as an abstention); other lf_ columns
// are ignored. A null deployment_id or label, a repeated deployment, a label
// or gold outside {-1, 0, 1} or, on a labelled row, a p_faulty outside
// [0, 1] is an error naming the file and row; an absent column is an error
// naming the file, except gold (every row GoldNone: a file written before
// the column existed). A null gold is GoldNone. A missing file gives an
// error wrapping fs.ErrNotExist.
func ReadLabels(path string) (*Labels, error) {
	c, err := ReadColumns(path)
	if err != nil {
		return nil, err
	}
	col := func(name string) ([]parquet.Value, error) {
		if i := c.Index(name); i >= 0 {
			return c.Vals[i], nil
		}
		return nil, fmt.Errorf("%s: no column %q", path, name)
	}
	n := c.Rows
	l := &Labels{IDs: make([]string, n), PFaulty: make([]float64, n), Label: make([]int8, n), Gold: make([]int8, n)}
	for i, name := range c.Names {
		fn, ok := strings.CutPrefix(name, LFPrefix)
		if !ok || !IsNumeric(c.Kinds[i]) {
			continue
		}
		votes := make([]int8, n)
		for r, v := range c.Vals[i] {
			x, _ := Number(v)
			votes[r] = -1
			if x == 0 || x == 1 {
				votes[r] = int8(x)
			}
		}
		l.Functions = append(l.Functions, fn)
		l.Votes = append(l.Votes, votes)
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
	var golds []parquet.Value
	if i := c.Index("gold"); i >= 0 {
		golds = c.Vals[i]
	}
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
		p, _ := Number(pv)
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
		l.IDs[i], l.PFaulty[i], l.Label[i], l.Gold[i] = id, p, int8(lab), GoldNone
		if golds != nil && !golds[i].IsNull() {
			g, ok := Number(golds[i])
			if !ok || !(g == -1 || g == 0 || g == 1) {
				return nil, fmt.Errorf("%s: row %d: gold %v not in {-1, 0, 1}", path, i+1, golds[i])
			}
			l.Gold[i] = int8(g)
		}
	}
	return l, nil
}
