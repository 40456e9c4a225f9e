package pgstore

import (
	"encoding/binary"
	"math"
	"time"
)

// Binary COPY encoding. Building the COPY stream by hand avoids boxing
// every value into an interface: the metrics path sends millions of rows.
// Format: https://www.postgresql.org/docs/current/sql-copy.html (binary).

var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyTrailer ends the stream: a field count of -1.
var copyTrailer = []byte{0xff, 0xff}

type copyBuf struct{ b []byte }

func (c *copyBuf) reset() {
	c.b = append(c.b[:0], copyHeader...)
}

func (c *copyBuf) finish() []byte {
	return append(c.b, copyTrailer...)
}

func (c *copyBuf) fields(n int) {
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(n))
}

func (c *copyBuf) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

func (c *copyBuf) int4(v int32) {
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(v))
}

func (c *copyBuf) null() {
	c.b = binary.BigEndian.AppendUint32(c.b, 0xffffffff)
}

// float8 writes v, or NULL when v is NaN.
func (c *copyBuf) float8(v float64) {
	if math.IsNaN(v) {
		c.null()
		return
	}
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, math.Float64bits(v))
}

// timestamptz writes t as microseconds since 2000-01-01 UTC.
func (c *copyBuf) timestamptz(t time.Time) {
	us := (t.Unix()-pgEpochUnix)*1_000_000 + int64(t.Nanosecond()/1000)
	c.int8(us)
}
