package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/registry/bundle"
)

func sample() *bundle.Bundle {
	return &bundle.Bundle{
		Manifest: bundle.Manifest{Model: "m", Version: 2, FeatureSchema: bundle.Schema{Version: "s1", Names: []string{"a", "b"}},
			Horizons: []int{10, 60}, Thresholds: map[int]float64{10: 0.5, 60: 0.4},
			Files: []bundle.FileEntry{{Path: "model_h10.txt", Horizon: 10}, {Path: "model_h60.txt", Horizon: 60}}},
		Files: map[string][]byte{"model_h10.txt": []byte("ten"), "model_h60.txt": []byte("sixty"), "metrics.json": []byte("{}")},
	}
}

func write(t testing.TB, b *bundle.Bundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bundle.Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rewrite rebuilds a bundle archive through edit, which may change, drop
// or add entries.
func rewrite(t *testing.T, data []byte, edit func(name string, content []byte) (string, []byte, bool), extra map[string][]byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		var b bytes.Buffer
		b.ReadFrom(tr)
		name, content, keep := edit(hdr.Name, b.Bytes())
		if !keep {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		tw.Write(content)
	}
	for name, c := range extra {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg})
		tw.Write(c)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b := sample()
	data := write(t, b)
	got, err := bundle.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got.Manifest.Format != bundle.Format || got.Manifest.Model != "m" || len(got.Manifest.Files) != 3 {
		t.Fatalf("manifest %+v", got.Manifest)
	}
	for name, c := range b.Files {
		if !bytes.Equal(got.Files[name], c) {
			t.Errorf("%s differs", name)
		}
	}
	for _, f := range got.Manifest.Files {
		if f.SHA256 != bundle.Sum(b.Files[f.Path]) {
			t.Errorf("%s: checksum %s", f.Path, f.SHA256)
		}
	}
	if m, ok := got.Model(60); !ok || string(m) != "sixty" {
		t.Errorf("Model(60) = %q", m)
	}
	// Deterministic: same bundle, same bytes.
	if !bytes.Equal(data, write(t, sample())) {
		t.Error("two writes of the same bundle differ")
	}
}

func TestReadRefuses(t *testing.T) {
	good := write(t, sample())
	keep := func(name string, c []byte) (string, []byte, bool) { return name, c, true }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"not gzip", []byte("hello"), "not a gzip stream"},
		{"missing file", rewrite(t, good, func(n string, c []byte) (string, []byte, bool) { return n, c, n != "model_h60.txt" }, nil), "model_h60.txt is listed in the manifest but missing"},
		{"unlisted file", rewrite(t, good, keep, map[string][]byte{"evil.sh": []byte("rm -rf /")}), "evil.sh is not listed"},
		{"no manifest", rewrite(t, good, func(n string, c []byte) (string, []byte, bool) { return n, c, n != bundle.ManifestName }, nil), "no manifest.json"},
		{"changed content", rewrite(t, good, func(n string, c []byte) (string, []byte, bool) {
			if n == "model_h10.txt" {
				c = []byte("teN")
			}
			return n, c, true
		}, nil), "checksum mismatch for model_h10.txt"},
		{"changed manifest", rewrite(t, good, func(n string, c []byte) (string, []byte, bool) {
			if n == bundle.ManifestName {
				c = bytes.Replace(c, []byte(`"version": 2`), []byte(`"version": 3`), 1)
			}
			return n, c, true
		}, nil), "checksum mismatch for manifest.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundle.Read(bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	var ce *bundle.ChecksumError
	_, err := bundle.Read(bytes.NewReader(cases[4].data))
	if !errors.As(err, &ce) || ce.File != "model_h10.txt" {
		t.Errorf("not a ChecksumError: %v", err)
	}
}
