package embedded

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/faultline-dev/faultline/internal/history"
)

// An import stages metric and signature rows per stream in memory; beyond
// Options.SpillBytes it writes them to one spill file (a "run") in its
// staging folder, the rows of each stream contiguous, and keeps only an
// index of byte ranges. At commit each stream gathers its rows from every
// run in order, so memory stays bounded by one stream plus the buffers.

// Per-stream tables of a run.
const (
	segMetrics uint8 = iota
	segSignatures
	segKPIValues
)

// segKey names one stream's rows of one table inside a run.
type segKey struct {
	stream history.Stream
	table  uint8 // segMetrics, segSignatures, segKPIValues
}

type segment struct {
	off, n int64
	rows   int
}

type spillRun struct {
	path  string
	index map[segKey]segment
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func encodeMetrics(b []byte, rows []metricRow) []byte {
	for _, r := range rows {
		b = appendString(b, r.Version)
		b = binary.AppendVarint(b, r.Minute)
		b = appendFloat(b, r.Requests)
		b = appendFloat(b, r.Errors)
		b = appendFloat(b, r.P50)
		b = appendFloat(b, r.P95)
		b = appendFloat(b, r.P99)
	}
	return b
}

func encodeKPIValues(b []byte, rows []kpiValueRow) []byte {
	for _, r := range rows {
		b = appendString(b, r.Name)
		b = appendString(b, r.Version)
		b = binary.AppendVarint(b, r.Minute)
		b = appendFloat(b, r.Value)
	}
	return b
}

func decodeKPIValues(b []byte, rows int, out []kpiValueRow) ([]kpiValueRow, error) {
	d := decoder{b: b, intern: map[string]string{}}
	for i := 0; i < rows && d.err == nil; i++ {
		var r kpiValueRow
		r.Name = d.str()
		r.Version = d.str()
		r.Minute = d.varint()
		r.Value = d.float()
		out = append(out, r)
	}
	return out, d.err
}

func encodeSignatures(b []byte, rows []signatureRow) []byte {
	for _, r := range rows {
		b = binary.AppendVarint(b, r.Minute)
		b = appendString(b, r.Version)
		b = appendString(b, r.Fingerprint)
		b = binary.AppendVarint(b, r.Count)
		b = appendString(b, r.ErrorType)
		b = appendString(b, r.Endpoint)
		b = binary.AppendVarint(b, int64(r.StatusCode))
	}
	return b
}

// decoder reads the encodings above; strings are interned per segment so
// that repeated versions and fingerprints share memory.
type decoder struct {
	b      []byte
	err    error
	intern map[string]string
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	l, n := binary.Uvarint(d.b)
	if n <= 0 || uint64(len(d.b)-n) < l {
		d.fail()
		return ""
	}
	raw := d.b[n : n+int(l)]
	d.b = d.b[n+int(l):]
	if s, ok := d.intern[string(raw)]; ok {
		return s
	}
	s := string(raw)
	d.intern[s] = s
	return s
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = io.ErrUnexpectedEOF
	}
	d.b = nil
}

func decodeMetrics(b []byte, rows int, out []metricRow) ([]metricRow, error) {
	d := decoder{b: b, intern: map[string]string{}}
	for i := 0; i < rows && d.err == nil; i++ {
		var r metricRow
		r.Version = d.str()
		r.Minute = d.varint()
		r.Requests = d.float()
		r.Errors = d.float()
		r.P50, r.P95, r.P99 = d.float(), d.float(), d.float()
		out = append(out, r)
	}
	return out, d.err
}

func decodeSignatures(b []byte, rows int, out []signatureRow) ([]signatureRow, error) {
	d := decoder{b: b, intern: map[string]string{}}
	for i := 0; i < rows && d.err == nil; i++ {
		var r signatureRow
		r.Minute = d.varint()
		r.Version = d.str()
		r.Fingerprint = d.str()
		r.Count = d.varint()
		r.ErrorType = d.str()
		r.Endpoint = d.str()
		r.StatusCode = int32(d.varint())
		out = append(out, r)
	}
	return out, d.err
}

// writeRun spills the staged rows to a new run file in dir.
func writeRun(dir string, seq int, metrics map[history.Stream][]metricRow, sigs map[history.Stream][]signatureRow, kvals map[history.Stream][]kpiValueRow) (*spillRun, error) {
	run := &spillRun{path: filepath.Join(dir, fmt.Sprintf("run-%05d.bin", seq)), index: map[segKey]segment{}}
	f, err := os.OpenFile(run.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var off int64
	var buf []byte
	put := func(k segKey, rows int) error {
		if _, err := w.Write(buf); err != nil {
			return err
		}
		run.index[k] = segment{off: off, n: int64(len(buf)), rows: rows}
		off += int64(len(buf))
		return nil
	}
	keys := make([]history.Stream, 0, len(metrics))
	for k := range metrics {
		keys = append(keys, k)
	}
	sortStreams(keys)
	for _, k := range keys {
		buf = encodeMetrics(buf[:0], metrics[k])
		if err := put(segKey{stream: k, table: segMetrics}, len(metrics[k])); err != nil {
			f.Close()
			return nil, fmt.Errorf("spill: %w", err)
		}
	}
	keys = keys[:0]
	for k := range sigs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].Service+"\x00"+keys[i].Environment < keys[j].Service+"\x00"+keys[j].Environment
	})
	for _, k := range keys {
		buf = encodeSignatures(buf[:0], sigs[k])
		if err := put(segKey{stream: k, table: segSignatures}, len(sigs[k])); err != nil {
			f.Close()
			return nil, fmt.Errorf("spill: %w", err)
		}
	}
	keys = keys[:0]
	for k := range kvals {
		keys = append(keys, k)
	}
	sortStreams(keys)
	for _, k := range keys {
		buf = encodeKPIValues(buf[:0], kvals[k])
		if err := put(segKey{stream: k, table: segKPIValues}, len(kvals[k])); err != nil {
			f.Close()
			return nil, fmt.Errorf("spill: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, fmt.Errorf("spill: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	return run, nil
}

// readSegment returns the bytes of one segment of run.
func (r *spillRun) readSegment(k segKey) ([]byte, int, bool, error) {
	seg, ok := r.index[k]
	if !ok {
		return nil, 0, false, nil
	}
	f, err := os.Open(r.path)
	if err != nil {
		return nil, 0, false, fmt.Errorf("read spill: %w", err)
	}
	defer f.Close()
	b := make([]byte, seg.n)
	if _, err := f.ReadAt(b, seg.off); err != nil {
		return nil, 0, false, fmt.Errorf("read spill %s: %w", r.path, err)
	}
	return b, seg.rows, true, nil
}
