// Package config loads pipeline settings from a YAML file.
//
// The file has one top-level section per stage (run, simulate, features,
// labeling, train, evaluate, registry). Each stage package owns its
// settings struct with documented defaults and its validation; a section is
// decoded with File.Section, so that a missing file or section means "all
// defaults" and an unknown key is an error that names the file and line.
//
// Validators report an invalid value as a *FieldError carrying the key path
// of the setting (for example labeling.model.threshold or
// train.horizons[2]); File.Locate turns those paths into the file's line
// numbers, as FILE:LINE: path: reason. That is the one place where paths
// become lines. Package features, on the detectors' serving path, does not
// import this package: its validators return plain errors in the same
// "key.path: reason" form, which InSection and Nest read as key paths.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is a parsed configuration file.
type File struct {
	path     string
	data     []byte
	keys     map[string]*yaml.Node // section name → its key node
	sections map[string]*yaml.Node // section name → its value node
	resolved map[string]any
}

// Empty returns a configuration with every setting at its default.
func Empty() *File {
	return &File{keys: map[string]*yaml.Node{}, sections: map[string]*yaml.Node{}, resolved: map[string]any{}}
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
		f.keys[k.Value], f.sections[k.Value] = k, v
	}
	f.data = data
	return f, nil
}

// Section decodes section name into dst, a pointer that must already hold
// the defaults: keys absent from the file keep them. Unknown keys and
// values of the wrong type are errors naming the file and line. The decoded
// value is remembered for Resolved.
func (f *File) Section(name string, dst any) error {
	if _, ok := f.sections[name]; ok {
		if err := f.decode(name, dst); err != nil {
			return err
		}
	}
	f.resolved[name] = dst
	return nil
}

// decode decodes the whole file into a struct holding dst under key name
// and every other section as a yaml.Node: the decoder then reports the
// file's own line numbers, and KnownFields holds within the section.
func (f *File) decode(name string, dst any) error {
	typ := reflect.StructOf([]reflect.StructField{
		{Name: "Section", Type: reflect.TypeOf(dst), Tag: reflect.StructTag(`yaml:` + strconv.Quote(name))},
		{Name: "Others", Type: reflect.TypeOf(map[string]yaml.Node{}), Tag: `yaml:",inline"`},
	})
	wrapper := reflect.New(typ)
	wrapper.Elem().Field(0).Set(reflect.ValueOf(dst))
	dec := yaml.NewDecoder(bytes.NewReader(f.data))
	dec.KnownFields(true)
	err := dec.Decode(wrapper.Interface())
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: section %s: %w", f.path, name, err)
	}
	anon := typ.String()
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		e = strings.ReplaceAll(e, anon, "config")
		if m := yamlLineRE.FindStringSubmatch(e); m != nil {
			msgs = append(msgs, fmt.Sprintf("%s:%s: %s: %s", f.path, m[1], name, m[2]))
		} else {
			msgs = append(msgs, fmt.Sprintf("%s: %s: %s", f.path, name, e))
		}
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// yamlLineRE splits yaml.v3's "line N: message".
var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

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

// Resolved returns the YAML of the sections decoded so far, defaults
// included: the configuration a run actually used. With names, only those
// sections (the ones decoded among them).
func (f *File) Resolved(names ...string) ([]byte, error) {
	if len(names) == 0 {
		return yaml.Marshal(f.resolved)
	}
	m := map[string]any{}
	for _, n := range names {
		if v, ok := f.resolved[n]; ok {
			m[n] = v
		}
	}
	return yaml.Marshal(m)
}

// Path returns the file's path, or "" for defaults.
func (f *File) Path() string { return f.path }

// Line returns the line of the setting at key path p (for example
// "train.horizons[1]" or "labeling.model.threshold") in the file: the line
// of its key, or of the list item. When the file does not hold the setting
// itself, it returns the line of its nearest ancestor that it holds, and 0
// when it holds none (the setting is at its default).
func (f *File) Line(p string) int {
	line, _ := f.lookup(p)
	return line
}

// Has reports whether the file sets the setting at key path p itself.
func (f *File) Has(p string) bool {
	_, exact := f.lookup(p)
	return exact
}

// Retired returns a *FieldError for each key of retired (a key path, e.g.
// "train.ensemble_horizon") that the file sets, saying which setting
// replaced it: retired[key]. Check it before decoding the sections, whose
// decoders would only call the key unknown.
func (f *File) Retired(retired map[string]string) error {
	var errs []error
	for _, old := range slices.Sorted(maps.Keys(retired)) {
		if f.Has(old) {
			errs = append(errs, Errorf(old, "this setting was removed: set %s instead", retired[old]))
		}
	}
	return f.Locate(errors.Join(errs...))
}

// lookup returns the line of the setting at p (see Line) and whether the
// file holds the setting itself.
func (f *File) lookup(p string) (line int, exact bool) {
	steps := splitPath(p)
	if len(steps) == 0 || steps[0].index >= 0 {
		return 0, false
	}
	key, ok := f.keys[steps[0].key]
	if !ok {
		return 0, false
	}
	line, n := key.Line, f.sections[steps[0].key]
	for _, s := range steps[1:] {
		for n != nil && n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n == nil {
			return line, false
		}
		var next, at *yaml.Node
		switch {
		case s.index >= 0 && n.Kind == yaml.SequenceNode && s.index < len(n.Content):
			next, at = n.Content[s.index], n.Content[s.index]
		case s.index < 0 && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s.key {
					next, at = n.Content[i+1], n.Content[i]
				}
			}
		}
		if next == nil {
			return line, false
		}
		line, n = at.Line, next
	}
	return line, true
}

// step is one element of a key path: a mapping key, or a list index.
type step struct {
	key   string
	index int // -1 for a key
}

// splitPath splits "a.b[2].c" into a, b, [2], c.
func splitPath(p string) []step {
	var out []step
	for _, part := range strings.Split(p, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			out = append(out, step{key: key, index: -1})
		}
		for rest != "" {
			num, after, ok := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if !ok || err != nil {
				return out
			}
			out = append(out, step{index: i})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return out
}
