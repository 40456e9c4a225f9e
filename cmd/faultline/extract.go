package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
)

// parseExtractTime accepts RFC 3339 timestamps and plain dates (UTC).
func parseExtractTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usageError("--%s %q: want an RFC 3339 time (2026-06-01T07:10:00Z) or a date (2026-06-01)", flagName, s)
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
		asJSON                      bool
	)
	register(&command{
		name:    "extract",
		usage:   "[--from T] [--until T] [--workdir DIR] [--shard i/n] [--workers N] [--json]",
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
are disjoint and together complete.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "first deployment start `T` to include (RFC 3339 or date; default: the beginning)")
			fs.StringVar(&until, "until", "", "deployment start `T` to stop before (default: the end)")
			fs.StringVar(&workdir, "workdir", "", "output `DIR` (default HOME/work)")
			fs.StringVar(&shard, "shard", "", "extract part `i/n` only (0 ≤ i < n)")
			fs.IntVar(&workers, "workers", 0, "streams processed in parallel (default: number of CPUs)")
			fs.BoolVar(&asJSON, "json", false, "print the summary (extract.json) on stdout")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			rng, err := parseRange(from, until)
			if err != nil {
				return err
			}
			opt := extract.Options{Range: rng, Workers: workers, Progress: e.progress(), Config: features.DefaultConfig()}
			if shard != "" {
				if opt.Shard, opt.Shards, err = extract.ParseShard(shard); err != nil {
					return usageError("--shard: %v", err)
				}
			}
			if workers < 0 {
				return usageError("--workers must be ≥ 0")
			}
			if err := e.cfg.Section("features", &opt.Config); err != nil {
				return err
			}
			if err := opt.Config.Validate(); err != nil {
				return fmt.Errorf("config: %w", err)
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
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HORIZON\tFILE\tROWS\tSKIPPED (too little data after)")
			for _, h := range sum.Horizons {
				fmt.Fprintf(tw, "%d min\t%s\t%d\t%d\n", h.Horizon, h.File, h.Rows, h.Skipped)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if sum.Shard != "" {
				fmt.Fprintf(e.stdout, "shard %s only\n", sum.Shard)
			}
			return nil
		},
	})
}
