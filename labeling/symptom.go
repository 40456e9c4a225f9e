package labeling

import (
	"math"
	"slices"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
)

// The features column the symptom gate reads besides impactPColumn,
// p95RatioColumn and newSigRate.
var baMinPColumn = features.Schema[features.BAMinP].Name

// SymptomGate is the symptom gate of the functions that read operators'
// reactions (rollback, incident; their section's `symptom` key): a
// deployment they would vote faulty keeps the vote only if, at one of
// Horizons (read from features_hH.parquet), its version showed a symptom of
// a fault —
//
//   - its error rate above the expected rate with impact p ≤ MaxP
//     (impact_neglog10_p ≥ −log10 MaxP) — with ImpactAtLast, at the
//     longest of Horizons at which the impact test could judge, not at any,
//   - its p95 latency ≥ MinP95Ratio × the service's before (p95_ratio),
//   - any error with a fingerprint new to its stream (new_sig_rate > 0), or
//   - a before/after check at p ≤ MaxP (ba_min_p, already corrected for the
//     number of checks, KPIs included) —
//
// or if none of these could be measured at any of the horizons (no feature
// row, or every value NaN): then the reaction is all there is, and it
// votes as without the gate. A version whose measured metrics showed none
// of them abstains — unless the other reaction function reacted to it too
// (rolled back and blamed for an incident): two reactions explain each
// other, as a symptom would. Operators roll back, and incidents are
// opened, for reasons no metric of the version shows — a precaution, a
// functional bug, another system's trouble blamed on the latest deploy —
// and such a vote teaches the detectors, which see only metrics, that a
// quiet version is a fault. Abstaining is not a healthy vote.
type SymptomGate struct {
	// Enabled turns the gate on. Default true for rollback, false for
	// incident (docs/labeling.md says why).
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Horizons are the horizons, in minutes, at which the symptoms are
	// read; features_hH.parquet must exist for each. Default [10, 20, 60],
	// the default feature horizons: a version rolled back at minute 8 is
	// judged on its 8 minutes by the 10-minute features.
	Horizons []int `yaml:"horizons" json:"horizons"`
	// MaxP is the largest p-value of the impact test and of the before/after
	// checks that counts as a symptom. Default 0.01.
	MaxP float64 `yaml:"max_p" json:"max_p"`
	// MinP95Ratio is the least p95 latency ratio that counts as a symptom.
	// Default 1.2.
	MinP95Ratio float64 `yaml:"min_p95_ratio" json:"min_p95_ratio"`
	// ImpactAtLast reads the error-rate impact symptom at the longest of
	// Horizons at which the impact test could judge (impact_neglog10_p not
	// NaN) instead of at any: an impact that had faded by then — a restart
	// blip, significant at 10 minutes and gone by 60 — is not a symptom.
	// The other symptoms still count at any horizon. Default true.
	ImpactAtLast bool `yaml:"impact_at_last" json:"impact_at_last"`
}

func defaultSymptomGate() SymptomGate {
	return SymptomGate{Enabled: true, Horizons: []int{10, 20, 60}, MaxP: 0.01, MinP95Ratio: 1.2, ImpactAtLast: true}
}

// assumption is what the gate adds to its function's assumption; why
// says why a version without a symptom got the reaction.
func (s SymptomGate) assumption(why string) string {
	if !s.Enabled {
		return ""
	}
	rise := "no significant error-rate rise"
	if s.ImpactAtLast {
		rise = "no significant error-rate rise at the longest horizon judged — one that faded was a restart blip"
	}
	return "; when the version's metrics were measured and showed no symptom at all (" + rise + ", " +
		"p95 latency below symptom.min_p95_ratio, no new error fingerprint, no before/after check fired) and no other " +
		"reaction (rollback, incident) came with this one, " + why + ": abstain"
}

func (s SymptomGate) validate() error {
	if !s.Enabled {
		return nil
	}
	if err := validHorizons("symptom.horizons", s.Horizons); err != nil {
		return err
	}
	if !(s.MaxP > 0 && s.MaxP < 1) {
		return config.Errorf("symptom.max_p", "%v must be in (0, 1)", s.MaxP)
	}
	if !(s.MinP95Ratio >= 1) {
		return config.Errorf("symptom.min_p95_ratio", "%v must be ≥ 1", s.MinP95Ratio)
	}
	return nil
}

// columns are the feature columns the gate reads (none when it is off).
func (s SymptomGate) columns() []featureColumn {
	if !s.Enabled {
		return nil
	}
	var cols []featureColumn
	for _, h := range s.Horizons {
		for _, c := range []string{impactPColumn, p95RatioColumn, newSigRate, baMinPColumn} {
			cols = append(cols, featureColumn{horizon: h, column: c})
		}
	}
	return cols
}

// gate returns the vote of a deployment its function would vote faulty:
// faulty, or unexplained when the gate is on and d's measured metrics
// showed no symptom.
func (s SymptomGate) gate(d *deploy) int8 {
	if !s.Enabled {
		return faulty
	}
	if shown, measured := s.symptom(d); measured && !shown {
		return unexplained
	}
	return faulty
}

// symptom reports whether d showed a symptom at one of the horizons, and
// whether any of the symptoms could be measured at all. Every comparison
// is written so that a NaN fails it.
func (s SymptomGate) symptom(d *deploy) (shown, measured bool) {
	minNegLog10P := -math.Log10(s.MaxP)
	impact := func(v float64) bool { return v >= minNegLog10P }
	type symptomOf struct {
		column string
		shows  func(v float64) bool
	}
	anyHorizon := []symptomOf{
		{p95RatioColumn, func(v float64) bool { return v >= s.MinP95Ratio }},
		{newSigRate, func(v float64) bool { return v > 0 }},
		{baMinPColumn, func(v float64) bool { return v <= s.MaxP }},
	}
	if !s.ImpactAtLast {
		anyHorizon = append(anyHorizon, symptomOf{impactPColumn, impact})
	} else {
		for _, h := range slices.Backward(slices.Sorted(slices.Values(s.Horizons))) {
			if v, ok := d.feature(h, impactPColumn); ok && !math.IsNaN(v) {
				if impact(v) {
					return true, true
				}
				measured = true
				break
			}
		}
	}
	for _, h := range s.Horizons {
		for _, c := range anyHorizon {
			v, ok := d.feature(h, c.column)
			if !ok || math.IsNaN(v) {
				continue
			}
			measured = true
			if c.shows(v) {
				return true, true
			}
		}
	}
	return false, measured
}

// unexplained is the internal vote of a reaction function whose symptom
// gate found no symptom (SymptomGate.gate). Before the votes leave the
// functions, explainReactions makes it faulty when another reaction
// function reacted to the same deployment, and abstain otherwise.
const unexplained int8 = 2

// reaction is implemented by the functions that read operators' reactions
// and have a symptom gate (rollback, incident); a faulty vote of one
// explains the other's unexplained vote whether or not its own gate is on.
type reaction interface {
	reaction()
}

func isReaction(fn Function) bool {
	_, ok := fn.(reaction)
	return ok
}

// explainReactions resolves the unexplained votes in row t of cols, on a
// deployment to which reacted reaction functions reacted (voted faulty, or
// unexplained): two reactions — a rollback answered by an incident —
// explain each other, as a symptom would; one alone abstains.
func explainReactions(cols [][]int8, t, reacted int) {
	for j := range cols {
		if cols[j][t] != unexplained {
			continue
		}
		if reacted >= 2 {
			cols[j][t] = faulty
		} else {
			cols[j][t] = abstain
		}
	}
}

// healthMeasure is implemented by the functions whose healthy vote is a
// measurement of the version's own traffic that bounds its error rate and
// latency (healthy_evidence, before_after_healthy).
type healthMeasure interface {
	measuresHealth()
}

// healthYielder is implemented by the reaction functions whose lone
// faulty vote may yield to a healthMeasure's healthy vote (incident, when
// its health_gate is on).
type healthYielder interface {
	yieldsToHealth() bool
}

// yieldToHealth resolves row t of cols (after explainReactions) on a
// deployment to which reacted reaction functions reacted: when only one
// did and a function measuring health voted healthy, that reaction's
// faulty vote becomes an abstention if its function yields to health.
func yieldToHealth(fns []Function, cols [][]int8, t, reacted int) {
	if reacted != 1 {
		return
	}
	measured := false
	for j, fn := range fns {
		if _, ok := fn.(healthMeasure); ok && cols[j][t] == healthy {
			measured = true
			break
		}
	}
	if !measured {
		return
	}
	for j, fn := range fns {
		if y, ok := fn.(healthYielder); ok && y.yieldsToHealth() && cols[j][t] == faulty {
			cols[j][t] = abstain
		}
	}
}
