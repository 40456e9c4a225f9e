package batch_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/policy"
	"github.com/faultline-dev/faultline/registry/bundle"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

// fleet simulates a small fleet into an embedded store.
func fleet(t *testing.T) history.Store {
	t.Helper()
	ctx := context.Background()
	st := embeddedtest.Open(t)
	cfg := simulate.DefaultConfig()
	cfg.Services, cfg.Environments, cfg.Days, cfg.Seed, cfg.Workers = 5, []string{"prod-us1"}, 3, 7, 1
	cfg.FaultRate = 0.3
	if _, _, err := simulate.Into(ctx, cfg, st, nil); err != nil {
		t.Fatal(err)
	}
	// A deploy 15 minutes before the history ends: only its 10-minute
	// window has data.
	deps, err := st.Deployments(ctx, history.Range{})
	if err != nil || len(deps) == 0 {
		t.Fatalf("simulated deployments: %d, %v", len(deps), err)
	}
	late := deps[0]
	late.ID, late.Version, late.Kind = "late-deploy", "v-late", history.KindDeploy
	late.StartedAt = cfg.Start.Add(time.Duration(cfg.Days)*24*time.Hour - 15*time.Minute)
	late.FinishedAt = time.Time{}
	tx, err := st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.AddDeployments(ctx, []history.Deployment{late}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

var hs = []int{10, 20, 60}

// testDetector bundles random models over this build's schema, with the
// default feature settings recorded.
func testDetector(t *testing.T, dir string) (*detector.Detector, map[int]string) {
	t.Helper()
	cfg := features.DefaultConfig()
	schema := detector.Schema()
	schema.ConfigHash = cfg.ConfigHash()
	b := &bundle.Bundle{
		Manifest: bundle.Manifest{Model: "faultline", Version: 4, FeatureSchema: schema, Horizons: hs,
			Thresholds: map[int]float64{10: 0.7, 20: 0.6, 60: 0.5}},
		Files: map[string][]byte{},
	}
	paths := map[int]string{}
	for _, h := range hs {
		txt := registrytest.ModelText(uint64(100+h), features.Names(), 40, 8, h == 10)
		b.Files[bundle.ModelFileName(h)] = txt
		b.Manifest.Files = append(b.Manifest.Files, bundle.FileEntry{Path: bundle.ModelFileName(h), Horizon: h})
		paths[h] = filepath.Join(dir, bundle.ModelFileName(h))
		if err := os.WriteFile(paths[h], txt, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := bundle.Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	d, err := detector.LoadReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return d, paths
}

// Predict equals the evaluation stage: the extractor's features_hH.parquet
// rows scored by evaluation's LightGBM loader give predict's p_H, for every
// deploy, and a p_H is empty exactly when the deploy has no H-minute row.
func TestPredictMatchesEvaluationScoring(t *testing.T) {
	ctx := context.Background()
	st := fleet(t)
	d, paths := testDetector(t, t.TempDir())

	// The evaluation stage's view: an extraction workdir scored by evaluation.
	work := t.TempDir()
	if _, err := extract.Run(ctx, st, work, extract.Options{Config: features.DefaultConfig(), Workers: 1}); err != nil {
		t.Fatal(err)
	}
	want := map[int]map[string]float64{}
	for _, h := range hs {
		pred, err := evaluation.LoadLightGBM(paths[h], features.Names())
		if err != nil {
			t.Fatal(err)
		}
		tab, err := workdir.ReadFeatures(filepath.Join(work, workdir.FeaturesFile(h)), pred.Features()...)
		if err != nil {
			t.Fatal(err)
		}
		want[h] = map[string]float64{}
		var row []float64
		for i, id := range tab.IDs {
			row = tab.Row(i, row)
			want[h][id] = pred.Predict(row)
		}
	}

	rows, err := batch.Predict(ctx, st, d, batch.Options{Scratch: t.TempDir(), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	deps, err := st.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(deps) || len(rows) < 20 {
		t.Fatalf("%d predictions for %d deployments", len(rows), len(deps))
	}
	scored, empty, flagged := 0, 0, 0
	for _, r := range rows {
		for _, h := range hs {
			w, ok := want[h][r.DeploymentID]
			got := r.P[h]
			switch {
			case !ok && !math.IsNaN(got):
				t.Fatalf("%s h%d: predict %v, but the extractor has no row", r.DeploymentID, h, got)
			case ok && got != w:
				t.Fatalf("%s h%d: predict %v, evaluation %v", r.DeploymentID, h, got, w)
			case ok:
				scored++
			default:
				empty++
			}
		}
		// The verdict follows the sequential policy of the bundle's thresholds.
		pol := policy.FromThresholds(map[int]float64{10: 0.7, 20: 0.6, 60: 0.5})
		_, at := pol.DecideByHorizon(r.P)
		if at > 0 {
			flagged++
		}
		if (at > 0) != (r.Verdict == detector.Faulty) || (at > 0 && at != r.DetectedAt) {
			t.Fatalf("%s: verdict %s at %d, evaluation policy flags at %d (p=%v)", r.DeploymentID, r.Verdict, r.DetectedAt, at, r.P)
		}
		if r.ModelVersion != "4" {
			t.Fatalf("model_version %q", r.ModelVersion)
		}
	}
	t.Logf("%d deploys, %d scores equal, %d horizons without data, %d flagged", len(rows), scored, empty, flagged)
	if scored == 0 || empty == 0 {
		t.Errorf("test does not cover both scored and empty horizons: %d scored, %d empty", scored, empty)
	}

	// Check of one deploy agrees with the batch.
	r0 := rows[len(rows)/2]
	one, err := batch.Check(ctx, st, d, r0.DeploymentID, batch.Options{Scratch: t.TempDir(), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if one.Verdict != r0.Verdict || one.DetectedAt != r0.DetectedAt {
		t.Errorf("check %+v, predict %+v", one, r0)
	}
	// check gives the reasons of its verdict; predict, which scores many
	// deploys, does not compute them.
	if one.Result.DecidingHorizon != 0 && len(one.Result.Reasons) == 0 {
		t.Errorf("check of %s decided at %d min without reasons", r0.DeploymentID, one.Result.DecidingHorizon)
	}
	for _, r := range rows {
		if len(r.Result.Reasons) != 0 {
			t.Fatalf("predict of %s computed reasons", r.DeploymentID)
		}
	}
	// The fleet features need the environment's other streams: check reads
	// them too, so its p equal the full extraction's.
	for _, h := range hs {
		if a, b := one.P[h], r0.P[h]; !(a == b || math.IsNaN(a) && math.IsNaN(b)) {
			t.Errorf("check p_%d %v, predict %v", h, a, b)
		}
	}
	if _, err := batch.Check(ctx, st, d, "no-such-deploy", batch.Options{Scratch: t.TempDir()}); err == nil {
		t.Error("unknown deployment accepted")
	}

	// Output files.
	dir := t.TempDir()
	csvPath, pqPath := filepath.Join(dir, "p.csv"), filepath.Join(dir, "p.parquet")
	if err := batch.Write(csvPath, hs, rows); err != nil {
		t.Fatal(err)
	}
	if err := batch.Write(pqPath, hs, rows); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(recs[0]); got != fmt.Sprint(batch.Columns(hs)) || len(recs) != len(rows)+1 {
		t.Fatalf("csv header %v, %d records", recs[0], len(recs))
	}
	for i, rec := range recs[1:] {
		for j, h := range hs {
			p := rows[i].P[h]
			if math.IsNaN(p) != (rec[4+j] == "") {
				t.Fatalf("csv row %d p_%d = %q for %v", i, h, rec[4+j], p)
			}
			if rec[4+j] != "" {
				x, _ := strconv.ParseFloat(rec[4+j], 64)
				if x != p {
					t.Fatalf("csv row %d p_%d = %v, want %v", i, h, x, p)
				}
			}
		}
	}
	type pqRow struct {
		ID         string    `parquet:"deployment_id"`
		StartedAt  time.Time `parquet:"started_at,timestamp(millisecond)"`
		P20        *float64  `parquet:"p_20,optional"`
		Verdict    string    `parquet:"verdict"`
		DetectedAt *int32    `parquet:"detected_at_min,optional"`
	}
	pr, err := parquet.ReadFile[pqRow](pqPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr) != len(rows) {
		t.Fatalf("parquet has %d rows", len(pr))
	}
	for i, r := range pr {
		if r.ID != rows[i].DeploymentID || r.Verdict != rows[i].Verdict || !r.StartedAt.Equal(rows[i].StartedAt.Truncate(time.Millisecond)) ||
			(r.P20 == nil) != math.IsNaN(rows[i].P[20]) || (r.P20 != nil && *r.P20 != rows[i].P[20]) ||
			(r.DetectedAt == nil) != (rows[i].DetectedAt == 0) {
			t.Fatalf("parquet row %d = %+v, want %+v", i, r, rows[i])
		}
	}
	if err := batch.Write(filepath.Join(dir, "p.txt"), hs, rows); err == nil {
		t.Error(".txt output accepted")
	}
}

// Check and predict compute a deploy's features exactly as the offline
// extraction does: the rows the extractor returns with the options Check
// (one deploy) and Predict (a short range) use are bit-for-bit the rows
// of features_hH.parquet from a full extraction — no training/serving skew.
func TestCheckAndPredictFeaturesMatchFullExtraction(t *testing.T) {
	ctx := context.Background()
	st := fleet(t)
	d, _ := testDetector(t, t.TempDir())
	cfg := d.FeatureConfig()
	work := t.TempDir()
	if _, err := extract.Run(ctx, st, work, extract.Options{Config: cfg, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	want := map[int]map[string][]float64{}
	for _, h := range hs {
		tab, err := workdir.ReadFeatures(filepath.Join(work, workdir.FeaturesFile(h)))
		if err != nil {
			t.Fatal(err)
		}
		want[h] = map[string][]float64{}
		for i, id := range tab.IDs {
			want[h][id] = tab.Row(i, nil)
		}
	}
	same := func(a, b []float64) int {
		if len(a) != len(b) {
			return 0
		}
		for i := range a {
			if math.Float64bits(a[i]) != math.Float64bits(b[i]) && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
				return i
			}
		}
		return -1
	}
	compare := func(name string, res *extract.Result, ids []string) {
		t.Helper()
		for _, h := range hs {
			got := map[string][]float64{}
			for i, id := range res.Features[h].IDs {
				got[id] = res.Features[h].Rows[i]
			}
			if len(got) != len(res.Features[h].IDs) {
				t.Fatalf("%s h%d: duplicate rows", name, h)
			}
			for _, id := range ids {
				w, okw := want[h][id]
				g, okg := got[id]
				if okw != okg {
					t.Fatalf("%s h%d %s: row present %v, full extraction %v", name, h, id, okg, okw)
				}
				if f := same(g, w); okw && f >= 0 {
					t.Fatalf("%s h%d %s: feature %d = %v, full extraction %v", name, h, id, f, g[f], w[f])
				}
			}
			if len(got) > len(ids) {
				t.Fatalf("%s h%d: %d rows for %d deploys", name, h, len(got), len(ids))
			}
		}
	}
	deps, err := st.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{0, len(deps) / 4, len(deps) / 2, 3 * len(deps) / 4, len(deps) - 1} {
		dep := deps[k]
		res, err := extract.Extract(ctx, st, batch.CheckExtractOptions(dep, cfg, batch.Options{Workers: 1}), extract.ExtractOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Deploys) != 1 || res.Deploys[0].DeploymentID != dep.ID {
			t.Fatalf("check of %s extracted %v", dep.ID, res.Deploys)
		}
		compare("check "+dep.ID, res, []string{dep.ID})
	}
	mid := deps[len(deps)/2].StartedAt
	rng := history.Range{From: mid, Until: mid.Add(6 * time.Hour)}
	res, err := extract.Extract(ctx, st, batch.PredictExtractOptions(cfg, batch.Options{Range: rng, Workers: 2}), extract.ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, dep := range deps {
		if rng.Contains(dep.StartedAt) {
			ids = append(ids, dep.ID)
		}
	}
	if len(ids) < 3 || len(res.Deploys) != len(ids) {
		t.Fatalf("predict range: %d deploys extracted, %d in range", len(res.Deploys), len(ids))
	}
	compare("predict", res, ids)
}

// finderReader is a reader with a by-id lookup; it records whether the
// whole deployment list was asked for.
type finderReader struct {
	history.Reader
	byID       map[string]history.Deployment
	listedAll  bool
	lookedUpBy []string
}

func (f *finderReader) Deployments(ctx context.Context, r history.Range) ([]history.Deployment, error) {
	if r.From.IsZero() || r.Until.IsZero() {
		f.listedAll = true
	}
	return f.Reader.Deployments(ctx, r)
}

func (f *finderReader) DeploymentByID(_ context.Context, id string) (history.Deployment, bool, error) {
	f.lookedUpBy = append(f.lookedUpBy, id)
	d, ok := f.byID[id]
	return d, ok, nil
}

// Check uses a reader's by-id lookup instead of listing every deployment,
// with the same result.
func TestCheckUsesDeploymentFinder(t *testing.T) {
	ctx := context.Background()
	st := fleet(t)
	d, _ := testDetector(t, t.TempDir())
	deps, err := st.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	f := &finderReader{Reader: st, byID: map[string]history.Deployment{}}
	for _, dep := range deps {
		f.byID[dep.ID] = dep
	}
	id := deps[len(deps)/3].ID
	want, err := batch.Check(ctx, st, d, id, batch.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := batch.Check(ctx, f, d, id, batch.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if f.listedAll || len(f.lookedUpBy) != 1 || f.lookedUpBy[0] != id {
		t.Errorf("listed all: %v, looked up %v", f.listedAll, f.lookedUpBy)
	}
	if got.DeploymentID != id || got.Verdict != want.Verdict || got.DetectedAt != want.DetectedAt {
		t.Errorf("check with finder %+v, without %+v", got, want)
	}
	for _, h := range hs {
		if a, b := got.P[h], want.P[h]; !(a == b || math.IsNaN(a) && math.IsNaN(b)) {
			t.Errorf("p_%d: with finder %v, without %v", h, a, b)
		}
	}
	if _, err := batch.Check(ctx, f, d, "no-such-deploy", batch.Options{}); !errors.Is(err, batch.ErrNoDeployment) {
		t.Errorf("unknown deployment: %v", err)
	}
}

// Without a production model, predict and check judge with the
// statistical checks. On a canary fleet with three days of history (too
// little for the before/after checks to judge) that is the unanimous ensemble
// looked at over the horizons with data: the verdicts equal an independent
// reading of a full offline extraction's ensemble_faulty and inconclusive
// columns, and check of one deploy agrees with predict. The late deploy,
// whose version served nothing while the previous one served, is
// inconclusive: no evidence is not health. TestStatisticalFallbackOnRegimes
// covers changes without a canary.
func TestStatisticalFallback(t *testing.T) {
	ctx := context.Background()
	st := fleet(t)
	cfg := features.DefaultConfig()
	work := t.TempDir()
	if _, err := extract.Run(ctx, st, work, extract.Options{Config: cfg, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	type cols struct{ ens, inc float64 }
	byH := map[int]map[string]cols{}
	for _, h := range hs {
		tab, err := workdir.ReadFeatures(filepath.Join(work, workdir.FeaturesFile(h)),
			features.Schema[features.EnsembleFaulty].Name, features.Schema[features.Inconclusive].Name)
		if err != nil {
			t.Fatal(err)
		}
		byH[h] = map[string]cols{}
		var row []float64
		for i, id := range tab.IDs {
			row = tab.Row(i, row)
			byH[h][id] = cols{row[0], row[1]}
		}
	}
	rows, err := batch.PredictStatistical(ctx, st, cfg, batch.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	deps, err := st.Deployments(ctx, history.Range{})
	if err != nil || len(rows) != len(deps) {
		t.Fatalf("%d rows for %d deployments (%v)", len(rows), len(deps), err)
	}
	seen := map[string]int{}
	for _, r := range rows {
		want, at, last, early := detector.Healthy, 0, -1, false
		for _, h := range hs {
			c, ok := byH[h][r.DeploymentID]
			if !ok {
				if !math.IsNaN(r.P[h]) {
					t.Fatalf("%s h%d: vote %v without a window", r.DeploymentID, h, r.P[h])
				}
				continue
			}
			if c.ens >= 0.5 && h >= detector.MinFlagLook {
				want, at = detector.Faulty, h
				break
			}
			last, early = h, c.ens >= 0.5
			if vote := r.P[h]; vote != 0 {
				t.Fatalf("%s h%d: vote %v, ensemble %v", r.DeploymentID, h, vote, c.ens)
			}
		}
		if want != detector.Faulty {
			switch {
			case last < 0, early:
				want = detector.Inconclusive
			case byH[last][r.DeploymentID].inc == 1:
				want = detector.Inconclusive
			}
		}
		if r.Verdict != want || r.DetectedAt != at || r.ModelVersion != batch.StatisticalChecks || r.Result.Model != batch.StatisticalChecks {
			t.Fatalf("%s: %s at %d (model %q), want %s at %d", r.DeploymentID, r.Verdict, r.DetectedAt, r.ModelVersion, want, at)
		}
		seen[r.Verdict]++
	}
	t.Logf("verdicts %v", seen)
	if seen[detector.Faulty] == 0 || seen[detector.Healthy] == 0 {
		t.Fatalf("the fleet needs faulty and healthy verdicts: %v", seen)
	}
	for _, r := range []batch.Row{rows[0], rows[len(rows)/2], rows[len(rows)-1]} {
		one, err := batch.CheckStatistical(ctx, st, cfg, r.DeploymentID, batch.Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if one.Verdict != r.Verdict || one.DetectedAt != r.DetectedAt || one.Result.Final != r.Result.Final {
			t.Errorf("check %s: %s at %d, predict %s at %d", r.DeploymentID, one.Verdict, one.DetectedAt, r.Verdict, r.DetectedAt)
		}
	}
	if _, err := batch.CheckStatistical(ctx, st, cfg, "no-such-deploy", batch.Options{}); !errors.Is(err, batch.ErrNoDeployment) {
		t.Errorf("unknown deployment: %v", err)
	}
}
