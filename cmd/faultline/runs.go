package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/pipeline"
)

func init() {
	var limit int
	var asJSON bool
	register(&command{
		name:    "runs list",
		summary: "list pipeline runs, newest first",
		help: `Lists the records of 'faultline run': id, status, start, duration, attempts
and the slowest stage. Records live in PostgreSQL (table pipeline_runs) with
--db, otherwise in HOME/runs/ID/run.json.

Status is running, succeeded, failed, or dead: a run recorded as running
whose process no longer holds its lock (it was killed; its duration ends at
its last recorded activity). Continue a dead or failed run with 'faultline
run --resume RUN_ID'. The lock is checked, not guessed from the age.`,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&limit, "limit", 20, "show at most `N` runs (0: all)")
			fs.BoolVar(&asJSON, "json", false, "print the records as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			recs, err := e.stores.RunRecords(ctx)
			if err != nil {
				return err
			}
			list, err := recs.List(ctx, limit)
			if err != nil {
				return err
			}
			if err := pipeline.MarkDead(ctx, recs, list); err != nil {
				return err
			}
			if asJSON {
				if list == nil {
					list = []*pipeline.Record{}
				}
				return e.writeJSON(list)
			}
			if len(list) == 0 {
				fmt.Fprintln(e.stdout, "no runs yet; start one with 'faultline run'")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTATUS\tSTARTED\tDURATION\tATTEMPTS\tSLOWEST STAGE\tERROR")
			for _, r := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Status, r.StartedAt.Format(time.RFC3339),
					r.Duration().Round(time.Second), r.Attempts, slowest(r), truncate(r.Error, 60))
			}
			return tw.Flush()
		},
	})
	var showJSON bool
	register(&command{
		name:    "runs show",
		usage:   "RUN_ID",
		summary: "show one pipeline run: stages, timings, rows, outputs, errors",
		help: `Shows the record of run RUN_ID (see 'faultline runs list' for the statuses,
dead included). Flags may follow RUN_ID: 'faultline runs show RUN_ID --json'.`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&showJSON, "json", false, "print the record as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usageError("expected one RUN_ID")
			}
			recs, err := e.stores.RunRecords(ctx)
			if err != nil {
				return err
			}
			r, err := recs.Get(ctx, args[0])
			if err != nil {
				return err
			}
			list := []*pipeline.Record{r}
			if err := pipeline.MarkDead(ctx, recs, list); err != nil {
				return err
			}
			r = list[0]
			if showJSON {
				return e.writeJSON(r)
			}
			printRecord(e, r)
			return nil
		},
	})
}

func printRecord(e *env, r *pipeline.Record) {
	fmt.Fprintf(e.stdout, "run %s  %s  (attempt %d)\n", r.ID, r.Status, r.Attempts)
	if r.Status == pipeline.StatusDead {
		fmt.Fprintf(e.stdout, "no process holds its lock: it was killed; continue it with 'faultline run --resume %s'\n", r.ID)
	}
	fmt.Fprintf(e.stdout, "started %s, took %s, code %s, store %s\nfolder %s\n", r.StartedAt.Format(time.RFC3339),
		r.Duration().Round(time.Millisecond), r.CodeVersion, r.Store, r.Dir)
	if r.Error != "" {
		fmt.Fprintf(e.stdout, "error: %s\n", r.Error)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSTAGE\tSTATUS\tSECONDS\tROWS\tOUTPUTS")
	for _, s := range r.Stages {
		var rows []string
		for _, k := range slices.Sorted(maps.Keys(s.Rows)) {
			rows = append(rows, fmt.Sprintf("%s=%d", k, s.Rows[k]))
		}
		var outs []string
		for _, o := range s.Outputs {
			outs = append(outs, fmt.Sprintf("%s (%s)", o.Path, o.SHA256[:12]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%s\n", s.Name, s.Status, s.Seconds, strings.Join(rows, " "), strings.Join(outs, ", "))
		if s.Error != "" {
			fmt.Fprintf(tw, "\t  error: %s\t\t\t\n", s.Error)
		}
	}
	tw.Flush()
	for _, s := range r.Stages {
		if len(s.Metrics) == 0 {
			continue
		}
		fmt.Fprintf(e.stdout, "\n%s metrics:\n", s.Name)
		for _, k := range slices.Sorted(maps.Keys(s.Metrics)) {
			fmt.Fprintf(e.stdout, "  %-40s %.4g\n", k, s.Metrics[k])
		}
	}
}

func slowest(r *pipeline.Record) string {
	best, name := -1.0, "-"
	for _, s := range r.Stages {
		if s.Seconds > best && s.Status != pipeline.StatusPending {
			best, name = s.Seconds, fmt.Sprintf("%s (%.0fs)", s.Name, s.Seconds)
		}
	}
	return name
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
