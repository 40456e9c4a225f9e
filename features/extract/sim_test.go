package extract

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/simulate"
)

var evalServices = flag.Int("eval-services", 12, "services of the simulated fleet in TestEnsembleOnSimulatedFleet")
var evalDays = flag.Int("eval-days", 7, "days of the simulated fleet in TestEnsembleOnSimulatedFleet")

// simulated builds an embedded store holding a simulated fleet.
func simulated(t testing.TB, cfg simulate.Config) history.Store {
	t.Helper()
	ctx := context.Background()
	st := embeddedtest.Open(t)
	if _, _, err := simulate.Into(ctx, cfg, st, nil); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestEnsembleOnSimulatedFleet extracts a simulated fleet and scores the
// unanimous ensemble against the simulator's truth, per fault shape and
// confounder. Run with -v to see the tables; -eval-services/-eval-days
// size the fleet. It asserts only what a working ensemble must achieve.
func TestEnsembleOnSimulatedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a fleet")
	}
	ctx := context.Background()
	sc := simulate.DefaultConfig()
	sc.Services, sc.Days = *evalServices, *evalDays
	st := simulated(t, sc)
	dir := t.TempDir()
	fc := testConfigDefaults()
	if _, err := Run(ctx, st, dir, Options{Config: fc}); err != nil {
		t.Fatal(err)
	}
	truth, err := st.Truth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := EvaluateEnsemble(dir, fc.SortedHorizons(), truth)
	if err != nil {
		t.Fatal(err)
	}
	md := Markdown(reps)
	t.Log(md)
	if out := os.Getenv("FAULTLINE_ENSEMBLE_REPORT"); out != "" {
		if err := os.WriteFile(filepath.Clean(out), []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h60 := reps[len(reps)-1]
	if h60.All.Faulty == 0 || h60.All.Flagged == 0 {
		t.Fatalf("degenerate fleet or ensemble: %+v", h60.All)
	}
	if p := h60.All.Precision(); p < 0.5 {
		t.Errorf("ensemble precision at 60 min = %.2f, want ≥ 0.5", p)
	}
	if s := h60.ByShape["step"]; s.Faulty > 0 && s.Recall() < 0.3 {
		t.Errorf("ensemble recall on step faults at 60 min = %.2f, want ≥ 0.3", s.Recall())
	}
}
