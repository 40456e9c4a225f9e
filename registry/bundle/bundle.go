// Package bundle reads and writes Faultline model bundles: the tar.gz files
// that `faultline registry export` writes and that online detectors load.
//
// A bundle holds, at its root and in this order:
//
//	manifest.json        the Manifest: model name and version, feature schema,
//	                     horizons, thresholds, policy, and the SHA-256 and size
//	                     of every other file
//	manifest.sha256      the SHA-256 (hex) of manifest.json, so that a change
//	                     to the manifest itself is detected too
//	model_hH.txt         the LightGBM text (v3) model of horizon H
//	metrics.json         the metrics summary recorded in the registry
//
// manifest.json and manifest.sha256 must be the first two entries of the
// archive (Write puts them there); the other files may follow in any order.
//
// Read treats a bundle as hostile input. It streams the archive, verifies the
// manifest first and then refuses any entry the manifest does not list before
// reading its content; it bounds the number of entries, the size of each file
// and of all files together, and the decompressed bytes of tar headers and
// padding, so that a decompression bomb stops at the limits (see Limits). It
// accepts only regular files with flat, safe names (see ValidFileName), checks
// the manifest's values (see Manifest), and verifies every checksum before
// returning: a bundle with one byte changed anywhere is refused with an error
// naming the file. The package has no dependency beyond the standard library,
// so that detectors importing it stay small.
package bundle

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
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

// Default limits of Read (see Limits).
const (
	// MaxFileSize bounds the size of one file in a bundle (256 MiB).
	MaxFileSize = 256 << 20
	// DefaultMaxTotalSize bounds the sum of the sizes of all the files of a
	// bundle, manifest included (512 MiB).
	DefaultMaxTotalSize = 512 << 20
	// DefaultMaxEntries bounds the number of entries of the archive,
	// manifest.json and manifest.sha256 included (64).
	DefaultMaxEntries = 64
	// DefaultMaxManifestSize bounds manifest.json (1 MiB).
	DefaultMaxManifestSize = 1 << 20
)

// Fixed bounds of Read, beyond Limits.
const (
	// MaxHorizon is the largest horizon a manifest may name, in minutes (one
	// day, the bound features.Config accepts).
	MaxHorizon = 1440
	// maxSumSize bounds manifest.sha256 (64 hex digits and some space).
	maxSumSize = 1 << 10
	// maxNameLen bounds file names (see ValidFileName).
	maxNameLen = 128
	// maxTextLen bounds the manifest's free-text fields (model name, schema
	// version and hashes, feature names).
	maxTextLen = 256
	// headerBudget bounds the decompressed bytes between two entries'
	// contents: the previous entry's padding, tar headers and PAX records
	// (ours need 512 to 2,048 bytes).
	headerBudget = 64 << 10
	// trailerBudget bounds the decompressed bytes after the end-of-archive
	// marker (tar pads archives to its record size, 10 KiB by default).
	trailerBudget = 1 << 20
)

// ErrLimit is wrapped by the errors of Read and Write that report a bundle
// beyond a limit: too many entries, a file or all files too large, or too
// many decompressed bytes.
var ErrLimit = errors.New("bundle exceeds a limit")

// Limits bound what ReadWithLimits accepts, so that a hostile or damaged
// archive cannot exhaust memory or CPU. A field that is zero or negative
// takes its default. Read uses the defaults.
type Limits struct {
	// MaxEntries bounds the number of entries in the archive, manifest.json
	// and manifest.sha256 included (default DefaultMaxEntries, 64).
	MaxEntries int
	// MaxFileSize bounds the size of one file (default MaxFileSize, 256 MiB).
	MaxFileSize int64
	// MaxTotalSize bounds the sum of the sizes of all files, manifest.json
	// and manifest.sha256 included (default DefaultMaxTotalSize, 512 MiB).
	MaxTotalSize int64
	// MaxManifestSize bounds manifest.json (default DefaultMaxManifestSize,
	// 1 MiB).
	MaxManifestSize int64
}

// DefaultLimits returns the limits Read applies.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = MaxFileSize
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultMaxTotalSize
	}
	if l.MaxManifestSize <= 0 {
		l.MaxManifestSize = DefaultMaxManifestSize
	}
	return l
}

// ModelFileName returns the name of the model file of horizon h in a
// bundle. It is the name a work directory gives the model
// (internal/workdir.ModelFile); the bundle spells it itself because this
// package is imported by detectors and stays free of internal/workdir's
// Parquet dependency.
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

// Manifest describes a bundle. Read refuses a manifest that breaks any of
// these rules (and Write refuses to write one):
//   - Format is the Format constant; Model is set;
//   - Model, the schema's Version, Hash and ConfigHash, EvalSetHash and the
//     feature names are printable text of at most 256 bytes; feature names are
//     non-empty and distinct, and there is at least one;
//   - Version is not negative;
//   - Horizons are in 1..MaxHorizon minutes, strictly ascending (so
//     distinct), each with a threshold and a model file;
//   - Thresholds are probabilities in [0, 1], one per listed horizon and for
//     no other;
//   - Files have valid, distinct names (ValidFileName), a SHA-256 of 64
//     lower-case hex digits, a size within the limits, and a horizon that is
//     0 (not a model) or a listed horizon no other file claims; there are at
//     most Limits.MaxEntries-2 of them and their sizes, with the manifest's,
//     add up to at most Limits.MaxTotalSize.
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
	// WantSize and GotSize are set when the sizes differ: the manifest's
	// and the archive entry's.
	WantSize, GotSize int64
}

func (e *ChecksumError) Error() string {
	switch {
	case e.Missing:
		return fmt.Sprintf("bundle: %s is listed in the manifest but missing", e.File)
	case e.Unlisted:
		return fmt.Sprintf("bundle: %s is not listed in the manifest", e.File)
	case e.WantSize != e.GotSize:
		return fmt.Sprintf("bundle: size mismatch for %s: manifest says %d bytes, the archive holds %d (the bundle was modified or damaged)", e.File, e.WantSize, e.GotSize)
	default:
		return fmt.Sprintf("bundle: checksum mismatch for %s: manifest says sha256 %s, content is %s (the bundle was modified or damaged)", e.File, e.Want, e.Got)
	}
}

// Sum returns the hex SHA-256 of data.
func Sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// Write writes b to w as a tar.gz, manifest.json and manifest.sha256 first.
// It fills in b.Manifest's Format, file checksums and sizes from b.Files
// (every file of b.Files is listed; a file listed in the manifest but absent
// from b.Files is an error). It refuses a bundle that Read would refuse with
// the default limits: an invalid file name or manifest value, or a bundle
// beyond DefaultLimits.
func Write(w io.Writer, b *Bundle) error {
	m := b.Manifest
	m.Format = Format
	names := make([]string, 0, len(b.Files))
	for name := range b.Files {
		if err := ValidFileName(name); err != nil {
			return fmt.Errorf("bundle: %w", err)
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
	sum := []byte(Sum(mdata) + "\n")
	lim := DefaultLimits()
	if int64(len(mdata)) > lim.MaxManifestSize {
		return fmt.Errorf("bundle: %s: %d bytes exceeds the %d-byte limit: %w", ManifestName, len(mdata), lim.MaxManifestSize, ErrLimit)
	}
	if err := m.validate(lim, int64(len(mdata)+len(sum))); err != nil {
		return err
	}
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
	if err := add(ManifestSumName, sum); err != nil {
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
