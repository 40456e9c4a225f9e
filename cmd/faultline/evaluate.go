package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
)

func init() {
	var (
		wdir   string
		queue  string
		asJSON bool
	)
	register(&command{
		name:    "evaluate",
		summary: "score the baseline and the sequential models on held-out deploys; write the report",
		usage:   "[--workdir DIR] [--queue FILE.csv] [--json]",
		help: `Evaluates, on the newest deploys (split "test" of split.parquet), the
unsupervised ensemble baseline (features_h60 ensemble_faulty, deciding at 60 min),
the sequential models trained on ensemble labels (models/ensemble) and on weak
labels (models/weak): precision, recall, PR-AUC, false-alarm rate, coverage and
time to detection per horizon and for the sequential policy, with Wilson 95%
intervals. The reference is named every time: human annotations where they exist
and weak labels otherwise (gold_or_weak), each alone, and the simulator's truth
when the history was simulated.

Writes WORKDIR/evaluation/metrics.json, summary.md and report.html (one
self-contained page), and prints the headline table and the report's path.

--queue FILE.csv writes the disagreements most worth a human look in the
annotations.csv import format plus evidence columns. Fill label (faulty or
healthy) and annotator, delete rows you do not judge, save the file as
annotations.csv in a folder and run
  faultline import --from FOLDER --ignore-unknown-columns
See docs/evaluation.md.

Settings: section "evaluate" of --config (split, queue_size,
report_disagreements, sparkline_minutes, calibration_bins).

Exit codes: 0 report written; 1 failure (a missing or malformed input is named
with its file); 2 usage error.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&wdir, "workdir", "", "`DIR` of the stage files (default HOME/work)")
			fs.StringVar(&queue, "queue", "", "also write the annotation queue to `FILE.csv`")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON instead of a table")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return usageError("unexpected arguments: %s", strings.Join(args, " "))
			}
			if queue != "" && !strings.EqualFold(filepath.Ext(queue), ".csv") {
				return usageError("--queue must name a .csv file, not %q", queue)
			}
			cfg := e.set.Evaluate
			cfgYAML, err := yaml.Marshal(map[string]any{"evaluate": cfg})
			if err != nil {
				return err
			}
			store, err := e.openStore(ctx)
			if err != nil {
				return fmt.Errorf("open history store (annotations, truth, series): %w", err)
			}
			dir := e.workdir(wdir)
			rep, err := evaluation.Run(ctx, evaluation.Options{
				Workdir:     dir,
				Config:      cfg,
				History:     store,
				Truth:       store,
				Production:  e.registryProductionLoader(), // the registry's production model as a fourth contender
				StoreName:   store.Describe(),
				CodeVersion: codeVersion(),
				ConfigYAML:  string(cfgYAML),
				Progress:    e.progress(),
			})
			if err != nil {
				return err
			}
			if queue != "" {
				if _, err := rep.WriteQueue(queue); err != nil {
					return err
				}
			}
			out, err := rep.Write(filepath.Join(dir, workdir.EvaluationDir))
			if err != nil {
				return err
			}
			if asJSON {
				return e.writeJSON(evaluateJSON(rep, out))
			}
			return printEvaluation(e, rep, out)
		},
	})
}

type evaluateHeadline struct {
	Contender string                      `json:"contender"`
	Reference string                      `json:"reference"`
	Precision metrics.Estimate            `json:"precision"`
	Recall    metrics.Estimate            `json:"recall"`
	TTDRatio  evaluation.Float            `json:"ttd_ratio"`
	Coverage  map[string]metrics.Estimate `json:"coverage"`
}

type evaluateOutput struct {
	Reports       map[string]string         `json:"reports"`
	Queue         *evaluation.QueueInfo     `json:"queue,omitempty"`
	TestDeploys   int                       `json:"test_deploys"`
	Headline      []evaluateHeadline        `json:"headline"`
	Disagreements []evaluation.Disagreement `json:"disagreements"`
	Notes         []string                  `json:"notes,omitempty"`
}

func evaluateJSON(rep *evaluation.Report, out map[string]string) evaluateOutput {
	o := evaluateOutput{Reports: out, Queue: rep.Queue, TestDeploys: rep.TestDeploys, Disagreements: rep.Disagreements, Notes: rep.Notes}
	refs := []string{rep.Headline}
	if rep.Simulated && rep.Headline != evaluation.RefTruth {
		refs = append(refs, evaluation.RefTruth)
	}
	for _, ref := range refs {
		for _, row := range rep.HeadlineRows(ref) {
			r := row.Policy
			o.Headline = append(o.Headline, evaluateHeadline{Contender: row.Contender, Reference: ref, Precision: r.Precision, Recall: r.Recall, TTDRatio: r.TTDRatio, Coverage: r.Coverage})
		}
	}
	return o
}

func printEvaluation(e *env, rep *evaluation.Report, out map[string]string) error {
	w := e.stdout
	refs := []string{rep.Headline}
	if rep.Simulated && rep.Headline != evaluation.RefTruth {
		refs = append(refs, evaluation.RefTruth)
	}
	for _, ref := range refs {
		fmt.Fprintf(w, "Against %s.\n", rep.ReferenceSentence(ref))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "contender\tprecision [95% CI] (k/n)\trecall [95% CI] (k/n)\tTTD ratio\tfirst caught at")
		for _, row := range rep.HeadlineRows(ref) {
			r := row.Policy
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.Contender, r.Precision.Percent(), r.Recall.Percent(), ratioText(r.TTDRatio), coverageText(rep, r))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	for _, d := range rep.Disagreements {
		if d.A != evaluation.ContenderBaseline || d.B != evaluation.ContenderWeak {
			continue
		}
		fmt.Fprintf(w, "Disagreements %s vs %s: %d deploys.\n", d.A, d.B, d.Deploys)
		for _, s := range d.ByReference {
			if s.Labeled == 0 {
				continue
			}
			fmt.Fprintf(w, "  vs %s (%d labeled, %d faulty): %s precision %s, recall %s; %s precision %s, recall %s\n",
				s.Reference, s.Labeled, s.Faulty, d.A, s.A.Precision.Percent(), s.A.Recall.Percent(), d.B, s.B.Precision.Percent(), s.B.Recall.Percent())
		}
		fmt.Fprintln(w)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if rep.Queue != nil {
		fmt.Fprintf(w, "Annotation queue: %s (%d of %d unannotated disagreements)\n", rep.Queue.Path, rep.Queue.Rows, rep.Queue.Candidates)
	}
	fmt.Fprintf(w, "Report: %s\n", out[workdir.ReportFile])
	return nil
}

func ratioText(f evaluation.Float) string {
	v := float64(f)
	if v != v {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

func coverageText(rep *evaluation.Report, r evaluation.Result) string {
	var parts []string
	for _, h := range rep.Horizons {
		e := r.Coverage[fmt.Sprint(h)]
		s := "–"
		if e.Defined() {
			s = fmt.Sprintf("%.0f%%", 100*e.Value)
		}
		parts = append(parts, fmt.Sprintf("%d′ %s", h, s))
	}
	return strings.Join(parts, " ")
}
