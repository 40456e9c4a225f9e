package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Read reads a bundle from r and verifies it with the default limits (see
// ReadWithLimits and DefaultLimits).
func Read(r io.Reader) (*Bundle, error) { return ReadWithLimits(r, Limits{}) }

// ReadWithLimits reads a bundle from r and verifies it: manifest.json and
// manifest.sha256 first and the manifest's own checksum, the manifest's
// values, every listed file's SHA-256 and size, no unlisted, duplicate or
// missing file, only regular files with valid names, and a model file and a
// threshold for every horizon. Errors say which file failed; errors about a
// limit wrap ErrLimit, and content that does not match the manifest is a
// *ChecksumError.
//
// It streams the archive and never reads more than lim allows: an entry is
// checked (name, type, listed in the manifest, size as listed) before its
// content is read, and every decompressed byte is counted against the
// contents the manifest lists plus a small budget for tar headers and padding,
// so that a decompression bomb stops at the limits. What it keeps in memory
// is the files the manifest lists, at most lim.MaxTotalSize bytes.
func ReadWithLimits(r io.Reader, lim Limits) (*Bundle, error) {
	lim = lim.withDefaults()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("bundle: not a gzip stream: %w", err)
	}
	defer gz.Close()
	br := &budgetReader{r: gz}
	tr := tar.NewReader(br)
	entries := 0
	// next returns the next entry's header, checked, or io.EOF at the end.
	next := func() (*tar.Header, error) {
		br.set(headerBudget, "tar headers and padding before one entry")
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("bundle: read archive: %w", err)
		}
		entries++
		if entries > lim.MaxEntries {
			return nil, fmt.Errorf("bundle: more than %d entries in the archive: %w", lim.MaxEntries, ErrLimit)
		}
		if err := checkHeader(hdr); err != nil {
			return nil, err
		}
		return hdr, nil
	}

	// manifest.json, then manifest.sha256.
	hdr, err := next()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("bundle: no %s: the archive is empty (not a Faultline bundle)", ManifestName)
	}
	if err != nil {
		return nil, err
	}
	if hdr.Name != ManifestName {
		return nil, fmt.Errorf("bundle: no %s as the first entry (found %q): not a Faultline bundle, or %s and %s are not the first two entries of the archive", ManifestName, hdr.Name, ManifestName, ManifestSumName)
	}
	if hdr.Size > lim.MaxManifestSize {
		return nil, fmt.Errorf("bundle: %s: %d bytes exceeds the %d-byte limit: %w", ManifestName, hdr.Size, lim.MaxManifestSize, ErrLimit)
	}
	mdata, err := readBody(tr, br, ManifestName, hdr.Size)
	if err != nil {
		return nil, err
	}
	hdr, err = next()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("bundle: no %s", ManifestSumName)
	}
	if err != nil {
		return nil, err
	}
	if hdr.Name != ManifestSumName {
		return nil, fmt.Errorf("bundle: no %s as the second entry (found %q): %s and %s must be the first two entries of the archive", ManifestSumName, hdr.Name, ManifestName, ManifestSumName)
	}
	if hdr.Size > maxSumSize {
		return nil, fmt.Errorf("bundle: %s: %d bytes exceeds the %d-byte limit: %w", ManifestSumName, hdr.Size, maxSumSize, ErrLimit)
	}
	sum, err := readBody(tr, br, ManifestSumName, hdr.Size)
	if err != nil {
		return nil, err
	}
	if want, got := strings.TrimSpace(string(sum)), Sum(mdata); want != got {
		return nil, &ChecksumError{File: ManifestName, Want: want, Got: got}
	}
	m, err := decodeManifest(mdata)
	if err != nil {
		return nil, err
	}
	if err := m.validate(lim, int64(len(mdata)+len(sum))); err != nil {
		return nil, err
	}

	// The listed files, in any order, each checked before it is read.
	listed := make(map[string]FileEntry, len(m.Files))
	for _, f := range m.Files {
		listed[f.Path] = f
	}
	files := make(map[string][]byte, len(m.Files))
	for {
		hdr, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		name := hdr.Name
		if _, dup := files[name]; dup || name == ManifestName || name == ManifestSumName {
			return nil, fmt.Errorf("bundle: %s appears twice", name)
		}
		f, ok := listed[name]
		if !ok {
			return nil, &ChecksumError{File: name, Unlisted: true}
		}
		if hdr.Size != f.Size {
			return nil, &ChecksumError{File: name, Want: f.SHA256, WantSize: f.Size, GotSize: hdr.Size}
		}
		data, err := readBody(tr, br, name, f.Size)
		if err != nil {
			return nil, err
		}
		if got := Sum(data); got != f.SHA256 {
			return nil, &ChecksumError{File: name, Want: f.SHA256, Got: got}
		}
		files[name] = data
	}
	// Drain to the end so that gzip verifies its CRC and size trailer.
	br.set(trailerBudget, "data after the end of the archive")
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, fmt.Errorf("bundle: read archive: %w", err)
	}
	for _, f := range m.Files {
		if _, ok := files[f.Path]; !ok {
			return nil, &ChecksumError{File: f.Path, Missing: true}
		}
	}
	return &Bundle{Manifest: *m, Files: files}, nil
}

// checkHeader refuses an entry that is not a regular file with a valid name.
func checkHeader(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("bundle: %q: unexpected entry type %q (only regular files are allowed)", hdr.Name, hdr.Typeflag)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return fmt.Errorf("bundle: %q: sparse file (only regular files are allowed)", hdr.Name)
		}
	}
	if err := ValidFileName(hdr.Name); err != nil {
		return fmt.Errorf("bundle: archive entry: %w", err)
	}
	if hdr.Size < 0 {
		return fmt.Errorf("bundle: %s: negative size %d", hdr.Name, hdr.Size)
	}
	return nil
}

// decodeManifest parses manifest.json strictly: known fields only, one JSON
// object, the known format.
func decodeManifest(data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("bundle: %s: %w", ManifestName, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("bundle: %s: data after the JSON object", ManifestName)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("bundle: %s: format %q, this build reads %q", ManifestName, m.Format, Format)
	}
	return &m, nil
}

// readBody reads the size bytes of tr's current entry, letting br (under tr)
// deliver no more. Its buffer grows with the bytes actually read, so that a header
// claiming a large size over a short stream costs little.
func readBody(tr *tar.Reader, br *budgetReader, name string, size int64) ([]byte, error) {
	const first = 64 << 10
	br.set(size, "content of "+name)
	buf := make([]byte, 0, min(size, first))
	for int64(len(buf)) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(size-int64(len(buf)), int64(len(buf)))))
		}
		end := int(min(int64(cap(buf)), size))
		n, err := io.ReadFull(tr, buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("bundle: read %s: %w", name, err)
		}
	}
	return buf, nil
}

// budgetReader delivers at most budget more bytes of r, then fails with an
// error wrapping ErrLimit: it counts the decompressed stream so that no part
// of the archive (contents, headers, padding, trailing data) goes unbounded.
type budgetReader struct {
	r      io.Reader
	budget int64
	limit  int64
	what   string
}

// set allows n more bytes, described by what in the error.
func (b *budgetReader) set(n int64, what string) { b.budget, b.limit, b.what = n, n, what }

func (b *budgetReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.budget <= 0 {
		return 0, fmt.Errorf("more than %d decompressed bytes of %s: %w", b.limit, b.what, ErrLimit)
	}
	if int64(len(p)) > b.budget {
		p = p[:b.budget]
	}
	n, err := b.r.Read(p)
	b.budget -= int64(n)
	return n, err
}
