package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/faultline-dev/faultline/internal/stores"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/pipeline"
)

func init() {
	var (
		resume, metricsFile, exportDir, from, until string
		noPromote, asJSON                           bool
	)
	register(&command{
		name:    "run",
		summary: "the nightly job: extract, label, train, evaluate, register, promote, export",
		usage:   "[--resume RUN_ID] [--metrics-file FILE] [--export-dir DIR] [--from T] [--until T] [--no-promote] [--json]",
		help: `Runs every stage in order on the history store, in a new run folder
HOME/runs/RUN_ID:

  extract         features of every deploy at each horizon (features_hH.parquet)
  label           weak labels and the labeling-function report (labels.parquet)
  train-weak      per-horizon models trained on the weak labels and the
                  annotations (models/weak; annotate.csv: deploys to annotate)
  train-ensemble  the same on the statistical ensemble (models/ensemble)
  evaluate        baseline vs both model sets (and production) on the newest deploys
  register        registers the weak-label models as a new version, alias "candidate"
  promote         moves "production" to it when the promotion gate passes
  export          writes the production bundle to the export folder

Only one run at a time per store: a second one exits with code 4 and names the
holder. A run that crashed (shown as dead by 'faultline runs') or failed is
continued with --resume RUN_ID (a run that succeeded cannot be): stages
whose outputs still match their recorded checksums are reused, the rest run
again. The record of every run (status, per-stage timings, row counts, outputs
with SHA-256, errors, the resolved configuration) is kept in PostgreSQL with
--db, otherwise in HOME/runs/RUN_ID/run.json; see 'faultline runs'.

Settings: every section of --config; section "run" holds promote (default
true), export_dir (default HOME/export), source (weak) and from/until. Flags
override the file. See docs/operations.md for schedules, metrics and scaling.

Exit codes: 0 the run succeeded (promotion refused by the gate still counts as
success; the record says so); 1 a stage failed; 2 usage; 4 another run holds
the lock.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&resume, "resume", "", "continue the run `RUN_ID` from its first unfinished stage")
			fs.StringVar(&metricsFile, "metrics-file", "", "write Prometheus textfile metrics to `FILE` when the run ends")
			fs.StringVar(&exportDir, "export-dir", "", "`DIR` receiving the production bundle (overrides run.export_dir)")
			fs.StringVar(&from, "from", "", "only deployments started at or after `T` (RFC 3339 or date)")
			fs.StringVar(&until, "until", "", "only deployments started before `T`")
			fs.BoolVar(&noPromote, "no-promote", false, "register the candidate but never move production")
			fs.BoolVar(&asJSON, "json", false, "print the run record as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			d, err := e.runDeps(ctx, runOverrides{exportDir: exportDir, from: from, until: until, noPromote: noPromote})
			if err != nil {
				return err
			}
			recs, err := e.stores.RunRecords(ctx)
			if err != nil {
				return err
			}
			host, _ := os.Hostname()
			runner := &pipeline.Runner{
				Records: recs, Root: filepath.Join(e.g.home, stores.RunsDir), Stages: pipeline.DefaultStages(d),
				Log: e.log, Progress: e.progress(), CodeVersion: d.CodeVersion, StoreName: d.History.Describe(),
				Holder: fmt.Sprintf("pid %d on %s, by %s", os.Getpid(), host, d.By),
			}
			rec, runErr := runner.Run(ctx, pipeline.Options{ResumeID: resume, Config: d.ConfigYAML})
			if errors.Is(runErr, pipeline.ErrLocked) {
				return &exitError{code: exitLocked, err: runErr}
			}
			if rec != nil && metricsFile != "" {
				if err := pipeline.WritePromFile(metricsFile, rec); err != nil {
					e.log.Error("write metrics file", "error", err)
				}
			}
			if errors.Is(runErr, pipeline.ErrSucceeded) {
				return fmt.Errorf("%w; start a new run with 'faultline run' (without --resume)", runErr)
			}
			if rec == nil {
				return runErr
			}
			if asJSON {
				if err := e.writeJSON(rec); err != nil {
					return err
				}
			} else {
				printRunSummary(e, rec)
			}
			var stageErr *pipeline.StageError
			if errors.As(runErr, &stageErr) {
				return fmt.Errorf("%w\nresume with: faultline run --resume %s", runErr, rec.ID)
			}
			return runErr
		},
	})
}

// runOverrides are the flags of 'faultline run' that override section "run".
type runOverrides struct {
	exportDir, from, until string
	noPromote              bool
}

// runDeps gives the stages of 'faultline run' their settings, with the
// flags laid over section "run" (the recorded configuration shows the values
// used), the history store and the registry.
func (e *env) runDeps(ctx context.Context, o runOverrides) (*pipeline.Deps, error) {
	s := e.set
	if o.exportDir != "" {
		s.Run.ExportDir = o.exportDir
	}
	if s.Run.ExportDir == "" {
		s.Run.ExportDir = filepath.Join(e.g.home, "export")
	}
	if o.from != "" {
		s.Run.From = o.from
	}
	if o.until != "" {
		s.Run.Until = o.until
	}
	if o.noPromote {
		s.Run.Promote = false
	}
	d, err := e.stageSettings()
	if err != nil {
		return nil, err
	}
	d.DSN = e.stores.DSN()
	if d.Range.From, err = parseExtractTime("from", d.Run.From); err != nil {
		return nil, err
	}
	if d.Range.Until, err = parseExtractTime("until", d.Run.Until); err != nil {
		return nil, err
	}
	if d.History, err = e.openStore(ctx); err != nil {
		return nil, err
	}
	if d.Registry, err = e.openRegistry(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// stageSettings returns the stages' settings of 'faultline run' (e.set:
// every section of --config, checked as a whole, the ensemble horizon
// shared), who runs them and the configuration recorded with each run;
// the caller adds the stores. 'faultline quality' runs its fleets with
// them too.
func (e *env) stageSettings() (*pipeline.Deps, error) {
	s := e.set
	resolved, err := e.cfg.Resolved(runSections...)
	if err != nil {
		return nil, err
	}
	return &pipeline.Deps{
		Run: s.Run, Features: s.Features, Labeling: s.Labeling, Train: s.Train, Evaluate: s.Evaluate,
		CodeVersion: codeVersion(), By: whoAmI(), ConfigYAML: string(resolved),
	}, nil
}

// printRunSummary prints the stages, the headline numbers and where the
// report and bundle are.
func printRunSummary(e *env, rec *pipeline.Record) {
	w := e.stdout
	fmt.Fprintf(w, "\nrun %s %s in %s (folder %s)\n\n", rec.ID, rec.Status, rec.Duration().Round(1e8), rec.Dir)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tSTATUS\tSECONDS\tNOTE")
	for _, s := range rec.Stages {
		note := s.Notes[pipeline.NoteDecision]
		if s.Error != "" {
			note = "error: " + truncate(s.Error, 100)
		}
		if s.Name == pipeline.StageRegister && s.Notes[pipeline.NoteVersion] != "" {
			note = fmt.Sprintf("%s@%s (candidate)", s.Notes[pipeline.NoteModel], s.Notes[pipeline.NoteVersion])
		}
		if s.Name == pipeline.StageExport && s.Notes[pipeline.NoteBundle] != "" {
			note = s.Notes[pipeline.NoteBundle]
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\n", s.Name, s.Status, s.Seconds, note)
	}
	tw.Flush()
	if ev := rec.Stage(pipeline.StageEvaluate); ev != nil && len(ev.Metrics) > 0 {
		fmt.Fprintf(w, "\nsequential policy on held-out deploys (reference: %s):\n", ev.Notes["reference"])
		printHeadline(e, ev)
		if p := ev.Notes["file_"+workdir.ReportFile]; p != "" {
			fmt.Fprintf(w, "\nreport: %s\n", p)
		}
	}
	if tr := rec.Stage(pipeline.StageTrainWeak); tr != nil {
		if p := tr.Notes["file_"+workdir.AnnotateFile]; p != "" {
			fmt.Fprintf(w, "to annotate: %s (%d validation deploys on which no labeling function, or one alone, voted,\n"+
				"  the models' most likely faulty first: the threshold choice is least sure of them; label some, import them as annotations.csv,\n"+
				"  and the next run trains and chooses on them)\n",
				p, tr.Rows["to_annotate"])
		}
	}
}

func printHeadline(e *env, ev *pipeline.StageRecord) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTENDER\tREFERENCE\tPRECISION\tRECALL\tFALSE ALARMS\tTTD / 60 MIN")
	seen := map[string]bool{}
	for _, k := range slices.Sorted(maps.Keys(ev.Metrics)) {
		if !strings.HasSuffix(k, "_precision") {
			continue
		}
		prefix := strings.TrimSuffix(k, "precision")
		if seen[prefix] {
			continue
		}
		seen[prefix] = true
		parts := strings.SplitN(strings.TrimSuffix(prefix, "_"), "_", 2)
		if len(parts) != 2 {
			continue
		}
		get := func(s string) string {
			v, ok := ev.Metrics[prefix+s]
			if !ok {
				return "-"
			}
			if s == "ttd_ratio" {
				return fmt.Sprintf("%.2f×", v)
			}
			return fmt.Sprintf("%.1f%%", 100*v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", parts[0], parts[1], get("precision"), get("recall"), get("false_alarm_rate"), get("ttd_ratio"))
	}
	tw.Flush()
}
