package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/registry/bundle"
)

// The tests of this file play a hostile bundle author: they build archives by
// hand, forge manifests with recomputed checksums, and check that Read
// refuses them with a clear error while allocating little.

const mib = 1 << 20

// allocBound bounds the bytes Read may allocate while refusing a bomb. The
// bombs below decompress to 600 MiB or more; Read refuses them before their
// contents are read.
const allocBound = 16 * mib

// entry is one archive entry for archive.
type entry struct {
	name  string
	body  []byte
	zeros int64 // content of this many zero bytes instead of body
	typ   byte  // tar.TypeReg when zero
	link  string
	pax   map[string]string
}

// zeroChunk is the unit of zeros that bombWriter compresses once.
var zeroChunk = make([]byte, mib)

// bombWriter gzips a tar stream as a sequence of gzip members (which gzip
// readers concatenate), compressing zeroChunk once and reusing that member,
// so that a bomb of hundreds of MiB of zeros costs little to build.
type bombWriter struct {
	out, plain bytes.Buffer
	zmember    []byte
}

func (w *bombWriter) Write(p []byte) (int, error) {
	if len(p) == len(zeroChunk) && bytes.Equal(p, zeroChunk) {
		w.flush()
		if w.zmember == nil {
			w.zmember = gzipBytes(zeroChunk)
		}
		w.out.Write(w.zmember)
		return len(p), nil
	}
	return w.plain.Write(p)
}

func (w *bombWriter) flush() {
	if w.plain.Len() > 0 {
		w.out.Write(gzipBytes(w.plain.Bytes()))
		w.plain.Reset()
	}
}

func gzipBytes(p []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(p)
	zw.Close()
	return b.Bytes()
}

func writeZeros(t testing.TB, w interface{ Write([]byte) (int, error) }, n int64) {
	t.Helper()
	for n > 0 {
		c := zeroChunk[:min(n, int64(len(zeroChunk)))]
		if _, err := w.Write(c); err != nil {
			t.Fatal(err)
		}
		n -= int64(len(c))
	}
}

// archive returns a tar.gz of entries in order, followed by trailing zero
// bytes after the end-of-archive marker.
func archive(t testing.TB, trailing int64, entries ...entry) []byte {
	t.Helper()
	var bw bombWriter
	tw := tar.NewWriter(&bw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := int64(len(e.body))
		if e.zeros > 0 {
			size = e.zeros
		}
		if typ != tar.TypeReg {
			size = 0
		}
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: size, Typeflag: typ, Linkname: e.link, PAXRecords: e.pax}
		if e.pax != nil {
			hdr.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("%q: %v", e.name, err)
		}
		if typ != tar.TypeReg {
			continue
		}
		if e.zeros > 0 {
			writeZeros(t, tw, e.zeros)
		} else if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	writeZeros(t, &bw, trailing)
	bw.flush()
	return bw.out.Bytes()
}

// goodEntries returns the entries of sample() as Write writes them, with
// the manifest Write filled in.
func goodEntries(t testing.TB) ([]entry, bundle.Manifest) {
	t.Helper()
	b := sample()
	write(t, b)
	m := b.Manifest
	var es []entry
	for name, c := range sample().Files {
		es = append(es, entry{name: name, body: c})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es, m
}

// manifestEntries returns manifest.json with mdata and a matching
// manifest.sha256, as a forger who recomputes the checksum would.
func manifestEntries(mdata []byte) []entry {
	return []entry{{name: bundle.ManifestName, body: mdata}, {name: bundle.ManifestSumName, body: []byte(bundle.Sum(mdata) + "\n")}}
}

// forge returns sample()'s files with its manifest edited by edit (which may
// also change the files), the manifest checksum recomputed.
func forge(t testing.TB, edit func(m *bundle.Manifest, files []entry) []entry) []byte {
	t.Helper()
	files, m := goodEntries(t)
	m.Thresholds = maps(m.Thresholds)
	m.Horizons = slices.Clone(m.Horizons)
	m.Files = slices.Clone(m.Files)
	m.FeatureSchema.Names = slices.Clone(m.FeatureSchema.Names)
	if edit != nil {
		files = edit(&m, files)
	}
	mdata, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	return archive(t, 0, append(manifestEntries(mdata), files...)...)
}

func maps(m map[int]float64) map[int]float64 {
	out := map[int]float64{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// readAlloc reads data with Read and returns its error and the bytes it
// allocated.
func readAlloc(data []byte, lim bundle.Limits) (error, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := bundle.ReadWithLimits(bytes.NewReader(data), lim)
	runtime.ReadMemStats(&after)
	return err, after.TotalAlloc - before.TotalAlloc
}

// The probes of issue 14: small archives that decompress to gigabytes. Each
// is refused with a clear error while Read allocates less than allocBound.
func TestReadRefusesBombsWithLittleMemory(t *testing.T) {
	const big = 255 * mib // under the per-file limit, as in the probes
	cases := []struct {
		name   string
		data   func(t *testing.T) []byte
		want   string
		limit  bool // the error wraps ErrLimit
		unlist string
	}{
		{"unlisted huge entries", func(t *testing.T) []byte {
			return forge(t, func(m *bundle.Manifest, files []entry) []entry {
				for i := range 6 {
					files = append(files, entry{name: fmt.Sprintf("junk%d.bin", i), zeros: big})
				}
				return files
			})
		}, "junk0.bin is not listed in the manifest", false, "junk0.bin"},
		{"unlisted huge entry before the listed files", func(t *testing.T) []byte {
			return forge(t, func(m *bundle.Manifest, files []entry) []entry {
				return append([]entry{{name: "junk.bin", zeros: big}}, files...)
			})
		}, "junk.bin is not listed in the manifest", false, "junk.bin"},
		{"many tiny unlisted entries", func(t *testing.T) []byte {
			return forge(t, func(m *bundle.Manifest, files []entry) []entry {
				for i := range 20000 {
					files = append(files, entry{name: fmt.Sprintf("e%d", i), body: []byte("x")})
				}
				return files
			})
		}, "e0 is not listed in the manifest", false, "e0"},
		{"manifest listing too many entries", func(t *testing.T) []byte {
			return forge(t, func(m *bundle.Manifest, files []entry) []entry {
				for i := range 1000 {
					name := fmt.Sprintf("e%d", i)
					m.Files = append(m.Files, bundle.FileEntry{Path: name, SHA256: bundle.Sum(nil)})
					files = append(files, entry{name: name})
				}
				return files
			})
		}, "lists 1003 files, more than the 62 the limit of 64 archive entries allows", true, ""},
		{"listed files over the total size", func(t *testing.T) []byte {
			return forge(t, func(m *bundle.Manifest, files []entry) []entry {
				for i := range 3 {
					name := fmt.Sprintf("big%d.bin", i)
					m.Files = append(m.Files, bundle.FileEntry{Path: name, SHA256: bundle.Sum(nil), Size: 200 * mib})
					files = append(files, entry{name: name, zeros: 200 * mib})
				}
				return files
			})
		}, "the files add up to more than the 536870912-byte limit on the bundle's total size", true, ""},
		{"entry larger than listed", func(t *testing.T) []byte {
			return forge(t, func(m *bundle.Manifest, files []entry) []entry {
				for i := range files {
					if files[i].name == "model_h10.txt" {
						files[i] = entry{name: "model_h10.txt", zeros: big}
					}
				}
				return files
			})
		}, "size mismatch for model_h10.txt: manifest says 3 bytes, the archive holds 267386880", false, ""},
		{"huge manifest", func(t *testing.T) []byte {
			return archive(t, 0, entry{name: bundle.ManifestName, zeros: big})
		}, "manifest.json: 267386880 bytes exceeds the 1048576-byte limit", true, ""},
		{"huge manifest.sha256", func(t *testing.T) []byte {
			return archive(t, 0, entry{name: bundle.ManifestName, body: []byte("{}")}, entry{name: bundle.ManifestSumName, zeros: big})
		}, "manifest.sha256: 267386880 bytes exceeds the 1024-byte limit", true, ""},
		{"zeros after the end of the archive", func(t *testing.T) []byte {
			files, m := goodEntries(t)
			mdata, _ := json.Marshal(&m)
			return archive(t, big, append(manifestEntries(mdata), files...)...)
		}, "more than 1048576 decompressed bytes of data after the end of the archive", true, ""},
		{"huge PAX header", func(t *testing.T) []byte {
			return forge(t, func(m *bundle.Manifest, files []entry) []entry {
				files[0].pax = map[string]string{"comment": strings.Repeat("x", 900<<10)}
				return files
			})
		}, "more than 65536 decompressed bytes of tar headers and padding before one entry", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			err, alloc := readAlloc(data, bundle.Limits{})
			t.Logf("%d-byte archive: %v; allocated %d bytes", len(data), err, alloc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if got := errors.Is(err, bundle.ErrLimit); got != tc.limit {
				t.Errorf("errors.Is(err, ErrLimit) = %v, want %v", got, tc.limit)
			}
			if tc.unlist != "" {
				var ce *bundle.ChecksumError
				if !errors.As(err, &ce) || !ce.Unlisted || ce.File != tc.unlist {
					t.Errorf("err = %#v, want an Unlisted ChecksumError for %s", err, tc.unlist)
				}
			}
			if alloc > allocBound {
				t.Errorf("Read allocated %d bytes refusing a %d-byte archive, bound %d", alloc, len(data), allocBound)
			}
		})
	}
}

// Names in the manifest and in the archive: only flat, safe names.
func TestReadRefusesUnsafeNames(t *testing.T) {
	listing := func(name string) []byte {
		return forge(t, func(m *bundle.Manifest, files []entry) []entry {
			m.Files = append(m.Files, bundle.FileEntry{Path: name, SHA256: bundle.Sum([]byte("x")), Size: 1})
			return files
		})
	}
	inArchive := func(e entry) []byte {
		return forge(t, func(m *bundle.Manifest, files []entry) []entry { return append(files, e) })
	}
	renamed := func(from, to string) []byte {
		return forge(t, func(m *bundle.Manifest, files []entry) []entry {
			for i := range files {
				if files[i].name == from {
					files[i].name = to
				}
			}
			return files
		})
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"manifest lists ../../evil", listing("../../evil"), `files[3]: invalid file name "../../evil"`},
		{"manifest lists an absolute path", listing("/etc/cron.d/evil"), `invalid file name "/etc/cron.d/evil"`},
		{"manifest lists a backslash", listing(`..\evil`), `invalid file name "..\\evil"`},
		{"manifest lists a NUL", listing("evil\x00.txt"), `invalid file name "evil\x00.txt"`},
		{"manifest lists a directory", listing("dir/model.txt"), `invalid file name "dir/model.txt"`},
		{"manifest lists a dot file", listing(".hidden"), `invalid file name ".hidden"`},
		{"manifest lists the manifest", listing(bundle.ManifestName), "files[3]: manifest.json may not be listed"},
		{"manifest lists a file twice", forge(t, func(m *bundle.Manifest, files []entry) []entry {
			m.Files = append(m.Files, m.Files[0])
			return files
		}), "metrics.json is listed twice"},
		{"archive holds ../../evil", inArchive(entry{name: "../../evil", body: []byte("x")}), `archive entry: invalid file name "../../evil"`},
		{"archive holds an absolute path", inArchive(entry{name: "/tmp/evil", body: []byte("x")}), `invalid file name "/tmp/evil"`},
		{"archive holds ./model_h10.txt", renamed("model_h10.txt", "./model_h10.txt"), `invalid file name "./model_h10.txt"`},
		{"archive holds a backslash", inArchive(entry{name: `a\b`, body: []byte("x")}), `invalid file name "a\\b"`},
		{"archive holds a file twice", inArchive(entry{name: "model_h10.txt", body: []byte("ten")}), "model_h10.txt appears twice"},
		{"archive holds the manifest twice", inArchive(entry{name: bundle.ManifestName, body: []byte("{}")}), "manifest.json appears twice"},
		{"symlink", inArchive(entry{name: "evil", typ: tar.TypeSymlink, link: "/etc/passwd"}), `"evil": unexpected entry type '2'`},
		{"symlink for a listed file", forge(t, func(m *bundle.Manifest, files []entry) []entry {
			return append([]entry{{name: "model_h10.txt", typ: tar.TypeSymlink, link: "/etc/passwd"}}, files...)
		}), `"model_h10.txt": unexpected entry type '2'`},
		{"hard link", inArchive(entry{name: "evil", typ: tar.TypeLink, link: bundle.ManifestName}), "unexpected entry type '1'"},
		{"device", inArchive(entry{name: "evil", typ: tar.TypeChar}), "unexpected entry type '3'"},
		{"directory", inArchive(entry{name: "dir/", typ: tar.TypeDir}), "unexpected entry type '5'"},
		{"fifo", inArchive(entry{name: "evil", typ: tar.TypeFifo}), "unexpected entry type '6'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundle.Read(bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// A sparse file (a PAX header with GNU.sparse records, which Go's tar
// writer will not write) is refused.
func TestReadRefusesSparseFile(t *testing.T) {
	files, m := goodEntries(t)
	mdata, _ := json.Marshal(&m)
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	add := func(name string, body []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR})
		tw.Write(body)
	}
	for _, e := range manifestEntries(mdata) {
		add(e.name, e.body)
	}
	tw.Flush() // the previous entry's padding
	paxAt := plain.Len()
	add("paxheader", paxRecords("GNU.sparse.major", "1", "GNU.sparse.minor", "0", "GNU.sparse.name", "model_h10.txt", "GNU.sparse.realsize", "3"))
	// Sparse 1.0: the map (one region, offset 0, 3 bytes) in the data.
	sparse := make([]byte, 512)
	copy(sparse, "1\n0\n3\n")
	add("model_h10.txt", append(sparse, "ten"...))
	for _, e := range files {
		if e.name != "model_h10.txt" {
			add(e.name, e.body)
		}
	}
	tw.Close()
	data := plain.Bytes()
	setTypeflag(data[paxAt:paxAt+512], tar.TypeXHeader)
	_, err := bundle.Read(bytes.NewReader(gzipBytes(data)))
	if err == nil || !strings.Contains(err.Error(), `"model_h10.txt": sparse file`) {
		t.Fatalf("err = %v, want a refused sparse file", err)
	}
}

func paxRecords(kv ...string) []byte {
	var b []byte
	for i := 0; i < len(kv); i += 2 {
		rec := " " + kv[i] + "=" + kv[i+1] + "\n"
		n := len(rec)
		for len(fmt.Sprint(n))+len(rec) != n {
			n = len(fmt.Sprint(n)) + len(rec)
		}
		b = append(b, fmt.Sprintf("%d%s", n, rec)...)
	}
	return b
}

// setTypeflag changes a tar header block's type and fixes its checksum.
func setTypeflag(blk []byte, typ byte) {
	blk[156] = typ
	copy(blk[148:156], "        ")
	sum := 0
	for _, c := range blk {
		sum += int(c)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// Manifest values a forger may set, with the checksum recomputed.
func TestReadRefusesManifestValues(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(m *bundle.Manifest)
		want  string
		limit bool
	}{
		{"threshold 5", func(m *bundle.Manifest) { m.Thresholds[10] = 5 }, "threshold 5 for horizon 10 is not a probability in [0, 1]", false},
		{"threshold -3", func(m *bundle.Manifest) { m.Thresholds[60] = -3 }, "threshold -3 for horizon 60 is not a probability in [0, 1]", false},
		{"threshold just above 1", func(m *bundle.Manifest) { m.Thresholds[60] = 1.0000001 }, "is not a probability", false},
		{"threshold of an unlisted horizon", func(m *bundle.Manifest) { m.Thresholds[20] = 0.5 }, "threshold for horizon 20, which horizons [10 60] do not list", false},
		{"missing threshold", func(m *bundle.Manifest) { delete(m.Thresholds, 60) }, "no threshold for horizon 60", false},
		{"horizon 0", func(m *bundle.Manifest) { m.Horizons[0] = 0 }, "horizon 0 is not in 1..1440 minutes", false},
		{"negative horizon", func(m *bundle.Manifest) { m.Horizons[0] = -10 }, "horizon -10 is not in 1..1440 minutes", false},
		{"huge horizon", func(m *bundle.Manifest) { m.Horizons[1] = 1 << 40 }, "horizon 1099511627776 is not in 1..1440 minutes", false},
		{"duplicate horizon", func(m *bundle.Manifest) { m.Horizons = []int{10, 10, 60} }, "horizons must be distinct and ascending, got [10 10 60]", false},
		{"descending horizons", func(m *bundle.Manifest) { m.Horizons = []int{60, 10} }, "horizons must be distinct and ascending", false},
		{"no horizons", func(m *bundle.Manifest) { m.Horizons = nil }, "no horizons", false},
		{"horizon without a model", func(m *bundle.Manifest) {
			m.Horizons = []int{10, 20, 60}
			m.Thresholds[20] = 0.5
		}, "no model file for horizon 20", false},
		{"model of an unlisted horizon", func(m *bundle.Manifest) { m.Files[1].Horizon = 20 }, "model_h10.txt: horizon 20, which horizons [10 60] do not list", false},
		{"two models for one horizon", func(m *bundle.Manifest) { m.Files[2].Horizon = 10 }, "model_h10.txt and model_h60.txt are both the model of horizon 10", false},
		{"negative file horizon", func(m *bundle.Manifest) { m.Files[0].Horizon = -1 }, "metrics.json: horizon -1", false},
		{"negative version", func(m *bundle.Manifest) { m.Version = -1 }, "version -1 is negative", false},
		{"negative size", func(m *bundle.Manifest) { m.Files[0].Size = -1 }, "metrics.json: negative size -1", false},
		{"file over the per-file limit", func(m *bundle.Manifest) { m.Files[0].Size = bundle.MaxFileSize + 1 }, "metrics.json: 268435457 bytes exceeds the 268435456-byte limit on one file", true},
		{"bad sha256", func(m *bundle.Manifest) { m.Files[0].SHA256 = strings.ToUpper(m.Files[0].SHA256) }, "is not 64 lower-case hex digits", false},
		{"no model name", func(m *bundle.Manifest) { m.Model = "" }, "no model name", false},
		{"terminal escape in the model name", func(m *bundle.Manifest) { m.Model = "m\x1b[2J" }, `model: "m\x1b[2J" holds a control character`, false},
		{"long schema hash", func(m *bundle.Manifest) { m.FeatureSchema.Hash = strings.Repeat("a", 300) }, "feature_schema.hash: 300 bytes, more than 256", false},
		{"no feature names", func(m *bundle.Manifest) { m.FeatureSchema.Names = nil }, "no feature names", false},
		{"empty feature name", func(m *bundle.Manifest) { m.FeatureSchema.Names[1] = "" }, "feature_schema.names[1] is empty", false},
		{"duplicate feature name", func(m *bundle.Manifest) { m.FeatureSchema.Names[1] = "a" }, `feature "a" appears twice`, false},
		{"other format", func(m *bundle.Manifest) { m.Format = "faultline-bundle/2" }, `format "faultline-bundle/2", this build reads "faultline-bundle/1"`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := forge(t, func(m *bundle.Manifest, files []entry) []entry {
				tc.edit(m)
				return files
			})
			_, err := bundle.Read(bytes.NewReader(data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if got := errors.Is(err, bundle.ErrLimit); got != tc.limit {
				t.Errorf("errors.Is(err, ErrLimit) = %v, want %v", got, tc.limit)
			}
		})
	}
	// Bytes after the manifest's JSON object.
	files, m := goodEntries(t)
	mdata, _ := json.Marshal(&m)
	data := archive(t, 0, append(manifestEntries(append(mdata, `{"x":1}`...)), files...)...)
	if _, err := bundle.Read(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "data after the JSON object") {
		t.Errorf("trailing JSON: err = %v", err)
	}
	// The forged bundle is accepted without the edits: the refusals above
	// are the edits'.
	if _, err := bundle.Read(bytes.NewReader(forge(t, nil))); err != nil {
		t.Errorf("unedited forged bundle refused: %v", err)
	}
}

// One byte changed in any file, the manifest included, is still refused
// with a *ChecksumError naming the file.
func TestReadRefusesTamperedByte(t *testing.T) {
	files, m := goodEntries(t)
	mdata, _ := json.MarshalIndent(&m, "", "  ")
	all := append(manifestEntries(append(mdata, '\n')), files...)
	if _, err := bundle.Read(bytes.NewReader(archive(t, 0, all...))); err != nil {
		t.Fatalf("untampered: %v", err)
	}
	for i, e := range all {
		t.Run(e.name, func(t *testing.T) {
			es := slices.Clone(all)
			body := slices.Clone(e.body)
			body[len(body)/2]++
			es[i].body = body
			_, err := bundle.Read(bytes.NewReader(archive(t, 0, es...)))
			want := e.name
			if e.name == bundle.ManifestSumName {
				want = bundle.ManifestName
			}
			var ce *bundle.ChecksumError
			if !errors.As(err, &ce) || ce.File != want || ce.Missing || ce.Unlisted {
				t.Fatalf("err = %v, want a checksum mismatch on %s", err, want)
			}
		})
	}
}

// manifest.json and manifest.sha256 come first; the listed files follow in
// any order.
func TestReadEntryOrder(t *testing.T) {
	files, m := goodEntries(t)
	mdata, _ := json.Marshal(&m)
	man := manifestEntries(mdata)
	reversed := slices.Clone(files)
	slices.Reverse(reversed)
	if b, err := bundle.Read(bytes.NewReader(archive(t, 0, append(man, reversed...)...))); err != nil || len(b.Files) != 3 {
		t.Errorf("files in reverse order: %v", err)
	}
	cases := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"manifest after a file", append(append([]entry{files[1]}, man...), files[0], files[2]), `no manifest.json as the first entry (found "model_h10.txt")`},
		{"checksum before the manifest", append([]entry{man[1], man[0]}, files...), `no manifest.json as the first entry (found "manifest.sha256")`},
		{"file between manifest and checksum", append([]entry{man[0], files[0], man[1]}, files[1:]...), `no manifest.sha256 as the second entry (found "metrics.json")`},
		{"no checksum", []entry{man[0]}, "no manifest.sha256"},
		{"empty archive", nil, "no manifest.json: the archive is empty"},
		{"missing file", append(slices.Clone(man), files[0], files[2]), "model_h10.txt is listed in the manifest but missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundle.Read(bytes.NewReader(archive(t, 0, tc.entries...)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	def := bundle.DefaultLimits()
	if def != (bundle.Limits{MaxEntries: 64, MaxFileSize: 256 * mib, MaxTotalSize: 512 * mib, MaxManifestSize: mib}) {
		t.Errorf("DefaultLimits() = %+v", def)
	}
	good := write(t, sample()) // 5 entries; files of 2, 3 and 5 bytes
	files, m := goodEntries(t)
	mdata, _ := json.MarshalIndent(&m, "", "  ")
	mdata = append(mdata, '\n')
	total := int64(len(mdata)) + 65 + 2 + 3 + 5
	cases := []struct {
		name string
		lim  bundle.Limits
		want string // "" when accepted
	}{
		{"zero limits are the defaults", bundle.Limits{}, ""},
		{"negative limits are the defaults", bundle.Limits{MaxEntries: -1, MaxFileSize: -1, MaxTotalSize: -1, MaxManifestSize: -1}, ""},
		{"exactly enough", bundle.Limits{MaxEntries: 5, MaxFileSize: 5, MaxTotalSize: total, MaxManifestSize: int64(len(mdata))}, ""},
		{"one entry too few", bundle.Limits{MaxEntries: 4}, "lists 3 files, more than the 2 the limit of 4 archive entries allows"},
		{"one file too large", bundle.Limits{MaxFileSize: 4}, "model_h60.txt: 5 bytes exceeds the 4-byte limit on one file"},
		{"total one byte short", bundle.Limits{MaxTotalSize: total - 1}, fmt.Sprintf("more than the %d-byte limit on the bundle's total size", total-1)},
		{"manifest one byte too large", bundle.Limits{MaxManifestSize: int64(len(mdata)) - 1}, fmt.Sprintf("manifest.json: %d bytes exceeds the %d-byte limit", len(mdata), len(mdata)-1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := bundle.ReadWithLimits(bytes.NewReader(good), tc.lim)
			if tc.want == "" {
				if err != nil || len(b.Files) != len(files) {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, bundle.ErrLimit) {
				t.Fatalf("err = %v, want %q wrapping ErrLimit", err, tc.want)
			}
		})
	}
}

// Write refuses what Read would refuse, before writing anything.
func TestWriteRefuses(t *testing.T) {
	cases := []struct {
		name string
		edit func(b *bundle.Bundle)
		want string
	}{
		{"threshold 5", func(b *bundle.Bundle) { b.Manifest.Thresholds[10] = 5 }, "threshold 5 for horizon 10 is not a probability"},
		{"unsafe name", func(b *bundle.Bundle) { b.Files["../evil"] = []byte("x") }, `invalid file name "../evil"`},
		{"reserved name", func(b *bundle.Bundle) { b.Files[bundle.ManifestName] = []byte("x") }, "manifest.json may not be listed"},
		{"too many files", func(b *bundle.Bundle) {
			for i := range 62 {
				b.Files[fmt.Sprintf("f%d", i)] = nil
			}
		}, "more than the 62 the limit of 64 archive entries allows"},
		{"no threshold", func(b *bundle.Bundle) { delete(b.Manifest.Thresholds, 60) }, "no threshold for horizon 60"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := sample()
			tc.edit(b)
			var buf bytes.Buffer
			err := bundle.Write(&buf, b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes", buf.Len())
			}
		})
	}
}

func TestValidFileName(t *testing.T) {
	for _, ok := range []string{"model_h10.txt", "metrics.json", "manifest.json", "A-b_c.9", strings.Repeat("a", 128)} {
		if err := bundle.ValidFileName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "/x", "a/b", `a\b`, "a\x00", ".x", "-x", "_x", "a b", "é", "a\n", strings.Repeat("a", 129)} {
		if err := bundle.ValidFileName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
