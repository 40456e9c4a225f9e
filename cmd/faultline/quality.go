package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/quality"
)

func init() {
	var (
		regimes, seeds, out, workdir string
		services, days, annotate     int
		keep, asJSON, truthLabels    bool
	)
	register(&command{
		name:    "quality",
		summary: "the detection-quality benchmark: the production policy against truth on simulated regimes",
		usage:   "[--regimes A,B] [--seeds 1,2] [--services N] [--days D] [--annotate K | --truth-labels] [--out FILE.md] [--workdir DIR] [--keep] [--json]",
		help: `For each regime and seed, simulates a fleet ('faultline simulate --regime')
into a fresh embedded store under --workdir, runs the whole pipeline on it
as 'faultline run' does (with the stage and registry sections of --config),
scores the production policy the run promoted on every deploy as
'faultline predict --model production' does, and measures it against the
simulator's ground truth: precision, recall, recall on faults at least as
severe as the floor's, time to detection over 60 minutes and false alarms
per healthy deploy, each with its 95% interval; recall per severity band;
false alarms per confounder; whether the floors are met:
` + qualityFloors() + `.
Figures are given on the run's held-out test split (the newest deploys)
and over every deploy.

--annotate K runs the annotation loop on every fleet once it is scored:
the first K rows of its run's models/weak/annotate.csv labelled from the
truth, each verdict wrong with probability 0.05, imported as annotations,
and the pipeline run again; a table gives the production policy before
and after (docs/models.md, "Annotations"). It doubles the time.

--truth-labels runs the pipeline on every fleet a second time, with the
truth of every deployment imported as an annotation (no noise), and scores
the version that run registered, promoted or not, beside the first run's
production policy: what the features and models reach with perfect labels,
so what the weak labels cost and what no labeling can recover (make
quality-truth writes docs/quality-truth.md). It doubles the time too.

--out writes the tables as Markdown (make quality writes docs/quality.md);
without it the Markdown goes to standard output. --json prints the full
result (counts per fleet and scope) instead. A fleet's folder is removed
once scored, unless --keep.

Regimes: ` + strings.Join(quality.RegimeNames(), ", ") + `
(see 'faultline help simulate'; the alt-* regimes come from a second,
independent generator, internal/altsim).

Exit codes: 0 the benchmark ran (floors met or not: see the tables); 1 a
fleet's pipeline failed (the tables say which) or the output could not be
written; 2 usage.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&regimes, "regimes", "", "comma-separated regimes `A,B` (default: all)")
			fs.StringVar(&seeds, "seeds", "1,2", "comma-separated seeds `S1,S2` of every regime")
			fs.IntVar(&services, "services", quality.DefaultServices, "services `N` per fleet")
			fs.IntVar(&days, "days", quality.DefaultDays, "days `D` of history per fleet")
			fs.IntVar(&annotate, "annotate", 0, "run the annotation loop with `K` rows of annotate.csv per fleet (0: off)")
			fs.BoolVar(&truthLabels, "truth-labels", false, "run every fleet again with the truth as labels and score that run's version")
			fs.StringVar(&out, "out", "", "write the Markdown tables to `FILE` (e.g. docs/quality.md)")
			fs.StringVar(&workdir, "workdir", "", "`DIR` receiving one folder per fleet (default HOME/work/quality)")
			fs.BoolVar(&keep, "keep", false, "keep each fleet's store, runs and registry")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			if services < 1 || days < 1 {
				return usageError("--services and --days must be at least 1")
			}
			if annotate < 0 {
				return usageError("--annotate must be at least 0")
			}
			if annotate > 0 && truthLabels {
				return usageError("--annotate and --truth-labels are separate benchmarks: give one")
			}
			opts := quality.Options{Services: services, Days: days, Keep: keep, Log: e.log, Progress: e.progress(), Workdir: workdir, Annotate: annotate, TruthLabels: truthLabels}
			var err error
			if opts.Regimes, err = parseRegimes(regimes); err != nil {
				return err
			}
			if opts.Seeds, err = parseSeeds(seeds); err != nil {
				return err
			}
			if opts.Workdir == "" {
				opts.Workdir = filepath.Join(e.workdir(""), "quality")
			}
			// The stage and registry settings of 'faultline run', from --config.
			if opts.Pipeline, err = e.stageSettings(); err != nil {
				return err
			}
			rcfg := e.set.Registry
			opts.Registry = &rcfg
			res, err := quality.Run(ctx, opts)
			if err != nil {
				return err
			}
			return writeQualityResult(e, res, out, asJSON)
		},
	})
}

// parseRegimes reads --regimes: comma-separated regime names ("": every
// regime, nil).
func parseRegimes(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	var out []string
	for _, r := range strings.Split(list, ",") {
		r = strings.TrimSpace(r)
		if _, err := quality.LookupRegime(r); err != nil {
			return nil, usageError("--regimes: %v", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// parseSeeds reads --seeds: comma-separated non-zero integers.
func parseSeeds(list string) ([]int64, error) {
	var out []int64
	for _, s := range strings.Split(list, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || v == 0 {
			return nil, usageError("--seeds: %q is not a non-zero integer", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// writeQualityResult writes the Markdown tables to out (if set) and prints
// the result: as JSON, as the Markdown (without out) or as a summary. A
// failed fleet is an error.
func writeQualityResult(e *env, res *quality.Result, out string, asJSON bool) error {
	md := res.Markdown()
	if out != "" {
		if err := atomicfile.WriteFile(out, md, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
	switch {
	case asJSON:
		if err := e.writeJSON(res); err != nil {
			return err
		}
	case out == "":
		if _, err := e.stdout.Write(md); err != nil {
			return err
		}
	default:
		printQualitySummary(e, res, out)
	}
	if failed := res.Failed(); len(failed) > 0 {
		return fmt.Errorf("%d of %d fleets failed, first %s seed %d: %s", len(failed), len(res.Fleets), failed[0].Regime, failed[0].Seed, failed[0].Error)
	}
	return nil
}

// qualityFloors describes quality.DefaultFloors for the help.
func qualityFloors() string {
	f := quality.DefaultFloors()
	return fmt.Sprintf("precision ≥ %g, recall ≥ %g on faults of severity ≥ %g×", f.Precision, f.Recall, f.MinSeverity)
}

// printQualitySummary prints one line per fleet: the floors' figures on
// the test split and over every deploy.
func printQualitySummary(e *env, res *quality.Result, out string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "REGIME\tSEED\tPRODUCTION\tTEST PRECISION\tTEST RECALL≥%g×\tALL PRECISION\tALL RECALL≥%g×\tALL FALSE ALARMS\tFLOORS (ALL)\tSECONDS\n",
		res.Floors.MinSeverity, res.Floors.MinSeverity)
	for _, f := range res.Fleets {
		prod := f.Production
		if f.Error != "" {
			prod = "failed"
		} else if prod == "" {
			prod = "none"
		}
		test, _ := f.Scored(quality.ScopeTest)
		all, ok := f.Scored(quality.ScopeAll)
		floors := "-"
		if ok {
			p, r := all.Meets(res.Floors)
			floors = map[[2]bool]string{{true, true}: "met", {true, false}: "recall not met", {false, true}: "precision not met", {false, false}: "not met"}[[2]bool{p, r}]
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\n", f.Regime, f.Seed, prod,
			short(test.Precision.Value), short(test.RecallFloored.Value), short(all.Precision.Value), short(all.RecallFloored.Value),
			short(all.FalseAlarms.Value), floors, f.Seconds)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "\nwrote %s\n", out)
}

func short(v float64) string {
	if v != v { // NaN
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}
