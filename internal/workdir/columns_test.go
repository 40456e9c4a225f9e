package workdir

import (
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

type row struct {
	ID string  `parquet:"id"`
	N  int8    `parquet:"n"`
	X  float64 `parquet:"x"`
}

func TestReadColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.parquet")
	var rows []row
	for i := range 3000 { // more than one page
		rows = append(rows, row{ID: string(rune('a' + i%26)), N: int8(i % 100), X: float64(i) / 2})
	}
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
	all, err := ReadColumns(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all.Names, []string{"id", "n", "x"}) || all.Rows != len(rows) {
		t.Fatalf("names %v rows %d", all.Names, all.Rows)
	}
	if !slices.Equal(all.Kinds, []parquet.Kind{parquet.ByteArray, parquet.Int32, parquet.Double}) {
		t.Errorf("kinds %v", all.Kinds)
	}
	for i, r := range rows {
		if string(all.Vals[0][i].ByteArray()) != r.ID || all.Vals[1][i].Int32() != int32(r.N) || all.Vals[2][i].Double() != r.X {
			t.Fatalf("row %d read as %v %v %v, want %+v", i, all.Vals[0][i], all.Vals[1][i], all.Vals[2][i], r)
		}
	}
	some, err := ReadColumns(path, "x", "id")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(some.Names, []string{"x", "id"}) || some.Index("id") != 1 || some.Index("n") != -1 {
		t.Errorf("names %v", some.Names)
	}
	if _, err := ReadColumns(path, "nope"); err == nil || !strings.Contains(err.Error(), `no column "nope"`) || !strings.Contains(err.Error(), "t.parquet") {
		t.Errorf("absent column: %v", err)
	}
	if _, err := ReadColumns(filepath.Join(t.TempDir(), "none.parquet")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		v    parquet.Value
		want float64
		ok   bool
	}{
		{parquet.DoubleValue(1.5), 1.5, true},
		{parquet.FloatValue(2), 2, true},
		{parquet.Int32Value(-3), -3, true},
		{parquet.Int64Value(4), 4, true},
		{parquet.BooleanValue(true), 1, true},
		{parquet.NullValue(), math.NaN(), true},
		{parquet.ByteArrayValue([]byte("x")), math.NaN(), false},
	}
	for _, tt := range tests {
		got, ok := Number(tt.v)
		if ok != tt.ok || !(got == tt.want || math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("Number(%v) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.ok)
		}
		if IsNumeric(tt.v.Kind()) != (tt.ok && !tt.v.IsNull()) {
			t.Errorf("IsNumeric(%v) = %v", tt.v.Kind(), IsNumeric(tt.v.Kind()))
		}
	}
}
