package importer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
)

// metricRecords produces n minutes of v1 traffic as records, in runs of 4;
// bad, when ≥ 0, gives record bad (0-based) more errors than requests.
func metricRecords(n, bad int) Records {
	return Records{
		Table:  "metrics",
		Name:   "test metrics",
		Where:  func(rec []string) string { return "series " + rec[2] + " at " + rec[3] },
		Header: []string{"service", "environment", "version", "minute", "requests", "errors"},
		Total:  int64(n),
		Produce: func(ctx context.Context, emit func([][]string, int64) error) error {
			var run [][]string
			for i := range n {
				errs := "1"
				if i == bad {
					errs = "500"
				}
				run = append(run, []string{"api", "prod", "v1", fmt.Sprintf("2026-06-01T08:%02d:00Z", i), "100", errs})
				if len(run) == 4 || i == n-1 {
					if err := emit(run, int64(i+1)); err != nil {
						return err
					}
					run = nil
				}
			}
			return nil
		},
	}
}

func TestImportTablesFromRecords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"deployments.csv": baseFiles()["deployments.csv"]})
	files := map[string]string{"deployments": filepath.Join(dir, "deployments.csv")}

	t.Run("valid", func(t *testing.T) {
		s := newStore(t)
		tx, err := s.BeginImport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := ImportTables(ctx, tx, files, []Records{metricRecords(10, -1)}, Options{BatchRows: 3})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Metrics != 10 || sum.Deployments != 3 {
			t.Fatalf("summary %+v, want 10 metrics and 3 deployments", sum)
		}
		series, err := s.Metrics(ctx, history.Stream{Service: "api", Environment: "prod"}, history.Range{})
		if err != nil {
			t.Fatal(err)
		}
		if len(series) != 1 || series[0].Len() != 10 || series[0].Requests[9] != 100 || series[0].Errors[9] != 1 {
			t.Fatalf("stored %+v, want 10 minutes of 100 requests, 1 error", series)
		}
	})

	t.Run("bad record", func(t *testing.T) {
		s := newStore(t)
		tx, err := s.BeginImport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ImportTables(ctx, tx, files, []Records{metricRecords(10, 6)}, Options{})
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 {
			t.Fatalf("got %v, want one problem", err)
		}
		p := ve.Problems[0]
		if p.File != "series v1 at 2026-06-01T08:06:00Z" || p.Line != 7 || p.Column != "errors" || !strings.Contains(p.Reason, "exceeds requests") {
			t.Fatalf("problem %+v, want record 7 named by Where, errors exceed requests", p)
		}
		assertEmpty(t, s)
	})

	t.Run("producer fails", func(t *testing.T) {
		s := newStore(t)
		tx, err := s.BeginImport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("server gone")
		r := metricRecords(10, -1)
		produce := r.Produce
		r.Produce = func(ctx context.Context, emit func([][]string, int64) error) error {
			if err := produce(ctx, emit); err != nil {
				return err
			}
			return boom
		}
		if _, err = ImportTables(ctx, tx, files, []Records{r}, Options{}); !errors.Is(err, boom) {
			t.Fatalf("got %v, want the producer's error", err)
		}
		assertEmpty(t, s)
	})

	t.Run("table twice", func(t *testing.T) {
		s := newStore(t)
		tx, err := s.BeginImport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r := metricRecords(1, -1)
		r.Table = "deployments"
		if _, err = ImportTables(ctx, tx, files, []Records{r}, Options{}); err == nil || !strings.Contains(err.Error(), "given twice") {
			t.Fatalf("got %v, want a table-given-twice error", err)
		}
		assertEmpty(t, s)
	})
}

func assertEmpty(t *testing.T, s history.Reader) {
	t.Helper()
	deps, err := s.Deployments(context.Background(), history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	streams, err := s.Streams(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 0 || len(streams) != 0 {
		t.Fatalf("store holds %d deployments and %d streams after a failed import, want none", len(deps), len(streams))
	}
}
