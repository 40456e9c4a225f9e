package simulate

import (
	"context"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
)

// kpiMean is the mean of KPI name of stream st over minutes [from, to).
func kpiMean(t *testing.T, s *simulated, st history.Stream, name string, from, to int64) (float64, int) {
	t.Helper()
	kr := s.st.(history.KPIReader)
	ks, err := kr.KPIValues(context.Background(), st, history.Range{From: history.MinuteTime(from), Until: history.MinuteTime(to)})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	var n int
	for _, k := range ks {
		if k.Name != name {
			continue
		}
		for _, v := range k.Values {
			sum += v
			n++
		}
	}
	return sum / float64(max(n, 1)), n
}

// nextStart returns the start minute of the deployment after d on its
// stream, or MaxInt64.
func (s *simulated) nextStart(d history.Deployment) int64 {
	for _, x := range s.deps {
		if streamOf(x) == streamOf(d) && x.StartedAt.After(d.StartedAt) {
			return history.UnixMinute(x.StartedAt)
		}
	}
	return math.MaxInt64
}

func TestAggregateBigBangRegime(t *testing.T) {
	s := regimeFleet(t, "aggregate-bigbang")
	fractional := 0
	for st, ser := range s.series {
		if len(ser) != 1 || ser[0].Version != history.AggregateVersion {
			var vs []string
			for _, x := range ser {
				vs = append(vs, x.Version)
			}
			t.Fatalf("%v: series of versions %q, want the aggregate series only", st, vs)
		}
		for i, r := range ser[0].Requests {
			if r != math.Trunc(r) {
				fractional++
			}
			if e := ser[0].Errors[i]; e < 0 || e > r {
				t.Fatalf("%v: minute %d: errors %v, requests %v", st, ser[0].Minutes[i], e, r)
			}
		}
		if len(s.sigs[st]) != 0 {
			t.Errorf("%v: %d signature rows, want none", st, len(s.sigs[st]))
		}
	}
	if fractional == 0 {
		t.Error("no real-valued count")
	}
	for _, d := range s.deps {
		if !d.FinishedAt.Equal(d.StartedAt) || !has(s.truth[d.ID], ConfoundNoCanary) {
			t.Fatalf("%s: rollout %v: every deploy must be big-bang", d.ID, d.FinishedAt.Sub(d.StartedAt))
		}
	}
	// Faults still show in the aggregate: the error rate after the onset
	// of step faults against the hour before.
	var before, after [2]float64
	for _, d := range s.deps {
		tr := s.truth[d.ID]
		if tr.Shape != ShapeStep || d.Kind != history.KindDeploy {
			continue
		}
		start := history.UnixMinute(d.StartedAt)
		end := min(s.nextStart(d), start+30)
		bq, be, _, _ := s.window(streamOf(d), history.AggregateVersion, start-60, start)
		aq, ae, _, _ := s.window(streamOf(d), history.AggregateVersion, start+1, end)
		before[0], before[1] = before[0]+bq, before[1]+be
		after[0], after[1] = after[0]+aq, after[1]+ae
	}
	if before[0] == 0 || after[0] == 0 || (after[1]/after[0])/(before[1]/before[0]) < 1.5 {
		t.Errorf("step faults in the aggregate: error rate %v before, %v after", before[1]/before[0], after[1]/after[0])
	}
}

func TestKPIShiftsRegime(t *testing.T) {
	s := regimeFleet(t, "kpi-shifts")
	ctx := context.Background()
	kr := s.st.(history.KPIReader)
	decls, err := kr.KPIs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(decls) != 4*12 {
		t.Fatalf("%d KPI declarations, want 4 per service", len(decls))
	}
	kinds := map[history.KPIKind]bool{}
	dirs := map[history.Direction]bool{}
	for _, k := range decls {
		kinds[k.Kind], dirs[k.Direction] = true, true
	}
	if len(kinds) != 4 || len(dirs) != 3 {
		t.Errorf("kinds %v, directions %v: want every kind and direction", kinds, dirs)
	}
	for _, st := range s.streams {
		ks, err := kr.KPIValues(ctx, st, history.Range{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ks) != 4 || ks[0].Len() == 0 {
			t.Fatalf("%v: %d KPI series", st, len(ks))
		}
		for _, k := range ks {
			d, _ := history.KPIOf(decls, st, k.Name)
			for _, v := range k.Values {
				if why := d.Kind.CheckValue(v); why != "" {
					t.Fatalf("%v %s: %s", st, k.Name, why)
				}
			}
		}
	}
	// Shifts: every KPI is hit, in its direction, by 10–30%; on average the
	// KPI moves that way between the hour before and the 40 minutes after
	// the onset (deploys that last that long).
	moved := map[string][]float64{}
	shifts := 0
	for _, d := range s.deps {
		tr := s.truth[d.ID]
		if !tr.Faulty {
			continue
		}
		if tr.Shape != ShapeShift {
			if tr.KPI != "" || tr.Direction != "" {
				t.Errorf("%s: shape %s with KPI %q direction %q", d.ID, tr.Shape, tr.KPI, tr.Direction)
			}
			continue
		}
		shifts++
		size := math.Abs(tr.Severity - 1)
		if size < 0.1-1e-9 || size > 0.3+1e-9 || (tr.Direction == "up") != (tr.Severity > 1) {
			t.Errorf("%s: severity %v direction %s", d.ID, tr.Severity, tr.Direction)
		}
		if d.Kind != history.KindDeploy {
			continue
		}
		on := history.UnixMinute(d.StartedAt) + tr.OnsetMinute
		if s.nextStart(d) < on+40 {
			continue
		}
		b, bn := kpiMean(t, s, streamOf(d), tr.KPI, on-60, on-tr.OnsetMinute)
		a, an := kpiMean(t, s, streamOf(d), tr.KPI, on+1, on+40)
		if bn > 30 && an > 30 && b > 0 {
			moved[tr.KPI+"/"+tr.Direction] = append(moved[tr.KPI+"/"+tr.Direction], a/b)
		}
	}
	if shifts == 0 {
		t.Fatal("no shift fault")
	}
	for _, k := range []string{KPILatencyP95 + "/up", KPISaturation + "/up", KPISuccessRatio + "/down", KPIThroughput + "/down"} {
		r := moved[k]
		if len(r) == 0 {
			t.Errorf("no measurable shift of %s", k)
			continue
		}
		sort.Float64s(r)
		med := r[len(r)/2]
		if up := strings.HasSuffix(k, "/up"); up && med < 1.05 || !up && med > 0.95 {
			t.Errorf("%s: median after/before ratio %.3f over %d faults", k, med, len(r))
		}
	}
}

func TestBurstsAndDropsRegime(t *testing.T) {
	s := regimeFleet(t, "bursts-and-drops")
	bursts, seen := 0, 0
	for _, d := range s.deps {
		tr := s.truth[d.ID]
		if !tr.Faulty {
			continue
		}
		if tr.KPI != KPISuccessRatio && tr.KPI != KPIThroughput || tr.Direction != "down" {
			t.Errorf("%s: fault on %q %q, want a drop of success ratio or throughput", d.ID, tr.KPI, tr.Direction)
		}
		if tr.Shape != ShapeBurst || d.Kind != history.KindDeploy {
			continue
		}
		bursts++
		if tr.OnsetMinute < 0 || tr.OnsetMinute > 8 {
			t.Errorf("%s: burst onset %d", d.ID, tr.OnsetMinute)
		}
		on := history.UnixMinute(d.StartedAt) + tr.OnsetMinute
		if s.nextStart(d) < on+5 {
			continue
		}
		// During the first five minutes of the burst the KPI is well
		// below the hour before.
		b, bn := kpiMean(t, s, streamOf(d), tr.KPI, on-tr.OnsetMinute-60, on-tr.OnsetMinute)
		a, an := kpiMean(t, s, streamOf(d), tr.KPI, on, on+5)
		if bn < 30 || an < 4 {
			continue
		}
		seen++
		if a > b*(1-(1-tr.Severity)/2) {
			t.Errorf("%s: %s %.4f during the burst, %.4f before (severity %v)", d.ID, tr.KPI, a, b, tr.Severity)
		}
	}
	if bursts == 0 || seen == 0 {
		t.Errorf("%d bursts, %d measurable", bursts, seen)
	}
}

// TestExportKnobsLeaveHistory: aggregate metrics, real-valued counts and
// KPI values change what is written, not the simulated history.
func TestExportKnobsLeaveHistory(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Services, cfg.Days = 3, 2
	a := writeAll(t, cfg)
	cfg.AggregateMetrics, cfg.RealValuedCounts, cfg.KPIs = true, true, true
	b := writeAll(t, cfg)
	for _, name := range []string{"services.csv", "deployments.csv", "error_signatures.csv", "incidents.csv", "annotations.csv", "truth.csv"} {
		if string(a[name]) != string(b[name]) {
			t.Errorf("%s changed", name)
		}
	}
	if string(a["metrics.csv"]) == string(b["metrics.csv"]) || len(b["kpi_values.csv"]) == 0 || len(b["kpis.csv"]) == 0 {
		t.Error("the knobs changed nothing")
	}
	if _, ok := a["kpis.csv"]; ok {
		t.Error("kpis.csv written without KPIs")
	}
}
