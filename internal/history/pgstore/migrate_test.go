package pgstore

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/pgtest"
	"github.com/faultline-dev/faultline/migrations"
)

// TestMigrationToRealValuedCounts: a database migrated before 0040 with
// integer metrics (in a monthly partition and in the default partition)
// keeps every value exactly after 0040 turns the counts into double
// precision, and the new CHECK refuses NaN and infinity.
func TestMigrationToRealValuedCounts(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	// Apply the migrations before 0040 as the migrator does.
	if _, err := c.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
		checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Version >= 40 {
			break
		}
		if _, err := c.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := c.Exec(ctx, `INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, m.Version, m.Name, m.Checksum); err != nil {
			t.Fatal(err)
		}
	}
	const big = 4503599627370497 // 2^52 + 1
	if _, err := c.Exec(ctx, `
		INSERT INTO services (name) VALUES ('api');
		INSERT INTO series (service, environment, version) VALUES ('api', 'prod', 'v1');
		SELECT faultline_month_partition('metrics', '2026-06-01T00:00:00Z');
		INSERT INTO metrics (series_id, minute, requests, errors) VALUES
		  (1, '2026-06-01T00:00:00Z', 4503599627370497, 7),
		  (1, '2026-06-01T00:01:00Z', 100, 0),
		  (1, '2026-09-01T00:00:00Z', 3, 3)`, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ser, err := s.Metrics(ctx, history.Stream{Service: "api", Environment: "prod"}, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ser) != 1 || ser[0].Len() != 3 || ser[0].Requests[0] != big || ser[0].Errors[0] != 7 || ser[0].Requests[2] != 3 || ser[0].Errors[2] != 3 {
		t.Fatalf("metrics after 0040: %+v", ser)
	}
	for _, v := range []string{"'NaN'", "'Infinity'"} {
		_, err := c.Exec(ctx, `INSERT INTO metrics (series_id, minute, requests, errors) VALUES (1, '2026-06-01T00:05:00Z', `+v+`, 0)`)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23514" {
			t.Errorf("requests %s: %v, want a check violation", v, err)
		}
	}
}
