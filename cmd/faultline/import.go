package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline/internal/history/importer"
)

func init() {
	var o importFlags
	register(&command{
		name:    "import",
		summary: "load a folder of history files (CSV or Parquet) into the history store",
		usage:   "--from DIR",
		help: `Loads DIR/services, deployments, metrics, error_signatures, kpis, kpi_values,
incidents and annotations (each NAME.csv or NAME.parquet). deployments and
metrics are required while the store is empty; later imports may carry only
some tables, e.g. the reviewed annotation queue of 'faultline evaluate --queue'
(as annotations.csv). Rows go into the history store: PostgreSQL with --db,
otherwise the embedded store in --home. The format is in docs/history-import.md.

Any other file in DIR (deploymnets.csv, annotation.csv, truth.csv) is an
error listing it with the closest expected name (exit 2): a misnamed file
is never skipped without a word. Rename it, move it out, or give
--ignore-unknown-files. Subfolders and hidden files are not read.

Data as most teams have it is accepted unchanged: metrics without a version
(one aggregate series per service), real-valued counts (Prometheus rate() or
increase()), timestamps with seconds (floored to their minute), and extra
named KPIs declared in kpis with a direction and a kind.

The import is all-or-nothing: every row is validated, bad rows are reported
as FILE:LINE: column: reason (up to --max-errors), and then nothing is
written. Rows are upserted by their natural keys, so importing the same files
again changes nothing. A deployment without kind is a rollback when the same
version was deployed earlier to the same service and environment.

At the end a summary of rows written per table is printed (--json for
scripts), followed by warnings about accepted rows worth a look (metrics of
versions that have no deployment, with the first FILE:LINE examples). Exit
status 1 when the files are rejected.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.from, "from", "", "`DIR` holding the import files (required)")
			fs.IntVar(&o.maxErrors, "max-errors", 20, "stop validating after `N` errors")
			fs.BoolVar(&o.ignoreCols, "ignore-unknown-columns", false, "skip columns the format does not define instead of rejecting the file")
			fs.BoolVar(&o.ignoreFile, "ignore-unknown-files", false, "skip files of DIR that are not import files instead of rejecting the folder")
			fs.BoolVar(&o.asJSON, "json", false, "print the summary (or the rejected rows) as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			return runImport(ctx, e, o)
		},
	})
}

// importFlags are the flags of 'faultline import'.
type importFlags struct {
	from                   string
	maxErrors              int
	ignoreCols, ignoreFile bool
	asJSON                 bool
}

// runImport checks the folder, imports it in one transaction and prints
// the summary, or the rejected rows.
func runImport(ctx context.Context, e *env, o importFlags) error {
	if o.from == "" {
		return usageError("--from DIR is required")
	}
	if o.maxErrors < 1 {
		return usageError("--max-errors must be at least 1")
	}
	if !o.ignoreFile {
		if err := importer.CheckFolder(o.from); err != nil {
			return usageError("%v", err)
		}
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
	if _, err := importer.FindFiles(o.from, !historyExists); err != nil {
		return usageError("%v", err)
	}
	start := time.Now()
	tx, err := store.BeginImport(ctx)
	if err != nil {
		return err
	}
	sum, err := importer.Import(ctx, o.from, tx, importer.Options{
		MaxErrors:            o.maxErrors,
		IgnoreUnknownColumns: o.ignoreCols,
		IgnoreUnknownFiles:   o.ignoreFile,
		Progress:             e.progress(),
		HistoryExists:        historyExists,
	})
	elapsed := time.Since(start)
	var ve *importer.ValidationError
	if errors.As(err, &ve) {
		if o.asJSON {
			if jerr := e.writeJSON(struct {
				Imported  bool               `json:"imported"`
				Errors    []importer.Problem `json:"errors"`
				Truncated bool               `json:"truncated"`
			}{false, ve.Problems, ve.Truncated}); jerr != nil {
				return jerr
			}
		}
		return &exitError{code: exitFailure, err: fmt.Errorf("%s rejected:\n%w", o.from, err)}
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", o.from, err)
	}
	if o.asJSON {
		return e.writeJSON(struct {
			Imported bool               `json:"imported"`
			Store    string             `json:"store"`
			Seconds  float64            `json:"seconds"`
			Rows     any                `json:"rows"`
			Warnings []importer.Warning `json:"warnings"`
		}{true, store.Describe(), elapsed.Seconds(), sum.ImportSummary, append([]importer.Warning{}, sum.Warnings...)})
	}
	fmt.Fprintf(e.stdout, "imported %s into %s in %s\n\n", o.from, store.Describe(), elapsed.Round(time.Millisecond))
	printImportSummary(e, sum)
	return nil
}

// printImportSummary prints the rows written per table, the rollbacks
// inferred and the warnings.
func printImportSummary(e *env, sum importer.Summary) {
	fmt.Fprintf(e.stdout, "%-18s %12s\n", "TABLE", "ROWS")
	for _, r := range []struct {
		name string
		n    int64
	}{
		{"services", sum.Services},
		{"deployments", sum.Deployments},
		{"metrics", sum.Metrics},
		{"error_signatures", sum.Signatures},
		{"kpis", sum.KPIs},
		{"kpi_values", sum.KPIValues},
		{"incidents", sum.Incidents},
		{"annotations", sum.Annotations},
	} {
		fmt.Fprintf(e.stdout, "%-18s %12d\n", r.name, r.n)
	}
	fmt.Fprintf(e.stdout, "\n%d deployments inferred as rollbacks\n", sum.RollbacksInferred)
	for _, w := range sum.Warnings {
		fmt.Fprintf(e.stdout, "\n%s\n", w)
	}
}
