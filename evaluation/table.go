package evaluation

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// table is a flat Parquet file read column-wise: every leaf column is held
// as float64 (numbers, NaN for null), string (byte arrays) or time (timestamps).
type table struct {
	path    string
	names   []string // leaf columns in file order
	rows    int
	floats  map[string][]float64
	strings map[string][]string
	times   map[string][]time.Time
}

// has reports whether the table holds column name.
func (t *table) has(name string) bool {
	_, f := t.floats[name]
	_, s := t.strings[name]
	_, tm := t.times[name]
	return f || s || tm
}

// str returns a text column or an error naming the file.
func (t *table) str(name string) ([]string, error) {
	if v, ok := t.strings[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("%s: column %s: missing or not text", t.path, name)
}

// num returns a numeric column or an error naming the file.
func (t *table) num(name string) ([]float64, error) {
	if v, ok := t.floats[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("%s: column %s: missing or not numeric", t.path, name)
}

// readTable reads the flat Parquet file at path.
func readTable(path string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &table{path: path, floats: map[string][]float64{}, strings: map[string][]string{}, times: map[string][]time.Time{}}
	type slot struct {
		name string
		kind byte // 'f', 's', 't'
		unit time.Duration
	}
	schema := pf.Schema()
	slots := map[int]slot{}
	for _, p := range schema.Columns() {
		if len(p) != 1 {
			continue // nested columns are not part of any contract we read
		}
		leaf, ok := schema.Lookup(p...)
		if !ok {
			continue
		}
		name := p[0]
		typ := leaf.Node.Type()
		s := slot{name: name}
		lt := typ.LogicalType()
		switch {
		case lt != nil && isTimestamp(lt):
			s.kind, s.unit = 't', timestampUnit(lt)
		case typ.Kind() == parquet.ByteArray || typ.Kind() == parquet.FixedLenByteArray:
			s.kind = 's'
		default:
			s.kind = 'f'
		}
		slots[leaf.ColumnIndex] = s
		t.names = append(t.names, name)
	}
	maxCol := 0
	for ci := range slots {
		maxCol = max(maxCol, ci+1)
	}
	seen := make([]bool, maxCol)
	buf := make([]parquet.Row, 256)
	for gi, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				clear(seen)
				for _, v := range row {
					ci := v.Column()
					s, ok := slots[ci]
					if !ok || seen[ci] {
						continue // not a flat column, or a repeated value
					}
					seen[ci] = true
					switch s.kind {
					case 's':
						t.strings[s.name] = append(t.strings[s.name], string(v.ByteArray()))
					case 't':
						var tm time.Time
						if !v.IsNull() {
							tm = time.Unix(0, v.Int64()*int64(s.unit)).UTC()
						}
						t.times[s.name] = append(t.times[s.name], tm)
					default:
						t.floats[s.name] = append(t.floats[s.name], valueFloat(v))
					}
				}
				t.rows++
				// Columns absent from this row (should not happen in flat files) are padded.
				for _, s := range slots {
					switch s.kind {
					case 's':
						for len(t.strings[s.name]) < t.rows {
							t.strings[s.name] = append(t.strings[s.name], "")
						}
					case 't':
						for len(t.times[s.name]) < t.rows {
							t.times[s.name] = append(t.times[s.name], time.Time{})
						}
					default:
						for len(t.floats[s.name]) < t.rows {
							t.floats[s.name] = append(t.floats[s.name], math.NaN())
						}
					}
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: row group %d: %w", path, gi, err)
			}
			if n == 0 {
				break
			}
		}
		rows.Close()
	}
	return t, nil
}

func isTimestamp(lt *format.LogicalType) bool {
	_, ok := lt.Value.(*format.TimestampType)
	return ok
}

func timestampUnit(lt *format.LogicalType) time.Duration {
	ts := lt.Value.(*format.TimestampType)
	switch strings.ToUpper(ts.Unit.String()) {
	case "MICROS":
		return time.Microsecond
	case "NANOS":
		return time.Nanosecond
	default:
		return time.Millisecond
	}
}

func valueFloat(v parquet.Value) float64 {
	if v.IsNull() {
		return math.NaN()
	}
	switch v.Kind() {
	case parquet.Boolean:
		if v.Boolean() {
			return 1
		}
		return 0
	case parquet.Int32:
		return float64(v.Int32())
	case parquet.Int64:
		return float64(v.Int64())
	case parquet.Float:
		return float64(v.Float())
	case parquet.Double:
		return v.Double()
	default:
		return math.NaN()
	}
}
