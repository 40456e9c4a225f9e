// Package bundle reads and writes Faultline model bundles: the tar.gz files
// that `faultline registry export` writes and that online detectors load.
//
// A bundle holds, at its root:
//
//	manifest.json        the Manifest: model name and version, feature schema,
//	                     horizons, thresholds, policy, and the SHA-256 of every
//	                     other file
//	manifest.sha256      the SHA-256 (hex) of manifest.json, so that a change
//	                     to the manifest itself is detected too
//	model_hH.txt         the LightGBM text (v3) model of horizon H
//	metrics.json         the metrics summary recorded in the registry
//
// Read verifies every checksum before returning: a bundle with one byte
// changed anywhere is refused with an error naming the file. The package has
// no dependency beyond the standard library, so that detectors importing it
// stay small.
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// Format identifies the bundle layout; Read refuses other values.
const Format = "faultline-bundle/1"

// File names inside a bundle.
const (
	ManifestName    = "manifest.json"
	ManifestSumName = "manifest.sha256"
	MetricsName     = "metrics.json"
)

// MaxFileSize bounds the size of one file in a bundle (256 MiB), so that a
// hostile archive cannot exhaust memory.
const MaxFileSize = 256 << 20

// ModelFileName returns the name of the model file of horizon h.
func ModelFileName(h int) string { return fmt.Sprintf("model_h%d.txt", h) }

// Schema identifies the feature schema a model was trained on.
type Schema struct {
	// Version is the features package's schema version.
	Version string `json:"version"`
	// Hash is the features package's schema hash (names, order, definitions).
	Hash string `json:"hash"`
	// Names are the feature columns, in model input order.
	Names []string `json:"names"`
	// ConfigHash identifies the feature computation settings the training
	// features were computed with (features.Config.ConfigHash).
	ConfigHash string `json:"config_hash,omitempty"`
	// Config holds those settings (features.Config as JSON), so that a
	// detector computes features exactly as the training data was.
	Config json.RawMessage `json:"config,omitempty"`
}

// FileEntry is one file listed in the manifest.
type FileEntry struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Horizon is set for model files: the horizon in minutes.
	Horizon int `json:"horizon,omitempty"`
}

// Manifest describes a bundle.
type Manifest struct {
	Format    string    `json:"format"`
	Model     string    `json:"model"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	// FeatureSchema is the schema the models read, in input order.
	FeatureSchema Schema `json:"feature_schema"`
	// Horizons are the model horizons in minutes, ascending.
	Horizons []int `json:"horizons"`
	// Thresholds maps a horizon (minutes) to its decision threshold on P(faulty).
	Thresholds map[int]float64 `json:"thresholds"`
	// Policy is the sequential policy's settings as recorded by training.
	Policy json.RawMessage `json:"policy,omitempty"`
	// EvalSetHash identifies the evaluation set of the metrics, if any.
	EvalSetHash string `json:"eval_set_hash,omitempty"`
	// Files lists every file of the bundle but the manifest and its checksum.
	Files []FileEntry `json:"files"`
}

// Bundle is a bundle in memory: its manifest and file contents.
type Bundle struct {
	Manifest Manifest
	// Files maps a file name (as in Manifest.Files) to its content.
	Files map[string][]byte
}

// Model returns the model text of horizon h.
func (b *Bundle) Model(h int) ([]byte, bool) {
	for _, f := range b.Manifest.Files {
		if f.Horizon == h {
			data, ok := b.Files[f.Path]
			return data, ok
		}
	}
	return nil, false
}

// ChecksumError reports a file whose content does not match the manifest.
type ChecksumError struct {
	File     string
	Want     string
	Got      string
	Missing  bool // listed in the manifest but absent
	Unlisted bool // present but not listed in the manifest
}

func (e *ChecksumError) Error() string {
	switch {
	case e.Missing:
		return fmt.Sprintf("bundle: %s is listed in the manifest but missing", e.File)
	case e.Unlisted:
		return fmt.Sprintf("bundle: %s is not listed in the manifest", e.File)
	default:
		return fmt.Sprintf("bundle: checksum mismatch for %s: manifest says sha256 %s, content is %s (the bundle was modified or damaged)", e.File, e.Want, e.Got)
	}
}

// Sum returns the hex SHA-256 of data.
func Sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// Write writes b to w as a tar.gz. It fills in b.Manifest's Format, file
// checksums and sizes from b.Files (every file of b.Files is listed; a file
// listed in the manifest but absent from b.Files is an error).
func Write(w io.Writer, b *Bundle) error {
	m := b.Manifest
	m.Format = Format
	names := make([]string, 0, len(b.Files))
	for name := range b.Files {
		if err := checkName(name); err != nil {
			return err
		}
		names = append(names, name)
	}
	sort.Strings(names)
	horizonOf := map[string]int{}
	for _, f := range m.Files {
		if _, ok := b.Files[f.Path]; !ok {
			return fmt.Errorf("bundle: manifest lists %s but no content was given", f.Path)
		}
		horizonOf[f.Path] = f.Horizon
	}
	m.Files = m.Files[:0:0]
	for _, name := range names {
		data := b.Files[name]
		m.Files = append(m.Files, FileEntry{Path: name, SHA256: Sum(data), Size: int64(len(data)), Horizon: horizonOf[name]})
	}
	mdata, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return fmt.Errorf("bundle: encode manifest: %w", err)
	}
	mdata = append(mdata, '\n')
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	mod := m.CreatedAt
	if mod.IsZero() {
		mod = time.Unix(0, 0)
	}
	add := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mod, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("bundle: write %s: %w", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("bundle: write %s: %w", name, err)
		}
		return nil
	}
	if err := add(ManifestName, mdata); err != nil {
		return err
	}
	if err := add(ManifestSumName, []byte(Sum(mdata)+"\n")); err != nil {
		return err
	}
	for _, name := range names {
		if err := add(name, b.Files[name]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: finish tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("bundle: finish gzip: %w", err)
	}
	b.Manifest = m
	return nil
}

func checkName(name string) error {
	if name == "" || name == ManifestName || name == ManifestSumName || strings.Contains(name, "/") || name != path.Clean(name) {
		return fmt.Errorf("bundle: invalid file name %q", name)
	}
	return nil
}

// Read reads a bundle from r and verifies it: the manifest's own checksum,
// every listed file's SHA-256 and size, no unlisted or missing file, a known
// format, and a model file for every horizon. Errors say which file failed.
func Read(r io.Reader) (*Bundle, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("bundle: not a gzip stream: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bundle: read archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("bundle: %s: unexpected entry type %q (only regular files are allowed)", hdr.Name, hdr.Typeflag)
		}
		if hdr.Size > MaxFileSize {
			return nil, fmt.Errorf("bundle: %s: %d bytes exceeds the %d-byte limit", hdr.Name, hdr.Size, MaxFileSize)
		}
		if _, dup := files[hdr.Name]; dup {
			return nil, fmt.Errorf("bundle: %s appears twice", hdr.Name)
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.LimitReader(tr, MaxFileSize+1)); err != nil {
			return nil, fmt.Errorf("bundle: read %s: %w", hdr.Name, err)
		}
		files[hdr.Name] = buf.Bytes()
	}
	// Drain to the end so that gzip verifies its CRC and size trailer.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, fmt.Errorf("bundle: read archive: %w", err)
	}
	mdata, ok := files[ManifestName]
	if !ok {
		return nil, fmt.Errorf("bundle: no %s (not a Faultline bundle)", ManifestName)
	}
	sum, ok := files[ManifestSumName]
	if !ok {
		return nil, fmt.Errorf("bundle: no %s", ManifestSumName)
	}
	if want, got := strings.TrimSpace(string(sum)), Sum(mdata); want != got {
		return nil, &ChecksumError{File: ManifestName, Want: want, Got: got}
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(mdata))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("bundle: %s: %w", ManifestName, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("bundle: %s: format %q, this build reads %q", ManifestName, m.Format, Format)
	}
	delete(files, ManifestName)
	delete(files, ManifestSumName)
	listed := map[string]bool{}
	for _, f := range m.Files {
		data, ok := files[f.Path]
		if !ok {
			return nil, &ChecksumError{File: f.Path, Missing: true}
		}
		if got := Sum(data); got != f.SHA256 || int64(len(data)) != f.Size {
			return nil, &ChecksumError{File: f.Path, Want: f.SHA256, Got: got}
		}
		listed[f.Path] = true
	}
	for name := range files {
		if !listed[name] {
			return nil, &ChecksumError{File: name, Unlisted: true}
		}
	}
	b := &Bundle{Manifest: m, Files: files}
	if err := b.validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// validate checks the manifest's internal consistency.
func (b *Bundle) validate() error {
	m := &b.Manifest
	if m.Model == "" {
		return fmt.Errorf("bundle: %s: no model name", ManifestName)
	}
	if len(m.Horizons) == 0 {
		return fmt.Errorf("bundle: %s: no horizons", ManifestName)
	}
	if len(m.FeatureSchema.Names) == 0 {
		return fmt.Errorf("bundle: %s: no feature names", ManifestName)
	}
	for i, h := range m.Horizons {
		if h <= 0 || (i > 0 && h <= m.Horizons[i-1]) {
			return fmt.Errorf("bundle: %s: horizons must be positive and ascending, got %v", ManifestName, m.Horizons)
		}
		if _, ok := b.Model(h); !ok {
			return fmt.Errorf("bundle: %s: no model file for horizon %d", ManifestName, h)
		}
		if _, ok := m.Thresholds[h]; !ok {
			return fmt.Errorf("bundle: %s: no threshold for horizon %d", ManifestName, h)
		}
	}
	return nil
}
