package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// checkFile asserts that path holds want (or is absent when want is nil)
// and that dir holds nothing else.
func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	switch {
	case want == nil && !errors.Is(err, fs.ErrNotExist):
		t.Errorf("%s exists (%q, %v), want no file", path, got, err)
	case want != nil && err != nil:
		t.Errorf("read %s: %v", path, err)
	case want != nil && string(got) != string(want):
		t.Errorf("%s = %q, want %q", path, got, want)
	}
	names := entries(t, filepath.Dir(path))
	wantNames := []string{}
	if want != nil {
		wantNames = []string{filepath.Base(path)}
	}
	if !slices.Equal(names, wantNames) && !(len(names) == 0 && len(wantNames) == 0) {
		t.Errorf("folder holds %q, want %q (temporary file left behind?)", names, wantNames)
	}
}

func TestWriteFunctions(t *testing.T) {
	errFn := errors.New("encoder failed")
	abortedWrite := func(p string) error {
		f, err := Create(p)
		if err != nil {
			return err
		}
		io.WriteString(f, "partial")
		f.Abort()
		f.Abort() // idempotent
		return nil
	}
	failingWrite := func(p string) error {
		return Write(p, func(w io.Writer) error {
			io.WriteString(w, "partial")
			return errFn
		})
	}
	tests := []struct {
		name      string
		existing  []byte // file at path before the write, nil for none
		write     func(path string) error
		want      []byte // content after, nil for no file
		wantErr   error  // matched with errors.Is; nil for success
		wantPerm  os.FileMode
		errPrefix bool // error must start with "write PATH: "
	}{
		{
			name:     "WriteFile new",
			write:    func(p string) error { return WriteFile(p, []byte("new"), 0o640) },
			want:     []byte("new"),
			wantPerm: 0o640,
		},
		{
			name:     "WriteFile replaces",
			existing: []byte("old content"),
			write:    func(p string) error { return WriteFile(p, []byte("new"), 0o644) },
			want:     []byte("new"),
			wantPerm: 0o644,
		},
		{
			name:     "WriteFileExclusive new",
			write:    func(p string) error { return WriteFileExclusive(p, []byte("rec"), 0o644) },
			want:     []byte("rec"),
			wantPerm: 0o644,
		},
		{
			name:      "WriteFileExclusive refuses existing",
			existing:  []byte("first"),
			write:     func(p string) error { return WriteFileExclusive(p, []byte("second"), 0o644) },
			want:      []byte("first"),
			wantErr:   fs.ErrExist,
			errPrefix: true,
		},
		{
			name: "Write streams",
			write: func(p string) error {
				return Write(p, func(w io.Writer) error {
					_, err := io.WriteString(w, "a")
					if err == nil {
						_, err = io.WriteString(w, "b")
					}
					return err
				})
			},
			want:     []byte("ab"),
			wantPerm: DefaultPerm,
		},
		{
			name:      "Write failing leaves old file",
			existing:  []byte("old"),
			write:     failingWrite,
			want:      []byte("old"),
			wantErr:   errFn,
			errPrefix: true,
		},
		{
			name:    "Write failing leaves no file",
			write:   failingWrite,
			wantErr: errFn,
		},
		{
			name:  "Abort leaves no file",
			write: abortedWrite,
		},
		{
			name:     "Abort keeps existing file",
			existing: []byte("old"),
			write:    abortedWrite,
			want:     []byte("old"),
		},
		{
			name: "Commit twice fails",
			write: func(p string) error {
				f, err := Create(p)
				if err != nil {
					return err
				}
				io.WriteString(f, "once")
				if err := f.Commit(); err != nil {
					return err
				}
				f.Abort() // no-op after Commit
				if _, err := f.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
					t.Errorf("Write after Commit: %v, want ErrClosed", err)
				}
				return f.Commit()
			},
			want:    []byte("once"),
			wantErr: os.ErrClosed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.dat")
			if tc.existing != nil {
				if err := os.WriteFile(path, tc.existing, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := tc.write(path)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.errPrefix && (err == nil || !strings.HasPrefix(err.Error(), "write "+path+": ")) {
				t.Errorf("error %q does not name %s", err, path)
			}
			checkFile(t, path, tc.want)
			if tc.wantPerm != 0 {
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != tc.wantPerm {
					t.Errorf("mode %v, want %v", st.Mode().Perm(), tc.wantPerm)
				}
			}
		})
	}
}

// TestInvisibleUntilCommit checks that a streaming write is not visible at
// the destination (old content stays) until Commit, and that the temporary
// file is hidden in the same folder.
func TestInvisibleUntilCommit(t *testing.T) {
	for _, existing := range [][]byte{nil, []byte("old")} {
		dir := t.TempDir()
		path := filepath.Join(dir, "model.txt")
		if existing != nil {
			if err := os.WriteFile(path, existing, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		f, err := Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Path() != path {
			t.Errorf("Path() = %q, want %q", f.Path(), path)
		}
		if _, err := io.WriteString(f, "new content"); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if existing == nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("before Commit: %s exists (%q)", path, got)
		}
		if existing != nil && string(got) != string(existing) {
			t.Errorf("before Commit: %s = %q, want %q", path, got, existing)
		}
		var tmp []string
		for _, n := range entries(t, dir) {
			if n != "model.txt" {
				tmp = append(tmp, n)
			}
		}
		if len(tmp) != 1 || tmp[0][0] != '.' {
			t.Errorf("temporary files %q, want one hidden file", tmp)
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, []byte("new content"))
	}
}

// TestSyncs checks that Commit syncs the file before the rename and the
// folder after it, and that a failed file sync leaves nothing behind.
func TestSyncs(t *testing.T) {
	errSync := errors.New("disk on fire")
	tests := []struct {
		name      string
		failFile  bool
		failDir   bool
		want      []byte
		wantCalls []string
		wantErr   error
	}{
		{name: "both synced", want: []byte("data"), wantCalls: []string{"file:absent", "dir:present"}},
		{name: "file sync fails", failFile: true, wantCalls: []string{"file:absent"}, wantErr: errSync},
		{name: "dir sync fails", failDir: true, want: []byte("data"), wantCalls: []string{"file:absent", "dir:present"}, wantErr: errSync},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.json")
			var calls []string
			state := func() string {
				if _, err := os.Stat(path); err == nil {
					return "present"
				}
				return "absent"
			}
			oldFile, oldDir := syncFile, syncDir
			t.Cleanup(func() { syncFile, syncDir = oldFile, oldDir })
			syncFile = func(f *os.File) error {
				calls = append(calls, "file:"+state())
				if filepath.Dir(f.Name()) != dir {
					t.Errorf("temporary file %s not in %s", f.Name(), dir)
				}
				if tc.failFile {
					return errSync
				}
				return oldFile(f)
			}
			syncDir = func(d string) error {
				calls = append(calls, "dir:"+state())
				if d != dir {
					t.Errorf("synced folder %s, want %s", d, dir)
				}
				if tc.failDir {
					return errSync
				}
				return oldDir(d)
			}
			err := WriteFile(path, []byte("data"), 0o644)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(calls, tc.wantCalls) {
				t.Errorf("sync calls %q, want %q", calls, tc.wantCalls)
			}
			checkFile(t, path, tc.want)
		})
	}
}

// TestMissingFolder checks that the folder is not created and that the
// error names the destination and the folder, never the temporary file (the
// probe of issue 14: 'registry export --out b/x.tar.gz' into a missing b said
// only "open b/.x.tar.gz.tmp-…: no such file or directory").
func TestMissingFolder(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       string
		notExist   bool
	}{
		{"missing folder", filepath.Join(root, "b", "out.tar.gz"),
			"write " + filepath.Join(root, "b", "out.tar.gz") + ": folder " + filepath.Join(root, "b") + " does not exist (create it first)", true},
		{"missing parents", filepath.Join(root, "no", "such", "out.txt"),
			"folder " + filepath.Join(root, "no", "such") + " does not exist", true},
		{"folder is a file", filepath.Join(file, "out.txt"), file + " is not a folder", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, write := range []func(string) error{
				func(p string) error { return WriteFile(p, []byte("x"), 0o644) },
				func(p string) error { _, err := Create(p); return err },
				func(p string) error { return WriteFileExclusive(p, []byte("x"), 0o644) },
			} {
				err := write(tc.path)
				if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), ".tmp-") {
					t.Errorf("error %v, want one containing %q and no temporary name", err, tc.want)
				}
				if tc.notExist && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error %v does not match fs.ErrNotExist", err)
				}
			}
			if _, err := os.Stat(filepath.Dir(tc.path)); tc.notExist && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("folder was created")
			}
		})
	}
}
