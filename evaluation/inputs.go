package evaluation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/faultline-dev/faultline/internal/workdir"
)

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
	t       *workdir.Features
	row     map[string]int
}

// Inputs are the workdir files an evaluation reads.
type Inputs struct {
	Dir      string
	Deploys  map[string]workdir.DeployRow // deploys.parquet by deployment id, StartedAt in UTC
	Horizons []int                        // horizons with a features file, ascending
	features map[int]*featureTable
	Labels   map[string]WeakLabel // nil when labels.parquet is absent
	LFNames  []string             // lf_ columns of labels.parquet, in file order
	Split    map[string]string
	LFReport json.RawMessage // lf_report.json as read; nil when absent
	lf       *workdir.LFReport
	Files    []InputFile
}

// ReadInputs reads the workdir files evaluation needs: deploys.parquet,
// features_hH.parquet, split.parquet, and when present labels.parquet and
// lf_report.json. Model files are read by LoadModelSet.
func ReadInputs(dir string) (*Inputs, error) {
	return readInputs(dir, "")
}

// readInputs is ReadInputs keeping, when split is not empty, only the
// feature rows of the deploys of that split (the rows an evaluation
// scores): the features of a million deploys take about 1 GB per horizon,
// those of a split a sixth of it.
func readInputs(dir, split string) (*Inputs, error) {
	in := &Inputs{Dir: dir, Deploys: map[string]workdir.DeployRow{}, features: map[int]*featureTable{}, Split: map[string]string{}}
	// deploys
	if err := in.record(workdir.DeploysFile); err != nil {
		return nil, err
	}
	deploys, err := workdir.ReadDeploys(filepath.Join(dir, workdir.DeploysFile))
	if err != nil {
		return nil, err
	}
	for _, d := range deploys {
		d.StartedAt = d.StartedAt.UTC()
		in.Deploys[d.DeploymentID] = d
	}
	// split: read before the features, whose rows it selects, and listed
	// after them in the lineage
	splitFile, err := in.checksum(workdir.SplitFile)
	if err != nil {
		return nil, err
	}
	if in.Split, err = workdir.ReadSplit(filepath.Join(dir, workdir.SplitFile)); err != nil {
		return nil, err
	}
	// features
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read workdir: %w", err)
	}
	for _, e := range entries {
		h, ok := workdir.FeaturesHorizon(e.Name())
		if !ok {
			continue
		}
		if err := in.record(e.Name()); err != nil {
			return nil, err
		}
		t, err := workdir.ReadFeatures(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if split != "" {
			keepRows(t, func(id string) bool { return in.Split[id] == split })
		}
		ft := &featureTable{horizon: h, t: t, row: make(map[string]int, len(t.IDs))}
		for i, id := range t.IDs {
			ft.row[id] = i
		}
		in.features[h] = ft
		in.Horizons = append(in.Horizons, h)
	}
	sort.Ints(in.Horizons)
	if len(in.Horizons) == 0 {
		return nil, fmt.Errorf("%s: no features_hH.parquet (run faultline extract first)", dir)
	}
	in.Files = append(in.Files, splitFile)
	// labels (optional)
	if err := in.record(workdir.LabelsFile); err == nil {
		lt, err := workdir.ReadLabels(filepath.Join(dir, workdir.LabelsFile))
		if err != nil {
			return nil, err
		}
		for _, f := range lt.Functions {
			in.LFNames = append(in.LFNames, workdir.LFPrefix+f)
		}
		in.Labels = make(map[string]WeakLabel, len(lt.IDs))
		for i, id := range lt.IDs {
			l := WeakLabel{PFaulty: lt.PFaulty[i], Label: int(lt.Label[i])}
			for _, v := range lt.Votes {
				l.Votes = append(l.Votes, v[i])
			}
			in.Labels[id] = l
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// lf_report (optional)
	if b, err := in.readFile(workdir.LFReportFile); err == nil {
		if in.lf, err = workdir.ParseLFReport(b); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, workdir.LFReportFile), err)
		}
		in.LFReport = b
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return in, nil
}

// keepRows drops from t, in place, the rows whose id keep refuses; the
// columns are copied so that the full ones can be freed.
func keepRows(t *workdir.Features, keep func(id string) bool) {
	var rows []int
	for i, id := range t.IDs {
		if keep(id) {
			rows = append(rows, i)
		}
	}
	ids := make([]string, len(rows))
	for k, i := range rows {
		ids[k] = t.IDs[i]
	}
	t.IDs = ids
	for j, col := range t.Cols {
		kept := make([]float64, len(rows))
		for k, i := range rows {
			kept[k] = col[i]
		}
		t.Cols[j] = kept
	}
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
	f, err := in.checksum(name)
	if err != nil {
		return err
	}
	in.Files = append(in.Files, f)
	return nil
}

// checksum hashes a workdir file for the lineage.
func (in *Inputs) checksum(name string) (InputFile, error) {
	sum, n, err := workdir.Checksum(filepath.Join(in.Dir, name))
	if err != nil {
		return InputFile{}, err
	}
	return InputFile{Path: filepath.ToSlash(name), SHA256: sum, Bytes: n}, nil
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
	c := ft.t.Column(col)
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
		if col := ft.t.Column(c); col != nil {
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
	return append([]string(nil), ft.t.Names...)
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
