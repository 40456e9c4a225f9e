package batch_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/history/pgstore"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// Both stores look deployments up by id.
var (
	_ batch.DeploymentFinder = (*embedded.Store)(nil)
	_ batch.DeploymentFinder = (*pgstore.Store)(nil)
)

// rangeRecorder records the ranges of the Deployments calls made through
// it, and passes DeploymentByID through.
type rangeRecorder struct {
	history.Store
	mu     sync.Mutex
	ranges []history.Range
	byID   int
}

func (r *rangeRecorder) Deployments(ctx context.Context, rg history.Range) ([]history.Deployment, error) {
	r.mu.Lock()
	r.ranges = append(r.ranges, rg)
	r.mu.Unlock()
	return r.Store.Deployments(ctx, rg)
}

func (r *rangeRecorder) DeploymentByID(ctx context.Context, id string) (history.Deployment, bool, error) {
	r.mu.Lock()
	r.byID++
	r.mu.Unlock()
	return r.Store.DeploymentByID(ctx, id)
}

// TestCheckLooksUpByID: check finds its deploy by id, never by listing the
// whole history: every deployment listing it makes is bounded on both
// sides (the extractor's neighbours of the deploy).
func TestCheckLooksUpByID(t *testing.T) {
	ctx := context.Background()
	st := embeddedtest.Open(t)
	cfg := simulate.DefaultConfig()
	cfg.Services, cfg.Environments, cfg.Days, cfg.Seed, cfg.Workers = 3, []string{"prod-us1"}, 3, 3, 1
	if _, _, err := simulate.Into(ctx, cfg, st, nil); err != nil {
		t.Fatal(err)
	}
	deps, err := st.Deployments(ctx, history.Range{})
	if err != nil || len(deps) == 0 {
		t.Fatalf("simulated deployments: %d, %v", len(deps), err)
	}
	want := deps[len(deps)/2]
	rec := &rangeRecorder{Store: st}
	row, err := batch.CheckStatistical(ctx, rec, features.DefaultConfig(), want.ID, batch.Options{Scratch: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if row.DeploymentID != want.ID || row.Service != want.Service {
		t.Errorf("checked %s (%s), want %s (%s)", row.DeploymentID, row.Service, want.ID, want.Service)
	}
	if rec.byID != 1 {
		t.Errorf("%d lookups by id, want 1", rec.byID)
	}
	for _, r := range rec.ranges {
		if r.From.IsZero() || r.Until.IsZero() || r.Until.Sub(r.From) > 8*24*time.Hour {
			t.Errorf("check listed deployments over %v..%v", r.From, r.Until)
		}
	}
	if _, err := batch.CheckStatistical(ctx, rec, features.DefaultConfig(), "no-such-deploy", batch.Options{}); !errors.Is(err, batch.ErrNoDeployment) {
		t.Errorf("an unknown id: %v, want ErrNoDeployment", err)
	}
}
