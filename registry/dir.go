package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/internal/atomicfile"
)

// Dir is the embedded registry backend: a folder (by default HOME/registry)
// holding
//
//	blobs/sha256/AB/ABCDEF…           artifact contents, named by SHA-256
//	models/NAME/versions/000001.json  one JSON record per version
//	models/NAME/aliases/ALIAS/000001.json
//	                                  one JSON record per alias move (the
//	                                  append-only history; the last is current)
//	.lock                             flock(2) lock serializing writers
//
// Every file is written to a temporary name in its folder, synced and
// renamed, so readers never see a partial file; numbered files are created
// under the lock and never rewritten.
type Dir struct {
	root string
}

var _ Backend = (*Dir)(nil)

// OpenDir opens (creating it when needed) the registry folder root.
func OpenDir(root string) (*Dir, error) {
	for _, d := range []string{root, filepath.Join(root, "blobs", "sha256"), filepath.Join(root, "models")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open registry %s: %w", root, err)
		}
	}
	return &Dir{root: root}, nil
}

// Describe implements Backend.
func (d *Dir) Describe() string { return "embedded:" + d.root }

// Close implements Backend.
func (d *Dir) Close() error { return nil }

// lock takes the folder's exclusive flock, polling so that ctx can cancel.
func (d *Dir) lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(d.root, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("registry lock: %w", err)
	}
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("registry lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 50*time.Millisecond)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// writeAtomic writes data to path (creating its folder) through
// atomicfile. With exclusive, an existing path is an error (numbered records
// are never rewritten).
func writeAtomic(path string, data []byte, exclusive bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if exclusive {
		return atomicfile.WriteFileExclusive(path, data, 0o644)
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (d *Dir) blobPath(sha string) (string, error) {
	if !shaRE.MatchString(sha) {
		return "", fmt.Errorf("invalid sha256 %q", sha)
	}
	return filepath.Join(d.root, "blobs", "sha256", sha[:2], sha), nil
}

// PutBlob implements Backend.
func (d *Dir) PutBlob(ctx context.Context, sha string, data []byte) error {
	p, err := d.blobPath(sha)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	// Concurrent writers of the same blob write the same bytes; the rename
	// makes either one win whole.
	return writeAtomic(p, data, false)
}

// Blob implements Backend.
func (d *Dir) Blob(ctx context.Context, sha string) ([]byte, error) {
	p, err := d.blobPath(sha)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", sha, ErrNotFound)
	}
	return data, err
}

func (d *Dir) modelDir(name string) (string, error) {
	if err := ValidName("model", name); err != nil {
		return "", err
	}
	return filepath.Join(d.root, "models", name), nil
}

// numbered lists the numbered JSON records of dir, ascending.
func numbered(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(n, ".") {
			continue
		}
		if x, err := strconv.Atoi(n); err == nil && x > 0 {
			out = append(out, x)
		}
	}
	sort.Ints(out)
	return out, nil
}

func recName(n int) string { return fmt.Sprintf("%06d.json", n) }

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// CreateVersion implements Backend.
func (d *Dir) CreateVersion(ctx context.Context, v *Version) (int, bool, error) {
	md, err := d.modelDir(v.Name)
	if err != nil {
		return 0, false, err
	}
	for _, a := range v.Artifacts {
		p, err := d.blobPath(a.SHA256)
		if err != nil {
			return 0, false, err
		}
		if _, err := os.Stat(p); err != nil {
			return 0, false, fmt.Errorf("artifact %s: blob %s: %w", a.Name, a.SHA256, ErrNotFound)
		}
	}
	unlock, err := d.lock(ctx)
	if err != nil {
		return 0, false, err
	}
	defer unlock()
	vdir := filepath.Join(md, "versions")
	ns, err := numbered(vdir)
	if err != nil {
		return 0, false, fmt.Errorf("list versions of %s: %w", v.Name, err)
	}
	if v.Lineage.RunID != "" {
		for _, n := range ns {
			var old Version
			if err := readJSON(filepath.Join(vdir, recName(n)), &old); err != nil {
				return 0, false, err
			}
			if old.Lineage.RunID == v.Lineage.RunID && old.Lineage.Source == v.Lineage.Source {
				return n, false, nil
			}
		}
	}
	n := 1
	if len(ns) > 0 {
		n = ns[len(ns)-1] + 1
	}
	rec := *v
	rec.Version = n
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = time.Now().UTC()
	}
	data, err := json.MarshalIndent(&rec, "", "  ")
	if err != nil {
		return 0, false, fmt.Errorf("encode version: %w", err)
	}
	if err := writeAtomic(filepath.Join(vdir, recName(n)), append(data, '\n'), true); err != nil {
		return 0, false, err
	}
	v.Version, v.CreatedAt = n, rec.CreatedAt
	return n, true, nil
}

// Version implements Backend.
func (d *Dir) Version(ctx context.Context, name string, version int) (*Version, error) {
	md, err := d.modelDir(name)
	if err != nil {
		return nil, err
	}
	var v Version
	err = readJSON(filepath.Join(md, "versions", recName(version)), &v)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("model %s version %d: %w", name, version, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if v.Evaluations, err = d.evaluations(md, version); err != nil {
		return nil, err
	}
	return &v, nil
}

// Versions implements Backend.
func (d *Dir) Versions(ctx context.Context, name string) ([]Version, error) {
	md, err := d.modelDir(name)
	if err != nil {
		return nil, err
	}
	ns, err := numbered(filepath.Join(md, "versions"))
	if err != nil {
		return nil, err
	}
	out := make([]Version, 0, len(ns))
	for _, n := range ns {
		v, err := d.Version(ctx, name, n)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// AddEvaluation implements Backend. Evaluations live in
// models/NAME/evaluations/VVVVVV/HASH.json.
func (d *Dir) AddEvaluation(ctx context.Context, name string, version int, m Metrics) error {
	md, err := d.modelDir(name)
	if err != nil {
		return err
	}
	if !evalHashRE.MatchString(m.EvalSetHash) {
		return fmt.Errorf("add evaluation: invalid evaluation set hash %q", m.EvalSetHash)
	}
	if _, err := d.Version(ctx, name, version); err != nil {
		return err
	}
	data, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode evaluation: %w", err)
	}
	unlock, err := d.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return writeAtomic(filepath.Join(md, "evaluations", fmt.Sprintf("%06d", version), m.EvalSetHash+".json"), append(data, '\n'), false)
}

var evalHashRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func (d *Dir) evaluations(md string, version int) ([]Metrics, error) {
	dir := filepath.Join(md, "evaluations", fmt.Sprintf("%06d", version))
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type rec struct {
		m   Metrics
		mod time.Time
	}
	var rs []rec
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var m Metrics
		if err := readJSON(filepath.Join(dir, e.Name()), &m); err != nil {
			return nil, err
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		rs = append(rs, rec{m, info.ModTime()})
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].mod.Before(rs[j].mod) })
	out := make([]Metrics, len(rs))
	for i, r := range rs {
		out[i] = r.m
	}
	return out, nil
}

// Models implements Backend.
func (d *Dir) Models(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(d.root, "models"))
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && ValidName("model", e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func (d *Dir) aliasNames(md string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(md, "aliases"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && ValidName("alias", e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func (d *Dir) moves(md, alias string) ([]Move, error) {
	adir := filepath.Join(md, "aliases", alias)
	ns, err := numbered(adir)
	if err != nil {
		return nil, err
	}
	out := make([]Move, 0, len(ns))
	for _, n := range ns {
		var m Move
		if err := readJSON(filepath.Join(adir, recName(n)), &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Aliases implements Backend.
func (d *Dir) Aliases(ctx context.Context, name string) ([]Alias, error) {
	md, err := d.modelDir(name)
	if err != nil {
		return nil, err
	}
	names, err := d.aliasNames(md)
	if err != nil {
		return nil, err
	}
	var out []Alias
	for _, a := range names {
		adir := filepath.Join(md, "aliases", a)
		ns, err := numbered(adir)
		if err != nil || len(ns) == 0 {
			continue
		}
		var m Move
		if err := readJSON(filepath.Join(adir, recName(ns[len(ns)-1])), &m); err != nil {
			return nil, err
		}
		out = append(out, Alias{Name: name, Alias: a, Version: m.To, UpdatedAt: m.At})
	}
	return out, nil
}

// History implements Backend.
func (d *Dir) History(ctx context.Context, name, alias string) ([]Move, error) {
	md, err := d.modelDir(name)
	if err != nil {
		return nil, err
	}
	names := []string{alias}
	if alias == "" {
		if names, err = d.aliasNames(md); err != nil {
			return nil, err
		}
	} else if err := ValidName("alias", alias); err != nil {
		return nil, err
	}
	var out []Move
	for _, a := range names {
		ms, err := d.moves(md, a)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	sortMoves(out)
	return out, nil
}

// sortMoves orders moves by time, then alias and Seq.
func sortMoves(ms []Move) {
	sort.SliceStable(ms, func(i, j int) bool {
		if !ms[i].At.Equal(ms[j].At) {
			return ms[i].At.Before(ms[j].At)
		}
		if ms[i].Alias != ms[j].Alias {
			return ms[i].Alias < ms[j].Alias
		}
		return ms[i].Seq < ms[j].Seq
	})
}

// MoveAlias implements Backend.
func (d *Dir) MoveAlias(ctx context.Context, name, alias string, decide func(current *Version) (*Move, error)) (*Move, error) {
	md, err := d.modelDir(name)
	if err != nil {
		return nil, err
	}
	if err := ValidName("alias", alias); err != nil {
		return nil, err
	}
	unlock, err := d.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	adir := filepath.Join(md, "aliases", alias)
	ns, err := numbered(adir)
	if err != nil {
		return nil, err
	}
	var last Move
	if len(ns) > 0 {
		if err := readJSON(filepath.Join(adir, recName(ns[len(ns)-1])), &last); err != nil {
			return nil, err
		}
	}
	var cur *Version
	if last.To != 0 {
		if cur, err = d.Version(ctx, name, last.To); err != nil {
			return nil, fmt.Errorf("read current holder: %w", err)
		}
	}
	mv, err := decide(cur)
	if err != nil {
		return nil, err
	}
	if _, err := d.Version(ctx, name, mv.To); err != nil {
		return nil, err
	}
	mv.Seq = last.Seq + 1
	mv.Name, mv.Alias, mv.From = name, alias, last.To
	if mv.At.IsZero() {
		mv.At = time.Now().UTC()
	}
	data, err := json.MarshalIndent(mv, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(adir, recName(int(mv.Seq))), append(data, '\n'), true); err != nil {
		return nil, err
	}
	return mv, nil
}
