package batch

import (
	"context"
	"math"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
)

// StatisticalChecks names the fallback detector — the statistical checks'
// unanimous ensemble — in outputs: the "source" of check and predict and
// the model_version column of predictions.
const StatisticalChecks = "statistical-checks"

// statisticalReasons are the features a statistical verdict reports: the
// three checks of the ensemble, then the evidence they judged.
var statisticalReasons = []int{
	features.ImpactPass, features.TemporalPass, features.PersistencePass,
	features.ImpactRatio, features.ImpactNegLog10P,
}

// DecideStatistical decides one deploy with the statistical checks alone,
// as Faultline does when no model is in production: the unanimous ensemble
// (impact ∧ temporal ∧ persistence, the ensemble_faulty feature) looked at
// sequentially over the horizons hs that have rows (rows[h], computed with
// features settings whose horizons include hs). The deploy is faulty at the
// first horizon, ascending, where the ensemble is unanimous; otherwise
// inconclusive when the latest window is inconclusive (too little traffic)
// or no horizon has data, else healthy. The verdict is final once the
// largest horizon has data or the deploy is flagged. Scores carry the
// ensemble's vote as P (1 unanimous, 0 not) against the threshold 0.5;
// reasons are the three checks (value 1 pass, 0 fail, contribution +1 or
// −1) and the impact evidence (contribution 0).
func DecideStatistical(rows map[int][]float64, hs []int) *detector.Result {
	res := &detector.Result{Model: StatisticalChecks, Reasons: []detector.Reason{}, Scores: []detector.HorizonScore{}}
	deciding := 0
	for _, h := range hs {
		row, ok := rows[h]
		if !ok {
			continue
		}
		vote := row[features.EnsembleFaulty]
		flagged := !math.IsNaN(vote) && vote >= 0.5
		p := 0.0
		if flagged {
			p = 1
		}
		res.Scores = append(res.Scores, detector.HorizonScore{Horizon: h, P: p, Threshold: 0.5, Flagged: flagged,
			Inconclusive: row[features.Inconclusive] == 1})
		deciding = h
		if flagged {
			res.Verdict, res.DetectedAt, res.Final = detector.Faulty, h, true
			break
		}
	}
	switch {
	case res.Verdict == detector.Faulty:
	case len(res.Scores) == 0:
		res.Verdict = detector.Inconclusive
	case res.Scores[len(res.Scores)-1].Inconclusive:
		res.Verdict = detector.Inconclusive
	default:
		res.Verdict = detector.Healthy
	}
	if res.Verdict != detector.Faulty && len(hs) > 0 {
		_, res.Final = rows[hs[len(hs)-1]]
	}
	if deciding != 0 {
		res.DecidingHorizon = deciding
		row := rows[deciding]
		for _, c := range statisticalReasons {
			r := detector.Reason{Feature: features.Schema[c].Name, Value: row[c]}
			switch c {
			case features.ImpactPass, features.TemporalPass, features.PersistencePass:
				switch row[c] {
				case 1:
					r.Contribution = 1
				case 0:
					r.Contribution = -1
				}
			}
			res.Reasons = append(res.Reasons, r)
		}
	}
	return res
}

// Statistical decides every extracted deployment with the statistical
// checks (DecideStatistical over the horizons the rows were extracted at).
// Rows carry P = the ensemble's vote per horizon (NaN without data) and
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
				row.P[h] = 0
				if v := r[features.EnsembleFaulty]; v >= 0.5 {
					row.P[h] = 1
				}
			}
		}
		res := DecideStatistical(byH, hs)
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
