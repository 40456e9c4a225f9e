package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/labeling"
)

func init() {
	var (
		workdir string
		asJSON  bool
	)
	register(&command{
		name:    "label",
		usage:   "[--workdir DIR] [--json]",
		summary: "weak labels: labeling functions combined by a label model into P(faulty) per deployment",
		help: `Runs every enabled labeling function over the deployments of the work
directory (those of deploys.parquet, written by 'faultline extract'; every
deployment of the history when there is none): the built-in functions below
and the SQL functions of the configuration. Each votes faulty, healthy or
abstains. A label model learns how far to trust each function, per class,
without ground truth, and gives every deployment P(faulty). Settings:
section "labeling" of --config (each built-in under labeling.NAME;
thresholds, SQL functions, dependency groups); see docs/labeling.md, which
also states each function's assumption. A function that reads
features_hH.parquet refuses to run without it: run 'faultline extract' first.

Built-in functions, in column order:

` + builtinFunctionList() + `

Labeling functions never read annotations. The report does: where humans
annotated deployments, it measures each function and the labels against them.

Writes to the work directory (temporary name, then rename):

  labels.parquet   deployment_id, lf_NAME (int8: 1 faulty, 0 healthy,
                   -1 abstain) per function, p_faulty, label (1, 0, or -1
                   when every function abstained)
  lf_report.json   per function: votes, coverage, overlap, conflict, the
                   model's per-class estimates, empirical accuracy against
                   annotations; class balance; fit diagnostics

SQL labeling functions need the PostgreSQL history (--db); they run in a
read-only transaction with a statement timeout (sql_timeout_seconds).`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&workdir, "workdir", "", "work `DIR` to read features from and write labels to (default HOME/work)")
			fs.BoolVar(&asJSON, "json", false, "print the report (lf_report.json) on stdout instead of a table")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			cfg := e.set.Labeling
			if len(cfg.SQLFunctions) > 0 && e.g.db == "" {
				names := make([]string, len(cfg.SQLFunctions))
				for i, f := range cfg.SQLFunctions {
					names[i] = f.Name
				}
				return usageError("%v; the configuration declares %s", labeling.ErrSQLNeedsPostgres, strings.Join(names, ", "))
			}
			store, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			dir := e.workdir(workdir)
			start := time.Now()
			res, err := labeling.Run(ctx, cfg, labeling.Input{History: store, Workdir: dir, DSN: e.g.db, Progress: e.progress()})
			if err != nil {
				return err
			}
			rep := res.Report
			e.log.Info("label done", "workdir", dir, "rows", rep.Rows, "faulty", rep.Faulty,
				"elapsed", time.Since(start).Round(time.Millisecond))
			for _, w := range rep.Model.Warnings {
				e.log.Warn("label model", "warning", w)
			}
			if asJSON {
				return e.writeJSON(rep)
			}
			return printLabelReport(e, dir, rep)
		},
	})
}

// builtinFunctionList lists the built-in labeling functions with their
// descriptions, wrapped and indented for the help text.
func builtinFunctionList() string {
	var lines []string
	for _, f := range labeling.Builtins() {
		line := "  " + f.Name() + ":"
		for _, w := range strings.Fields(f.Description()) {
			if len(line)+1+len(w) > 78 {
				lines = append(lines, line)
				line = "     "
			}
			line += " " + w
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

func pct(x metrics.Float) string {
	if math.IsNaN(float64(x)) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(x))
}

func printLabelReport(e *env, dir string, rep *labeling.Report) error {
	w := e.stdout
	fmt.Fprintf(w, "labelled %d deployments into %s: %d faulty, %d healthy, %d without any vote; estimated faulty share %s\n\n",
		rep.Rows, dir, rep.Faulty, rep.Labelled-rep.Faulty, rep.Rows-rep.Labelled, pct(rep.ClassBalance))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tVOTES\tCOVERAGE\tOVERLAP\tCONFLICT\tEST. FAULTY PREC.\tEST. HEALTHY PREC.\tANNOTATED ACCURACY\tALONE: P_FAULTY (ANNOTATED FAULTY)")
	for _, f := range rep.Functions {
		emp, lone := "-", "-"
		if f.Empirical != nil {
			emp = fmt.Sprintf("%s (%d/%d)", pct(f.Empirical.Accuracy), f.Empirical.Correct, f.Empirical.Annotated)
		}
		if l := f.Lone; l != nil {
			lone = fmt.Sprintf("%d: %s (%d/%d)", l.Deployments, pct(l.PFaulty), l.AnnotatedFaulty, l.Annotated)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, votesSummary(f), pct(f.Coverage), pct(f.Overlap), pct(f.Conflict),
			pct(f.Estimated.FaultyPrecision), pct(f.Estimated.HealthyPrecision), emp, lone)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	var groups []string
	for _, g := range rep.Model.Groups {
		groups = append(groups, strings.Join(g, "+"))
	}
	if len(groups) > 0 {
		fmt.Fprintf(w, "modelled jointly: %s\n", strings.Join(groups, "; "))
	}
	conv := "converged"
	if !rep.Model.Converged {
		conv = "did NOT converge"
	}
	fmt.Fprintf(w, "label model: %d vote patterns, EM %s in %d iterations\n", rep.Model.Patterns, conv, rep.Model.Iterations)
	for _, warn := range append(append([]string{}, rep.Model.Warnings...), rep.Warnings...) {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if a := rep.Annotations; a != nil {
		fmt.Fprintf(w, "against %d annotated deployments (%d faulty):\n", a.Deployments, a.Faulty)
		for _, q := range []struct {
			name string
			q    labeling.LabelQuality
		}{{"label model", a.LabelModel}, {"majority vote", a.MajorityVote}} {
			fmt.Fprintf(w, "  %-13s accuracy %s  precision %s  recall %s  AUC %s\n", q.name, pct(q.q.Accuracy), pct(q.q.Precision),
				pct(q.q.Recall), pct(q.q.AUC))
		}
	}
	return nil
}

func votesSummary(f labeling.FunctionReport) string {
	switch f.Polarity {
	case "faulty":
		return fmt.Sprintf("%d faulty", f.Votes.Faulty)
	case "healthy":
		return fmt.Sprintf("%d healthy", f.Votes.Healthy)
	case "none":
		return "none"
	}
	return fmt.Sprintf("%d faulty, %d healthy", f.Votes.Faulty, f.Votes.Healthy)
}
