package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/faultline-dev/faultline/internal/history/importer"
	"github.com/faultline-dev/faultline/internal/history/promsource"
)

// logRetry logs a query that failed and will be retried.
func (e *env) logRetry(query string, attempt int, wait time.Duration, err error) {
	e.log.Warn("prometheus query failed; retrying", slog.Int("attempt", attempt), slog.Duration("wait", wait),
		slog.String("error", err.Error()), slog.String("query", query))
}

// parseMinute parses an RFC 3339 flag value that must be a whole minute.
func parseMinute(flagName, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageError("%s %q: want RFC 3339, e.g. 2026-01-05T00:00:00Z", flagName, v)
	}
	if t.Second() != 0 || t.Nanosecond() != 0 {
		return time.Time{}, usageError("%s %q: must be a whole minute", flagName, v)
	}
	return t.UTC(), nil
}

func init() {
	var (
		mapping, promURL, from, to, deployments string
		sinceLast, asJSON                       bool
		maxErrors                               int
	)
	register(&command{
		name:    "import prometheus",
		summary: "pull history from a Prometheus-compatible server into the history store",
		usage:   "--mapping FILE (--from T | --since-last) [--to T] [--deployments FILE] [--prometheus URL]",
		help: `Reads per-minute requests, errors and latency per service, environment and
version (and optionally error signatures) from a Prometheus-compatible query
API — Prometheus, Thanos, Cortex, Mimir, VictoriaMetrics — with the PromQL
expressions of the YAML mapping FILE, and loads them into the history store
(--db, or the embedded store in --home). The mapping, its recipes and the
server's credentials are described in docs/prometheus.md.

Minutes [--from, --to) are read with range queries at a 1-minute step, split
into chunks within the server's points-per-series limit, a few at a time,
retried with backoff on 5xx answers, timeouts and connection failures. A
query the server refuses (4xx) stops the import with the query shown.

Deployments come from --deployments FILE (deployments.csv or .parquet, the
format of 'faultline import'), or else from the mapping's deployments recipe
(version changes seen in the series). They are required while the store is
empty.

--since-last continues every stream from the minute after its last minute in
the store (streams new to the store start at --from, or at the earliest
continuation), so a nightly job pulls one day, not all history. Rows are
upserted by their natural keys: importing an overlapping range again changes
nothing. The import is all-or-nothing and goes through the same validation as
the file import: bad values are reported (up to --max-errors) with the series
and minute, and nothing is written. At the end the rows written per table are
printed, with the file import's warnings (--json for scripts).

Counts are kept real-valued, as increase() and rate() give them. A metrics
series without the version label is the stream's aggregate series (all
versions); error signatures and the deployments recipe need the label.

Exit status 1 when the import fails or is rejected, 2 for usage errors.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&mapping, "mapping", "", "YAML mapping `FILE` (required; see docs/prometheus.md)")
			fs.StringVar(&promURL, "prometheus", "", "query API `URL` (default: server.url of the mapping)")
			fs.StringVar(&from, "from", "", "first minute `T` to import, RFC 3339")
			fs.StringVar(&to, "to", "", "end `T` (exclusive), RFC 3339 (default: now less the mapping's query.delay)")
			fs.BoolVar(&sinceLast, "since-last", false, "continue each stream from its last imported minute")
			fs.StringVar(&deployments, "deployments", "", "deployments `FILE` (CSV or Parquet) imported with the series")
			fs.IntVar(&maxErrors, "max-errors", 20, "stop validating after `N` errors")
			fs.BoolVar(&asJSON, "json", false, "print the summary (or the rejected rows) as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			if mapping == "" {
				return usageError("--mapping FILE is required")
			}
			if from == "" && !sinceLast {
				return usageError("give --from T, or --since-last")
			}
			if maxErrors < 1 {
				return usageError("--max-errors must be at least 1")
			}
			m, err := promsource.LoadMapping(mapping)
			if err != nil {
				return usageError("%v", err)
			}
			opts := promsource.ImportOptions{DeploymentsFile: deployments}
			if from != "" {
				if opts.From, err = parseMinute("--from", from); err != nil {
					return err
				}
			}
			if to != "" {
				if opts.To, err = parseMinute("--to", to); err != nil {
					return err
				}
			} else {
				opts.To = time.Now().Add(-time.Duration(m.Query.Delay)).UTC().Truncate(time.Minute)
			}
			if !opts.From.IsZero() && !opts.From.Before(opts.To) {
				return usageError("--from %s is not before --to %s", opts.From.Format(time.RFC3339), opts.To.Format(time.RFC3339))
			}
			client, err := promsource.NewClient(m, promURL)
			if err != nil {
				return usageError("%v", err)
			}
			client.OnRetry = e.logRetry
			store, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			streams, err := store.Streams(ctx)
			if err != nil {
				return err
			}
			if len(streams) == 0 && deployments == "" && m.Deployments == nil {
				return usageError("the store holds no history yet: give --deployments FILE, or a deployments recipe in the mapping")
			}
			if sinceLast {
				if opts.Start, err = promsource.SinceLast(ctx, store, opts.To); err != nil {
					return err
				}
				if len(opts.Start) == 0 && opts.From.IsZero() {
					return usageError("--since-last: the store holds no metrics yet: give --from T")
				}
			}
			start := time.Now()
			tx, err := store.BeginImport(ctx)
			if err != nil {
				return err
			}
			opts.Importer = importer.Options{MaxErrors: maxErrors, Progress: e.progress(), HistoryExists: len(streams) > 0}
			res, err := promsource.Import(ctx, client, tx, opts)
			elapsed := time.Since(start)
			src := client.URL()
			var ve *importer.ValidationError
			if errors.As(err, &ve) {
				if asJSON {
					if jerr := e.writeJSON(struct {
						Imported  bool               `json:"imported"`
						Errors    []importer.Problem `json:"errors"`
						Truncated bool               `json:"truncated"`
					}{false, ve.Problems, ve.Truncated}); jerr != nil {
						return jerr
					}
				}
				return &exitError{code: exitFailure, err: fmt.Errorf("%s rejected (nothing was imported):\n%w", src, err)}
			}
			if err != nil {
				return fmt.Errorf("import from %s (nothing was imported): %w", src, err)
			}
			if asJSON {
				return e.writeJSON(struct {
					Imported   bool               `json:"imported"`
					Store      string             `json:"store"`
					Prometheus string             `json:"prometheus"`
					Seconds    float64            `json:"seconds"`
					Rows       any                `json:"rows"`
					Warnings   []importer.Warning `json:"warnings"`
					*promsource.Result
				}{true, store.Describe(), src, elapsed.Seconds(), res.Summary.ImportSummary, append([]importer.Warning{}, res.Summary.Warnings...), res})
			}
			fmt.Fprintf(e.stdout, "imported %s [%s, %s) into %s in %s\n", src, res.From.Format(time.RFC3339), res.To.Format(time.RFC3339),
				store.Describe(), elapsed.Round(time.Millisecond))
			fmt.Fprintf(e.stdout, "%d range queries (%d retried), %d points; deployments from %s\n\n", res.Stats.Queries, res.Stats.Retries, res.Stats.Samples, res.DeploymentsFrom)
			printImportSummary(e, res.Summary)
			return nil
		},
	})
}
