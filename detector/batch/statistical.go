package batch

import (
	"context"
	"math"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
)

// StatisticalChecks names the fallback detector — the statistical checks —
// in outputs: the "source" of check and predict and the model_version
// column of predictions (detector.StatisticalChecks).
const StatisticalChecks = detector.StatisticalChecks

// DecideStatistical decides one deploy with the statistical checks alone,
// as Faultline does when no model is in production: the canary ensemble and,
// for changes without a canary, the before/after checks, looked at over the
// horizons hs that have rows (rows[h], computed with features settings cfg).
// It is detector.DecideStatistical, where the rule and what each check
// assumes are documented.
func DecideStatistical(rows map[int][]float64, hs []int, cfg features.Config) *detector.Result {
	return detector.DecideStatistical(rows, hs, &cfg)
}

// Statistical decides every extracted deployment with the statistical
// checks (DecideStatistical over the horizons the rows were extracted at).
// Rows carry P = the fallback's vote per horizon (detector.StatisticalVotes:
// 1 when that look flags the deploy, 0 when not, NaN without data) and
// ModelVersion StatisticalChecks.
func (f *Features) Statistical(ctx context.Context) ([]Row, error) {
	hs := horizonsOf(f.cfg)
	out := make([]Row, 0, len(f.deploys))
	for i, dep := range f.deploys {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		byH := map[int][]float64{}
		row := Row{DeploymentID: dep.DeploymentID, Service: dep.Service, Environment: dep.Environment, StartedAt: dep.StartedAt.UTC(),
			P: map[int]float64{}, ModelVersion: StatisticalChecks}
		for _, h := range hs {
			row.P[h] = math.NaN()
			if r, ok := f.rows[h][dep.DeploymentID]; ok {
				byH[h] = r
			}
		}
		for h, v := range detector.StatisticalVotes(byH, hs, &f.cfg) {
			row.P[h] = v
		}
		res := detector.DecideStatistical(byH, hs, &f.cfg)
		row.Result, row.Verdict, row.DetectedAt = res, res.Verdict, res.DetectedAt
		out = append(out, row)
	}
	return out, nil
}

// PredictStatistical decides every deployment of opts.Range with the
// statistical checks, features computed with settings cfg (the "features"
// section): `faultline predict` without a production model.
func PredictStatistical(ctx context.Context, r history.Reader, cfg features.Config, opts Options) ([]Row, error) {
	f, err := extractFeatures(ctx, r, predictExtractOptions(cfg, opts), opts.Scratch)
	if err != nil {
		return nil, err
	}
	return f.Statistical(ctx)
}

// CheckStatistical decides one deployment by id with the statistical
// checks, from the data the store holds now: `faultline check` without a
// production model.
func CheckStatistical(ctx context.Context, r history.Reader, cfg features.Config, id string, opts Options) (*Row, error) {
	f, err := checkFeatures(ctx, r, cfg, id, opts)
	if err != nil {
		return nil, err
	}
	rows, err := f.Statistical(ctx)
	if err != nil {
		return nil, err
	}
	return pick(rows, id)
}
