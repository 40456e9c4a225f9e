package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/importer"
)

func init() {
	var (
		from       string
		maxErrors  int
		ignoreCols bool
		asJSON     bool
	)
	register(&command{
		name:    "import",
		summary: "load a folder of history files (CSV or Parquet) into the history store",
		usage:   "--from DIR",
		help: `Loads DIR/services, deployments, metrics, error_signatures, incidents and
annotations (each NAME.csv or NAME.parquet). deployments and metrics are required
while the store is empty; later imports may carry only some tables, e.g. the
reviewed annotation queue of 'faultline evaluate --queue' (as annotations.csv).
Rows go into the history store: PostgreSQL with --db, otherwise the embedded
store in --home. The format is in docs/history-import.md.

The import is all-or-nothing: every row is validated, bad rows are reported
as FILE:LINE: column: reason (up to --max-errors), and then nothing is
written. Rows are upserted by their natural keys, so importing the same files
again changes nothing. A deployment without kind is a rollback when the same
version was deployed earlier to the same service and environment.

At the end a summary of rows written per table is printed (--json for
scripts). Exit status 1 when the files are rejected.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "`DIR` holding the import files (required)")
			fs.IntVar(&maxErrors, "max-errors", 20, "stop validating after `N` errors")
			fs.BoolVar(&ignoreCols, "ignore-unknown-columns", false, "skip columns the format does not define instead of rejecting the file")
			fs.BoolVar(&asJSON, "json", false, "print the summary (or the rejected rows) as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			if from == "" {
				return usageError("--from DIR is required")
			}
			if maxErrors < 1 {
				return usageError("--max-errors must be at least 1")
			}
			store, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			streams, err := store.Streams(ctx)
			if err != nil {
				return err
			}
			historyExists := len(streams) > 0
			if _, err := importer.FindFiles(from, !historyExists); err != nil {
				return usageError("%v", err)
			}
			start := time.Now()
			tx, err := store.BeginImport(ctx)
			if err != nil {
				return err
			}
			sum, err := importer.Import(ctx, from, tx, importer.Options{
				MaxErrors:            maxErrors,
				IgnoreUnknownColumns: ignoreCols,
				Progress:             e.progress(),
				HistoryExists:        historyExists,
			})
			elapsed := time.Since(start)
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
				return &exitError{code: exitFailure, err: fmt.Errorf("%s rejected:\n%w", from, err)}
			}
			if err != nil {
				return fmt.Errorf("import %s: %w", from, err)
			}
			if asJSON {
				return e.writeJSON(struct {
					Imported bool    `json:"imported"`
					Store    string  `json:"store"`
					Seconds  float64 `json:"seconds"`
					Rows     any     `json:"rows"`
				}{true, store.Describe(), elapsed.Seconds(), sum})
			}
			fmt.Fprintf(e.stdout, "imported %s into %s in %s\n\n", from, store.Describe(), elapsed.Round(time.Millisecond))
			printImportSummary(e, sum)
			return nil
		},
	})
}

// printImportSummary prints the rows written per table: the summary of
// every import (files, Prometheus).
func printImportSummary(e *env, sum history.ImportSummary) {
	fmt.Fprintf(e.stdout, "%-18s %12s\n", "TABLE", "ROWS")
	for _, r := range []struct {
		name string
		n    int64
	}{
		{"services", sum.Services},
		{"deployments", sum.Deployments},
		{"metrics", sum.Metrics},
		{"error_signatures", sum.Signatures},
		{"incidents", sum.Incidents},
		{"annotations", sum.Annotations},
	} {
		fmt.Fprintf(e.stdout, "%-18s %12d\n", r.name, r.n)
	}
	fmt.Fprintf(e.stdout, "\n%d deployments inferred as rollbacks\n", sum.RollbacksInferred)
}
