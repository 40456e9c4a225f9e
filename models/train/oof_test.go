package train

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models"
)

func TestAssignFolds(t *testing.T) {
	for _, tc := range []struct {
		train, k, warm int // warm: training deploys within the warm-up
	}{{10, 4, 0}, {7, 3, 0}, {100, 4, 0}, {3, 2, 0}, {5, 0, 0}, {20, 4, 8}, {9, 2, 7}, {5, 3, 5}} {
		// one deploy an hour; the warm-up ends at deploy tc.warm
		split := &timeSplit{deploys: map[string]workdir.DeployRow{}}
		for i := range tc.train + 3 {
			s := workdir.SplitTrain
			if i >= tc.train {
				s = workdir.SplitValid
			}
			id := "d" + strconv.Itoa(i)
			split.rows = append(split.rows, workdir.SplitRow{DeploymentID: id, Split: s})
			split.deploys[id] = workdir.DeployRow{DeploymentID: id, StartedAt: time.UnixMilli(int64(i) * time.Hour.Milliseconds())}
		}
		folds := assignFolds(split, tc.k, time.Duration(tc.warm)*time.Hour)
		if tc.k < 2 || tc.warm >= tc.train {
			if folds != nil {
				t.Errorf("%+v: folds %v, want none", tc, folds)
			}
			continue
		}
		n := tc.train - tc.warm
		if len(folds) != n {
			t.Errorf("%+v: %d deployments in folds, want the %d training deployments after the warm-up", tc, len(folds), n)
		}
		size := make([]int, tc.k)
		last := 0
		for i := range tc.train { // rows are in time order: folds are contiguous and in order
			f, ok := folds["d"+strconv.Itoa(i)]
			if ok != (i >= tc.warm) {
				t.Errorf("%+v: deployment %d in a fold: %v", tc, i, ok)
			}
			if !ok {
				continue
			}
			if f < last || f >= tc.k {
				t.Errorf("%+v: deployment %d in fold %d after fold %d", tc, i, f, last)
			}
			last = f
			size[f]++
		}
		for f, m := range size {
			if m < n/tc.k || m > n/tc.k+1 {
				t.Errorf("%+v: fold %d holds %d deployments (sizes %v)", tc, f, m, size)
			}
		}
	}
}

// TestOutOfFoldNotInSample trains on labels that have nothing to do with
// the features: a model scoring its own training rows separates them
// (it memorises noise), a model scoring rows it did not see cannot. The
// thresholds chosen on out-of-fold scores therefore see what a model does
// on new deployments.
func TestOutOfFoldNotInSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 1200
	ft := &workdir.Features{Names: []string{"a", "b", "c"}, Cols: make([][]float64, 3)}
	labels := labelSet{}
	folds := map[string]int{}
	tr := &models.Data{Cols: make([][]float64, 3)}
	var ids []string
	for i := range n {
		id := "d" + strconv.Itoa(i)
		ft.IDs = append(ft.IDs, id)
		y := 0.0
		if rng.Float64() < 0.3 {
			y = 1
		}
		labels[id] = y
		folds[id] = i * 4 / n
		ids = append(ids, id)
		tr.Y = append(tr.Y, y)
		tr.W = append(tr.W, 1)
		for c := range 3 {
			v := rng.NormFloat64()
			ft.Cols[c] = append(ft.Cols[c], v)
			tr.Cols[c] = append(tr.Cols[c], v)
		}
	}
	cfg := DefaultConfig()
	cfg.PolicyFolds = 4
	cfg.Monotone = nil
	cfg.GBDT.NumTrees = 200
	cfg.GBDT.MinDataInLeaf = 2
	cfg.GBDT.Lambda = 0
	cfg.GBDT.LearningRate = 0.2
	p := cfg.GBDT
	m, _, err := models.Train(context.Background(), p, ft.Names, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := m.PredictCols(tr.Cols)
	if err != nil {
		t.Fatal(err)
	}
	oof, err := outOfFold(context.Background(), cfg, m, ft.Names, ft, []int{0, 1, 2}, tr, ids, folds, labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(oof) != n {
		t.Fatalf("%d out-of-fold scores for %d labelled training deployments", len(oof), n)
	}
	scores := make([]float64, n)
	for i, id := range ids {
		scores[i] = oof[id]
	}
	aucIn, aucOut := metrics.AUC(in, tr.Y), metrics.AUC(scores, tr.Y)
	if !(aucIn > 0.9) || !(aucOut > 0.4 && aucOut < 0.6) {
		t.Errorf("AUC on noise labels: in sample %.3f (want > 0.9), out of fold %.3f (want about 0.5)", aucIn, aucOut)
	}
}

// TestPolicyFolds checks the choice data with policy_folds 4: the
// training split out of fold and the validation split, every labelled
// deployment of both (after the warm-up).
func TestPolicyFolds(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, 1500)
	cfg := fixtureConfig()
	cfg.PolicyFolds = 4
	// The choice counts faulty deployments on its targets; without the
	// spreads those are the labels, which Positives counts.
	cfg.AbstainedSpread, cfg.TiedSpread = 0, 0
	now := fixtureNow
	info, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	d, h := info.ChoiceData, info.Horizons[0] // every deployment has a 10-minute row
	if d == nil || d.Folds != 4 || d.Deployments[workdir.SplitTrain] != h.Rows[workdir.SplitTrain] ||
		d.Deployments[workdir.SplitValid] != h.Rows[workdir.SplitValid] || d.Deployments[workdir.SplitTest] != 0 {
		t.Fatalf("choice data %+v, want 4 folds, the labelled training (%d) and validation (%d) deployments",
			d, h.Rows[workdir.SplitTrain], h.Rows[workdir.SplitValid])
	}
	c := info.Choice
	if pos := h.Positives[workdir.SplitTrain] + h.Positives[workdir.SplitValid]; c.Recall.N != pos {
		t.Errorf("choice recall over %d faulty deployments, the choice data hold %d", c.Recall.N, pos)
	}
	// The validation report is still the validation split's alone.
	if pv := info.PolicyValid; pv.Deploys != h.Rows[workdir.SplitValid] {
		t.Errorf("policy_valid over %d deployments, the validation split has %d labelled", pv.Deploys, h.Rows[workdir.SplitValid])
	}
	want := "training split after the first 0s of history, out of 4 folds (" + strconv.Itoa(h.Rows[workdir.SplitTrain]) + " deploys), and validation split (" +
		strconv.Itoa(h.Rows[workdir.SplitValid]) + " deploys)"
	if got := d.Describe(); got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
	// With a warm-up, the training deployments of its first days take no
	// part (the fixture's deploys spread over 90 days: 30 days leave about
	// a third of the training split's 63 days out, by start time).
	infoW, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Now: now, Warmup: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if dw := infoW.ChoiceData; dw.WarmupMinutes != 30*24*60 || !(dw.Deployments[workdir.SplitTrain] > d.Deployments[workdir.SplitTrain]/2 &&
		dw.Deployments[workdir.SplitTrain] < d.Deployments[workdir.SplitTrain]*4/5) || dw.Deployments[workdir.SplitValid] != d.Deployments[workdir.SplitValid] {
		t.Errorf("warm-up of 30 days: choice data %+v, without warm-up %+v", dw, d)
	}
	// Without folds (the default) the choice is on the validation split alone.
	cfg.PolicyFolds = 0
	info0, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if d0 := info0.ChoiceData; d0.Folds != 0 || d0.Deployments[workdir.SplitTrain] != 0 || info0.Choice.Recall.N != h.Positives[workdir.SplitValid] {
		t.Errorf("policy_folds 0: choice data %+v, recall over %d", d0, info0.Choice.Recall.N)
	}
}
