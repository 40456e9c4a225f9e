package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/history"
)

// streamFixture is two streams of one service whose version and
// fingerprint names sort differently in byte order and in most locales,
// with several fingerprints per version per minute.
func streamFixture() ([]history.Metric, []history.Signature) {
	start := ts("2026-05-31T22:00:00Z") // the rows cross a month boundary
	versions := []string{"v9", "v10", "V1", "é1", "a"}
	fps := []struct {
		name, typ, endpoint string
		status              int32
	}{{"fpB", "Timeout", "/b", 504}, {"fpa", "NPE", "/a", 500}, {"FP", "", "", 0}, {"ß", "Ünicode", "/ß", 503}}
	var ms []history.Metric
	var sigs []history.Signature
	for _, env := range []string{"prod", "staging"} {
		for vi, v := range versions {
			for m := range 240 {
				if (m+vi)%7 == 0 {
					continue // gaps
				}
				at := start.Add(time.Duration(m) * time.Minute)
				ms = append(ms, history.Metric{Service: "api", Environment: env, Version: v, Minute: at,
					Requests: int64(1000 + m + vi), Errors: int64((m * vi) % 5), LatencyP50: float64(m), LatencyP95: float64(vi), LatencyP99: 99})
				for fi, f := range fps {
					if (m+vi+fi)%3 != 0 {
						continue
					}
					sigs = append(sigs, history.Signature{Service: "api", Environment: env, Version: v, Minute: at,
						Fingerprint: f.name, Count: int64(1 + (m+fi)%4), ErrorType: f.typ, Endpoint: f.endpoint, StatusCode: f.status})
				}
			}
		}
	}
	return ms, sigs
}

// TestStreamReadsOrderAndRanges checks Metrics and Signatures against
// the rows imported, whatever order the server returns them in: rows are
// imported later minutes first (so that heap order is not minute order),
// and read both with the default plans and with index scans disabled
// (sequential scans return rows in heap order).
func TestStreamReadsOrderAndRanges(t *testing.T) {
	ctx := context.Background()
	s, dsn := newStore(t)
	ms, sigs := streamFixture()
	cut := ts("2026-05-31T23:30:00Z")
	for _, late := range []bool{true, false} {
		var m2 []history.Metric
		var s2 []history.Signature
		for _, m := range ms {
			if !m.Minute.Before(cut) == late {
				m2 = append(m2, m)
			}
		}
		for _, g := range sigs {
			if !g.Minute.Before(cut) == late {
				s2 = append(s2, g)
			}
		}
		tx, err := s.BeginImport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.AddMetrics(ctx, m2); err != nil {
			t.Fatal(err)
		}
		if err := tx.AddSignatures(ctx, s2); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ranges := []history.Range{
		{},
		{From: ts("2026-05-31T23:00:00Z"), Until: ts("2026-06-01T00:30:00Z")},
		{From: ts("2026-06-01T00:00:00Z")},
		{Until: ts("2026-05-31T22:17:00Z")},
		{From: ts("2026-07-01T00:00:00Z")}, // empty
	}
	check := func(t *testing.T, r history.Reader) {
		for _, env := range []string{"prod", "staging", "none"} {
			st := history.Stream{Service: "api", Environment: env}
			for _, rg := range ranges {
				name := fmt.Sprintf("%s %v..%v", env, rg.From, rg.Until)
				var wantM []history.Metric
				for _, m := range ms {
					if m.Environment == env && rg.Contains(m.Minute) {
						wantM = append(wantM, m)
					}
				}
				slices.SortStableFunc(wantM, func(a, b history.Metric) int { return a.Minute.Compare(b.Minute) })
				gotM, err := r.Metrics(ctx, st, rg)
				if err != nil {
					t.Fatal(err)
				}
				if want := history.SeriesOf(wantM); !seriesEqual(gotM, want) {
					t.Errorf("%s: metrics\n got %+v\nwant %+v", name, gotM, want)
				}
				wantS := []history.Signature{}
				for _, g := range sigs {
					if g.Environment == env && rg.Contains(g.Minute) {
						wantS = append(wantS, g)
					}
				}
				slices.SortFunc(wantS, func(a, b history.Signature) int {
					return cmp.Or(a.Minute.Compare(b.Minute), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Fingerprint, b.Fingerprint))
				})
				gotS, err := r.Signatures(ctx, st, rg)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(gotS, wantS) {
					n := min(len(gotS), len(wantS), 5)
					t.Errorf("%s: %d signatures, want %d; first\n got %+v\nwant %+v", name, len(gotS), len(wantS), gotS[:n], wantS[:n])
				}
			}
		}
	}
	t.Run("default plans", func(t *testing.T) { check(t, s) })
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
