package train

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models"
)

// assignFolds divides the training split's deployments that started at
// least warmup after the first deployment (split.rows is in start-time
// order) into k contiguous blocks of time of about the same size: fold f
// holds the f-th block. The earlier ones have no fold: every fold's model
// trains on them, none scores them. k < 2, or no deployment after the
// warm-up, assigns none (nil).
func assignFolds(split *timeSplit, k int, warmup time.Duration) map[string]int {
	if k < 2 || len(split.rows) == 0 {
		return nil
	}
	from := split.startMs(split.rows[0].DeploymentID) + warmup.Milliseconds()
	var ids []string
	for _, r := range split.rows {
		if r.Split == workdir.SplitTrain && split.startMs(r.DeploymentID) >= from {
			ids = append(ids, r.DeploymentID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	out := make(map[string]int, len(ids))
	for i, id := range ids {
		out[id] = i * k / len(ids)
	}
	return out
}

// outOfFold returns the out-of-fold probability of every labelled training
// deployment of ft that has a fold: for each fold, a model trained as m
// was (the same settings, monotone constraints and number of trees,
// without early stopping) on the training rows tr outside that fold scores
// the deployments of that fold — all of them, healthy rows that sampling
// left out of tr included. folds are assignFolds' for Config.PolicyFolds,
// trIDs are tr's deployments, cols the columns tr holds. The scores are
// the thresholds' choice data beside the validation split's
// (Config.PolicyFolds).
func outOfFold(ctx context.Context, cfg Config, m *models.Model, names []string, ft *workdir.Features, cols []int,
	tr *models.Data, trIDs []string, folds map[string]int, labels labelSet) (map[string]float64, error) {
	k := cfg.PolicyFolds
	p := cfg.GBDT
	p.Monotone = m.Monotone
	p.NumTrees = max(1, len(m.Trees))
	p.EarlyStoppingRounds = 0
	rowsOf := make([][]int, k) // rows of ft to score, by fold
	for i, id := range ft.IDs {
		if f, ok := folds[id]; ok {
			if _, labelled := labels[id]; labelled {
				rowsOf[f] = append(rowsOf[f], i)
			}
		}
	}
	trFold := make([]int, len(trIDs)) // fold of each training row, -1 for none
	for i, id := range trIDs {
		trFold[i] = -1
		if f, ok := folds[id]; ok {
			trFold[i] = f
		}
	}
	out := map[string]float64{}
	for f, rows := range rowsOf {
		fit := subset(tr, func(i int) bool { return trFold[i] != f })
		if len(rows) == 0 || fit.Rows() == 0 {
			continue
		}
		fm, _, err := models.Train(ctx, p, names, fit, nil)
		if err != nil {
			return nil, fmt.Errorf("out-of-fold model %d of %d: %w", f+1, k, err)
		}
		x := make([][]float64, len(cols))
		for c, col := range cols {
			x[c] = make([]float64, len(rows))
			for j, i := range rows {
				x[c][j] = ft.Cols[col][i]
			}
		}
		s, err := fm.PredictCols(x)
		if err != nil {
			return nil, fmt.Errorf("out-of-fold model %d of %d: %w", f+1, k, err)
		}
		for j, i := range rows {
			out[ft.IDs[i]] = s[j]
		}
	}
	return out, nil
}

// subset returns the rows i of d for which keep(i) holds.
func subset(d *models.Data, keep func(i int) bool) *models.Data {
	out := &models.Data{Cols: make([][]float64, len(d.Cols))}
	for i := range d.Y {
		if !keep(i) {
			continue
		}
		for c := range d.Cols {
			out.Cols[c] = append(out.Cols[c], d.Cols[c][i])
		}
		out.Y = append(out.Y, d.Y[i])
		if d.W != nil {
			out.W = append(out.W, d.W[i])
		}
	}
	return out
}
