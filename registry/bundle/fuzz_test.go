package bundle_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"runtime"
	"testing"

	"github.com/faultline-dev/faultline/registry/bundle"
)

// fuzzLimits are small, so that the fuzzer reaches them.
var fuzzLimits = bundle.Limits{MaxEntries: 8, MaxFileSize: 4 << 10, MaxTotalSize: 16 << 10, MaxManifestSize: 8 << 10}

// fuzzAllocBound bounds what one ReadWithLimits call under fuzzLimits may
// allocate: the gzip and tar readers' state, the manifest's decoding and at
// most MaxTotalSize of contents, far below what an input that decompresses
// to megabytes would cost if read whole.
const fuzzAllocBound = 2 << 20

func gunzip(t testing.TB, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzReadBundle reads arbitrary input with small limits: a tar stream the
// target gzips (gzipped false), which reaches the archive and manifest checks,
// or a gzip stream as is (true), which reaches decompression bombs. Read must
// not panic, must allocate less than fuzzAllocBound, and whatever it accepts
// must respect the limits and the manifest.
func FuzzReadBundle(f *testing.F) {
	good := write(f, sample())
	files, m := goodEntries(f)
	mdata, _ := json.Marshal(&m)
	man := manifestEntries(mdata)
	bad := m
	bad.Thresholds = map[int]float64{10: 5, 60: -3}
	bdata, _ := json.Marshal(&bad)
	// Small archives, given both as tar and as tar.gz.
	seeds := [][]byte{
		good,
		archive(f, 0, append(man, files...)...),
		archive(f, 0, append(append(man, files...), entry{name: "evil", body: []byte("x")})...),
		archive(f, 0, append(manifestEntries(bdata), files...)...),
		archive(f, 0, append([]entry{files[0]}, append(man, files[1:]...)...)...),
		archive(f, 0, append(man, entry{name: "../../evil", body: []byte("x")})...),
	}
	for _, s := range seeds {
		f.Add(true, s)
		f.Add(false, gunzip(f, s))
	}
	// Bombs, as tar.gz only: their tar is megabytes.
	f.Add(true, archive(f, 0, append(append(man, files...), entry{name: "evil", zeros: 1 << 20})...))
	f.Add(true, archive(f, 2<<20, append(man, files...)...))
	f.Add(true, []byte{0x1f, 0x8b})
	// One stored-blocks gzip writer for the tar inputs, reset for each: a
	// new compressor costs more than the read.
	var zbuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zbuf, gzip.NoCompression)
	f.Fuzz(func(t *testing.T, gzipped bool, data []byte) {
		if !gzipped {
			zbuf.Reset()
			zw.Reset(&zbuf)
			zw.Write(data)
			zw.Close()
			data = zbuf.Bytes()
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b, err := bundle.ReadWithLimits(bytes.NewReader(data), fuzzLimits)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fuzzAllocBound {
			t.Fatalf("ReadWithLimits allocated %d bytes on a %d-byte input (err %v), bound %d", alloc, len(data), err, fuzzAllocBound)
		}
		if err != nil {
			return
		}
		checkAccepted(t, b, fuzzLimits)
	})
}

// checkAccepted asserts what Read promises of a bundle it accepts.
func checkAccepted(t *testing.T, b *bundle.Bundle, lim bundle.Limits) {
	t.Helper()
	m := b.Manifest
	if len(b.Files) != len(m.Files) || len(m.Files) > lim.MaxEntries-2 {
		t.Fatalf("accepted %d files for %d listed, limit %d entries", len(b.Files), len(m.Files), lim.MaxEntries)
	}
	var total int64
	for _, fe := range m.Files {
		data, ok := b.Files[fe.Path]
		if !ok {
			t.Fatalf("accepted without listed %s", fe.Path)
		}
		if err := bundle.ValidFileName(fe.Path); err != nil || fe.Path == bundle.ManifestName || fe.Path == bundle.ManifestSumName {
			t.Fatalf("accepted file name %q", fe.Path)
		}
		if int64(len(data)) != fe.Size || int64(len(data)) > lim.MaxFileSize {
			t.Fatalf("accepted %s of %d bytes (listed %d, limit %d)", fe.Path, len(data), fe.Size, lim.MaxFileSize)
		}
		if bundle.Sum(data) != fe.SHA256 {
			t.Fatalf("accepted %s with a wrong checksum", fe.Path)
		}
		total += int64(len(data))
	}
	if total > lim.MaxTotalSize {
		t.Fatalf("accepted %d bytes of files, limit %d", total, lim.MaxTotalSize)
	}
	for i, h := range m.Horizons {
		if h < 1 || h > bundle.MaxHorizon || (i > 0 && h <= m.Horizons[i-1]) {
			t.Fatalf("accepted horizons %v", m.Horizons)
		}
		if _, ok := b.Model(h); !ok {
			t.Fatalf("accepted no model for horizon %d", h)
		}
		if th, ok := m.Thresholds[h]; !ok || th < 0 || th > 1 {
			t.Fatalf("accepted threshold %v (present %v) for horizon %d", th, ok, h)
		}
	}
	if len(m.Thresholds) != len(m.Horizons) {
		t.Fatalf("accepted thresholds %v for horizons %v", m.Thresholds, m.Horizons)
	}
}
