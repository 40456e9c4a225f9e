package workdir

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/atomicfile"
)

// streamBatch is the number of rows the streaming writers hand to the
// Parquet writer at a time, and the streaming readers read at a time. The
// writer cuts every call into chunks of 64 rows and checks its page sizes
// after each chunk; a multiple of 64 keeps the chunks, hence the bytes,
// those of one call with every row.
const streamBatch = 1024

// DeployWriter writes deploys.parquet row by row. Nothing is visible at the
// path until Close; Abort drops the file. The bytes equal WriteDeploys's
// for the same rows.
type DeployWriter struct {
	af  *atomicfile.File
	w   *parquet.GenericWriter[DeployRow]
	buf []DeployRow
}

// CreateDeploys starts deploys.parquet at path.
func CreateDeploys(path string) (*DeployWriter, error) {
	af, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	w := parquet.NewGenericWriter[DeployRow](af, parquet.Compression(&parquet.Zstd))
	return &DeployWriter{af: af, w: w, buf: make([]DeployRow, 0, streamBatch)}, nil
}

// Add appends one row.
func (dw *DeployWriter) Add(r DeployRow) error {
	dw.buf = append(dw.buf, r)
	if len(dw.buf) == streamBatch {
		return dw.flush()
	}
	return nil
}

func (dw *DeployWriter) flush() error {
	if len(dw.buf) == 0 {
		return nil
	}
	if _, err := dw.w.Write(dw.buf); err != nil {
		return fmt.Errorf("write %s: %w", dw.af.Path(), err)
	}
	clear(dw.buf)
	dw.buf = dw.buf[:0]
	return nil
}

// Close writes the remaining rows and installs the file at its path; on
// error nothing is installed.
func (dw *DeployWriter) Close() error {
	if err := dw.flush(); err != nil {
		dw.af.Abort()
		return err
	}
	if err := dw.w.Close(); err != nil {
		dw.af.Abort()
		return fmt.Errorf("write %s: %w", dw.af.Path(), err)
	}
	return dw.af.Commit()
}

// Abort drops the file being written.
func (dw *DeployWriter) Abort() { dw.af.Abort() }

// openParquet opens the Parquet file at path. Errors opening the file are
// returned unwrapped (they name the path), so that a missing file satisfies
// errors.Is(err, fs.ErrNotExist).
func openParquet(path string) (*os.File, *parquet.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return f, pf, nil
}

// fill calls read(i) with i the number of rows read so far until n rows
// are read; read returning no row without an error, or io.EOF before n
// rows, is io.ErrUnexpectedEOF.
func fill(n int, read func(i int) (int, error)) error {
	for got := 0; got < n; {
		k, err := read(got)
		got += k
		if got >= n {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if k == 0 {
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

// DeployReader reads deploys.parquet row by row, a batch at a time, for
// readers that must not hold the whole file (ReadDeploys does).
type DeployReader struct {
	path string
	f    *os.File
	r    *parquet.GenericReader[DeployRow]
	buf  []DeployRow
	next int   // index of the next row in buf
	row  int64 // rows returned so far
	n    int64
}

// OpenDeploys opens deploys.parquet at path for reading row by row. The
// file must have exactly the columns WriteDeploys writes: it is read
// without conversion. A missing file gives an error satisfying
// errors.Is(err, fs.ErrNotExist); the caller closes the reader.
func OpenDeploys(path string) (*DeployReader, error) {
	f, pf, err := openParquet(path)
	if err != nil {
		return nil, err
	}
	want := parquet.SchemaOf(DeployRow{})
	if !parquet.EqualNodes(pf.Schema(), want) {
		f.Close()
		return nil, fmt.Errorf("read %s: columns %v, want those of deploys.parquet %v", path, leafNames(pf.Schema()), leafNames(want))
	}
	return &DeployReader{path: path, f: f, r: parquet.NewGenericReader[DeployRow](pf), n: pf.NumRows()}, nil
}

// Path returns the path of the file.
func (dr *DeployReader) Path() string { return dr.path }

// Rows returns the number of rows of the file.
func (dr *DeployReader) Rows() int64 { return dr.n }

// Next returns the next row, and io.EOF after the last one. An empty
// deployment_id is an error naming the file and row.
func (dr *DeployReader) Next() (DeployRow, error) {
	if dr.next == len(dr.buf) {
		if dr.row >= dr.n {
			return DeployRow{}, io.EOF
		}
		if dr.buf == nil {
			dr.buf = make([]DeployRow, streamBatch)
		}
		dr.buf = dr.buf[:min(int64(streamBatch), dr.n-dr.row)]
		if err := fill(len(dr.buf), func(i int) (int, error) { return dr.r.Read(dr.buf[i:]) }); err != nil {
			return DeployRow{}, fmt.Errorf("read %s: after row %d: %w", dr.path, dr.row, err)
		}
		dr.next = 0
	}
	r := dr.buf[dr.next]
	dr.next++
	dr.row++
	if r.DeploymentID == "" {
		return DeployRow{}, fmt.Errorf("%s: row %d: empty deployment_id", dr.path, dr.row)
	}
	return r, nil
}

// Close closes the file.
func (dr *DeployReader) Close() error {
	dr.r.Close()
	return dr.f.Close()
}

// FeatureReader reads features_hH.parquet row by row, a batch at a time,
// for readers that must not hold the whole file (ReadFeatures does).
type FeatureReader struct {
	path string
	f    *os.File
	r    *parquet.Reader
	buf  []parquet.Row
	have int   // rows in buf
	next int   // index of the next row in buf
	row  int64 // rows returned so far
	n    int64
}

// OpenFeatures opens features_hH.parquet at path for reading row by row.
// Its columns must be deployment_id (a string) and every feature of
// features.Schema in order (float64): a file this build's extract writes.
// A missing file gives an error satisfying errors.Is(err, fs.ErrNotExist);
// the caller closes the reader.
func OpenFeatures(path string) (*FeatureReader, error) {
	f, pf, err := openParquet(path)
	if err != nil {
		return nil, err
	}
	if err := checkFeatureColumns(path, pf.Schema()); err != nil {
		f.Close()
		return nil, err
	}
	return &FeatureReader{path: path, f: f, r: parquet.NewReader(pf), n: pf.NumRows()}, nil
}

// checkFeatureColumns checks that schema is features_hH.parquet's.
func checkFeatureColumns(path string, schema *parquet.Schema) error {
	want := featureSchema()
	got, wantNames := leafNames(schema), leafNames(want)
	if len(got) != len(wantNames) {
		return fmt.Errorf("read %s: %d columns, want deployment_id and %d features of %s", path, len(got), len(wantNames)-1, features.SchemaVersion)
	}
	for i, name := range got {
		if name != wantNames[i] {
			return fmt.Errorf("read %s: column %d is %q, want %q (schema %s)", path, i+1, name, wantNames[i], features.SchemaVersion)
		}
	}
	if !parquet.EqualNodes(schema, want) {
		return fmt.Errorf("read %s: column types differ from features_hH.parquet's (deployment_id string, features double)", path)
	}
	return nil
}

// leafNames returns the top-level column names of schema, in order.
func leafNames(schema *parquet.Schema) []string {
	var out []string
	for _, p := range schema.Columns() {
		out = append(out, p[0])
	}
	return out
}

// Path returns the path of the file.
func (fr *FeatureReader) Path() string { return fr.path }

// Rows returns the number of rows of the file.
func (fr *FeatureReader) Rows() int64 { return fr.n }

// Next reads the next row into v (features.NumFeatures values) and returns
// its deployment_id, or io.EOF after the last row. A null value is an
// error naming the file and row.
func (fr *FeatureReader) Next(v []float64) (string, error) {
	if len(v) != features.NumFeatures {
		return "", fmt.Errorf("read %s: %d values asked, want %d", fr.path, len(v), features.NumFeatures)
	}
	if fr.next == fr.have {
		if fr.row >= fr.n {
			return "", io.EOF
		}
		if fr.buf == nil {
			fr.buf = make([]parquet.Row, streamBatch)
		}
		want := int(min(int64(streamBatch), fr.n-fr.row))
		if err := fill(want, func(i int) (int, error) { return fr.r.ReadRows(fr.buf[i:want]) }); err != nil {
			return "", fmt.Errorf("read %s: after row %d: %w", fr.path, fr.row, err)
		}
		fr.have, fr.next = want, 0
	}
	row := fr.buf[fr.next]
	fr.next++
	fr.row++
	if len(row) != 1+len(v) {
		return "", fmt.Errorf("%s: row %d: %d values, want %d", fr.path, fr.row, len(row), 1+len(v))
	}
	for _, x := range row {
		if x.IsNull() {
			return "", fmt.Errorf("%s: row %d: column %d is null", fr.path, fr.row, x.Column()+1)
		}
	}
	for i := range v {
		v[i] = row[1+i].Double()
	}
	return string(row[0].ByteArray()), nil
}

// Close closes the file.
func (fr *FeatureReader) Close() error {
	fr.r.Close()
	return fr.f.Close()
}
