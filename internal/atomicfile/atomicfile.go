// Package atomicfile writes output files so that readers see either the
// previous file or the complete new one, never a partial write.
//
// Data goes to a hidden temporary file in the destination's folder
// (".NAME.tmp-*"); on commit the temporary file is given its permissions,
// synced, closed and renamed over the destination, and the folder is synced
// so that the rename survives a crash. A failed or abandoned write removes
// the temporary file and leaves the destination untouched. The destination
// folder must exist: it is never created, and a missing one is an error
// naming it ("write b/out.tar.gz: folder b does not exist (create it
// first)").
//
// Errors name the destination: "write PATH: reason".
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultPerm is the permission of files made by Create and Write.
const DefaultPerm os.FileMode = 0o644

// Hooks replaced by tests to observe and fail the syncs.
var (
	syncFile = (*os.File).Sync
	syncDir  = syncDirectory
)

// File is an output file being written under a temporary name. It is an
// io.Writer; Commit puts it in place, Abort discards it. Abort after Commit
// does nothing, so `defer f.Abort()` is safe.
type File struct {
	f         *os.File
	path      string
	perm      os.FileMode
	exclusive bool
	done      bool
}

// Create starts writing path (permissions DefaultPerm). An existing file at
// path is replaced on Commit.
func Create(path string) (*File, error) {
	return create(path, DefaultPerm, false)
}

func create(path string, perm os.FileMode, exclusive bool) (*File, error) {
	if exclusive {
		if _, err := os.Lstat(path); err == nil {
			return nil, fmt.Errorf("write %s: %w", path, fs.ErrExist)
		}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, folderError(dir, err))
	}
	return &File{f: f, path: path, perm: perm, exclusive: exclusive}, nil
}

// folderError explains why no temporary file could be made in dir: it
// names the folder (a missing one, one that is a file, one not writable)
// rather than the temporary name, which the caller never chose. The
// result wraps the system error (fs.ErrNotExist for a missing folder).
func folderError(dir string, err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return err
	}
	if st, serr := os.Stat(dir); serr == nil && !st.IsDir() {
		return &folderErr{dir + " is not a folder", pe.Err}
	}
	if errors.Is(pe.Err, fs.ErrNotExist) {
		return &folderErr{"folder " + dir + " does not exist (create it first)", pe.Err}
	}
	return fmt.Errorf("folder %s: %w", dir, pe.Err)
}

// folderErr is a message about the destination's folder that wraps the
// system error without repeating it.
type folderErr struct {
	msg string
	err error
}

func (e *folderErr) Error() string { return e.msg }
func (e *folderErr) Unwrap() error { return e.err }

// Path returns the destination path.
func (f *File) Path() string { return f.path }

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("write %s: %w", f.path, os.ErrClosed)
	}
	return f.f.Write(p)
}

// Commit syncs and closes the temporary file and renames it to the
// destination, then syncs the folder. On an error before the rename the
// temporary file is removed and the destination is as it was; when only the
// folder sync fails, the new file is in place and the error says so.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("write %s: %w", f.path, os.ErrClosed)
	}
	f.done = true
	tmp := f.f.Name()
	err := f.f.Chmod(f.perm)
	if err == nil {
		err = syncFile(f.f)
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.install(tmp)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := syncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("write %s: sync folder: %w", f.path, err)
	}
	return nil
}

// install moves the closed temporary file to the destination.
func (f *File) install(tmp string) error {
	if !f.exclusive {
		return os.Rename(tmp, f.path)
	}
	// A hard link fails when the destination exists, atomically.
	err := os.Link(tmp, f.path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		os.Remove(tmp)
		return err
	}
	// No hard links here: check, then rename.
	if _, serr := os.Lstat(f.path); serr == nil {
		return fs.ErrExist
	}
	return os.Rename(tmp, f.path)
}

// Abort closes and removes the temporary file. It does nothing after Commit
// or a previous Abort.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.f.Close()
	os.Remove(f.f.Name())
}

// WriteFile writes data to path atomically with permissions perm, replacing
// any existing file.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, data, perm, false)
}

// WriteFileExclusive is WriteFile for a path that must not exist yet: when
// it does, the error matches fs.ErrExist and nothing is written.
func WriteFileExclusive(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, data, perm, true)
}

func writeFile(path string, data []byte, perm os.FileMode, exclusive bool) error {
	f, err := create(path, perm, exclusive)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// Write calls fn with a writer to path's temporary file and commits it when
// fn succeeds (permissions DefaultPerm). When fn fails, nothing is written
// and its error is returned wrapped with path.
func Write(path string, fn func(io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// syncDirectory fsyncs a folder so that a rename in it is durable. File
// systems that cannot sync a folder (EINVAL) are not an error.
func syncDirectory(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) {
		return nil
	}
	return err
}
