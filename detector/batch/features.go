package batch

import (
	"context"
	"fmt"
	"slices"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// Features are the feature rows of selected deployments, extracted once
// from the history store with one feature configuration, so that several
// detectors trained with that configuration — and the statistical checks —
// can score the same rows.
type Features struct {
	cfg     features.Config
	deploys []workdir.DeployRow
	// rows[h][id] is the feature row (features.Schema order) of deploy id
	// at horizon h; absent when fewer than h minutes of data follow it.
	rows map[int]map[string][]float64
}

// Extract extracts, with feature settings cfg, the deployments of
// opts.Range whose ids are in ids (every deployment of the range when ids
// is empty), exactly as Predict does: the rows equal the offline
// extraction's for the same deployments. Ids the history does not hold are
// left out of Deploys.
func Extract(ctx context.Context, r history.Reader, cfg features.Config, ids []string, opts Options) (*Features, error) {
	xo := predictExtractOptions(cfg, opts)
	xo.IDs = ids
	return extractFeatures(ctx, r, xo, opts.Scratch)
}

// extractFeatures runs the extractor in memory with options xo.
func extractFeatures(ctx context.Context, r history.Reader, xo extract.Options, scratch string) (*Features, error) {
	res, err := extract.Extract(ctx, r, xo, extract.ExtractOptions{SpillDir: scratch})
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	f := &Features{cfg: xo.Config, deploys: res.Deploys, rows: map[int]map[string][]float64{}}
	for h, t := range res.Features {
		m := make(map[string][]float64, len(t.IDs))
		for i, id := range t.IDs {
			m[id] = t.Rows[i]
		}
		f.rows[h] = m
	}
	return f, nil
}

// Config returns the feature settings the rows were computed with.
func (f *Features) Config() features.Config { return f.cfg }

// Deploys returns the extracted deployments, ordered by start.
func (f *Features) Deploys() []workdir.DeployRow { return f.deploys }

// Row returns the feature row of deploy id at horizon h, and false when
// fewer than h minutes of data follow the deploy (or h is not extracted).
func (f *Features) Row(h int, id string) ([]float64, bool) {
	r, ok := f.rows[h][id]
	return r, ok
}

// Score decides every extracted deployment with d, as Predict does. d's
// feature settings must be the ones the rows were extracted with. The
// results carry no reasons (detector.Detector.DecideWithoutReasons);
// ScoreWithReasons computes them too.
func (f *Features) Score(ctx context.Context, d *detector.Detector) ([]Row, error) {
	return f.score(ctx, d, false)
}

// ScoreWithReasons is Score with each result's reasons (Decide), as check
// reports them.
func (f *Features) ScoreWithReasons(ctx context.Context, d *detector.Detector) ([]Row, error) {
	return f.score(ctx, d, true)
}

func (f *Features) score(ctx context.Context, d *detector.Detector, reasons bool) ([]Row, error) {
	if dc := d.FeatureConfig(); !SameConfig(dc, f.cfg) {
		return nil, fmt.Errorf("predict: model %s@%d was trained with other feature settings than the rows were extracted with", d.Manifest().Model, d.Manifest().Version)
	}
	if err := checkHorizons(d, "predict"); err != nil {
		return nil, err
	}
	rows := make(map[int]map[string][]float64, len(d.Horizons()))
	for _, h := range d.Horizons() {
		rows[h] = f.rows[h]
		if rows[h] == nil {
			rows[h] = map[string][]float64{}
		}
	}
	return score(ctx, f.deploys, rows, d, reasons)
}

// SameConfig reports whether two feature configurations compute the same
// features (equal ConfigHash), so that one extraction serves both.
func SameConfig(a, b features.Config) bool { return a.ConfigHash() == b.ConfigHash() }

// horizonsOf returns cfg's horizons, ascending.
func horizonsOf(cfg features.Config) []int {
	hs := slices.Clone(cfg.Horizons)
	slices.Sort(hs)
	return hs
}
