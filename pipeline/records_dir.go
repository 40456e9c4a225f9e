package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/faultline-dev/faultline/internal/atomicfile"
)

// DirRecords keeps run records in a folder: ROOT/ID/run.json, written
// atomically, the store-wide run lock as an flock on ROOT/run.lock, and each
// run's own lock as an flock on ROOT/ID/alive.lock. It is the backend of
// the embedded store.
type DirRecords struct {
	Root string
}

var _ Records = (*DirRecords)(nil)

// Put writes r to ROOT/ID/run.json through a temp file and a rename.
func (d *DirRecords) Put(ctx context.Context, r *Record) error {
	dir := filepath.Join(d.Root, r.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write run record: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run record: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, "run.json"), append(data, '\n'), 0o644)
}

// Get reads ROOT/ID/run.json.
func (d *DirRecords) Get(ctx context.Context, id string) (*Record, error) {
	if !validID(id) {
		return nil, fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	data, err := os.ReadFile(filepath.Join(d.Root, id, "run.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read run record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read run record %s: %w", id, err)
	}
	return &r, nil
}

// List returns up to limit records, newest first (run ids sort by time).
func (d *DirRecords) List(ctx context.Context, limit int) ([]*Record, error) {
	ents, err := os.ReadDir(d.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(d.Root, e.Name(), "run.json")); err == nil {
				ids = append(ids, e.Name())
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]*Record, 0, len(ids))
	for _, id := range ids {
		r, err := d.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Lock takes an exclusive, non-blocking flock on ROOT/run.lock. The lock
// dies with the process, so a crashed run never leaves it stuck.
func (d *DirRecords) Lock(ctx context.Context, holder string) (func() error, error) {
	if err := os.MkdirAll(d.Root, 0o755); err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	path := filepath.Join(d.Root, "run.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		prev, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := strings.TrimSpace(string(prev))
			if who == "" {
				who = "unknown process"
			}
			return nil, fmt.Errorf("%w (%s; lock file %s)", ErrLocked, who, path)
		}
		return nil, fmt.Errorf("run lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(holder+"\n"), 0)
	return func() error {
		_ = f.Truncate(0)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}, nil
}

// aliveLock is the file, in a run's folder ROOT/ID, that the process
// running it holds an flock on.
const aliveLock = "alive.lock"

// LockRun takes the store-wide lock (Lock, naming the run in ROOT/run.lock)
// and then an exclusive flock on ROOT/ID/alive.lock, creating the run's
// folder. Only Live contends for the latter, for an instant: LockRun waits
// for it.
func (d *DirRecords) LockRun(ctx context.Context, id, holder string) (func() error, error) {
	if !validID(id) {
		return nil, fmt.Errorf("run lock: invalid run id %q", id)
	}
	unlockStore, err := d.Lock(ctx, fmt.Sprintf("run %s, %s", id, holder))
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(d.Root, id)
	f, err := func() (*os.File, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(dir, aliveLock), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}()
	if err != nil {
		_ = unlockStore()
		return nil, fmt.Errorf("run lock of %s: %w", id, err)
	}
	return func() error {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if uerr := unlockStore(); err == nil {
			err = uerr
		}
		return err
	}, nil
}

// Live tries a shared flock on ROOT/ID/alive.lock of each run and releases
// it at once: a run whose file is locked is live; one without the file (a
// run recorded before run locks existed, or never started) is not.
func (d *DirRecords) Live(ctx context.Context, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !validID(id) {
			continue
		}
		f, err := os.Open(filepath.Join(d.Root, id, aliveLock))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("run lock of %s: %w", id, err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			out[id] = true
		case err != nil:
			f.Close()
			return nil, fmt.Errorf("run lock of %s: %w", id, err)
		default:
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		}
		f.Close()
	}
	return out, nil
}
