package models

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
)

// Trained is a label source's trained models as written by Run.
type Trained struct {
	Info   *TrainInfo
	Models []*Model // one per Info.Horizons, read back from model_hH.txt
}

// LoadTrained reads models/SOURCE/train.json and its model files.
func LoadTrained(workdir, source string) (*Trained, error) {
	dir := ModelDir(workdir, source)
	info, err := ReadTrainInfo(filepath.Join(dir, "train.json"))
	if err != nil {
		return nil, err
	}
	t := &Trained{Info: info}
	for _, h := range info.Horizons {
		m, err := ReadLightGBMFile(filepath.Join(dir, h.ModelFile))
		if err != nil {
			return nil, err
		}
		t.Models = append(t.Models, m)
	}
	return t, nil
}

// SplitScores are the policy inputs for the deployments of one split.
type SplitScores struct {
	IDs      []string
	Horizons []int
	// Probs[d][i] is P(faulty) of deployment d at Horizons[i], NaN when the
	// deployment has no features at that horizon.
	Probs [][]float64
	// Labels[d] is the label source's target (soft for weak labels), NaN when unlabelled.
	Labels []float64
}

// ScoreSplit scores every deployment of split ("train", "valid" or "test",
// per split.parquet) with the trained models of source, and attaches the
// source's labels. EvaluatePolicy(t.Info.Policy, s.Probs, s.Labels) then
// gives the policy's precision, recall, time to detection and false alarms.
func ScoreSplit(ctx context.Context, workdir, source, split string) (*SplitScores, error) {
	t, err := LoadTrained(workdir, source)
	if err != nil {
		return nil, err
	}
	splitOf, err := ReadSplit(filepath.Join(workdir, "split.parquet"))
	if err != nil {
		return nil, err
	}
	var labels labelSet
	switch source {
	case LabelsWeak:
		wl, err := readWeakLabels(filepath.Join(workdir, "labels.parquet"))
		if err != nil {
			return nil, err
		}
		labels = labelSet{}
		for id, l := range wl {
			if l.label != -1 {
				labels[id] = l.pFaulty
			}
		}
	case LabelsEnsemble:
		ft, err := ReadFeatureTable(filepath.Join(workdir, FeaturesFile(ensembleHorizon)))
		if err != nil {
			return nil, err
		}
		ens, inc := ft.column("ensemble_faulty"), ft.column("inconclusive")
		if ens == nil {
			return nil, fmt.Errorf("%s: no column ensemble_faulty", FeaturesFile(ensembleHorizon))
		}
		labels = labelSet{}
		for i, id := range ft.IDs {
			if !math.IsNaN(ens[i]) && (inc == nil || inc[i] != 1) {
				labels[id] = ens[i]
			}
		}
	default:
		return nil, fmt.Errorf("score: unknown label source %q", source)
	}
	s := &SplitScores{}
	row := map[string]int{}
	for id, sp := range splitOf {
		if sp == split {
			s.IDs = append(s.IDs, id)
		}
	}
	sortStrings(s.IDs)
	for i, id := range s.IDs {
		row[id] = i
		y, ok := labels[id]
		if !ok {
			y = math.NaN()
		}
		s.Labels = append(s.Labels, y)
	}
	s.Probs = make([][]float64, len(s.IDs))
	for i := range s.Probs {
		s.Probs[i] = make([]float64, len(t.Info.Horizons))
		for k := range s.Probs[i] {
			s.Probs[i][k] = math.NaN()
		}
	}
	for k, h := range t.Info.Horizons {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.Horizons = append(s.Horizons, h.Horizon)
		ft, err := ReadFeatureTable(filepath.Join(workdir, FeaturesFile(h.Horizon)))
		if err != nil {
			return nil, err
		}
		cols := make([][]float64, len(h.Features))
		for f, name := range h.Features {
			if cols[f] = ft.column(name); cols[f] == nil {
				return nil, fmt.Errorf("%s: no column %q that the %d-minute model needs", FeaturesFile(h.Horizon), name, h.Horizon)
			}
		}
		m := t.Models[k]
		x := make([]float64, len(cols))
		for i, id := range ft.IDs {
			r, ok := row[id]
			if !ok {
				continue
			}
			for f := range cols {
				x[f] = cols[f][i]
			}
			s.Probs[r][k] = m.Predict(x)
		}
	}
	return s, nil
}
