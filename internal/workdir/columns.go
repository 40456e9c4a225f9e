package workdir

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/parquet-go/parquet-go"
)

// File is a flat Parquet file opened for reading column by column.
type File struct {
	path  string
	f     *os.File
	pf    *parquet.File
	names []string        // top-level leaf columns in file order
	kinds []parquet.Kind  // physical type of each of names
	buf   []parquet.Value // page buffer, reused from column to column
}

// Open opens the flat Parquet file at path. Errors opening the file are
// returned unwrapped, so that a missing file satisfies
// errors.Is(err, fs.ErrNotExist); the caller closes the File.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pq := &File{path: path, f: f, pf: pf}
	schema := pf.Schema()
	for _, p := range schema.Columns() {
		if len(p) != 1 {
			continue
		}
		leaf, _ := schema.Lookup(p...)
		pq.names = append(pq.names, p[0])
		pq.kinds = append(pq.kinds, leaf.Node.Type().Kind())
	}
	return pq, nil
}

// Close closes the file.
func (pq *File) Close() error { return pq.f.Close() }

// Names returns the top-level leaf columns in file order.
func (pq *File) Names() []string { return pq.names }

// Kind returns the physical type of column name, and whether it exists.
func (pq *File) Kind(name string) (parquet.Kind, bool) {
	for i, n := range pq.names {
		if n == name {
			return pq.kinds[i], true
		}
	}
	return 0, false
}

// Rows returns the number of rows.
func (pq *File) Rows() int { return int(pq.pf.NumRows()) }

// Column calls visit with every value of column name in row order (row
// counts from 0). A value is only valid during the call: visit clones what
// it keeps. An absent column, or a column with fewer or more values than
// the file has rows, is an error naming the file.
func (pq *File) Column(name string, visit func(row int, v parquet.Value) error) error {
	leaf, ok := pq.pf.Schema().Lookup(name)
	if !ok {
		return fmt.Errorf("%s: no column %q", pq.path, name)
	}
	buf := pq.buf
	row := 0
	for _, rg := range pq.pf.RowGroups() {
		pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
		err := func() error {
			defer pages.Close()
			for {
				page, err := pages.ReadPage()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("%s: column %s: %w", pq.path, name, err)
				}
				n := int(page.NumValues())
				if cap(buf) < n {
					buf = make([]parquet.Value, n)
				}
				buf = buf[:n]
				vr := page.Values()
				got := 0
				for got < n {
					k, err := vr.ReadValues(buf[got:])
					got += k
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						parquet.Release(page)
						return fmt.Errorf("%s: column %s: %w", pq.path, name, err)
					}
					if k == 0 {
						break
					}
				}
				for _, v := range buf[:got] {
					if row >= pq.Rows() {
						parquet.Release(page)
						return fmt.Errorf("%s: column %s has more values than the %d rows", pq.path, name, pq.Rows())
					}
					if err := visit(row, v); err != nil {
						parquet.Release(page)
						return err
					}
					row++
				}
				parquet.Release(page)
			}
		}()
		if err != nil {
			return err
		}
	}
	pq.buf = buf[:0]
	if row != pq.Rows() {
		return fmt.Errorf("%s: column %s has %d values for %d rows", pq.path, name, row, pq.Rows())
	}
	return nil
}

// Columns is a flat Parquet file read column by column.
type Columns struct {
	Path  string
	Names []string          // the columns read: in the order asked, or file order
	Kinds []parquet.Kind    // physical type of each column of Names
	Vals  [][]parquet.Value // Vals[c][row], every value cloned
	Rows  int
}

// Index returns the position of column name in Names, or -1.
func (c *Columns) Index(name string) int {
	for i, n := range c.Names {
		if n == name {
			return i
		}
	}
	return -1
}

// ReadColumns reads the named top-level columns of the flat Parquet file at
// path, or every top-level leaf column in file order when names is empty.
// Every value of a column is returned in row order; an absent column is an
// error naming the file. Errors opening the file are returned unwrapped, so
// that a missing file satisfies errors.Is(err, fs.ErrNotExist).
func ReadColumns(path string, names ...string) (*Columns, error) {
	pq, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer pq.Close()
	if len(names) == 0 {
		names = pq.Names()
	}
	out := &Columns{Path: path, Names: names, Rows: pq.Rows()}
	for _, name := range names {
		kind, _ := pq.Kind(name)
		vals := make([]parquet.Value, 0, pq.Rows())
		if err := pq.Column(name, func(_ int, v parquet.Value) error {
			vals = append(vals, v.Clone())
			return nil
		}); err != nil {
			return nil, err
		}
		out.Kinds = append(out.Kinds, kind)
		out.Vals = append(out.Vals, vals)
	}
	return out, nil
}

// Number returns a numeric Parquet value as float64 (NaN for null, 1 or 0
// for a boolean), and false when the value is not a number.
func Number(v parquet.Value) (float64, bool) {
	if v.IsNull() {
		return math.NaN(), true
	}
	switch v.Kind() {
	case parquet.Boolean:
		if v.Boolean() {
			return 1, true
		}
		return 0, true
	case parquet.Int32:
		return float64(v.Int32()), true
	case parquet.Int64:
		return float64(v.Int64()), true
	case parquet.Float:
		return float64(v.Float()), true
	case parquet.Double:
		return v.Double(), true
	}
	return math.NaN(), false
}

// IsNumeric reports whether a column of physical type k holds numbers.
func IsNumeric(k parquet.Kind) bool {
	switch k {
	case parquet.Boolean, parquet.Int32, parquet.Int64, parquet.Float, parquet.Double:
		return true
	}
	return false
}
