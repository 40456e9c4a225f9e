package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// openParquet opens a Parquet import file. Its columns must be flat
// (no groups, no repetition); values are turned into the same text the CSV
// path validates: timestamps (INT64 with a TIMESTAMP logical type) as RFC
// 3339 in UTC, numbers in Go syntax, NULL as empty. Rows are numbered from 1.
func openParquet(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("not a readable Parquet file: %w", err)
	}
	fields := pf.Schema().Fields()
	header := make([]string, len(fields))
	units := make([]time.Duration, len(fields)) // timestamp unit, 0 if not a timestamp
	for i, fl := range fields {
		header[i] = fl.Name()
		if !fl.Leaf() || fl.Repeated() {
			f.Close()
			return nil, fmt.Errorf("column %s: nested or repeated columns are not supported", fl.Name())
		}
		if lt := fl.Type().LogicalType(); lt != nil {
			if ts, ok := lt.Value.(*format.TimestampType); ok && ts.Unit.Value != nil {
				units[i] = ts.Unit.Value.Duration()
			}
		}
	}
	const batch = 8192
	return &source{
		header: header,
		total:  pf.NumRows(),
		produce: func(ctx context.Context, out chan<- job) error {
			seq := 0
			row0 := int64(1)
			buf := make([]parquet.Row, 1024)
			for _, rg := range pf.RowGroups() {
				rows := rg.Rows()
				recs := make([][]string, 0, batch)
				send := func() bool {
					if len(recs) == 0 {
						return true
					}
					select {
					case out <- job{seq: seq, recs: recs, row0: row0, done: row0 + int64(len(recs)) - 1}:
					case <-ctx.Done():
						return false
					}
					seq++
					row0 += int64(len(recs))
					recs = make([][]string, 0, batch)
					return true
				}
				for {
					n, err := rows.ReadRows(buf)
					for _, r := range buf[:n] {
						rec := make([]string, len(header))
						for _, v := range r {
							if c := v.Column(); c >= 0 && c < len(rec) {
								rec[c] = valueText(v, units[c])
							}
						}
						recs = append(recs, rec)
						if len(recs) == batch && !send() {
							rows.Close()
							return ctx.Err()
						}
					}
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						rows.Close()
						return fmt.Errorf("read rows: %w", err)
					}
				}
				rows.Close()
				if !send() {
					return ctx.Err()
				}
			}
			return nil
		},
		close: f.Close,
	}, nil
}

// valueText renders a Parquet value as import text.
func valueText(v parquet.Value, unit time.Duration) string {
	if v.IsNull() {
		return ""
	}
	switch v.Kind() {
	case parquet.Boolean:
		return strconv.FormatBool(v.Boolean())
	case parquet.Int32:
		return strconv.FormatInt(int64(v.Int32()), 10)
	case parquet.Int64:
		n := v.Int64()
		switch unit {
		case time.Millisecond:
			return time.UnixMilli(n).UTC().Format(time.RFC3339Nano)
		case time.Microsecond:
			return time.UnixMicro(n).UTC().Format(time.RFC3339Nano)
		case time.Nanosecond:
			return time.Unix(0, n).UTC().Format(time.RFC3339Nano)
		}
		return strconv.FormatInt(n, 10)
	case parquet.Float:
		return strconv.FormatFloat(float64(v.Float()), 'g', -1, 32)
	case parquet.Double:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray())
	}
	return v.String()
}
