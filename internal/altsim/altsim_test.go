package altsim

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
)

// fleet generates cfg into a fresh embedded store and returns it.
func fleet(t *testing.T, cfg Config) (history.Store, Summary) {
	t.Helper()
	ctx := context.Background()
	st := embeddedtest.Open(t)
	sum, err := Into(ctx, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return st, sum
}

// TestInto generates both kinds of fleet into the embedded store (the
// import's validation accepts every row) and checks what each promises:
// per-version series with canaries and signatures, or one real-valued
// aggregate series with big-bang deploys and none; faults at about the
// fault rate, each with a shape and a severity; rollbacks to a version
// deployed before; truth for every deployment.
func TestInto(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name            string
		aggregate, kpis bool
	}{{"per-version", false, false}, {"aggregate", true, false}, {"kpis", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			st, sum := fleet(t, Config{Seed: 3, Services: 12, Days: 6, Aggregate: tc.aggregate, KPIs: tc.kpis})
			deps, err := st.Deployments(ctx, history.Range{})
			if err != nil {
				t.Fatal(err)
			}
			truth, err := st.Truth(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(deps)) != sum.Deployments || len(truth) != len(deps) || len(deps) < 50 {
				t.Fatalf("%d deployments, %d truth rows, summary %+v", len(deps), len(truth), sum)
			}
			var faulty, rollbacks, canaries int
			seen := map[string]bool{}
			for _, d := range deps { // in start order per stream
				key := d.Service + "/" + d.Environment + "/" + d.Version
				if d.Kind == history.KindRollback {
					rollbacks++
					if !seen[key] && d.Version != "v0" {
						t.Errorf("%s rolls back to %s, never deployed before", d.ID, d.Version)
					}
				}
				seen[key] = true
				if d.FinishedAt.After(d.StartedAt) {
					canaries++
				}
			}
			shifts := 0
			for _, tr := range truth {
				if !tr.Faulty {
					continue
				}
				faulty++
				switch {
				case tr.Shape == ShapeShift:
					shifts++
					up := tr.KPI == KPICPU && tr.Direction == "up" && tr.Severity > 1
					down := tr.KPI == KPIRPS && tr.Direction == "down" && tr.Severity > 0 && tr.Severity < 1
					if !up && !down {
						t.Errorf("%s: shift of %q %s, severity %v", tr.DeploymentID, tr.KPI, tr.Direction, tr.Severity)
					}
				case tr.Shape == "" || !(tr.Severity > 1) || tr.KPI != "":
					t.Errorf("%s: faulty with shape %q, severity %v, KPI %q", tr.DeploymentID, tr.Shape, tr.Severity, tr.KPI)
				}
			}
			if tc.kpis != (shifts > 0) {
				t.Errorf("%d KPI shifts (KPIs %v)", shifts, tc.kpis)
			}
			if int64(faulty) != sum.Faulty || faulty == 0 || float64(faulty) > 0.2*float64(len(deps)) {
				t.Errorf("%d faulty of %d deployments (summary %d), want about 8%%", faulty, len(deps), sum.Faulty)
			}
			if rollbacks == 0 {
				t.Error("no rollback")
			}
			if tc.aggregate != (canaries == 0) {
				t.Errorf("%d canary rollouts (aggregate %v)", canaries, tc.aggregate)
			}
			streams, err := st.Streams(ctx)
			if err != nil {
				t.Fatal(err)
			}
			fractional, versions := 0, 0
			for _, s := range streams {
				series, err := st.Metrics(ctx, s, history.Range{})
				if err != nil {
					t.Fatal(err)
				}
				for _, se := range series {
					versions++
					if tc.aggregate && se.Version != history.AggregateVersion {
						t.Fatalf("%v: version %q in an aggregate fleet", s, se.Version)
					}
					for i, r := range se.Requests {
						if r != math.Trunc(r) || se.Errors[i] != math.Trunc(se.Errors[i]) {
							fractional++
						}
					}
				}
				sigs, err := st.Signatures(ctx, s, history.Range{})
				if err != nil {
					t.Fatal(err)
				}
				if tc.aggregate != (len(sigs) == 0) {
					t.Errorf("%v: %d signature rows (aggregate %v)", s, len(sigs), tc.aggregate)
				}
			}
			if tc.aggregate != (fractional > 0) || (!tc.aggregate && versions <= len(streams)) {
				t.Errorf("%d series over %d streams, %d fractional counts (aggregate %v)", versions, len(streams), fractional, tc.aggregate)
			}
			decls, err := st.KPIs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 4 * len(streams)}[tc.kpis]; len(decls) != want {
				t.Errorf("%d KPI declarations, want %d", len(decls), want)
			}
			for _, s := range streams {
				ks, err := st.KPIValues(ctx, s, history.Range{})
				if err != nil {
					t.Fatal(err)
				}
				if tc.kpis != (len(ks) == 4) {
					t.Errorf("%v: %d KPI series (KPIs %v)", s, len(ks), tc.kpis)
				}
				for _, k := range ks {
					if k.Name == KPIAvailability {
						for _, v := range k.Values {
							if !(v >= 0 && v <= 1) {
								t.Fatalf("%v: availability %v", s, v)
							}
						}
					}
				}
			}
		})
	}
}

// TestDeterministic: the same seed gives the same fleet, another seed
// another one.
func TestDeterministic(t *testing.T) {
	ctx := context.Background()
	ids := func(seed int64) ([]string, []history.Truth) {
		st, _ := fleet(t, Config{Seed: seed, Services: 5, Days: 4})
		deps, err := st.Deployments(ctx, history.Range{})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := st.Truth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range deps {
			out = append(out, d.ID+"@"+d.StartedAt.String()+"/"+d.Version)
		}
		slices.SortFunc(tr, func(a, b history.Truth) int {
			if a.DeploymentID < b.DeploymentID {
				return -1
			}
			return 1
		})
		return out, tr
	}
	a, ta := ids(7)
	b, tb := ids(7)
	c, _ := ids(8)
	if !slices.Equal(a, b) || !slices.Equal(ta, tb) {
		t.Error("seed 7 twice: different fleets")
	}
	if slices.Equal(a, c) {
		t.Error("seeds 7 and 8: the same deployments")
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{Services: -1}, {Days: 1}, {FaultRate: 1.5}, {Services: 20000}, {KPIs: true}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
