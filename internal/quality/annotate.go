package quality

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/train"
	"github.com/faultline-dev/faultline/pipeline"
	"github.com/faultline-dev/faultline/registry"
)

// The annotation loop (Options.Annotate): what a team does between two
// nightly runs when the policy flags little — label the first rows of the
// run's annotate.csv (docs/models.md, "Annotations"), import them, and let
// the next run train and choose on them.

// AnnotationNoise is the share of the loop's verdicts that are wrong: the
// simulator's default annotation_noise, a person who errs one time in
// twenty.
const AnnotationNoise = 0.05

// Annotator names the loop's verdicts in the history store.
const Annotator = "faultline-quality"

// Annotated is a fleet after the annotation loop.
type Annotated struct {
	// Rows and Faulty count the annotations imported and those labelled
	// faulty (after the noise).
	Rows   int `json:"rows"`
	Faulty int `json:"faulty"`
	// Production and Decision are the second run's, as Fleet's.
	Production string `json:"production"`
	Decision   string `json:"decision"`
	// Scores per scope, over the first run's split (the same history gives
	// the same split).
	Scores map[string]Score `json:"scores,omitempty"`
}

// loopVerdicts reads the first k rows of the annotate.csv at path and
// returns a person's verdicts on them: the truth, each wrong with
// probability AnnotationNoise (seeded by seed, so a fleet's loop is the
// same on every run).
func loopVerdicts(path string, k int, truth map[string]history.Truth, seed int64) ([]history.Annotation, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	if _, err := r.Read(); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x616e6e6f74617465)) // "annotate"
	at := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []history.Annotation
	faulty := 0
	for len(out) < k {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		t, ok := truth[rec[0]]
		if !ok {
			return nil, 0, fmt.Errorf("%s: deployment %q has no truth", path, rec[0])
		}
		y := t.Faulty
		if rng.Float64() < AnnotationNoise {
			y = !y
		}
		label := history.LabelHealthy
		if y {
			label, faulty = history.LabelFaulty, faulty+1
		}
		out = append(out, history.Annotation{DeploymentID: rec[0], Label: label, Annotator: Annotator, AnnotatedAt: at})
	}
	return out, faulty, nil
}

// annotationLoop runs the loop on a fleet whose first run is rec: it
// imports the verdicts on the first opts.Annotate rows of the run's
// annotate.csv into st, runs the pipeline again with runner, and scores the
// production policy over the first run's split.
func annotationLoop(ctx context.Context, opts Options, fl *fleetRun, rec *pipeline.Record, truth map[string]history.Truth, split map[string]string) (*Annotated, error) {
	path := filepath.Join(rec.Dir, workdir.ModelDir(train.LabelsWeak), workdir.AnnotateFile)
	anns, faulty, err := loopVerdicts(path, opts.Annotate, truth, fl.seed)
	if err != nil {
		return nil, err
	}
	a := &Annotated{Rows: len(anns), Faulty: faulty}
	rec2, err := fl.rerun(ctx, anns)
	if err != nil {
		return nil, fmt.Errorf("pipeline after the annotations: %w", err)
	}
	return fl.scoreSecond(ctx, opts, rec2, productionRef(fl.reg), a, truth, split)
}

// truthLabelsRun imports the truth of every deployment as an annotation
// (Options.TruthLabels), runs the pipeline again and scores the version it
// registered over the first run's split, promoted or not.
func truthLabelsRun(ctx context.Context, opts Options, fl *fleetRun, truth map[string]history.Truth, split map[string]string) (*Annotated, error) {
	ids := slices.Sorted(maps.Keys(truth))
	at := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	anns := make([]history.Annotation, 0, len(ids))
	a := &Annotated{}
	for _, id := range ids {
		label := history.LabelHealthy
		if truth[id].Faulty {
			label = history.LabelFaulty
			a.Faulty++
		}
		anns = append(anns, history.Annotation{DeploymentID: id, Label: label, Annotator: TruthAnnotator, AnnotatedAt: at})
	}
	a.Rows = len(anns)
	rec2, err := fl.rerun(ctx, anns)
	if err != nil {
		return nil, err
	}
	ref, err := rec2.Registered()
	if err != nil {
		return nil, err
	}
	return fl.scoreSecond(ctx, opts, rec2, ref, a, truth, split)
}

// scoreSecond completes a of the fleet's second run rec2: the gate's
// decision, and the model ref names (the version scored) over the first
// run's split.
func (fl *fleetRun) scoreSecond(ctx context.Context, opts Options, rec2 *pipeline.Record, ref registry.Ref, a *Annotated, truth map[string]history.Truth, split map[string]string) (*Annotated, error) {
	if p := rec2.Stage(pipeline.StagePromote); p != nil {
		a.Decision = p.Notes[pipeline.NoteDecision]
	}
	var f2 Fleet
	rows, _, err := predictRef(ctx, fl.reg, fl.st, fl.deps, fl.home, opts, &f2, ref)
	if err != nil {
		return nil, err
	}
	a.Production = f2.Production
	a.Scores, err = scopeScores(Predictions(rows), truth, split, opts.Floors.MinSeverity)
	return a, err
}

// TruthAnnotator names the annotations of Options.TruthLabels.
const TruthAnnotator = "faultline-quality-truth"

// rerun imports anns into the fleet's store and runs the pipeline again.
func (fl *fleetRun) rerun(ctx context.Context, anns []history.Annotation) (*pipeline.Record, error) {
	if len(anns) > 0 {
		tx, err := fl.st.BeginImport(ctx)
		if err != nil {
			return nil, err
		}
		if err := tx.AddAnnotations(ctx, anns); err != nil {
			tx.Rollback(ctx)
			return nil, err
		}
		if _, err := tx.Commit(ctx); err != nil {
			return nil, err
		}
	}
	return fl.runner.Run(ctx, pipeline.Options{Config: fl.deps.ConfigYAML})
}
