package importer

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// fileExts are the formats of an import file: NAME.csv or NAME.parquet for
// every table of tableOrder.
var fileExts = []string{".csv", ".parquet"}

// ExpectedFiles returns the names of the files an import folder may hold:
// NAME.csv and NAME.parquet for every table, in import order.
func ExpectedFiles() []string {
	out := make([]string, 0, len(tableOrder)*len(fileExts))
	for _, t := range tableOrder {
		for _, ext := range fileExts {
			out = append(out, t+ext)
		}
	}
	return out
}

// UnknownFile is a file of an import folder that is not an import file.
type UnknownFile struct {
	Name string `json:"name"`
	// Suggestion is the expected name closest to Name when one is close
	// (a typo, a missing "s", another case or extension), else "".
	Suggestion string `json:"suggestion,omitempty"`
}

// UnknownFilesError reports the files of an import folder that are not
// import files. A misnamed file (deploymnets.csv, annotation.csv) would
// otherwise be skipped without a word, so CheckFolder refuses the folder;
// Options.IgnoreUnknownFiles (faultline import --ignore-unknown-files)
// skips such files instead.
type UnknownFilesError struct {
	Dir   string
	Files []UnknownFile
}

func (e *UnknownFilesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "import folder %s: %d unknown %s:", e.Dir, len(e.Files), plural(int64(len(e.Files)), "file", "files"))
	for _, f := range e.Files {
		b.WriteString("\n  " + f.Name)
		if f.Suggestion != "" {
			fmt.Fprintf(&b, " (did you mean %s?)", f.Suggestion)
		}
	}
	fmt.Fprintf(&b, "\nexpected names: NAME%s with NAME one of %s (subfolders and hidden files are not read); rename the files, move them out, or skip them with --ignore-unknown-files",
		strings.Join(fileExts, " or NAME"), strings.Join(tableOrder, ", "))
	return b.String()
}

// CheckFolder returns an *UnknownFilesError when dir holds a file that is
// not an import file (ExpectedFiles). Subfolders and hidden files (a name
// starting with ".") are not import files and are not reported: the import
// never reads them.
func CheckFolder(dir string) error {
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("import folder: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("import folder %s: not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("import folder: %w", err)
	}
	expected := ExpectedFiles()
	known := make(map[string]bool, len(expected))
	for _, n := range expected {
		known[n] = true
	}
	var unknown []UnknownFile
	for _, e := range ents {
		name := e.Name()
		if known[name] || strings.HasPrefix(name, ".") || isDir(dir, e) {
			continue
		}
		unknown = append(unknown, UnknownFile{Name: name, Suggestion: closest(name, expected)})
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Slice(unknown, func(i, j int) bool { return unknown[i].Name < unknown[j].Name })
	return &UnknownFilesError{Dir: dir, Files: unknown}
}

// isDir reports whether the entry is a folder, or a link to one.
func isDir(dir string, e os.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&os.ModeSymlink == 0 {
		return false
	}
	st, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && st.IsDir()
}

// checkFolder is CheckFolder unless opts skip unknown files.
func checkFolder(dir string, opts Options) error {
	if opts.IgnoreUnknownFiles {
		return nil
	}
	return CheckFolder(dir)
}

// closest returns the name of names nearest to name (ignoring case) when it
// is near enough to be a likely slip: at most max(2, len/4) edits (a
// transposition counts as one), or the same table with another extension.
func closest(name string, names []string) string {
	lower := strings.ToLower(name)
	stem, _, _ := strings.Cut(lower, ".")
	best, bestD := "", -1
	for _, n := range names {
		d := editDistance(lower, n)
		if d > max(2, len(n)/4) {
			continue
		}
		if bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return best
	}
	for _, n := range names { // e.g. deployments.json, metrics.csv.gz
		if t, _, _ := strings.Cut(n, "."); t == stem {
			return n
		}
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// bytes.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
