package evaluation

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	"github.com/dmitryikh/leaves"

	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/lightgbm"
	"github.com/faultline-dev/faultline/models/policy"
)

// Predictor scores one feature row of one horizon: P(faulty).
type Predictor interface {
	// Features names the columns, in order, that Predict expects.
	Features() []string
	// Predict returns P(faulty) for the row (NaN for undefined features).
	// It must be safe for concurrent use: contenders are scored by several
	// goroutines.
	Predict(row []float64) float64
}

// ModelSet is one contender made of per-horizon models: the sequential
// models of a workdir source (models/SOURCE) or a registered model.
type ModelSet struct {
	Name       string            // contender name, e.g. "weak"
	Source     string            // where it came from, e.g. "models/weak"
	Version    string            // model version when registered, else a content hash
	Predictors map[int]Predictor // by horizon
	Thresholds map[int]float64   // by horizon
	Policy     policy.Policy     // sequential policy
	Train      json.RawMessage   // train.json as read, for the lineage
	// Info is train.json as parsed (operating target, calibration); nil
	// for a registered model or a folder without train.json.
	Info  *workdir.Train
	Files []InputFile // files read
}

// leavesPredictor is a LightGBM text model read by leaves.
type leavesPredictor struct {
	names []string
	ens   *leaves.Ensemble
}

func (p *leavesPredictor) Features() []string { return p.names }
func (p *leavesPredictor) Predict(row []float64) float64 {
	return p.ens.PredictSingle(row, 0)
}

// LoadLightGBM reads a LightGBM text model (version v3) with its sigmoid
// transformation. fallbackNames are used when the file lists no
// feature_names.
func LoadLightGBM(path string, fallbackNames []string) (Predictor, error) {
	txt, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", path, err)
	}
	p, err := newLeavesPredictor(txt, fallbackNames)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return p, nil
}

// newLeavesPredictor loads a LightGBM text model with its sigmoid
// transformation; fallbackNames name its features when the text lists no
// feature_names (lightgbm.Model.Columns: its first columns).
func newLeavesPredictor(txt []byte, fallbackNames []string) (*leavesPredictor, error) {
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(txt)), true)
	if err != nil {
		return nil, err
	}
	m, err := lightgbm.Parse(txt)
	if err != nil {
		return nil, err
	}
	names := m.FeatureNames
	if names == nil {
		cols, err := m.Columns(fallbackNames)
		if err != nil {
			return nil, err
		}
		for _, c := range cols {
			names = append(names, fallbackNames[c])
		}
	}
	return &leavesPredictor{names: names, ens: ens}, nil
}

// LoadModelSet reads workdir models/SOURCE: model_hH.txt per horizon and the
// thresholds of train.json (0.5 where absent). It returns fs.ErrNotExist
// (wrapped) when the folder holds no model.
func LoadModelSet(in *Inputs, source string) (*ModelSet, error) {
	rel := workdir.ModelDir(source)
	dir := filepath.Join(in.Dir, rel)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	ms := &ModelSet{Name: source, Source: filepath.ToSlash(rel), Predictors: map[int]Predictor{}, Thresholds: map[int]float64{}}
	sub := &Inputs{Dir: in.Dir}
	for _, e := range entries {
		h, ok := workdir.ModelHorizon(e.Name())
		if !ok {
			continue
		}
		name := filepath.Join(rel, e.Name())
		if err := sub.record(name); err != nil {
			return nil, err
		}
		p, err := LoadLightGBM(filepath.Join(in.Dir, name), in.FeatureColumns(h))
		if err != nil {
			return nil, err
		}
		ms.Predictors[h] = p
	}
	if len(ms.Predictors) == 0 {
		return nil, fmt.Errorf("%s: no model_hH.txt: %w", rel, fs.ErrNotExist)
	}
	b, err := sub.readFile(filepath.Join(rel, workdir.TrainFile))
	switch {
	case err == nil:
		tr, err := workdir.ParseTrain(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(rel, workdir.TrainFile), err)
		}
		maps.Copy(ms.Thresholds, tr.Thresholds())
		ms.Train, ms.Info = b, tr
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, err
	}
	for h := range ms.Predictors {
		if _, ok := ms.Thresholds[h]; !ok {
			ms.Thresholds[h] = 0.5
		}
	}
	for h := range ms.Thresholds {
		if _, ok := ms.Predictors[h]; !ok {
			delete(ms.Thresholds, h)
		}
	}
	ms.Policy = policy.FromThresholds(ms.Thresholds)
	if ms.Info != nil {
		ms.Policy.FleetEventShare = ms.Info.Policy.FleetEventShare
	}
	ms.Files = sub.Files
	ms.Version = "sha256:" + versionHash(sub.Files)
	return ms, nil
}

// versionHash is a short digest of the model files, standing in for a
// version for unregistered workdir models.
func versionHash(files []InputFile) string {
	s := ""
	for _, f := range files {
		s += f.SHA256
	}
	if len(s) < 12 {
		return s
	}
	return fmt.Sprintf("%x", sha256.Sum256([]byte(s)))[:12]
}
