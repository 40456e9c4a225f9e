package evaluation

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/dmitryikh/leaves"

	"github.com/faultline-dev/faultline/models"
)

// Predictor scores one feature row of one horizon: P(faulty).
type Predictor interface {
	// Features names the columns, in order, that Predict expects.
	Features() []string
	// Predict returns P(faulty) for the row (NaN for undefined features).
	Predict(row []float64) float64
}

// Policy decides, from the per-horizon probabilities of one deploy (NaN
// where the deploy has no data at that horizon), the first horizon at which
// it is flagged, or -1.
type Policy interface {
	Decide(p map[int]float64) int
}

// ThresholdPolicy flags a deploy at the first horizon, in ascending order,
// whose probability reaches that horizon's threshold. It is the sequential
// policy of train.json when that file names no other.
type ThresholdPolicy struct {
	Thresholds map[int]float64
}

// Decide implements Policy.
func (tp ThresholdPolicy) Decide(p map[int]float64) int {
	hs := make([]int, 0, len(tp.Thresholds))
	for h := range tp.Thresholds {
		hs = append(hs, h)
	}
	sort.Ints(hs)
	for _, h := range hs {
		if v, ok := p[h]; ok && !math.IsNaN(v) && v >= tp.Thresholds[h] {
			return h
		}
	}
	return -1
}

// ModelSet is one contender made of per-horizon models: the sequential
// models of a workdir source (models/SOURCE) or a registered model.
type ModelSet struct {
	Name       string            // contender name, e.g. "weak"
	Source     string            // where it came from, e.g. "models/weak"
	Version    string            // model version when registered, else a content hash
	Predictors map[int]Predictor // by horizon
	Thresholds map[int]float64   // by horizon
	Policy     Policy            // sequential policy
	Train      json.RawMessage   // train.json as read, for the lineage
	Files      []InputFile       // files read
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
// feature_names.
func newLeavesPredictor(txt []byte, fallbackNames []string) (*leavesPredictor, error) {
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(txt)), true)
	if err != nil {
		return nil, err
	}
	names := featureNamesOf(txt)
	if len(names) == 0 {
		names = fallbackNames
	}
	if len(names) < ens.NFeatures() {
		return nil, fmt.Errorf("%d features but %d names", ens.NFeatures(), len(names))
	}
	return &leavesPredictor{names: names, ens: ens}, nil
}

var modelName = regexp.MustCompile(`^model_h(\d+)\.txt$`)

// LoadModelSet reads workdir models/SOURCE: model_hH.txt per horizon and the
// thresholds of train.json (0.5 where absent). It returns fs.ErrNotExist
// (wrapped) when the folder holds no model.
func LoadModelSet(in *Inputs, source string) (*ModelSet, error) {
	rel := filepath.Join("models", source)
	dir := filepath.Join(in.Dir, rel)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	ms := &ModelSet{Name: source, Source: filepath.ToSlash(rel), Predictors: map[int]Predictor{}, Thresholds: map[int]float64{}}
	sub := &Inputs{Dir: in.Dir}
	for _, e := range entries {
		m := modelName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		h, _ := strconv.Atoi(m[1])
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
	b, err := sub.readFile(filepath.Join(rel, "train.json"))
	switch {
	case err == nil:
		th, err := models.ReadThresholds(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(rel, "train.json"), err)
		}
		maps.Copy(ms.Thresholds, th)
		ms.Train = b
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
	ms.Policy = ThresholdPolicy{Thresholds: ms.Thresholds}
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
	return fmt.Sprintf("%x", sha256Sum([]byte(s)))[:12]
}

// ModelSetFromTexts builds a contender from LightGBM text models held in
// memory (by horizon), e.g. the artifacts of a registered version, with
// their thresholds and the sequential ThresholdPolicy. featureNames are
// used for texts that list no feature_names.
func ModelSetFromTexts(name, source, version string, texts map[int][]byte, thresholds map[int]float64, featureNames []string) (*ModelSet, error) {
	ms := &ModelSet{Name: name, Source: source, Version: version, Predictors: map[int]Predictor{}, Thresholds: map[int]float64{}}
	for h, txt := range texts {
		p, err := newLeavesPredictor(txt, featureNames)
		if err != nil {
			return nil, fmt.Errorf("%s: %d-minute model: %w", source, h, err)
		}
		ms.Predictors[h] = p
		th, ok := thresholds[h]
		if !ok {
			return nil, fmt.Errorf("%s: no threshold for the %d-minute model", source, h)
		}
		ms.Thresholds[h] = th
		sum := sha256Sum(txt)
		ms.Files = append(ms.Files, InputFile{Path: fmt.Sprintf("%s/model_h%d.txt", source, h), SHA256: fmt.Sprintf("%x", sum), Bytes: int64(len(txt))})
	}
	if len(ms.Predictors) == 0 {
		return nil, fmt.Errorf("%s: no models", source)
	}
	ms.Policy = ThresholdPolicy{Thresholds: ms.Thresholds}
	return ms, nil
}

// featureNamesOf returns the feature_names of a LightGBM text model.
func featureNamesOf(txt []byte) []string {
	for _, line := range bytes.Split(txt, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("feature_names=")) {
			return strings.Fields(string(bytes.TrimPrefix(line, []byte("feature_names="))))
		}
		if bytes.HasPrefix(line, []byte("Tree=")) {
			break
		}
	}
	return nil
}
