package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/train"
)

func init() {
	var (
		wdir   string
		labels string
		asJSON bool
	)
	register(&command{
		name:    "train",
		usage:   "[--workdir DIR] [--labels weak|ensemble] [--json]",
		summary: "train the 10/20/60-minute detectors and choose their thresholds",
		help: `Reads deploys.parquet, features_hH.parquet for every horizon and the label
source from the work directory, splits deployments by start time (oldest
train, then validation, newest test; written to split.parquet, identical for
both label sources), trains one gradient-boosted model per horizon with early
stopping on validation (monotone in the fault signals of train.monotone),
calibrates each horizon's probability (Platt, on validation), and chooses the
thresholds of all horizons together so that the sequential policy as a whole
meets train.target (default: precision >= 0.95, judged on the weak labels'
expected counts, train.target_estimate: expected; with bound, by the Wilson
lower bound at train.target_confidence), with the most recall; when
validation cannot show the target, train.json says so and the most precise
policy is kept. In that choice a deployment every labeling function
abstained on counts half at the label model's estimate for such rows and
half by where the models score it among the labelled faults
(train.abstained_spread: 0.5), and the labelled deployments the label model
gives one probability, in groups of at least 10, count half at it and half
by their scores' odds, the group's expected faults kept
(train.tied_spread: 0.5).

Label sources: weak (default) trains on labels.parquet (p_faulty as a soft
target; deployments every labeling function abstained on are kept with the
label model's estimate for such rows, train.abstained: prior; a deployment of
the training or validation split that a person annotated takes its
annotation, the gold column, as target, train.annotations: use, and where
the annotations of one function's lone faulty votes contradict the label
model, its unannotated lone votes take the revised target: train.json
lone_revised); ensemble
trains on the statistical ensemble at features.ensemble_horizon
(ensemble_faulty; inconclusive deployments dropped) — the baseline approach.

Writes models/SOURCE/model_hH.txt (LightGBM text v3, loadable by
github.com/dmitryikh/leaves) and models/SOURCE/train.json (parameters,
thresholds, sequential policy with its validation precision, recall, time to
detection and false-alarm rates, feature schema, input hashes). With weak
labels also models/weak/annotate.csv: up to 50 validation deployments on
which no labeling function voted, alternating with those labelled faulty on
one function's vote alone, the models' most likely faulty first, in the
annotations.csv import format — the deployments whose annotation most helps
the next training choose its thresholds. Settings: config section "train"
(docs/models.md, "Annotations").`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&wdir, "workdir", "", "work `DIR` holding the extract and label outputs (default HOME/work)")
			fs.StringVar(&labels, "labels", "", "label `SOURCE`: weak or ensemble (default: config train.labels, else weak)")
			fs.BoolVar(&asJSON, "json", false, "print train.json to standard output")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			if labels != "" && labels != train.LabelsWeak && labels != train.LabelsEnsemble {
				return usageError("--labels must be weak or ensemble, not %q", labels)
			}
			info, err := train.Run(ctx, e.set.Train, train.RunOptions{Workdir: e.workdir(wdir), Labels: labels, Progress: e.progress(),
				Warmup: time.Duration(e.set.Features.WarmupMinutes()) * time.Minute})
			if err != nil {
				return err
			}
			for _, h := range info.Horizons {
				e.log.Info("trained", slog.Int("horizon", h.Horizon), slog.Int("trees", h.Trees),
					slog.Float64("valid_auc", float64(h.ValidAUC)), slog.Float64("threshold", h.Threshold.Threshold),
					slog.Bool("target_reached", h.Threshold.Reached))
			}
			if asJSON {
				return e.writeJSON(info)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "labels: %s   split: %d train / %d valid / %d test deployments\n", info.LabelSource,
				info.Split.Counts[workdir.SplitTrain], info.Split.Counts[workdir.SplitValid], info.Split.Counts[workdir.SplitTest])
			fmt.Fprintln(tw, "HORIZON\tTRAIN ROWS\tVALID ROWS\tTREES\tVALID AUC\tLOGREG AUC\tTHRESHOLD\tPRECISION\tRECALL\tTARGET")
			for _, h := range info.Horizons {
				target := fmt.Sprintf("%.2f", h.Threshold.Target)
				if !h.Threshold.Reached {
					target += " (not reached: " + h.Threshold.Fallback + ")"
				}
				fmt.Fprintf(tw, "%d min\t%d\t%d\t%d\t%s\t%s\t%.4f\t%s\t%s\t%s\n", h.Horizon, h.Rows[workdir.SplitTrain], h.Rows[workdir.SplitValid],
					h.Trees, trainFmtMetric(h.ValidAUC), trainFmtMetric(h.LogRegValidAUC), h.Threshold.Threshold, trainFmtMetric(h.Threshold.Precision),
					trainFmtMetric(h.Threshold.Recall), target)
			}
			pv := info.PolicyValid
			fmt.Fprintf(tw, "policy (validation): precision %s, recall %s, mean time to detection %s min, false alarms %s per healthy deploy, %s per look\n",
				trainFmtMetric(pv.Precision), trainFmtMetric(pv.Recall), trainFmtMetric(pv.MeanTimeToDetection),
				trainFmtMetric(pv.PerDeployFalseAlarmRate), trainFmtMetric(pv.PerLookFalseAlarmRate))
			fmt.Fprintf(tw, "thresholds chosen on: %s\n", info.ChoiceData.Describe())
			fmt.Fprintf(tw, "wrote %s\n", filepath.Join(e.workdir(wdir), workdir.ModelDir(info.LabelSource)))
			if len(info.Annotated) > 0 {
				fmt.Fprintf(tw, "annotations taken as targets: %d train, %d valid deployments\n", info.Annotated[workdir.SplitTrain], info.Annotated[workdir.SplitValid])
			}
			for _, fn := range slices.Sorted(maps.Keys(info.LoneRevised)) {
				r := info.LoneRevised[fn]
				fmt.Fprintf(tw, "%s's lone faulty votes: %d of %d annotated were faulty against p_faulty %.2f; the unannotated ones train at %.2f\n",
					fn, r.AnnotatedFaulty, r.Annotated, r.PFaulty, r.Target)
			}
			if info.ToAnnotate > 0 {
				fmt.Fprintf(tw, "to annotate: %s (%d validation deploys on which no labeling function, or one alone, voted; the models' most likely faulty first)\n",
					filepath.Join(e.workdir(wdir), workdir.ModelDir(info.LabelSource), workdir.AnnotateFile), info.ToAnnotate)
			}
			return tw.Flush()
		},
	})
}

func trainFmtMetric(m metrics.Float) string {
	if math.IsNaN(float64(m)) {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", float64(m))
}
