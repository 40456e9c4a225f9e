package evaluation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Deploy is one row of deploys.parquet.
type Deploy struct {
	ID          string
	Service     string
	Environment string
	Version     string
	StartedAt   time.Time
	Kind        string
}

// WeakLabel is one row of labels.parquet.
type WeakLabel struct {
	PFaulty float64 // label-model posterior
	Label   int     // 1 faulty, 0 healthy, -1 every function abstained
	Votes   []int8  // by Inputs.LFNames: 1 faulty, 0 healthy, -1 abstain
}

// InputFile is one file the evaluation read, for the lineage.
type InputFile struct {
	Path   string `json:"path"` // relative to the workdir
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// featureTable is one features_hH.parquet: rows by deployment id.
type featureTable struct {
	horizon int
	t       *table
	row     map[string]int
}

// Inputs are the workdir files an evaluation reads.
type Inputs struct {
	Dir      string
	Deploys  map[string]Deploy
	Horizons []int // horizons with a features file, ascending
	features map[int]*featureTable
	Labels   map[string]WeakLabel // nil when labels.parquet is absent
	LFNames  []string             // lf_ columns of labels.parquet, in file order
	Split    map[string]string
	LFReport json.RawMessage // nil when absent
	Files    []InputFile
}

var featuresName = regexp.MustCompile(`^features_h(\d+)\.parquet$`)

// ReadInputs reads the workdir files evaluation needs: deploys.parquet,
// features_hH.parquet, split.parquet, and when present labels.parquet and
// lf_report.json. Model files are read by LoadModelSet.
func ReadInputs(dir string) (*Inputs, error) {
	in := &Inputs{Dir: dir, Deploys: map[string]Deploy{}, features: map[int]*featureTable{}, Split: map[string]string{}}
	// deploys
	dt, err := in.read("deploys.parquet")
	if err != nil {
		return nil, err
	}
	ids, err := dt.str("deployment_id")
	if err != nil {
		return nil, err
	}
	svc, _ := dt.str("service")
	env, _ := dt.str("environment")
	ver, _ := dt.str("version")
	kind, _ := dt.str("kind")
	started := dt.times["started_at"]
	if started == nil {
		return nil, fmt.Errorf("%s: column started_at: missing or not a timestamp", dt.path)
	}
	for i, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("%s: row %d: empty deployment_id", dt.path, i+1)
		}
		d := Deploy{ID: id, StartedAt: started[i]}
		if svc != nil {
			d.Service = svc[i]
		}
		if env != nil {
			d.Environment = env[i]
		}
		if ver != nil {
			d.Version = ver[i]
		}
		if kind != nil {
			d.Kind = kind[i]
		}
		in.Deploys[id] = d
	}
	// features
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read workdir: %w", err)
	}
	for _, e := range entries {
		m := featuresName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		h, _ := strconv.Atoi(m[1])
		t, err := in.read(e.Name())
		if err != nil {
			return nil, err
		}
		fids, err := t.str("deployment_id")
		if err != nil {
			return nil, err
		}
		ft := &featureTable{horizon: h, t: t, row: make(map[string]int, len(fids))}
		for i, id := range fids {
			ft.row[id] = i
		}
		in.features[h] = ft
		in.Horizons = append(in.Horizons, h)
	}
	sort.Ints(in.Horizons)
	if len(in.Horizons) == 0 {
		return nil, fmt.Errorf("%s: no features_hH.parquet (run faultline extract first)", dir)
	}
	// split
	st, err := in.read("split.parquet")
	if err != nil {
		return nil, err
	}
	sids, err := st.str("deployment_id")
	if err != nil {
		return nil, err
	}
	sp, err := st.str("split")
	if err != nil {
		return nil, err
	}
	for i, id := range sids {
		in.Split[id] = sp[i]
	}
	// labels (optional)
	if lt, err := in.read("labels.parquet"); err == nil {
		lids, err := lt.str("deployment_id")
		if err != nil {
			return nil, err
		}
		p, err := lt.num("p_faulty")
		if err != nil {
			return nil, err
		}
		lab, err := lt.num("label")
		if err != nil {
			return nil, err
		}
		var votes [][]float64
		for _, n := range lt.names {
			if strings.HasPrefix(n, "lf_") && lt.floats[n] != nil {
				in.LFNames = append(in.LFNames, n)
				votes = append(votes, lt.floats[n])
			}
		}
		in.Labels = make(map[string]WeakLabel, len(lids))
		for i, id := range lids {
			l := WeakLabel{PFaulty: p[i], Label: int(lab[i])}
			if math.IsNaN(lab[i]) {
				l.Label = -1
			}
			for _, v := range votes {
				vote := int8(-1)
				if v[i] == 0 || v[i] == 1 {
					vote = int8(v[i])
				}
				l.Votes = append(l.Votes, vote)
			}
			in.Labels[id] = l
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// lf_report (optional)
	if b, err := in.readFile("lf_report.json"); err == nil {
		if !json.Valid(b) {
			return nil, fmt.Errorf("%s: not valid JSON", filepath.Join(dir, "lf_report.json"))
		}
		in.LFReport = b
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return in, nil
}

// read reads a Parquet file of the workdir and records it in the lineage.
func (in *Inputs) read(name string) (*table, error) {
	path := filepath.Join(in.Dir, name)
	if err := in.record(name); err != nil {
		return nil, err
	}
	t, err := readTable(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return t, nil
}

// readFile reads a whole workdir file and records it in the lineage.
func (in *Inputs) readFile(name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(in.Dir, name))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	in.Files = append(in.Files, InputFile{Path: filepath.ToSlash(name), SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b))})
	return b, nil
}

// record hashes a workdir file into the lineage.
func (in *Inputs) record(name string) error {
	f, err := os.Open(filepath.Join(in.Dir, name))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	in.Files = append(in.Files, InputFile{Path: filepath.ToSlash(name), SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n})
	return nil
}

// Feature returns the value of column col at horizon h for deploy id, and
// whether the deploy has a row at that horizon. Missing columns give NaN.
func (in *Inputs) Feature(h int, id, col string) (float64, bool) {
	ft := in.features[h]
	if ft == nil {
		return math.NaN(), false
	}
	i, ok := ft.row[id]
	if !ok {
		return math.NaN(), false
	}
	c := ft.t.floats[col]
	if c == nil {
		return math.NaN(), true
	}
	return c[i], true
}

// FeatureRow returns the values of cols at horizon h for deploy id (NaN for
// columns absent from the file), or false when the deploy has no row.
func (in *Inputs) FeatureRow(h int, id string, cols []string, dst []float64) ([]float64, bool) {
	ft := in.features[h]
	if ft == nil {
		return dst, false
	}
	i, ok := ft.row[id]
	if !ok {
		return dst, false
	}
	dst = dst[:0]
	for _, c := range cols {
		v := math.NaN()
		if col := ft.t.floats[c]; col != nil {
			v = col[i]
		}
		dst = append(dst, v)
	}
	return dst, true
}

// FeatureColumns returns the numeric columns of the horizon-h features file
// in file order (deployment_id excluded).
func (in *Inputs) FeatureColumns(h int) []string {
	ft := in.features[h]
	if ft == nil {
		return nil
	}
	var out []string
	for _, n := range ft.t.names {
		if _, ok := ft.t.floats[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// TestIDs returns the ids of deploys whose split is name, ordered by start
// time then id.
func (in *Inputs) TestIDs(name string) []string {
	var ids []string
	for id, s := range in.Split {
		if s == name {
			if _, ok := in.Deploys[id]; ok {
				ids = append(ids, id)
			}
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := in.Deploys[ids[i]], in.Deploys[ids[j]]
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.Before(b.StartedAt)
		}
		return ids[i] < ids[j]
	})
	return ids
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
