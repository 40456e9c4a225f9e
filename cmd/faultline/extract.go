package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// parseExtractTime reads flag --NAME with parseTime; a bad value is a usage
// error.
func parseExtractTime(flagName, s string) (time.Time, error) {
	t, err := parseTime(s)
	if err != nil {
		return t, usageError("--%s %v", flagName, err)
	}
	return t, nil
}

// parseRange parses --from and --until (either may be empty) into a range
// of deployment starts; until must come after from.
func parseRange(from, until string) (history.Range, error) {
	var rng history.Range
	var err error
	if rng.From, err = parseExtractTime("from", from); err != nil {
		return rng, err
	}
	if rng.Until, err = parseExtractTime("until", until); err != nil {
		return rng, err
	}
	if !rng.From.IsZero() && !rng.Until.IsZero() && !rng.Until.After(rng.From) {
		return rng, usageError("--until must be after --from")
	}
	return rng, nil
}

func init() {
	var (
		from, until, workdir, shard string
		workers                     int
		asJSON, merge               bool
	)
	register(&command{
		name:    "extract",
		usage:   "[--from T] [--until T] [--workdir DIR] [--shard i/n] [--workers N] [--json]\n       faultline extract --merge [--workdir DIR] [--json] SHARD_DIR...",
		summary: "compute point-in-time features of every deployment at each horizon, to Parquet",
		help: `Reads the history store and, for every deployment that started in
[--from, --until), computes the features a detector would have had 10, 20 and
60 minutes after the start (horizons and thresholds: section "features" of
--config; definitions in docs/features.md). Writes to the work directory:

  deploys.parquet        one row per deployment in range
  features_hH.parquet    deployment_id + the feature columns, per horizon H;
                         deployments with fewer than H minutes of data after
                         their start are skipped (counted in extract.json)
  extract.json           schema version and hash, horizons, row counts

Every file is written under a temporary name and renamed. --shard i/n
extracts only the deployments of streams (service, environment) hashing to
part i of n, so that several machines can split one extraction; the parts
are disjoint and together complete. Each shard's extract.json says which part
it holds.

--merge joins the work directories of every part of one split (the folders
given as arguments, in any order) into --workdir, without reading the history:
the files written are byte-identical to those of one unsharded extraction of
the same range, so label, train and the rest of the run follow as usual. It
first checks that every part 0/n … n-1/n is there exactly once and that the
parts share the schema, "features" configuration, range and horizons; an
error names the folder at fault. Memory stays bounded: the files are
streamed. See docs/operations.md for a Kubernetes indexed Job.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "first deployment start `T` to include (RFC 3339 or date; default: the beginning)")
			fs.StringVar(&until, "until", "", "deployment start `T` to stop before (default: the end)")
			fs.StringVar(&workdir, "workdir", "", "output `DIR` (default HOME/work)")
			fs.StringVar(&shard, "shard", "", "extract part `i/n` only (0 ≤ i < n)")
			fs.IntVar(&workers, "workers", 0, "streams processed in parallel (default: number of CPUs)")
			fs.BoolVar(&asJSON, "json", false, "print the summary (extract.json) on stdout")
			fs.BoolVar(&merge, "merge", false, "join the shard folders given as arguments into --workdir instead of extracting")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if merge {
				return runExtractMerge(ctx, e, e.workdir(workdir), args, asJSON, from != "" || until != "" || shard != "" || workers != 0)
			}
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			rng, err := parseRange(from, until)
			if err != nil {
				return err
			}
			opt := extract.Options{Range: rng, Workers: workers, Progress: e.progress(), Config: e.set.Features}
			if shard != "" {
				if opt.Shard, opt.Shards, err = extract.ParseShard(shard); err != nil {
					return usageError("--shard: %v", err)
				}
			}
			if workers < 0 {
				return usageError("--workers must be ≥ 0")
			}
			store, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			dir := e.workdir(workdir)
			start := time.Now()
			sum, err := extract.Run(ctx, store, dir, opt)
			if err != nil {
				return err
			}
			e.log.Info("extract done", "workdir", dir, "deployments", sum.Deployments, "elapsed", time.Since(start).Round(time.Millisecond))
			if asJSON {
				return e.writeJSON(sum)
			}
			fmt.Fprintf(e.stdout, "extracted %d deployments (%s, %d features) into %s\n", sum.Deployments, sum.SchemaVersion, sum.Features, dir)
			if err := printHorizons(e, sum); err != nil {
				return err
			}
			if sum.Shard != "" {
				fmt.Fprintf(e.stdout, "shard %s only\n", sum.Shard)
			}
			return nil
		},
	})
}

// printHorizons prints the row counts of an extract summary.
func printHorizons(e *env, sum *workdir.Extract) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HORIZON\tFILE\tROWS\tSKIPPED (too little data after)")
	for _, h := range sum.Horizons {
		fmt.Fprintf(tw, "%d min\t%s\t%d\t%d\n", h.Horizon, h.File, h.Rows, h.Skipped)
	}
	return tw.Flush()
}

// runExtractMerge is 'extract --merge': it joins the shard folders into
// dir. extractFlags is true when a flag of extraction was given.
func runExtractMerge(ctx context.Context, e *env, dir string, shards []string, asJSON, extractFlags bool) error {
	if len(shards) == 0 {
		return usageError("--merge needs the shard folders as arguments")
	}
	if extractFlags {
		return usageError("--merge takes no --from, --until, --shard or --workers: the shards' extract.json say what they hold")
	}
	for _, s := range shards {
		if strings.HasPrefix(s, "-") {
			return usageError("%q after the shard folders: give the flags first (extract --merge --workdir DIR SHARD_DIR...)", s)
		}
	}
	start := time.Now()
	sum, err := extract.Merge(ctx, dir, shards, extract.MergeOptions{Progress: e.progress()})
	if err != nil {
		return err
	}
	e.log.Info("merge done", "workdir", dir, "shards", len(shards), "deployments", sum.Deployments, "elapsed", time.Since(start).Round(time.Millisecond))
	if h := e.set.Features.ConfigHash(); sum.ConfigHash != h {
		e.log.Warn("the shards were extracted with another \"features\" configuration than --config's; run the later stages with theirs",
			"shards_config_hash", sum.ConfigHash, "config_hash", h)
	}
	if asJSON {
		return e.writeJSON(sum)
	}
	fmt.Fprintf(e.stdout, "merged %d shards: %d deployments (%s, %d features) into %s\n", len(shards), sum.Deployments, sum.SchemaVersion, sum.Features, dir)
	return printHorizons(e, sum)
}
