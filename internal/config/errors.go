package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// FieldError is an invalid setting. Path is the key path of the setting,
// from the section down ("labeling.model.threshold", "train.horizons[2]"),
// or relative to a sub-section when a nested validator returns it (Nest
// prefixes it). Msg says what is wrong with the value. Also names other
// settings a rule between settings involves: when the file does not hold
// Path itself, Locate points at the first of them that it holds.
type FieldError struct {
	Path string
	Msg  string
	Also []string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Errorf returns a *FieldError for the setting at path.
func Errorf(path, format string, a ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, a...)}
}

// Fields returns the field errors in err: err itself, or the errors joined
// in it (errors.Join), recursively. An error that is neither becomes one
// FieldError at path "" with its message. Fields(nil) is nil.
func Fields(err error) []*FieldError {
	if err == nil {
		return nil
	}
	if fe, ok := err.(*FieldError); ok {
		return []*FieldError{fe}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, Fields(e)...)
		}
		return out
	}
	return []*FieldError{{Msg: err.Error()}}
}

// keyRE matches the "key.path: reason" convention of validators that return
// plain errors: a lower-case key path, then ": ".
var keyRE = regexp.MustCompile(`(?s)^([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*|\[[0-9]+\])*): (.+)$`)

// splitKey reads a plain error message in the "key.path: reason"
// convention.
func splitKey(msg string) (path, reason string, ok bool) {
	m := keyRE.FindStringSubmatch(msg)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// Nest returns err's field errors with prefix put before their paths, joined
// (nil when err is nil). A plain error in the "key: reason" convention is
// read as a FieldError at key; any other becomes one at prefix: the whole
// sub-section is named.
func Nest(prefix string, err error) error {
	fields := Fields(err)
	if len(fields) == 0 {
		return nil
	}
	out := make([]error, len(fields))
	for i, f := range fields {
		if f.Path == "" {
			if k, reason, ok := splitKey(f.Msg); ok {
				f = &FieldError{Path: k, Msg: reason}
			}
		}
		p := prefix
		switch {
		case f.Path == "":
		case strings.HasPrefix(f.Path, "["):
			p += f.Path
		default:
			p += "." + f.Path
		}
		out[i] = &FieldError{Path: p, Msg: f.Msg, Also: f.Also}
	}
	return errors.Join(out...)
}

// InSection returns err's field errors as paths of section: a FieldError
// whose path starts with the section's name is kept, an error in the
// "section.key: reason" convention of validators that do not return
// FieldErrors yet is read as one, and any other error becomes a FieldError
// at the section itself.
func InSection(section string, err error) error {
	fields := Fields(err)
	if len(fields) == 0 {
		return nil
	}
	out := make([]error, len(fields))
	for i, f := range fields {
		switch {
		case isUnder(f.Path, section):
		case f.Path == "":
			if p, msg, ok := splitKey(f.Msg); ok && isUnder(p, section) {
				f = &FieldError{Path: p, Msg: msg}
			} else {
				f = &FieldError{Path: section, Msg: f.Msg}
			}
		default:
			f = &FieldError{Path: section + "." + f.Path, Msg: f.Msg, Also: f.Also}
		}
		out[i] = f
	}
	return errors.Join(out...)
}

func isUnder(p, section string) bool {
	return p == section || strings.HasPrefix(p, section+".") || strings.HasPrefix(p, section+"[")
}

// WithAlso returns err's field errors with paths added to their Also: the
// other settings the rule that failed involves.
func WithAlso(err error, paths ...string) error {
	fields := Fields(err)
	if len(fields) == 0 {
		return nil
	}
	out := make([]error, len(fields))
	for i, f := range fields {
		out[i] = &FieldError{Path: f.Path, Msg: f.Msg, Also: append(slices.Clip(f.Also), paths...)}
	}
	return errors.Join(out...)
}

// Locate turns the field errors in err into one error listing them as
// FILE:LINE: path: reason, one a line, in the order of the file (settings
// the file does not hold, at their defaults, last, without a line; the line
// of the nearest enclosing key the file holds otherwise). Locate(nil) is
// nil.
func (f *File) Locate(err error) error {
	fields := Fields(err)
	if len(fields) == 0 {
		return nil
	}
	type located struct {
		line int
		text string
	}
	out := make([]located, 0, len(fields))
	for _, fe := range fields {
		line, exact := f.lookup(fe.Path)
		for _, p := range fe.Also {
			if exact {
				break
			}
			if l, ok := f.lookup(p); ok {
				line, exact = l, true
			}
		}
		var where string
		switch {
		case f.path == "":
		case line > 0:
			where = fmt.Sprintf("%s:%d: ", f.path, line)
		default:
			where = f.path + ": "
		}
		out = append(out, located{line, where + fe.Error()})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].line == 0) != (out[j].line == 0) {
			return out[j].line == 0
		}
		return out[i].line < out[j].line
	})
	lines := make([]string, len(out))
	for i, l := range out {
		lines[i] = l.text
	}
	return &ValueError{Lines: lines}
}

// ValueError lists invalid settings, one "FILE:LINE: path: reason" a line.
type ValueError struct {
	Lines []string
}

func (e *ValueError) Error() string { return strings.Join(e.Lines, "\n") }
