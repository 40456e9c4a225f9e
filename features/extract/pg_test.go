package extract

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history/pgstore"
	"github.com/faultline-dev/faultline/internal/pgtest"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/internal/workdir"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// pgSimulated returns a migrated PostgreSQL store holding a simulated fleet.
func pgSimulated(tb testing.TB, cfg simulate.Config) *pgstore.Store {
	tb.Helper()
	ctx := context.Background()
	dsn := pgtest.DSN(tb)
	if _, err := pgstore.Migrate(ctx, dsn); err != nil {
		tb.Fatal(err)
	}
	st, err := pgstore.OpenStore(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if _, _, err := simulate.Into(ctx, cfg, st, nil); err != nil {
		tb.Fatal(err)
	}
	return st
}

// TestExtractPostgresMatchesEmbedded extracts the golden fleet from
// PostgreSQL and from the embedded store: the files must be identical.
func TestExtractPostgresMatchesEmbedded(t *testing.T) {
	ctx := context.Background()
	fleet := goldenFleet()
	pg := pgSimulated(t, fleet)
	emb := simulated(t, fleet)
	cfg := features.DefaultConfig()
	dirPG, dirEmb := t.TempDir(), t.TempDir()
	sPG, err := Run(ctx, pg, dirPG, Options{Config: cfg, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	sEmb, err := Run(ctx, emb, dirEmb, Options{Config: cfg, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sPG.Horizons) != fmt.Sprint(sEmb.Horizons) || sPG.Deployments != sEmb.Deployments {
		t.Fatalf("postgres %+v, embedded %+v", sPG, sEmb)
	}
	for _, h := range cfg.Horizons {
		a, b := goldenCSV(t, dirPG, h), goldenCSV(t, dirEmb, h)
		if string(a) != string(b) {
			t.Errorf("h=%d: features from PostgreSQL differ from the embedded store's", h)
		}
	}
	if _, err := workdir.ReadDeploys(filepath.Join(dirPG, workdir.DeploysFile)); err != nil {
		t.Fatal(err)
	}
}
