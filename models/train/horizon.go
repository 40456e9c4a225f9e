package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models"
)

// ErrNoLabels says that no training deployment has a label of the chosen
// source: for example the statistical ensemble abstains on every deploy of
// a history without canaries, so ensemble labels do not exist there.
var ErrNoLabels = errors.New("no labelled training deployments")

// trainHorizon trains and exports one horizon's model. It returns the
// validation probabilities by deployment (the policy's thresholds are
// chosen later, for all horizons together) and, with folds (training
// deployment → fold; nil for none), the out-of-fold probabilities of the
// labelled training deployments that have a fold (outOfFold).
func trainHorizon(ctx context.Context, cfg Config, h int, ft *workdir.Features,
	splitOf map[string]string, labels labelSet, folds map[string]int, outDir string) (*workdir.HorizonInfo, map[string]float64, map[string]float64, error) {
	info := &workdir.HorizonInfo{Horizon: h, ModelFile: workdir.ModelFile(h), Rows: map[string]int{}, Positives: map[string]int{}}
	cols := selectFeatures(cfg, h, ft.Names, info)
	if len(cols) == 0 {
		return nil, nil, nil, errors.New("no feature columns left")
	}
	tr, va, trainIDs, validIDs, rate, err := splitRows(ft, cols, splitOf, labels, cfg.MaxTrainRows, cfg.GBDT.Seed, info)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(tr.Y) == 0 {
		return nil, nil, nil, ErrNoLabels
	}
	wNeg, wPos := classWeights(cfg, tr.Y)
	info.ClassWeights = [2]float64{wNeg, wPos}
	weigh(tr, wNeg, wPos)
	weigh(va, wNeg, wPos)
	if rate < 1 {
		reweigh(tr, rate)
		info.HealthySampleRate = rate
		info.TrainedRows = len(tr.Y)
	}
	var valid *models.Data
	if len(va.Y) > 0 {
		valid = va
	}
	m, err := fit(ctx, cfg, tr, valid, outDir, info)
	if err != nil {
		return nil, nil, nil, err
	}
	vp := map[string]float64{}
	info.ValidAUC, info.ValidLogLoss, info.LogRegValidAUC = metrics.Float(math.NaN()), metrics.Float(math.NaN()), metrics.Float(math.NaN())
	if valid != nil {
		p, err := validate(ctx, cfg, m, tr, va, info)
		if err != nil {
			return nil, nil, nil, err
		}
		for i, id := range validIDs {
			vp[id] = p[i]
		}
	}
	var oof map[string]float64
	if folds != nil {
		if oof, err = outOfFold(ctx, cfg, m, info.Features, ft, cols, tr, trainIDs, folds, labels); err != nil {
			return nil, nil, nil, err
		}
	}
	return info, vp, oof, nil
}

// selectFeatures returns the indexes of names the model of horizon h reads,
// recording them and the excluded ones in info: Config.ExcludeFeatures,
// and for the ensemble source at its own horizon the columns its verdict is
// computed from.
func selectFeatures(cfg Config, h int, names []string, info *workdir.HorizonInfo) []int {
	exclude := map[string]bool{}
	for _, n := range cfg.ExcludeFeatures {
		exclude[n] = true
	}
	if cfg.Labels == LabelsEnsemble && h == cfg.EnsembleHorizon {
		for _, f := range ensembleColumns {
			exclude[features.Schema[f].Name] = true
		}
	}
	var cols []int
	for f, n := range names {
		if exclude[n] {
			info.ExcludedFeatures = append(info.ExcludedFeatures, n)
			continue
		}
		cols = append(cols, f)
		info.Features = append(info.Features, n)
	}
	return cols
}

// splitRows gathers the labelled rows of the training and validation
// splits (columns cols of ft), counting the labelled rows and positives of
// every split in info. When the training split has more than maxRows
// labelled rows, its rows labelled healthy are sampled at the returned
// rate (below 1; see sample.go), unweighted: the caller reweighs them. It
// returns the deployments of both splits' rows too.
func splitRows(ft *workdir.Features, cols []int, splitOf map[string]string, labels labelSet, maxRows int, seed uint64,
	info *workdir.HorizonInfo) (tr, va *models.Data, trainIDs, validIDs []string, rate float64, err error) {
	// Count first: the sampling rate, and every column allocated once.
	for i, id := range ft.IDs {
		s, ok := splitOf[id]
		if !ok {
			return nil, nil, nil, nil, 0, fmt.Errorf("%s: row %d: deployment %q is not in %s", filepath.Base(ft.Path), i+1, id, workdir.DeploysFile)
		}
		if y, labelled := labels[id]; labelled {
			info.Rows[s]++
			if y >= 0.5 {
				info.Positives[s]++
			}
		}
	}
	rate = healthyRate(info.Rows[workdir.SplitTrain], info.Positives[workdir.SplitTrain], maxRows)
	size := map[string]int{workdir.SplitValid: info.Rows[workdir.SplitValid]}
	size[workdir.SplitTrain] = info.Rows[workdir.SplitTrain]
	if rate < 1 {
		size[workdir.SplitTrain] = maxRows + maxRows/16 // the sample's size is about maxRows
	}
	parts := map[string]*models.Data{}
	for _, s := range []string{workdir.SplitTrain, workdir.SplitValid} {
		d := &models.Data{Cols: make([][]float64, len(cols)), Y: make([]float64, 0, size[s])}
		for k := range d.Cols {
			d.Cols[k] = make([]float64, 0, size[s])
		}
		parts[s] = d
	}
	for i, id := range ft.IDs {
		y, labelled := labels[id]
		if !labelled {
			continue
		}
		s := splitOf[id]
		d := parts[s]
		if d == nil { // test rows are not read here
			continue
		}
		if s == workdir.SplitTrain && y < 0.5 && !keep(id, seed, rate) {
			continue
		}
		for k, f := range cols {
			d.Cols[k] = append(d.Cols[k], ft.Cols[f][i])
		}
		d.Y = append(d.Y, y)
		if s == workdir.SplitValid {
			validIDs = append(validIDs, id)
		} else {
			trainIDs = append(trainIDs, id)
		}
	}
	return parts[workdir.SplitTrain], parts[workdir.SplitValid], trainIDs, validIDs, rate, nil
}

// classWeights returns the weights of negatives and positives: 1 and 1, or
// with Config.ClassWeight "balanced" those that give both classes the same
// total weight in y (the training split), their ratio capped at
// Config.MaxClassWeight.
func classWeights(cfg Config, y []float64) (wNeg, wPos float64) {
	var pos, neg float64
	for _, v := range y {
		pos += v
		neg += 1 - v
	}
	wNeg, wPos = 1.0, 1.0
	if cfg.ClassWeight == "balanced" && pos > 0 && neg > 0 {
		total := pos + neg
		wPos, wNeg = total/(2*pos), total/(2*neg)
		if r := wPos / wNeg; r > cfg.MaxClassWeight {
			wPos = wNeg * cfg.MaxClassWeight
		} else if 1/r > cfg.MaxClassWeight {
			wNeg = wPos * cfg.MaxClassWeight
		}
	}
	return wNeg, wPos
}

// weigh sets the weight of every row of d from its (soft) label.
func weigh(d *models.Data, wNeg, wPos float64) {
	d.W = make([]float64, len(d.Y))
	for i, y := range d.Y {
		d.W[i] = y*wPos + (1-y)*wNeg
	}
}

// fit trains the GBDT on tr (valid, when not nil, for early stopping),
// writes it to outDir as info.ModelFile and records it in info.
func fit(ctx context.Context, cfg Config, tr, valid *models.Data, outDir string, info *workdir.HorizonInfo) (*models.Model, error) {
	t0 := time.Now()
	p := cfg.GBDT
	p.Monotone = monotoneConstraints(cfg, info.Features)
	m, res, err := models.Train(ctx, p, info.Features, tr, valid)
	if err != nil {
		return nil, err
	}
	info.TrainSeconds = time.Since(t0).Seconds()
	info.Trees = len(m.Trees)
	info.InitScore = res.InitScore
	path := filepath.Join(outDir, info.ModelFile)
	if err := m.WriteLightGBMFile(path); err != nil {
		return nil, err
	}
	if info.ModelSHA256, err = fileSHA256(path); err != nil {
		return nil, err
	}
	imp := m.SplitImportance()
	order := make([]int, len(imp))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return imp[order[a]] > imp[order[b]] })
	for _, f := range order[:min(10, len(order))] {
		if imp[f] > 0 {
			info.TopFeatures = append(info.TopFeatures, info.Features[f])
		}
	}
	return m, nil
}

// validate scores the validation rows va with m, records the validation
// metrics in info, and returns the probabilities. The logistic-regression
// baseline's AUC is recorded when it trains.
func validate(ctx context.Context, cfg Config, m *models.Model, tr, va *models.Data, info *workdir.HorizonInfo) ([]float64, error) {
	p, err := m.PredictCols(va.Cols)
	if err != nil {
		return nil, err
	}
	hard := make([]float64, len(va.Y))
	for i, y := range va.Y {
		if y >= 0.5 {
			hard[i] = 1
		}
	}
	info.ValidAUC = metrics.Float(metrics.AUC(p, hard))
	info.ValidLogLoss = metrics.Float(metrics.LogLoss(p, va.Y, nil))
	if lr, err := models.TrainLogReg(ctx, cfg.LogReg, info.Features, tr); err == nil {
		if lp, err := lr.PredictCols(va.Cols); err == nil {
			info.LogRegValidAUC = metrics.Float(metrics.AUC(lp, hard))
		}
	}
	return p, nil
}
