package quality

import (
	"context"
	"testing"
)

// TestSmoke runs the benchmark on one small regime and fails when the
// production policy falls below SmokeFloors over every deploy: a
// regression in detection shows here within `make test`. The floors are
// stated in SmokeFloors and in docs/quality.md.
func TestSmoke(t *testing.T) {
	res, err := Run(context.Background(), Options{
		Regimes: []string{SmokeRegime}, Seeds: []int64{1}, Services: SmokeServices, Days: SmokeDays,
		Workdir: t.TempDir(), Floors: SmokeFloors,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fleets) != 1 {
		t.Fatalf("%d fleets, want 1", len(res.Fleets))
	}
	f := res.Fleets[0]
	if f.Error != "" {
		t.Fatalf("pipeline failed: %s", f.Error)
	}
	s, ok := f.Scored(ScopeAll)
	if !ok {
		t.Fatalf("nothing scored after the run: %s", f.Decision)
	}
	// The floors are for a trained policy: a gate that refuses it leaves
	// the statistical fallback, which is not what the smoke test guards.
	if f.Production == Fallback {
		t.Errorf("no model promoted on the smoke fleet: %s", f.Decision)
	}
	t.Logf("%s seed %d, %s: %d deploys, precision %.3f (%d/%d), recall %.3f, recall ≥ %g× %.3f (%d/%d), false alarms %.4f, TTD ratio %.2f",
		f.Regime, f.Seed, f.Production, s.Deployments, s.Precision.Value, s.Precision.K, s.Precision.N, s.Recall.Value,
		SmokeFloors.MinSeverity, s.RecallFloored.Value, s.RecallFloored.K, s.RecallFloored.N, s.FalseAlarms.Value, s.TTDRatio.Value)
	if int64(s.Deployments) != f.Deployments {
		t.Errorf("scored %d deploys of %d", s.Deployments, f.Deployments)
	}
	if test, ok := f.Scored(ScopeTest); !ok || test.Deployments == 0 || test.Deployments >= s.Deployments/3 {
		t.Errorf("test split: %d deploys of %d, want the newest few", test.Deployments, s.Deployments)
	}
	// baseline-mixed has per-version metrics: its error-rate faults are
	// judged for evidence.
	if f.Evidence == nil || f.Evidence.Judged == 0 || f.Evidence.Judged > s.RecallFloored.N {
		t.Errorf("evidence: %+v, want some of the %d faults ≥ %g× judged", f.Evidence, s.RecallFloored.N, SmokeFloors.MinSeverity)
	}
	// The error-count ceiling reads the same faults as the recall floor.
	if f.Evidence != nil {
		c, ok := f.Evidence.Ceiling()
		if !ok || f.Evidence.CeilingFaults != s.RecallFloored.N || !(c > 0 && c <= 1) {
			t.Errorf("error-count ceiling %v over %d faults, want one in (0, 1] over the %d faults ≥ %g×", c, f.Evidence.CeilingFaults, s.RecallFloored.N, SmokeFloors.MinSeverity)
		}
		t.Logf("error-count ceiling %.3f at α %.3g", c, f.Evidence.CeilingAlpha)
	}
	p, r := s.Meets(SmokeFloors)
	if !p {
		t.Errorf("precision %.3f [%.3f, %.3f] below the smoke floor %g", s.Precision.Value, s.Precision.Lo, s.Precision.Hi, SmokeFloors.Precision)
	}
	if !r {
		t.Errorf("recall on faults ≥ %g× %.3f [%.3f, %.3f] below the smoke floor %g", SmokeFloors.MinSeverity,
			s.RecallFloored.Value, s.RecallFloored.Lo, s.RecallFloored.Hi, SmokeFloors.Recall)
	}
}

// TestAggregateFleetRuns runs the pipeline on a history with aggregate
// metrics only and big-bang deploys, where the statistical ensemble (a
// canary comparison) never decides: the ensemble contender has no labels.
// The run must still finish (that contender skipped) and be scored; before
// the skip it failed at train-ensemble with "no labelled training
// deployments".
func TestAggregateFleetRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline on a simulated fleet")
	}
	res, err := Run(context.Background(), Options{
		Regimes: []string{"aggregate-bigbang"}, Seeds: []int64{1}, Services: 12, Days: 10,
		Workdir: t.TempDir(), Floors: SmokeFloors,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fleets) != 1 {
		t.Fatalf("%d fleets, want 1", len(res.Fleets))
	}
	f := res.Fleets[0]
	if f.Error != "" {
		t.Fatalf("pipeline failed: %s", f.Error)
	}
	// Aggregate metrics hold no version's requests: the error-rate faults
	// are judged on the service's.
	if f.Evidence == nil || f.Evidence.Judged == 0 || f.Evidence.Poor == f.Evidence.Judged {
		t.Errorf("evidence on aggregate metrics: %+v, want faults judged on the service's requests", f.Evidence)
	}
}

// TestAltsimRegimes runs the regimes of the independent generator
// (internal/altsim) end to end, small: each must run, be scored against its
// truth, and keep the production policy above the smoke precision floor
// over every deploy. The full-size figures are in docs/quality.md.
func TestAltsimRegimes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline on generated fleets")
	}
	res, err := Run(context.Background(), Options{
		Regimes: []string{"alt-canary", "alt-aggregate", "alt-kpis"}, Seeds: []int64{1}, Services: 20, Days: 10,
		Workdir: t.TempDir(), Floors: SmokeFloors,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fleets) != 3 {
		t.Fatalf("%d fleets, want 3", len(res.Fleets))
	}
	for _, f := range res.Fleets {
		if f.Error != "" {
			t.Fatalf("%s: pipeline failed: %s", f.Regime, f.Error)
		}
		s, ok := f.Scored(ScopeAll)
		if !ok {
			t.Fatalf("%s: not scored: %s", f.Regime, f.Decision)
		}
		t.Logf("%s seed %d, %s: %d deploys, %d faulty, precision %.3f (%d/%d), recall %.3f (%d/%d)", f.Regime, f.Seed,
			f.Production, s.Deployments, f.Faulty, s.Precision.Value, s.Precision.K, s.Precision.N, s.Recall.Value, s.Recall.K, s.Recall.N)
		if int64(s.Deployments) != f.Deployments || f.Faulty == 0 || int64(s.Recall.N) != f.Faulty {
			t.Errorf("%s: scored %d deploys of %d, %d faults of %d", f.Regime, s.Deployments, f.Deployments, s.Recall.N, f.Faulty)
		}
		if p, _ := s.Meets(SmokeFloors); !p {
			t.Errorf("%s: precision %.3f [%.3f, %.3f] below the smoke floor %g", f.Regime, s.Precision.Value, s.Precision.Lo, s.Precision.Hi, SmokeFloors.Precision)
		}
	}
}
