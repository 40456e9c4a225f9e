package importer

import (
	"context"
	"fmt"
	"slices"

	"github.com/faultline-dev/faultline/internal/history"
)

// Records is a table whose rows a program produces instead of a file, for
// example from a Prometheus server: each record holds the fields named by
// Header as the text a CSV file would hold, and goes through exactly the
// parsing, validation and duplicate checks of a file's rows.
type Records struct {
	// Table is the table name: "deployments", "metrics", "error_signatures", ...
	Table string
	// Name names the source in problems when Where is nil, e.g.
	// "prometheus metrics"; records are numbered from 1 as lines.
	Name string
	// Where, when set, names the place of one record in problems, e.g.
	// "prometheus: checkout/prod-us1 version 1.2.0 at 2026-01-05T10:00:00Z".
	Where func(rec []string) string
	// Header names the fields of every record (the table's columns;
	// optional ones may be left out).
	Header []string
	// Total is the progress total in the units Produce reports (0: unknown).
	Total int64
	// Produce calls emit with runs of records, in order, and the progress
	// done after each run. It returns emit's error as soon as it gets one.
	// emit keeps the records: Produce must not reuse them.
	Produce func(ctx context.Context, emit func(recs [][]string, done int64) error) error
}

func (r *Records) open() (*source, error) {
	if len(r.Header) == 0 {
		return nil, fmt.Errorf("%s: no columns", r.Name)
	}
	return &source{
		header: r.Header,
		where:  r.Where,
		total:  r.Total,
		produce: func(ctx context.Context, out chan<- job) error {
			seq := 0
			row0 := int64(1)
			return r.Produce(ctx, func(recs [][]string, done int64) error {
				if len(recs) == 0 {
					return ctx.Err()
				}
				select {
				case out <- job{seq: seq, recs: recs, row0: row0, done: done}:
				case <-ctx.Done():
					return ctx.Err()
				}
				seq++
				row0 += int64(len(recs))
				return nil
			})
		},
		close: func() error { return nil },
	}, nil
}

// ImportTables validates and loads tables into tx and commits it, like
// Import: files maps a table name to its file (as FindFiles returns), recs
// gives tables produced by a program. A table may come from a file or from
// records, not both. Unlike Import, no table is required: the caller
// decides. On any problem tx is rolled back and a *ValidationError (bad
// rows) or another error is returned.
func ImportTables(ctx context.Context, tx history.ImportTx, files map[string]string, recs []Records, opts Options) (Summary, error) {
	opts = opts.withDefaults()
	byTable := map[string]*Records{}
	var err error
	for i := range recs {
		r := &recs[i]
		switch {
		case !slices.Contains(tableOrder, r.Table):
			err = fmt.Errorf("records %s: unknown table %q", r.Name, r.Table)
		case byTable[r.Table] != nil:
			err = fmt.Errorf("table %s given twice (%s and %s)", r.Table, byTable[r.Table].Name, r.Name)
		case files[r.Table] != "":
			err = fmt.Errorf("table %s given twice (%s and %s)", r.Table, files[r.Table], r.Name)
		}
		if err != nil {
			break
		}
		byTable[r.Table] = r
	}
	var sum Summary
	if err == nil {
		sum, err = importTables(ctx, tx, files, byTable, opts)
	}
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return Summary{}, err
	}
	return sum, nil
}
