package embedded

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
)

// columnFile reads columns of a Parquet file page by page, skipping the
// row reconstruction of parquet-go's generic reader: the hot path of the
// stream reads (about 5× faster on stream files). The file is read with
// positioned reads: only its footer and the column chunks decoded are
// read from disk. A group argument g selects one row group; g < 0 means
// every row group, in order.
type columnFile struct {
	path string
	r    *spanReader
	f    *parquet.File
}

// tailBytes is how much of a file's end openColumns reads at once: the
// footer of a stream file with a month of daily row groups fits (a
// larger footer takes a second read).
const tailBytes = 32 << 10

func openColumns(path string) (*columnFile, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := osf.Stat()
	if err != nil {
		osf.Close()
		return nil, err
	}
	r := &spanReader{f: osf}
	// One read for the footer (and the magic bytes at the start, when the
	// file is small).
	if err := r.load(max(0, st.Size()-tailBytes), min(st.Size(), tailBytes)); err != nil {
		osf.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f, err := parquet.OpenFile(r, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(32<<10))
	if err != nil {
		osf.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &columnFile{path: path, r: r, f: f}, nil
}

func (c *columnFile) Close() error { return c.r.f.Close() }

// prefetch reads, in one system call, the bytes of every column chunk of
// the row groups gs (g < 0: all), so that decoding them reads memory.
func (c *columnFile) prefetch(gs ...int) error {
	lo, hi := int64(1<<62), int64(-1)
	md := c.f.Metadata()
	for _, g := range gs {
		rgs := md.RowGroups
		if g >= 0 {
			rgs = rgs[g : g+1]
		}
		for i := range rgs {
			for j := range rgs[i].Columns {
				m := &rgs[i].Columns[j].MetaData
				start := m.DataPageOffset
				if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
					start = m.DictionaryPageOffset
				}
				lo, hi = min(lo, start), max(hi, start+m.TotalCompressedSize)
			}
		}
	}
	if hi <= lo || hi-lo > 64<<20 {
		return nil
	}
	if err := c.r.load(lo, hi-lo); err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	return nil
}

// spanReader reads a file, serving reads within its last loaded span
// from memory.
type spanReader struct {
	f   *os.File
	off int64
	buf []byte
}

// load reads n bytes at off into memory.
func (r *spanReader) load(off, n int64) error {
	if off >= r.off && off+n <= r.off+int64(len(r.buf)) {
		return nil
	}
	if int64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := r.f.ReadAt(r.buf, off); err != nil {
		r.buf = r.buf[:0]
		return err
	}
	r.off = off
	return nil
}

func (r *spanReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.off && off+int64(len(p)) <= r.off+int64(len(r.buf)) {
		return copy(p, r.buf[off-r.off:]), nil
	}
	return r.f.ReadAt(p, off)
}

// numGroups returns the number of row groups.
func (c *columnFile) numGroups() int { return len(c.f.RowGroups()) }

// rows returns the number of rows of group g (of the file when g < 0).
func (c *columnFile) rows(g int) int64 {
	if g < 0 {
		return c.f.NumRows()
	}
	return c.f.RowGroups()[g].NumRows()
}

// meta returns the file's key/value metadata for key ("" when absent).
func (c *columnFile) meta(key string) string {
	v, _ := c.f.Lookup(key)
	return v
}

// bounds returns the smallest and largest value of the INT64 column name
// in group g, from the column chunk's statistics; ok is false when the
// chunk has none.
func (c *columnFile) bounds(g int, name string) (lo, hi int64, ok bool) {
	leaf, found := c.f.Schema().Lookup(name)
	if !found || leaf.Node.Type().Kind() != parquet.Int64 {
		return 0, 0, false
	}
	cc, isFile := c.f.RowGroups()[g].ColumnChunks()[leaf.ColumnIndex].(*parquet.FileColumnChunk)
	if !isFile {
		return 0, 0, false
	}
	mn, mx, ok := cc.Bounds()
	if !ok || mn.IsNull() || mx.IsNull() {
		return 0, 0, false
	}
	return mn.Int64(), mx.Int64(), true
}

// groupsOf returns the row groups g selects.
func (c *columnFile) groupsOf(g int) []parquet.RowGroup {
	if g < 0 {
		return c.f.RowGroups()
	}
	return c.f.RowGroups()[g : g+1]
}

// eachPage calls fn with every page of column name in group g, in order.
// Pages with nulls are refused unless nullable is set.
func (c *columnFile) eachPage(g int, name string, nullable bool, fn func(p parquet.Page) error) error {
	leaf, ok := c.f.Schema().Lookup(name)
	if !ok {
		return fmt.Errorf("%s: no column %s", c.path, name)
	}
	for _, rg := range c.groupsOf(g) {
		pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
		for {
			p, err := pages.ReadPage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				pages.Close()
				return fmt.Errorf("%s: column %s: %w", c.path, name, err)
			}
			if !nullable && p.NumNulls() != 0 {
				parquet.Release(p)
				pages.Close()
				return fmt.Errorf("%s: column %s: unexpected nulls", c.path, name)
			}
			err = fn(p)
			parquet.Release(p)
			if err != nil {
				pages.Close()
				return err
			}
		}
		if err := pages.Close(); err != nil {
			return err
		}
	}
	return nil
}

func (c *columnFile) int64s(g int, name string, out []int64) ([]int64, error) {
	n0 := len(out)
	err := c.eachPage(g, name, false, func(p parquet.Page) error {
		v := p.Data()
		out = append(out, v.Int64()...)
		return nil
	})
	return out, c.check(g, name, len(out)-n0, err)
}

func (c *columnFile) int32s(g int, name string, out []int32) ([]int32, error) {
	n0 := len(out)
	err := c.eachPage(g, name, false, func(p parquet.Page) error {
		v := p.Data()
		out = append(out, v.Int32()...)
		return nil
	})
	return out, c.check(g, name, len(out)-n0, err)
}

func (c *columnFile) float64s(g int, name string, out []float64) ([]float64, error) {
	n0 := len(out)
	err := c.eachPage(g, name, false, func(p parquet.Page) error {
		v := p.Data()
		out = append(out, v.Double()...)
		return nil
	})
	return out, c.check(g, name, len(out)-n0, err)
}

// optInt64s reads a nullable INT64 column; a null reads as null.
func (c *columnFile) optInt64s(g int, name string, null int64, out []int64) ([]int64, error) {
	n0 := len(out)
	err := c.eachPage(g, name, true, func(p parquet.Page) error {
		v := p.Data()
		vals := v.Int64()
		def := p.DefinitionLevels()
		if def == nil {
			out = append(out, vals...)
			return nil
		}
		k := 0
		for _, d := range def {
			if d == 0 {
				out = append(out, null)
				continue
			}
			if k >= len(vals) {
				return fmt.Errorf("%s: column %s: fewer values than definition levels", c.path, name)
			}
			out = append(out, vals[k])
			k++
		}
		return nil
	})
	return out, c.check(g, name, len(out)-n0, err)
}

// bools reads a BOOLEAN column.
func (c *columnFile) bools(g int, name string, out []bool) ([]bool, error) {
	n0 := len(out)
	buf := make([]parquet.Value, 1024)
	err := c.eachPage(g, name, false, func(p parquet.Page) error {
		r := p.Values()
		for {
			n, err := r.ReadValues(buf)
			for _, v := range buf[:n] {
				out = append(out, v.Boolean())
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
		}
	})
	return out, c.check(g, name, len(out)-n0, err)
}

// numbers reads a numeric column as float64, whether stored as DOUBLE or
// (metrics files of layout format 1: requests, errors) as INT64. Integers
// below 2^53 convert exactly.
func (c *columnFile) numbers(g int, name string, out []float64) ([]float64, error) {
	leaf, ok := c.f.Schema().Lookup(name)
	if !ok {
		return out, fmt.Errorf("%s: no column %s", c.path, name)
	}
	if leaf.Node.Type().Kind() != parquet.Int64 {
		return c.float64s(g, name, out)
	}
	n0 := len(out)
	err := c.eachPage(g, name, false, func(p parquet.Page) error {
		v := p.Data()
		for _, x := range v.Int64() {
			out = append(out, float64(x))
		}
		return nil
	})
	return out, c.check(g, name, len(out)-n0, err)
}

// strings reads a string column, dictionary-encoded or plain; equal values
// share one string.
func (c *columnFile) strings(g int, name string, out []string) ([]string, error) {
	intern := map[string]string{}
	return c.stringsWith(g, name, out, func(b []byte) string {
		if s, ok := intern[string(b)]; ok {
			return s
		}
		s := string(b)
		intern[s] = s
		return s
	})
}

// uniqueStrings reads a string column whose values are mostly distinct
// (ids): each plain page is converted to one string, which the values
// share, instead of one allocation per value.
func (c *columnFile) uniqueStrings(g int, name string, out []string) ([]string, error) {
	n0 := len(out)
	err := c.eachPage(g, name, false, func(p parquet.Page) error {
		if p.Dictionary() != nil {
			v := p.Data()
			dv := p.Dictionary().Page().Data()
			data, offs := dv.ByteArray()
			for _, ix := range v.Int32() {
				if ix < 0 || int(ix)+1 >= len(offs) {
					return fmt.Errorf("%s: column %s: dictionary index %d out of range", c.path, name, ix)
				}
				out = append(out, string(data[offs[ix]:offs[ix+1]]))
			}
			return nil
		}
		v := p.Data()
		data, offs := v.ByteArray()
		all := string(data)
		for i := 0; i+1 < len(offs); i++ {
			out = append(out, all[offs[i]:offs[i+1]])
		}
		return nil
	})
	return out, c.check(g, name, len(out)-n0, err)
}

// findString returns the index within group g of the first row whose
// string column name equals want, or -1. It allocates no strings.
func (c *columnFile) findString(g int, name, want string) (int, error) {
	at, found := 0, -1
	err := c.eachPage(g, name, false, func(p parquet.Page) error {
		if found >= 0 {
			return nil
		}
		if d := p.Dictionary(); d != nil {
			dv, v := d.Page().Data(), p.Data()
			data, offs := dv.ByteArray()
			for k, ix := range v.Int32() {
				if int(ix)+1 < len(offs) && string(data[offs[ix]:offs[ix+1]]) == want {
					found = at + k
					return nil
				}
			}
			at += int(p.NumValues())
			return nil
		}
		v := p.Data()
		data, offs := v.ByteArray()
		for i := 0; i+1 < len(offs); i++ {
			if string(data[offs[i]:offs[i+1]]) == want {
				found = at + i
				return nil
			}
		}
		at += len(offs) - 1
		return nil
	})
	return found, err
}

func (c *columnFile) stringsWith(g int, name string, out []string, str func([]byte) string) ([]string, error) {
	n0 := len(out)
	var dict parquet.Dictionary
	var dictVals []string
	err := c.eachPage(g, name, false, func(p parquet.Page) error {
		if d := p.Dictionary(); d != nil {
			if d != dict {
				dict = d
				dv := d.Page().Data()
				data, offs := dv.ByteArray()
				dictVals = dictVals[:0]
				for i := 0; i+1 < len(offs); i++ {
					dictVals = append(dictVals, str(data[offs[i]:offs[i+1]]))
				}
			}
			v := p.Data()
			for _, ix := range v.Int32() {
				if ix < 0 || int(ix) >= len(dictVals) {
					return fmt.Errorf("%s: column %s: dictionary index %d out of range", c.path, name, ix)
				}
				out = append(out, dictVals[ix])
			}
			return nil
		}
		v := p.Data()
		data, offs := v.ByteArray()
		for i := 0; i+1 < len(offs); i++ {
			out = append(out, str(data[offs[i]:offs[i+1]]))
		}
		return nil
	})
	return out, c.check(g, name, len(out)-n0, err)
}

func (c *columnFile) check(g int, name string, n int, err error) error {
	if err != nil {
		return err
	}
	if int64(n) != c.rows(g) {
		return fmt.Errorf("%s: column %s has %d values for %d rows", c.path, name, n, c.rows(g))
	}
	return nil
}
