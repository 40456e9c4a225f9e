package detector_test

import (
	"math"
	"testing"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/features"
)

// fallbackRow is a feature row for DecideStatistical: every column NaN but
// those set.
type fallbackRow map[int]float64

func (m fallbackRow) row() []float64 {
	r := make([]float64, features.NumFeatures)
	for i := range r {
		r[i] = math.NaN()
	}
	for c, v := range m {
		r[c] = v
	}
	return r
}

// canaryRow: a version beside the previous one (overlap) whose ensemble
// voted ens (NaN: inconclusive).
func canaryRow(ens float64, extra fallbackRow) []float64 {
	m := fallbackRow{features.OverlapMinutes: 10, features.OverlapDeploy: 0, features.NewRequests: 5000, features.PrevErrorRate: 0.01,
		features.EnsembleFaulty: ens, features.Inconclusive: 0, features.ImpactPass: 1, features.TemporalPass: 1, features.PersistencePass: ens}
	if math.IsNaN(ens) {
		m[features.Inconclusive] = 1
	}
	for c, v := range extra {
		m[c] = v
	}
	return m.row()
}

// aggRow: a big-bang change with aggregate metrics only (the ensemble
// cannot judge), whose before/after checks judged all four groups with
// nothing firing, then the columns of extra.
func aggRow(extra fallbackRow) []float64 {
	m := fallbackRow{features.OverlapMinutes: 0, features.OverlapDeploy: 0, features.NewRequests: 0,
		features.Inconclusive: 1, features.FleetElevatedMaxFrac: 0.02,
		features.BAChecks: 16, features.BAChecksFired: 0, features.BAMinP: 1, features.BAPseudoPoints: 44, features.BAReferenceDays: 3}
	for _, g := range []int{features.BAErrLevelChange, features.BALatLevelChange, features.BATputLevelChange, features.BAKPILevelChange} {
		m[g] = 0
		for k := 0; k < 4; k++ {
			m[g+1+3*k], m[g+2+3*k], m[g+3+3*k] = 0, 0.5, 0 // statistic, p-value, pass
		}
	}
	for c, v := range extra {
		m[c] = v
	}
	return m.row()
}

// shift: series group g (its level-change column) shifted at level with the
// level test's p-value shiftP and the sustained test's sustainedP.
func shift(g int, level, shiftP, sustainedP float64) fallbackRow {
	pass := func(p float64) float64 {
		if p <= 0.01 {
			return 1
		}
		return 0
	}
	return fallbackRow{g: level, g + 2: shiftP, g + 3: pass(shiftP), g + 5: sustainedP, g + 6: pass(sustainedP),
		features.BAChecksFired: pass(shiftP) + pass(sustainedP)}
}

func merge(ms ...fallbackRow) fallbackRow {
	out := fallbackRow{}
	for _, m := range ms {
		for c, v := range m {
			out[c] = v
		}
	}
	return out
}

func TestDecideStatistical(t *testing.T) {
	cfg := features.DefaultConfig() // before_after.budget 0.01
	hs := []int{10, 20, 60}
	nan := math.NaN()
	errShift := func(level, p, sp float64) fallbackRow { return shift(features.BAErrLevelChange, level, p, sp) }
	kpiDrop := shift(features.BAKPILevelChange, -0.05, 1e-4, 0.002)
	tests := []struct {
		name     string
		rows     map[int][]float64
		verdict  string
		at       int
		final    bool
		deciding int
		reasons  []string // features named by the reasons, in order (nil: not checked)
	}{
		// Canary evidence: as the unanimous ensemble always judged.
		{name: "no data", rows: map[int][]float64{}, verdict: detector.Inconclusive},
		{name: "canary healthy so far", rows: map[int][]float64{10: canaryRow(0, nil)}, verdict: detector.Healthy, deciding: 10,
			reasons: []string{"impact_pass", "temporal_pass", "persistence_pass", "impact_ratio", "impact_neglog10_p"}},
		{name: "canary faulty at 20", rows: map[int][]float64{10: canaryRow(0, nil), 20: canaryRow(1, nil), 60: canaryRow(0, nil)},
			verdict: detector.Faulty, at: 20, final: true, deciding: 20, reasons: []string{"impact_pass", "temporal_pass", "persistence_pass"}},
		{name: "canary ensemble at 10 minutes: too early to tell a restart blip from a fault",
			rows:    map[int][]float64{10: canaryRow(1, nil)},
			verdict: detector.Inconclusive, deciding: 10},
		{name: "canary ensemble at 10 minutes that holds at 20 flags at 20",
			rows:    map[int][]float64{10: canaryRow(1, nil), 20: canaryRow(1, nil)},
			verdict: detector.Faulty, at: 20, final: true, deciding: 20},
		{name: "canary ensemble at 10 minutes that cleared by 20: healthy so far",
			rows:    map[int][]float64{10: canaryRow(1, nil), 20: canaryRow(0, nil)},
			verdict: detector.Healthy, deciding: 20},
		{name: "canary ensemble during a fleet-wide event: inconclusive",
			rows:    map[int][]float64{10: canaryRow(0, nil), 20: canaryRow(1, fallbackRow{features.FleetElevatedMaxFrac: 0.3})},
			verdict: detector.Inconclusive, deciding: 20},
		{name: "canary ensemble with a quiet fleet flags",
			rows:    map[int][]float64{10: canaryRow(0, nil), 20: canaryRow(1, fallbackRow{features.FleetElevatedMaxFrac: 0.05})},
			verdict: detector.Faulty, at: 20, final: true, deciding: 20},
		{name: "canary ensemble after a fleet-wide event flags at the next look",
			rows: map[int][]float64{10: canaryRow(0, nil), 20: canaryRow(1, fallbackRow{features.FleetElevatedMaxFrac: 0.3}),
				60: canaryRow(1, fallbackRow{features.FleetElevatedMaxFrac: 0.02})},
			verdict: detector.Faulty, at: 60, final: true, deciding: 60},
		{name: "canary thin at the latest look", rows: map[int][]float64{10: canaryRow(0, nil), 20: canaryRow(nan, nil)},
			verdict: detector.Inconclusive, deciding: 20},
		{name: "canary healthy, final", rows: map[int][]float64{10: canaryRow(0, nil), 20: canaryRow(0, nil), 60: canaryRow(0, nil)},
			verdict: detector.Healthy, final: true, deciding: 60},
		{name: "a canary is left to the ensemble, whatever the service's series do",
			rows:    map[int][]float64{10: canaryRow(0, errShift(0.02, 1e-6, 1e-3)), 20: canaryRow(0, errShift(0.02, 1e-6, 1e-3))},
			verdict: detector.Healthy, deciding: 20},

		// Before/after evidence for changes without a canary.
		{name: "big-bang error-rate shift flags at 20",
			rows:    map[int][]float64{10: aggRow(errShift(0.01, 0.2, 0.3)), 20: aggRow(errShift(0.012, 1e-4, 0.002)), 60: aggRow(nil)},
			verdict: detector.Faulty, at: 20, final: true, deciding: 20,
			reasons: []string{"ba_err_shift_pass", "ba_err_sustained_pass", "ba_err_shift_p", "ba_err_sustained_p", "ba_err_level_change",
				"baseline_error_rate", "new_sig_errors"}},
		{name: "the same shift in the history's first days (a partial seasonal reference) is inconclusive",
			rows: map[int][]float64{
				10: aggRow(merge(errShift(0.01, 0.2, 0.3), fallbackRow{features.BAReferenceDays: 2})),
				20: aggRow(merge(errShift(0.012, 1e-4, 0.002), fallbackRow{features.BAReferenceDays: 2})),
				60: aggRow(fallbackRow{features.BAReferenceDays: 2})},
			verdict: detector.Inconclusive, final: true, deciding: 60,
			reasons: []string{"impact_pass", "temporal_pass", "persistence_pass", "impact_ratio", "impact_neglog10_p", "ba_pseudo_points", "ba_reference_days"}},
		{name: "a delayed shift (not yet on the bad side at 10) is not decaying",
			rows:    map[int][]float64{10: aggRow(errShift(-0.001, 0.8, 0.7)), 20: aggRow(errShift(0.006, 1e-4, 0.002))},
			verdict: detector.Faulty, at: 20, deciding: 20, final: true},
		{name: "a KPI breach downwards (lower is worse) flags",
			rows:    map[int][]float64{10: aggRow(merge(kpiDrop, fallbackRow{features.BAKPILevelChange: -0.05})), 20: aggRow(kpiDrop)},
			verdict: detector.Faulty, at: 20, final: true, deciding: 20,
			reasons: []string{"ba_kpi_shift_pass", "ba_kpi_sustained_pass", "ba_kpi_shift_p", "ba_kpi_sustained_p", "ba_kpi_level_change"}},
		{name: "a KPI breach while the throughput rose as clearly does not flag",
			rows: map[int][]float64{10: aggRow(nil), 20: aggRow(merge(kpiDrop,
				fallbackRow{features.BATputShiftStat: -4, features.BATputSustainedStat: -3.5}))},
			verdict: detector.Healthy, deciding: 20},
		{name: "a restart blip that decays does not flag",
			rows:    map[int][]float64{10: aggRow(errShift(0.02, 1e-5, 0.002)), 20: aggRow(errShift(0.011, 1e-4, 0.002))},
			verdict: detector.Healthy, deciding: 20},
		{name: "a lasting rise of the error rate below the impact check's materiality does not flag",
			rows:    map[int][]float64{10: aggRow(errShift(0.0015, 0.2, 0.3)), 20: aggRow(errShift(0.0015, 1e-5, 1e-4))},
			verdict: detector.Healthy, deciding: 20},
		{name: "the same rise on a small error rate (a third of 0.004), with no new fingerprint, flags",
			rows: map[int][]float64{
				10: aggRow(merge(errShift(0.0015, 0.2, 0.3), fallbackRow{features.BaselineErrorRate: 0.004, features.NewSigErrors: 0})),
				20: aggRow(merge(errShift(0.0015, 1e-5, 1e-4), fallbackRow{features.BaselineErrorRate: 0.004, features.NewSigErrors: 0}))},
			verdict: detector.Faulty, at: 20, final: true, deciding: 20},
		{name: "the same rise on a small error rate with errors of a new fingerprint (a harmless new error) does not flag",
			rows: map[int][]float64{
				10: aggRow(merge(errShift(0.0015, 0.2, 0.3), fallbackRow{features.BaselineErrorRate: 0.004, features.NewSigErrors: 9})),
				20: aggRow(merge(errShift(0.0015, 1e-5, 1e-4), fallbackRow{features.BaselineErrorRate: 0.004, features.NewSigErrors: 30}))},
			verdict: detector.Healthy, deciding: 20},
		{name: "the level test alone does not flag",
			rows:    map[int][]float64{10: aggRow(nil), 20: aggRow(errShift(0.01, 1e-5, 0.2))},
			verdict: detector.Healthy, deciding: 20},
		{name: "the level test must keep the budget over the groups judged",
			rows:    map[int][]float64{10: aggRow(nil), 20: aggRow(errShift(0.01, 0.005, 0.002))},
			verdict: detector.Healthy, deciding: 20},
		{name: "the sustained test must keep the budget over the groups judged too",
			rows:    map[int][]float64{10: aggRow(nil), 20: aggRow(errShift(0.01, 1e-4, 0.005))},
			verdict: detector.Healthy, deciding: 20},
		{name: "a check fired at 10 minutes: too early to tell a blip from a fault",
			rows:    map[int][]float64{10: aggRow(errShift(0.02, 1e-6, 1e-3))},
			verdict: detector.Inconclusive, deciding: 10,
			reasons: []string{"ba_checks", "ba_checks_fired", "ba_min_p", "ba_pseudo_points"}},
		{name: "nothing fired at 10 minutes: healthy so far",
			rows:    map[int][]float64{10: aggRow(nil)},
			verdict: detector.Healthy, deciding: 10, reasons: []string{"ba_checks", "ba_checks_fired", "ba_min_p", "ba_pseudo_points"}},
		{name: "no history for the before/after checks and no canary: inconclusive, not healthy",
			rows: map[int][]float64{10: aggRow(fallbackRow{features.BAChecks: 0, features.BAPseudoPoints: 11}),
				20: aggRow(fallbackRow{features.BAChecks: 0, features.BAPseudoPoints: 11})},
			verdict: detector.Inconclusive, deciding: 20,
			reasons: []string{"impact_pass", "temporal_pass", "persistence_pass", "impact_ratio", "impact_neglog10_p", "ba_pseudo_points", "ba_reference_days"}},
		{name: "a fleet-wide event: inconclusive",
			rows:    map[int][]float64{10: aggRow(nil), 20: aggRow(merge(errShift(0.01, 1e-5, 1e-3), fallbackRow{features.FleetElevatedMaxFrac: 0.3}))},
			verdict: detector.Inconclusive, deciding: 20},
		{name: "replaced by another deploy after a clear look: the clear look decides",
			rows: map[int][]float64{10: aggRow(nil), 20: aggRow(merge(errShift(0.01, 1e-5, 1e-3), fallbackRow{features.OverlapDeploy: 1})),
				60: aggRow(fallbackRow{features.OverlapDeploy: 1})},
			verdict: detector.Healthy, final: true, deciding: 10},
		{name: "replaced within the first look: inconclusive",
			rows:    map[int][]float64{10: aggRow(fallbackRow{features.OverlapDeploy: 1})},
			verdict: detector.Inconclusive, deciding: 10},
		{name: "per-version series where the new version served nothing yet: inconclusive",
			rows: map[int][]float64{10: aggRow(fallbackRow{features.PrevErrorRate: 0.01}),
				20: aggRow(merge(errShift(0.01, 1e-5, 1e-3), fallbackRow{features.PrevErrorRate: 0.01}))},
			verdict: detector.Inconclusive, deciding: 20},
		{name: "big-bang with per-version series: the ensemble and the before/after checks both judge",
			rows: map[int][]float64{10: aggRow(fallbackRow{features.EnsembleFaulty: 0, features.Inconclusive: 0, features.NewRequests: 900}),
				20: aggRow(merge(errShift(0.01, 1e-5, 1e-3), fallbackRow{features.EnsembleFaulty: 0, features.Inconclusive: 0, features.NewRequests: 1800}))},
			verdict: detector.Faulty, at: 20, final: true, deciding: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := detector.DecideStatistical(tt.rows, hs, &cfg)
			if res.Verdict != tt.verdict || res.DetectedAt != tt.at || res.Final != tt.final || res.DecidingHorizon != tt.deciding {
				t.Fatalf("%s at %d final %v deciding %d, want %s at %d final %v deciding %d (scores %+v)", res.Verdict, res.DetectedAt,
					res.Final, res.DecidingHorizon, tt.verdict, tt.at, tt.final, tt.deciding, res.Scores)
			}
			if res.Model != detector.StatisticalChecks {
				t.Errorf("model %q", res.Model)
			}
			if tt.reasons != nil {
				if len(res.Reasons) < len(tt.reasons) {
					t.Fatalf("reasons %+v, want %v", res.Reasons, tt.reasons)
				}
				for i, name := range tt.reasons {
					if res.Reasons[i].Feature != name {
						t.Errorf("reason %d is %s, want %s", i, res.Reasons[i].Feature, name)
					}
				}
			}
			for _, r := range res.Reasons {
				if (r.Contribution > 0) != (len(r.Feature) > 5 && r.Feature[len(r.Feature)-5:] == "_pass" && r.Value == 1) {
					t.Errorf("reason %s value %v contribution %v", r.Feature, r.Value, r.Contribution)
				}
			}
			votes := detector.StatisticalVotes(tt.rows, hs, &cfg)
			for _, s := range res.Scores {
				if votes[s.Horizon] != s.P || s.Flagged != (s.P == 1) {
					t.Errorf("h%d: score %+v, vote %v", s.Horizon, s, votes[s.Horizon])
				}
			}
			if len(votes) != len(tt.rows) {
				t.Errorf("votes %v for %d rows", votes, len(tt.rows))
			}
		})
	}
}
