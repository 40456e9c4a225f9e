package models

import (
	"fmt"
	"os"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/models/lightgbm"
)

// LightGBM returns the model as a LightGBM text model (package lightgbm):
// version v3, binary objective with sigmoid 1, every split numerical with
// missing type NaN and the learned default direction, and the monotone
// constraints (monotone_constraints) when the model has them. The trees'
// arrays are copied.
func (m *Model) LightGBM() *lightgbm.Model {
	lm := &lightgbm.Model{
		NumClass: 1, NumTreePerIteration: 1, MaxFeatureIdx: len(m.FeatureNames) - 1,
		Objective:    lightgbm.ObjectiveBinary,
		FeatureNames: append([]string(nil), m.FeatureNames...),
		FeatureInfos: append([]string(nil), m.FeatureInfos...),
		Parameters:   append([]string(nil), m.Parameters...),
		Trees:        make([]lightgbm.Tree, len(m.Trees)),
	}
	if len(m.Monotone) > 0 {
		lm.MonotoneConstraints = make([]int, len(m.Monotone))
		for f, c := range m.Monotone {
			lm.MonotoneConstraints[f] = int(c)
		}
	}
	for i := range m.Trees {
		t := &m.Trees[i]
		dt := make([]int, len(t.DefaultLeft))
		for j, dl := range t.DefaultLeft {
			dt[j] = lightgbm.MissingNaN
			if dl {
				dt[j] |= lightgbm.DefaultLeftMask
			}
		}
		lm.Trees[i] = lightgbm.Tree{
			NumLeaves:      t.NumLeaves,
			SplitFeature:   widen(t.SplitFeature),
			SplitGain:      append([]float64(nil), t.SplitGain...),
			Threshold:      append([]float64(nil), t.Threshold...),
			DecisionType:   dt,
			LeftChild:      widen(t.LeftChild),
			RightChild:     widen(t.RightChild),
			LeafValue:      append([]float64(nil), t.LeafValue...),
			LeafWeight:     append([]float64(nil), t.LeafWeight...),
			LeafCount:      append([]int64(nil), t.LeafCount...),
			InternalValue:  append([]float64(nil), t.InternalValue...),
			InternalWeight: append([]float64(nil), t.InternalWeight...),
			InternalCount:  append([]int64(nil), t.InternalCount...),
			Shrinkage:      t.Shrinkage,
		}
	}
	return lm
}

func widen(v []int32) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// FromLightGBM converts a LightGBM text model back into a Model that
// predicts exactly as the file does: a binary model whose trees are
// complete (lightgbm.Tree.Complete), with numerical splits of missing type
// NaN (what lightgbm.ParseStrict accepts). Monotone constraints are kept in
// Model.Monotone.
func FromLightGBM(lm *lightgbm.Model) (*Model, error) {
	if lm.NumClass != 1 || lm.Objective != lightgbm.ObjectiveBinary {
		return nil, fmt.Errorf("lightgbm model: num_class %d objective %q, want a binary classifier (%s)", lm.NumClass, lm.Objective, lightgbm.ObjectiveBinary)
	}
	nf := lm.NumFeatures()
	if len(lm.FeatureNames) != nf || len(lm.FeatureInfos) != nf {
		return nil, fmt.Errorf("lightgbm model: %d feature names and %d infos for %d features", len(lm.FeatureNames), len(lm.FeatureInfos), nf)
	}
	m := &Model{
		FeatureNames: append([]string(nil), lm.FeatureNames...),
		FeatureInfos: append([]string(nil), lm.FeatureInfos...),
		Parameters:   append([]string(nil), lm.Parameters...),
		Trees:        make([]Tree, len(lm.Trees)),
	}
	if len(lm.MonotoneConstraints) > 0 {
		if len(lm.MonotoneConstraints) != nf {
			return nil, fmt.Errorf("lightgbm model: %d monotone constraints for %d features", len(lm.MonotoneConstraints), nf)
		}
		m.Monotone = make([]int8, nf)
		for f, c := range lm.MonotoneConstraints {
			if c < -1 || c > 1 {
				return nil, fmt.Errorf("lightgbm model: monotone constraint %d of feature %d (want -1, 0 or 1)", c, f)
			}
			m.Monotone[f] = int8(c)
		}
	}
	for i := range lm.Trees {
		lt := &lm.Trees[i]
		if err := lt.Complete(nf); err != nil {
			return nil, fmt.Errorf("lightgbm model: tree %d: %w", i, err)
		}
		ni := lt.NumLeaves - 1
		t := Tree{
			NumLeaves:      lt.NumLeaves,
			SplitFeature:   make([]int32, ni),
			SplitGain:      append([]float64(nil), lt.SplitGain...),
			Threshold:      append([]float64(nil), lt.Threshold...),
			DefaultLeft:    make([]bool, ni),
			LeftChild:      make([]int32, ni),
			RightChild:     make([]int32, ni),
			LeafValue:      append([]float64(nil), lt.LeafValue...),
			LeafWeight:     append([]float64(nil), lt.LeafWeight...),
			LeafCount:      append([]int64(nil), lt.LeafCount...),
			InternalValue:  append([]float64(nil), lt.InternalValue...),
			InternalWeight: append([]float64(nil), lt.InternalWeight...),
			InternalCount:  append([]int64(nil), lt.InternalCount...),
			Shrinkage:      lt.Shrinkage,
		}
		for j := 0; j < ni; j++ {
			dt := lt.DecisionType[j]
			if (dt>>2)&3 != 2 {
				return nil, fmt.Errorf("lightgbm model: tree %d node %d: decision type %d (want missing type NaN)", i, j, dt)
			}
			f, l, r := lt.SplitFeature[j], lt.LeftChild[j], lt.RightChild[j]
			t.DefaultLeft[j] = dt&lightgbm.DefaultLeftMask != 0
			t.SplitFeature[j], t.LeftChild[j], t.RightChild[j] = int32(f), int32(l), int32(r)
		}
		m.Trees[i] = t
	}
	return m, nil
}

// MarshalLightGBM renders m as a LightGBM text model (version v3, binary
// objective with sigmoid 1) that github.com/dmitryikh/leaves and LightGBM
// load: lightgbm.Model.Marshal of m.LightGBM(). The output is
// deterministic.
func (m *Model) MarshalLightGBM() ([]byte, error) {
	if len(m.FeatureInfos) != len(m.FeatureNames) {
		return nil, fmt.Errorf("lightgbm export: %d feature infos for %d features", len(m.FeatureInfos), len(m.FeatureNames))
	}
	return m.LightGBM().Marshal()
}

// WriteLightGBMFile writes the model to path atomically (temporary name in
// the same folder, then rename).
func (m *Model) WriteLightGBMFile(path string) error {
	data, err := m.MarshalLightGBM()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

// ReadLightGBMFile reads a model written by WriteLightGBMFile
// (lightgbm.ParseStrict, then FromLightGBM).
func ReadLightGBMFile(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	lm, err := lightgbm.ParseStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := FromLightGBM(lm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
