package bundle

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ValidFileName reports whether name may name a file in a bundle: a flat
// name of 1 to 128 characters among letters, digits, '.', '_' and '-',
// starting with a letter or digit. So no directory, no absolute path, no
// "..", no backslash, NUL or other control character. manifest.json and
// manifest.sha256 are valid names, but the manifest may not list them.
func ValidFileName(name string) error {
	ok := name != "" && len(name) <= maxNameLen && isAlnum(name[0])
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlnum(c) || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("invalid file name %q: a bundle holds flat names of letters, digits, '.', '_' or '-', starting with a letter or digit, at most %d characters (no directories, absolute paths or ..)", name, maxNameLen)
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validate checks the manifest's values (see Manifest) against lim; overhead
// is the size of manifest.json and manifest.sha256, counted in the total.
func (m *Manifest) validate(lim Limits, overhead int64) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("bundle: %s: "+format, append([]any{ManifestName}, args...)...)
	}
	if m.Model == "" {
		return bad("no model name")
	}
	texts := []struct{ field, value string }{
		{"model", m.Model}, {"feature_schema.version", m.FeatureSchema.Version}, {"feature_schema.hash", m.FeatureSchema.Hash},
		{"feature_schema.config_hash", m.FeatureSchema.ConfigHash}, {"eval_set_hash", m.EvalSetHash},
	}
	for _, t := range texts {
		if err := checkText(t.value); err != nil {
			return bad("%s: %w", t.field, err)
		}
	}
	if m.Version < 0 {
		return bad("version %d is negative", m.Version)
	}
	if len(m.FeatureSchema.Names) == 0 {
		return bad("no feature names")
	}
	seenName := make(map[string]bool, len(m.FeatureSchema.Names))
	for i, n := range m.FeatureSchema.Names {
		if n == "" {
			return bad("feature_schema.names[%d] is empty", i)
		}
		if err := checkText(n); err != nil {
			return bad("feature_schema.names[%d]: %w", i, err)
		}
		if seenName[n] {
			return bad("feature %q appears twice in feature_schema.names", n)
		}
		seenName[n] = true
	}

	if len(m.Horizons) == 0 {
		return bad("no horizons")
	}
	isHorizon := make(map[int]bool, len(m.Horizons))
	for i, h := range m.Horizons {
		if h < 1 || h > MaxHorizon {
			return bad("horizon %d is not in 1..%d minutes", h, MaxHorizon)
		}
		if i > 0 && h <= m.Horizons[i-1] {
			return bad("horizons must be distinct and ascending, got %v", m.Horizons)
		}
		isHorizon[h] = true
	}
	for h, t := range m.Thresholds {
		if !isHorizon[h] {
			return bad("threshold for horizon %d, which horizons %v do not list", h, m.Horizons)
		}
		if !(t >= 0 && t <= 1) {
			return bad("threshold %v for horizon %d is not a probability in [0, 1]", t, h)
		}
	}

	if maxFiles := lim.MaxEntries - 2; len(m.Files) > maxFiles {
		return fmt.Errorf("bundle: %s: lists %d files, more than the %d the limit of %d archive entries allows: %w", ManifestName, len(m.Files), max(maxFiles, 0), lim.MaxEntries, ErrLimit)
	}
	if overhead > lim.MaxTotalSize {
		return fmt.Errorf("bundle: %s: %d bytes exceeds the %d-byte limit on the bundle's total size: %w", ManifestName, overhead, lim.MaxTotalSize, ErrLimit)
	}
	total := overhead
	seenPath := make(map[string]bool, len(m.Files))
	fileFor := make(map[int]string, len(m.Horizons))
	for i, f := range m.Files {
		if err := ValidFileName(f.Path); err != nil {
			return bad("files[%d]: %w", i, err)
		}
		if f.Path == ManifestName || f.Path == ManifestSumName {
			return bad("files[%d]: %s may not be listed", i, f.Path)
		}
		if seenPath[f.Path] {
			return bad("%s is listed twice", f.Path)
		}
		seenPath[f.Path] = true
		if !isSHA256(f.SHA256) {
			return bad("%s: sha256 %q is not 64 lower-case hex digits", f.Path, f.SHA256)
		}
		if f.Size < 0 {
			return bad("%s: negative size %d", f.Path, f.Size)
		}
		if f.Size > lim.MaxFileSize {
			return fmt.Errorf("bundle: %s: %s: %d bytes exceeds the %d-byte limit on one file: %w", ManifestName, f.Path, f.Size, lim.MaxFileSize, ErrLimit)
		}
		if f.Size > lim.MaxTotalSize-total {
			return fmt.Errorf("bundle: %s: the files add up to more than the %d-byte limit on the bundle's total size: %w", ManifestName, lim.MaxTotalSize, ErrLimit)
		}
		total += f.Size
		if f.Horizon == 0 {
			continue
		}
		if !isHorizon[f.Horizon] {
			return bad("%s: horizon %d, which horizons %v do not list", f.Path, f.Horizon, m.Horizons)
		}
		if other, dup := fileFor[f.Horizon]; dup {
			return bad("%s and %s are both the model of horizon %d", other, f.Path, f.Horizon)
		}
		fileFor[f.Horizon] = f.Path
	}
	for _, h := range m.Horizons {
		if _, ok := fileFor[h]; !ok {
			return bad("no model file for horizon %d", h)
		}
		if _, ok := m.Thresholds[h]; !ok {
			return bad("no threshold for horizon %d", h)
		}
	}
	return nil
}

// checkText refuses text that would be unsafe to print: invalid UTF-8,
// control characters, or more than maxTextLen bytes.
func checkText(s string) error {
	if len(s) > maxTextLen {
		return fmt.Errorf("%d bytes, more than %d", len(s), maxTextLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%q holds a control character", s)
		}
	}
	return nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
