package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/models/policy"
	"github.com/faultline-dev/faultline/registry"
)

// ProductionLoader gives the evaluation stage the registry's production
// model as a contender, scored through the detector package exactly as a
// detector would score it. It yields no contender when nothing is in
// production. source is unused today and reserved for per-source aliases.
func ProductionLoader(reg *registry.Registry, source string) evaluation.ProductionLoader {
	return func(ctx context.Context, in *evaluation.Inputs) (*evaluation.ModelSet, error) {
		if reg == nil {
			return nil, nil
		}
		v, err := reg.Resolve(ctx, registry.Ref{Name: reg.Config().Model, Alias: "production"})
		if errors.Is(err, registry.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("resolve production model: %w", err)
		}
		b, err := reg.Bundle(ctx, v)
		if err != nil {
			return nil, err
		}
		d, err := detector.New(b)
		if err != nil {
			return nil, fmt.Errorf("production model %s@%d: %w", v.Name, v.Version, err)
		}
		ms := &evaluation.ModelSet{
			Name: evaluation.ContenderProduction, Source: "registry " + reg.Backend().Describe(),
			Version:    fmt.Sprintf("%s@%d", v.Name, v.Version),
			Predictors: map[int]evaluation.Predictor{}, Thresholds: map[int]float64{},
		}
		for _, h := range d.Horizons() {
			ms.Predictors[h] = detectorPredictor{d: d, h: h}
			ms.Thresholds[h] = d.Threshold(h)
		}
		ms.Policy = policy.FromThresholds(ms.Thresholds)
		ms.Policy.FleetEventShare = d.FleetEventShare()
		return ms, nil
	}
}

type detectorPredictor struct {
	d *detector.Detector
	h int
}

func (p detectorPredictor) Features() []string { return features.Names() }
func (p detectorPredictor) Predict(row []float64) float64 {
	x, err := p.d.Predict(p.h, row)
	if err != nil {
		return math.NaN()
	}
	return x
}
