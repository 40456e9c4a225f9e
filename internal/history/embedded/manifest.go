package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FormatVersion is the version of the folder layout written in manifests.
// Format 2 (issue 13) stores requests and errors as DOUBLE, adds the kpis
// table, per-stream KPI value files and the truth columns kpi and
// direction. Format 3 (issue 16) writes the stream files and the
// deployments table in row groups by time (layout.go): metrics and KPI
// value files are then no longer sorted by series over the whole file,
// which a format-2 reader assumes. A build reads formats 1 to 3 (a file
// is read as it is, and rewritten in the current format only when an
// import touches its table or stream); it writes format 3. Builds before
// format 3 refuse a format-3 store instead of misreading it.
const FormatVersion = 3

const formatVersion = FormatVersion

// oldestFormat is the oldest layout format this build reads.
const oldestFormat = 1

// manifest lists the immutable files of one generation of the store. The
// file CURRENT names the manifest in force; a commit writes new data files,
// a new manifest, then renames CURRENT.tmp over CURRENT.
type manifest struct {
	Format     int       `json:"format"`
	Generation int64     `json:"generation"`
	CreatedAt  time.Time `json:"created_at"`
	// Tables maps services, deployments, incidents, annotations, kpis and truth
	// to their file (relative to the history folder); absent when empty.
	Tables map[string]tableFile `json:"tables"`
	// Streams are sorted by service, then environment. Since format 3
	// they include the streams that have deployments but no files.
	Streams []streamFiles `json:"streams"`
}

type tableFile struct {
	File string `json:"file"`
	Rows int64  `json:"rows"`
}

// streamFiles are the files of one (service, environment) stream.
type streamFiles struct {
	Service       string `json:"service"`
	Environment   string `json:"environment"`
	Metrics       string `json:"metrics,omitempty"`
	MetricRows    int64  `json:"metric_rows"`
	Signatures    string `json:"signatures,omitempty"`
	SignatureRows int64  `json:"signature_rows"`
	KPIValues     string `json:"kpi_values,omitempty"`
	KPIValueRows  int64  `json:"kpi_value_rows,omitempty"`
	// MinMinute and MaxMinute bound the minutes of the stream's files
	// (Unix minutes).
	MinMinute int64 `json:"min_minute"`
	MaxMinute int64 `json:"max_minute"`
}

// Table names in manifests.
const (
	tblServices    = "services"
	tblDeployments = "deployments"
	tblIncidents   = "incidents"
	tblAnnotations = "annotations"
	tblTruth       = "truth"
	tblKPIs        = "kpis"
)

const (
	currentName  = "CURRENT"
	lockName     = "LOCK"
	dataDir      = "data"
	manifestPref = "MANIFEST-"
	tmpPrefix    = "tmp-"
)

func manifestName(gen int64) string { return fmt.Sprintf("%s%06d", manifestPref, gen) }

// readCurrent loads the manifest that CURRENT names; an absent CURRENT is an
// empty store (generation 0).
func readCurrent(dir string) (*manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, currentName))
	if errors.Is(err, os.ErrNotExist) {
		return &manifest{Format: formatVersion, Tables: map[string]tableFile{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read CURRENT: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if !strings.HasPrefix(name, manifestPref) || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("%s: CURRENT names %q, not a manifest", dir, name)
	}
	mb, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	if m.Format < oldestFormat || m.Format > formatVersion {
		return nil, fmt.Errorf("%s: layout format %d, this build reads %d to %d (a newer Faultline wrote it?)", filepath.Join(dir, name), m.Format, oldestFormat, formatVersion)
	}
	if m.Tables == nil {
		m.Tables = map[string]tableFile{}
	}
	return &m, nil
}

// writeFileSync writes data to path (O_EXCL) and syncs it.
func writeFileSync(path string, data []byte, excl bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if excl {
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeManifest writes m as MANIFEST-gen (not yet in force).
func writeManifest(dir string, m *manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, manifestName(m.Generation))
	if err := writeFileSync(path, append(b, '\n'), false); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// installCurrent makes generation gen the one in force: CURRENT.tmp is
// written, synced and renamed over CURRENT (atomic on POSIX file systems).
func installCurrent(dir string, gen int64) error {
	tmp := filepath.Join(dir, currentName+".tmp")
	if err := writeFileSync(tmp, []byte(manifestName(gen)+"\n"), false); err != nil {
		return fmt.Errorf("write CURRENT: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, currentName)); err != nil {
		return fmt.Errorf("install CURRENT: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// files returns the data files m references.
func (m *manifest) files() map[string]bool {
	out := map[string]bool{}
	for _, t := range m.Tables {
		if t.File != "" {
			out[t.File] = true
		}
	}
	for _, s := range m.Streams {
		if s.Metrics != "" {
			out[s.Metrics] = true
		}
		if s.Signatures != "" {
			out[s.Signatures] = true
		}
		if s.KPIValues != "" {
			out[s.KPIValues] = true
		}
	}
	return out
}

// collectGarbage removes what neither the current generation nor the one
// before it references: older manifests, unreferenced data files (also
// those of commits that died before installing CURRENT) and abandoned
// staging folders. It must run under the writer lock. The previous
// generation is kept so that a reader in another process that loaded it
// just before the commit can still read its files.
func collectGarbage(dir string, cur, prev *manifest, keepTmp string) error {
	keep := cur.files()
	keepManifests := map[string]bool{manifestName(cur.Generation): true}
	if prev != nil && prev.Generation > 0 {
		for f := range prev.files() {
			keep[f] = true
		}
		keepManifests[manifestName(prev.Generation)] = true
	}
	var firstErr error
	note := func(err error) {
		if err != nil && firstErr == nil && !errors.Is(err, os.ErrNotExist) {
			firstErr = err
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, dataDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		rel := dataDir + "/" + e.Name()
		if !keep[rel] {
			note(os.Remove(filepath.Join(dir, dataDir, e.Name())))
		}
	}
	top, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range top {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, manifestPref) && !keepManifests[n]:
			note(os.Remove(filepath.Join(dir, n)))
		case strings.HasPrefix(n, tmpPrefix) && n != keepTmp:
			note(os.RemoveAll(filepath.Join(dir, n)))
		}
	}
	return firstErr
}
