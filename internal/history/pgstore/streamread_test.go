package pgstore

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/historytest"
)

// TestStreamReadsOrderAndRanges checks Metrics and Signatures (the
// conformance suite does with the default plans) with index scans
// disabled: sequential scans return rows in heap order, and the rows were
// imported later minutes first, so that heap order is not minute order.
func TestStreamReadsOrderAndRanges(t *testing.T) {
	ctx := context.Background()
	s, dsn := newStore(t)
	ms, sigs := historytest.StreamFixture()
	historytest.ImportStreamFixture(t, s, ms, sigs)
	check := func(t *testing.T, r history.Reader) { historytest.CheckStreams(t, r, ms, sigs) }
	t.Run("sequential scans", func(t *testing.T) {
		if _, err := s.pool.Exec(ctx, `ANALYZE`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, `DO $$ BEGIN
			EXECUTE format('ALTER DATABASE %I SET enable_nestloop = off', current_database());
			EXECUTE format('ALTER DATABASE %I SET enable_mergejoin = off', current_database());
			EXECUTE format('ALTER DATABASE %I SET enable_indexscan = off', current_database());
			EXECUTE format('ALTER DATABASE %I SET enable_bitmapscan = off', current_database());
			END $$`); err != nil {
			t.Fatal(err)
		}
		s2, err := OpenStore(ctx, dsn) // new connections take the settings
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		rows, err := s2.pool.Query(ctx, `EXPLAIN `+signaturesSQL, "api", "prod")
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if p := strings.Join(plan, "\n"); !strings.Contains(p, "Seq Scan on error_signatures_202605") || strings.Contains(p, "Index") {
			t.Fatalf("want sequential scans, got\n%s", p)
		}
		check(t, s2)
	})
}

func TestPgTime(t *testing.T) {
	for _, want := range []time.Time{
		ts("2000-01-01T00:00:00Z"),
		ts("2026-05-31T23:59:00Z"),
		ts("1999-12-31T23:59:00Z"),
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC),
	} {
		us := (want.Unix()-pgEpochUnix)*1_000_000 + int64(want.Nanosecond()/1000)
		if got := pgTime(us); !reflect.DeepEqual(got, want) {
			t.Errorf("pgTime(%d) = %v, want %v", us, got, want)
		}
	}
}
