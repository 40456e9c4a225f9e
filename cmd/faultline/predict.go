package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/quality"
	"github.com/faultline-dev/faultline/registry"
)

// productionAlias is the alias detectors use by default; without it, check
// and predict fall back to the statistical checks.
const productionAlias = "production"

// errNoProduction: the registry has no production model (check and predict
// fall back to the statistical checks).
var errNoProduction = errors.New("no production model in the registry")

// loadDetector loads the detector of a model reference: a bundle file
// (an existing path ending in .tar.gz or .tgz), or a registry reference
// (NAME@VERSION, NAME@ALIAS, VERSION or ALIAS of registry.model). When ref
// names the production alias and the registry has none, or one of another
// feature schema (detector.ErrSchemaMismatch: trained by a build whose
// features meant something else), the error wraps errNoProduction.
func (e *env) loadDetector(ctx context.Context, ref string) (*detector.Detector, error) {
	if strings.HasSuffix(ref, ".tar.gz") || strings.HasSuffix(ref, ".tgz") {
		if _, err := os.Stat(ref); err == nil {
			return detector.Load(ref)
		}
	}
	r, err := e.openRegistry(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pr, err := registry.ParseRef(ref, r.Config().Model)
	if err != nil {
		return nil, usageError("--model: %v", err)
	}
	if pr.Alias == productionAlias {
		as, err := r.Backend().Aliases(ctx, pr.Name)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(as, func(a registry.Alias) bool { return a.Alias == productionAlias }) {
			return nil, fmt.Errorf("%w (%s in %s)", errNoProduction, pr, r.Backend().Describe())
		}
	}
	v, err := r.Resolve(ctx, pr)
	if err != nil {
		return nil, err
	}
	b, err := r.Bundle(ctx, v)
	if err != nil {
		return nil, err
	}
	d, err := detector.New(b)
	if pr.Alias == productionAlias && errors.Is(err, detector.ErrSchemaMismatch) {
		// Trained by a build whose features meant something else: nothing of
		// this build can score it, as if none were in production.
		return nil, fmt.Errorf("%w: %s@%d cannot be scored by this build (%w); the next pipeline run trains and promotes one",
			errNoProduction, v.Name, v.Version, err)
	}
	return d, err
}

func init() {
	var (
		model, out, from, until, workdir string
		workers                          int
		asJSON, truth                    bool
	)
	register(&command{
		name:    "predict",
		usage:   "--model REF --out FILE.csv|FILE.parquet [--from T] [--until T] [--workdir DIR] [--truth] [--json]",
		summary: "score historical deployments with a registered model, as a detector would have",
		help: `Scores every deployment that started in [--from, --until) with model REF
(NAME@VERSION, NAME@ALIAS, a bare VERSION or ALIAS such as production, or a
bundle file .tar.gz). Features are computed from the history store by the
same extractor that feeds training and evaluation, with the feature settings
recorded with the model, so p_H equal the evaluation stage's numbers for the
same model and deployments. Only the environments of the selected
deployments are read, over the minutes their windows need; the rows stay in
memory (a large range spills feature vectors to a temporary file under
--workdir, removed afterwards).

With no production model in the registry (or one trained on another feature
schema, which this build cannot score: a warning says so) and --model left
at production, the deployments are judged by the statistical checks
instead: the unanimous ensemble of the impact, temporal-correlation and
persistence checks for canaries, the before/after checks for changes
without one (docs/detector.md), over the horizons with data, features
computed with the "features" settings.
p_H is then their vote (1 or 0), model_version is
statistical-checks, and the summary says so ("source": "statistical-checks"
with --json).

Output columns (../shared/spec/outputs.md): deployment_id, service,
environment, started_at, p_H per horizon (empty when fewer than H minutes of
data follow the deploy), verdict (faulty, healthy, inconclusive),
detected_at_min (first horizon the sequential policy flagged), model_version.
A look whose window fell in a fleet event (train.fleet_event_share) does not
flag: there p_H may exceed the look's threshold, and a deployment whose
latest look was one is inconclusive (docs/detector.md).
The extension of --out picks CSV or Parquet.

--truth (simulated histories only: 'faultline simulate' stores the ground
truth of every deployment) also scores the verdicts against that truth, as
'faultline quality' does: precision (flagged deployments that are faulty),
recall (faults flagged), recall on faults of severity >= 1.5x, false alarms
per healthy deployment, each with its Wilson 95% interval, and the mean
detection minute over 60. These are figures against truth, not against
weak labels; "inconclusive" counts as not flagged. On a history without
truth it is an error.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&model, "model", "production", "model `REF` or bundle file")
			fs.StringVar(&out, "out", "", "predictions `FILE` (.csv or .parquet; required)")
			fs.StringVar(&from, "from", "", "first deployment start `T` (RFC 3339 or date; default: the beginning)")
			fs.StringVar(&until, "until", "", "deployment start `T` to stop before (default: the end)")
			fs.StringVar(&workdir, "workdir", "", "`DIR` for a temporary spill file of a large range (default HOME/work)")
			fs.IntVar(&workers, "workers", 0, "streams extracted in parallel (default: number of CPUs)")
			fs.BoolVar(&asJSON, "json", false, "print a summary as JSON")
			fs.BoolVar(&truth, "truth", false, "also score the verdicts against the simulator's ground truth")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			if out == "" {
				return usageError("--out is required")
			}
			if ext := strings.ToLower(out); !strings.HasSuffix(ext, ".csv") && !strings.HasSuffix(ext, ".parquet") {
				return usageError("--out %s: the name must end in .csv or .parquet", out)
			}
			rng, err := parseRange(from, until)
			if err != nil {
				return err
			}
			d, fallback, store, err := e.detectorAndStore(ctx, model)
			if err != nil {
				return err
			}
			opts := batch.Options{Range: rng, Scratch: e.workdir(workdir), Workers: workers, Progress: e.progress()}
			var (
				rows []batch.Row
				hs   []int
			)
			if fallback {
				hs = horizonsSorted(e.set.Features.Horizons)
				rows, err = batch.PredictStatistical(ctx, store, e.set.Features, opts)
			} else {
				hs = d.Horizons()
				rows, err = batch.Predict(ctx, store, d, opts)
			}
			if err != nil {
				return err
			}
			if err := batch.Write(out, hs, rows); err != nil {
				return err
			}
			counts := map[string]int{detector.Faulty: 0, detector.Healthy: 0, detector.Inconclusive: 0}
			for _, r := range rows {
				counts[r.Verdict]++
			}
			source, by, modelName, modelVersion := sourceModel, "", "", 0
			if fallback {
				source, by, modelName = sourceStatistics, "the statistical checks (no production model)", sourceStatistics
			} else {
				m := d.Manifest()
				modelName, modelVersion, by = m.Model, m.Version, fmt.Sprintf("%s@%d", m.Model, m.Version)
			}
			var vsTruth *quality.Score
			if truth {
				s, err := scoreAgainstTruth(ctx, store, rows)
				if err != nil {
					return err
				}
				vsTruth = &s
			}
			if asJSON {
				m := map[string]any{"source": source, "model": modelName, "model_version": modelVersion, "out": out, "deployments": len(rows), "verdicts": counts}
				if vsTruth != nil {
					m["against_truth"] = vsTruth
				}
				return e.writeJSON(m)
			}
			fmt.Fprintf(e.stdout, "scored %d deployments with %s into %s: %d faulty, %d healthy, %d inconclusive\n",
				len(rows), by, out, counts[detector.Faulty], counts[detector.Healthy], counts[detector.Inconclusive])
			if vsTruth != nil {
				fmt.Fprintf(e.stdout, "against the simulator's truth (Wilson 95%%): precision %s, recall %s, recall on faults >= %gx %s, false alarms per healthy deployment %s, detection at %.2f of 60 min\n",
					vsTruth.Precision.Decimal(2), vsTruth.Recall.Decimal(2), quality.DefaultFloors().MinSeverity, vsTruth.RecallFloored.Decimal(2),
					vsTruth.FalseAlarms.Decimal(2), vsTruth.TTDRatio.Value)
			}
			return nil
		},
	})
}

// detectorAndStore loads the detector of ref (loadDetector) and opens the
// history store. fallback is true, and d nil, when ref names the production
// alias and the registry has none: the caller scores with the statistical
// checks instead.
func (e *env) detectorAndStore(ctx context.Context, ref string) (d *detector.Detector, fallback bool, store history.Store, err error) {
	d, err = e.loadDetector(ctx, ref)
	fallback = errors.Is(err, errNoProduction)
	if err != nil && !fallback {
		return nil, false, nil, err
	}
	if fallback && errors.Is(err, detector.ErrSchemaMismatch) {
		e.log.Warn("judging with the statistical checks: the production model cannot be scored by this build", "reason", err.Error())
	}
	if store, err = e.openStore(ctx); err != nil {
		return nil, false, nil, err
	}
	return d, fallback, store, nil
}

// horizonsSorted returns hs ascending (a copy).
func horizonsSorted(hs []int) []int {
	out := slices.Clone(hs)
	slices.Sort(out)
	return out
}

// scoreAgainstTruth scores verdicts against the ground truth a simulated
// history holds (quality.Tally over every deployment scored).
func scoreAgainstTruth(ctx context.Context, store history.Store, rows []batch.Row) (quality.Score, error) {
	tr, err := store.Truth(ctx)
	if errors.Is(err, history.ErrNoTruth) {
		return quality.Score{}, usageError("--truth: %v (only 'faultline simulate' writes one)", err)
	}
	if err != nil {
		return quality.Score{}, fmt.Errorf("--truth: %w", err)
	}
	truth := make(map[string]history.Truth, len(tr))
	for _, t := range tr {
		truth[t.DeploymentID] = t
	}
	preds := quality.Predictions(rows)
	scored := make(map[string]bool, len(rows))
	for _, r := range rows {
		scored[r.DeploymentID] = true
	}
	c, err := quality.Tally(preds, truth, func(id string) bool { return scored[id] }, quality.DefaultFloors().MinSeverity)
	if err != nil {
		return quality.Score{}, fmt.Errorf("--truth: %w", err)
	}
	return c.Score(), nil
}

// estimate formats a proportion as "0.91 [0.88, 0.94] (433/474)".
