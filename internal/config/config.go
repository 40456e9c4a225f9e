// Package config loads pipeline settings from a YAML file.
//
// The file has one top-level section per stage (import, simulate, features,
// labeling, train, evaluate, registry, run). Each stage package owns its
// settings struct with documented defaults; a stage decodes its own section
// with File.Section, so that a missing file or section means "all defaults"
// and an unknown key is an error that names the file and line.
package config

import (
	"bytes"
	"fmt"
	"os"
	"sort"

	"gopkg.in/yaml.v3"
)

// File is a parsed configuration file.
type File struct {
	path     string
	sections map[string]*yaml.Node
	resolved map[string]any
}

// Empty returns a configuration with every setting at its default.
func Empty() *File {
	return &File{sections: map[string]*yaml.Node{}, resolved: map[string]any{}}
}

// Load reads path. An empty path yields Empty().
func Load(path string) (*File, error) {
	if path == "" {
		return Empty(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses YAML data; path is used in error messages.
func Parse(path string, data []byte) (*File, error) {
	f := Empty()
	f.path = path
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return f, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: top level must be a mapping of sections", path, doc.Line)
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if _, dup := f.sections[k.Value]; dup {
			return nil, fmt.Errorf("%s:%d: section %q given twice", path, k.Line, k.Value)
		}
		f.sections[k.Value] = v
	}
	return f, nil
}

// Section decodes section name into dst, which must already hold the
// defaults: keys absent from the file keep them. Unknown keys are errors.
// The decoded value is remembered for Resolved.
func (f *File) Section(name string, dst any) error {
	if n, ok := f.sections[name]; ok {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		if err := enc.Encode(n); err != nil {
			return fmt.Errorf("%s: section %s: %w", f.path, name, err)
		}
		dec := yaml.NewDecoder(&buf)
		dec.KnownFields(true)
		if err := dec.Decode(dst); err != nil {
			return fmt.Errorf("%s: section %s (line %d): %w", f.path, name, n.Line, err)
		}
	}
	f.resolved[name] = dst
	return nil
}

// Unused returns the sections of the file that no stage decoded, sorted.
func (f *File) Unused() []string {
	var out []string
	for name := range f.sections {
		if _, ok := f.resolved[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Resolved returns the YAML of every section decoded so far, defaults
// included: the configuration a run actually used.
func (f *File) Resolved() ([]byte, error) {
	return yaml.Marshal(f.resolved)
}

// Path returns the file's path, or "" for defaults.
func (f *File) Path() string { return f.path }
