package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvError is a syntax error in one CSV record.
type csvError struct {
	Field int // 0-based field index where it happened
	Msg   string
}

func (e *csvError) Error() string { return fmt.Sprintf("field %d: %s", e.Field+1, e.Msg) }

// parseCSVRow parses one RFC 4180 record from the start of s into dst
// (reused) and returns the fields and the number of bytes consumed,
// including the line terminator (\n or \r\n). Fields are substrings of s
// unless they contain escaped quotes. A quoted field may span lines. On a
// syntax error, n skips to the end of the offending line so that parsing
// can resume with the next record.
func parseCSVRow(s string, dst []string) (fields []string, n int, err error) {
	fields = dst[:0]
	i := 0
	for {
		if i < len(s) && s[i] == '"' {
			// Quoted field.
			j := i + 1
			escaped := false
			for {
				k := strings.IndexByte(s[j:], '"')
				if k < 0 {
					return fields, len(s), &csvError{len(fields), "quoted field not terminated"}
				}
				j += k + 1
				if j < len(s) && s[j] == '"' { // "" inside quotes
					escaped = true
					j++
					continue
				}
				break
			}
			f := s[i+1 : j-1]
			if escaped {
				f = strings.ReplaceAll(f, `""`, `"`)
			}
			fields = append(fields, f)
			i = j
			switch {
			case i == len(s):
				return fields, i, nil
			case s[i] == ',':
				i++
				continue
			case s[i] == '\n':
				return fields, i + 1, nil
			case s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n':
				return fields, i + 2, nil
			default:
				return fields, skipLine(s, i), &csvError{len(fields) - 1, `extraneous character after closing quote`}
			}
		}
		// Unquoted field: up to ',' or end of line.
		j := i
		for j < len(s) {
			c := s[j]
			if c == ',' || c == '\n' {
				break
			}
			if c == '\r' && j+1 < len(s) && s[j+1] == '\n' {
				break
			}
			if c == '"' {
				return fields, skipLine(s, j), &csvError{len(fields), `bare " in unquoted field (quote the field and double the quote)`}
			}
			j++
		}
		fields = append(fields, s[i:j])
		switch {
		case j == len(s):
			return fields, j, nil
		case s[j] == ',':
			i = j + 1
		case s[j] == '\n':
			return fields, j + 1, nil
		default: // \r\n
			return fields, j + 2, nil
		}
	}
}

func skipLine(s string, i int) int {
	if k := strings.IndexByte(s[i:], '\n'); k >= 0 {
		return i + k + 1
	}
	return len(s)
}

// csvChunk is a run of whole CSV records.
type csvChunk struct {
	text      string
	startLine int64 // line number of the first record
	endOffset int64 // file offset after the chunk, for progress
}

// chunkCSV reads r and sends runs of whole records of about size bytes to
// out, numbering lines from firstLine. A record boundary is a newline
// outside quotes: quote parity is tracked from the start of each chunk,
// which always starts a record.
func chunkCSV(ctx context.Context, r io.Reader, size int, firstLine, offset int64, out chan<- csvChunk) error {
	buf := make([]byte, 0, 2*size)
	line := firstLine
	eof := false
	for !eof || len(buf) > 0 {
		for !eof && len(buf) < size {
			if cap(buf)-len(buf) < size/2 {
				nb := make([]byte, len(buf), 2*cap(buf)+size)
				copy(nb, buf)
				buf = nb
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if errors.Is(err, io.EOF) {
				eof = true
			} else if err != nil {
				return err
			}
		}
		if len(buf) == 0 {
			break
		}
		cut := len(buf)
		if !eof {
			cut = recordBoundary(buf)
			if cut <= 0 {
				// No complete record yet (a very long quoted field): read more.
				nb := make([]byte, len(buf), 2*cap(buf))
				copy(nb, buf)
				buf = nb
				size = cap(buf) / 2
				continue
			}
		}
		text := string(buf[:cut])
		offset += int64(cut)
		select {
		case out <- csvChunk{text: text, startLine: line, endOffset: offset}:
		case <-ctx.Done():
			return ctx.Err()
		}
		line += int64(strings.Count(text, "\n"))
		buf = append(buf[:0], buf[cut:]...)
	}
	return nil
}

// recordBoundary returns the position just after the last newline of b
// that lies outside quotes, or 0 when there is none.
func recordBoundary(b []byte) int {
	if bytes.IndexByte(b, '"') < 0 {
		return bytes.LastIndexByte(b, '\n') + 1
	}
	inQuotes := false
	last := 0
	for i, c := range b {
		switch c {
		case '"':
			inQuotes = !inQuotes
		case '\n':
			if !inQuotes {
				last = i + 1
			}
		}
	}
	return last
}

// csvChunkSize is the size of the runs of records handed to parsers
// (a variable so that tests can force many small runs).
var csvChunkSize = 4 << 20
