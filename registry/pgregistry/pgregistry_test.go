package pgregistry_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/pgtest"
	"github.com/faultline-dev/faultline/migrations"
	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/pgregistry"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T) *pgregistry.DB {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := migrations.Up(ctx, conn); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	db, err := pgregistry.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestPostgresConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Backend { return open(t) })
}

// The alias history is append-only in the database itself.
func TestHistoryAppendOnly(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	defer db.Close()
	r := registry.New(db, registry.DefaultConfig())
	v, err := r.Register(ctx, registrytest.NewVersion("m", 1, "e1", 0.5, 20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Promote(ctx, "m", v.Version, "production", registry.PromoteOptions{Force: true, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE registry_alias_moves SET reason = 'rewritten'`,
		`DELETE FROM registry_alias_moves`,
	} {
		if _, err := db.Pool().Exec(ctx, q); err == nil {
			t.Errorf("%s: accepted, want refusal", q)
		}
	}
	hist, err := db.History(ctx, "m", "production")
	if err != nil || len(hist) != 1 {
		t.Errorf("history after refused edits: %d moves, %v", len(hist), err)
	}
}
