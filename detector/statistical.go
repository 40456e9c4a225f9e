package detector

import (
	"math"
	"slices"

	"github.com/faultline-dev/faultline/features"
)

// StatisticalChecks names the statistical fallback — what judges a deploy
// when no model is in production — in outputs: the Model of its Results,
// the "source" of `faultline check` and `predict`, the model_version of
// predictions.
const StatisticalChecks = "statistical-checks"

// The statistical fallback judges a deploy from its feature rows alone, with
// two kinds of evidence, look by look (each horizon with a row is a look):
//
//   - Canary evidence: the unanimous ensemble (impact ∧ temporal ∧
//     persistence, ensemble_faulty) compares the new version with the
//     expected rate and the version beside it. It assumes the new version
//     served enough requests of its own (else ensemble_faulty is NaN:
//     inconclusive), as it always has, and flags from MinFlagLook on: at
//     an earlier look a restart blip passes all three checks as a fault
//     does, and a passing ensemble leaves the look inconclusive. So does
//     one during a fleet-wide event (condition 6 below, as labeling's
//     statistical_ensemble.max_fleet_share): a failing shared dependency
//     passes them on every version it hits.
//   - Before/after evidence (changes without a canary: no minute in which
//     the new and the previous version both served, overlap_minutes 0 or
//     NaN — big-bang deploys, aggregate-only metrics — unless per-version
//     series show the new version serving nothing while an older one
//     served, see withoutCanary): the service's own series after the
//     change against its own past, from the ba_* columns calibrated by
//     replay (features' before_after.budget is the false-alarm probability
//     of each check per look). One series group —
//     the error rate, the p95 latency, the throughput (lower is worse) or
//     the declared KPIs, each in its declared direction (a KPI breach) —
//     flags the deploy at a look when all of these hold:
//
//     1. level test: its replay p-value is at most budget / n, n the groups
//     that judged at that look (Bonferroni: "some group shifted" keeps the
//     budget). Assumes the baseline's spread describes the window's noise.
//     2. sustained (quartile) test: its p-value is at most budget / n too,
//     as the before_after_shift labeling function shares max_p between
//     both tests. Assumes the window's quartile nearest the baseline lies
//     no further from it without a change than at the replayed points;
//     three quarters of the minutes must move, so bursts and restart
//     blips that fade do not pass.
//     3. not decaying: between consecutive looks a < b up to this one, the
//     mean level of the minutes after a, (b·level_b − a·level_a)/(b − a),
//     is at least half the level up to a, both oriented the way the level
//     moved at this look (a look where it was not yet on that side never
//     counts as decaying). Assumes a fault persists while a restart blip
//     fades. The level of the KPI group is that of the KPI its level test
//     picked at each look, which may differ between looks.
//     4. the look is at least MinFlagLook minutes and an earlier
//     look has a row (to see the decay): in the first minutes a restart
//     blip dominates the window.
//     5. the version served the look alone: no other deploy of the stream
//     started in it (overlap_deploy 0). Otherwise the window holds both
//     versions' effects.
//     6. no fleet-wide event: less than a tenth of the environment's other
//     services were elevated in every minute of the window
//     (fleet_elevated_max_frac < maxFleetShare; NaN without fleet data: no
//     control, the checks alone decide). A shared dependency failing moves
//     every service.
//     7. for the KPI group only, the throughput did not rise as clearly at
//     the same look (ba_tput_shift_z and ba_tput_sustained_z both at most
//     −z, z the standard normal quantile of 1 − budget/n): load moves the
//     KPIs that follow it (saturation, latency).
//     8. for the error rate only, the rise at this look
//     (ba_err_level_change) is material (features.BAErrorMaterial): at
//     least the impact check's features.impact.min_excess (0.002 errors
//     per request), as before_after_shift's min_error_excess — a harmless
//     new error lifts a small error rate for good, a real shift,
//     significant on heavy traffic, without being a fault — or, when the
//     window logged no error with a new fingerprint, at least
//     features.before_after.min_error_rise (0.1) of baseline_error_rate,
//     as before_after_shift's min_error_rise.
//     9. the seasonal reference is whole: ba_reference_days is
//     features.before_after.reference_days (3), so the change is not in
//     the history's first days. There the checks are replayed on fewer
//     days, partly without a reference of their own; the features and the
//     models use them, but on the simulator's aggregate fleets
//     (TestStatisticalFallbackOnRegimes, aggregate-bigbang) judging such
//     changes added 3 false alarms and 1 fault flagged, so the fallback
//     leaves them inconclusive, as it did when they had no p-values.
//
// Missing evidence is never evidence of health. A look is clear (healthy so
// far) only when the canary ensemble judged it (ensemble_faulty not NaN) or
// the before/after checks judged it (ba_checks > 0, for a change without a
// canary, served alone, without a fleet-wide event, with a whole seasonal
// reference) with nothing flagging;
// at a look shorter than MinFlagLook (or without an earlier look) a
// before/after check that fired leaves the look inconclusive — too early to
// tell a restart blip from a fault. A look of a change without a canary in
// which another deploy started is the version's no more: the verdict comes
// from the latest look before it. Any other look is inconclusive.

// MinFlagLook is the shortest look, in minutes, at which the statistical
// fallback flags a deploy, on canary or before/after evidence: in the
// first minutes a restart blip dominates the window. Measured with
// `faultline predict` and no production model, against the simulator's
// truth, on fleets of 40 services × 14 days, seed 1 (docs/detector.md):
// flagging on the canary ensemble from 20 minutes instead of 10 took
// precision from 0.50 to 0.77 on `baseline-mixed` (51 faults flagged of
// 101 flags → 51 of 66) and 0.57 → 0.82 on `benign-signatures`, where it
// was found, and 0.49 → 0.75, 0.71 → 0.86, 0.72 → 0.87 on `no-canary`,
// `silent` and `low-traffic`, at recall 0.00–0.03 lower.
const MinFlagLook = 20

// maxFleetShare: a share of the environment's other services elevated in
// one minute of the window at or above this is a fleet-wide event (as
// labeling's before_after_shift.max_fleet_share). On simulated fleets of 60
// services the share stays at or below 0.07 outside outages and reaches
// 0.14 or more in them.
const maxFleetShare = 0.1

// minLateToEarly is the least ratio of the level after a look to the level
// up to it for a shift that does not decay (as labeling's
// before_after_shift.min_late_to_early).
const minLateToEarly = 0.5

// baGroup is one series group of the before/after columns, with what the
// fallback's rule asks of it besides features' before/after shift rule.
type baGroup struct {
	features.BAGroup
	shiftPass, sustainedPass int
	kpi                      bool
	// errorRate: the level is an excess error rate, which must be material
	// (condition 8).
	errorRate bool
}

var baSeriesGroups = [...]baGroup{
	{features.BAErrGroup, features.BAErrShiftPass, features.BAErrSustainedPass, false, true},
	{features.BALatGroup, features.BALatShiftPass, features.BALatSustainedPass, false, false},
	{features.BATputGroup, features.BATputShiftPass, features.BATputSustainedPass, false, false},
	{features.BAKPIGroup, features.BAKPIShiftPass, features.BAKPISustainedPass, true, false},
}

// lookState is the fallback's reading of one look.
type lookState int

const (
	lookInconclusive lookState = iota // no evidence, or fired too early to judge
	lookClear                         // judged, nothing flags
	lookFlagged                       // faulty
	// lookReplaced: a change without a canary that the canary ensemble
	// could not judge, and another deploy of the stream started within the
	// look: the look is not the version's alone and does not decide its
	// verdict (an earlier look does).
	lookReplaced
)

// statLook is the fallback's reading of the row at horizon h.
type statLook struct {
	h     int
	state lookState
	// canary: the canary ensemble judged the look (ensemble_faulty not NaN);
	// ba: the before/after checks judged it (the change had no canary).
	canary, ba bool
	// group is the before/after group that flagged the look; nil when the
	// canary ensemble did, or nothing.
	group *baGroup
}

// statisticalLooks reads every horizon of hs (ascending) that has a row.
func statisticalLooks(rows map[int][]float64, hs []int, cfg *features.Config) []statLook {
	hs = slices.Sorted(slices.Values(hs))
	var out []statLook
	var seen []int // horizons with rows so far
	for _, h := range hs {
		row, ok := rows[h]
		if !ok {
			continue
		}
		lk := statLook{h: h}
		ens := row[features.EnsembleFaulty]
		lk.canary = !math.IsNaN(ens)
		noCanary := withoutCanary(row)
		fleetEvent := features.FleetEvent(row[features.FleetElevatedMaxFrac], maxFleetShare)
		fullRef := row[features.BAReferenceDays] >= float64(cfg.BeforeAfter.ReferenceDays)
		lk.ba = noCanary && row[features.OverlapDeploy] == 0 && !fleetEvent && fullRef && row[features.BAChecks] > 0
		canJudge := h >= MinFlagLook && len(seen) > 0
		seen = append(seen, h)
		ensFired := lk.canary && ens >= 0.5
		switch {
		case ensFired && h >= MinFlagLook && !fleetEvent:
			lk.state = lookFlagged
		case ensFired:
			// Too early to tell a restart blip from a fault, or a fleet-wide
			// event that passes the checks on every version it hits:
			// inconclusive.
		case lk.ba && canJudge:
			if g := baFlag(rows, seen, cfg); g != nil {
				lk.state, lk.group = lookFlagged, g
			} else {
				lk.state = lookClear
			}
		case lk.canary:
			lk.state = lookClear
		case lk.ba && !(row[features.BAChecksFired] > 0):
			lk.state = lookClear
		case noCanary && row[features.OverlapDeploy] == 1:
			lk.state = lookReplaced
		}
		out = append(out, lk)
	}
	return out
}

// withoutCanary reports whether the row is of a change without a canary,
// which the before/after checks judge: the new version never served beside
// the previous one (overlap_minutes 0 or NaN: a big-bang switch, or
// aggregate metrics without versions), and the service's traffic is not the
// previous version's alone (the new version served nothing while an older
// one served: the change has not reached the traffic, and the service's
// series say nothing about it).
func withoutCanary(row []float64) bool {
	if row[features.OverlapMinutes] > 0 {
		return false
	}
	return !(row[features.NewRequests] == 0 && !math.IsNaN(row[features.PrevErrorRate]))
}

// baFlag returns the before/after group that flags the look at the last of
// looks (ascending horizons that have rows), or nil: conditions 1–3, 7 and
// 8 of the fallback's rule (the caller checked the others).
func baFlag(rows map[int][]float64, looks []int, cfg *features.Config) *baGroup {
	h := looks[len(looks)-1]
	row := rows[h]
	budget := cfg.BeforeAfter.Budget
	n := 0
	for i := range baSeriesGroups {
		if !math.IsNaN(row[baSeriesGroups[i].ShiftP]) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	alpha := budget / float64(n)
	for i := range baSeriesGroups {
		g := &baSeriesGroups[i]
		if !features.BAShifted(row[g.ShiftP], row[g.SustainedP], alpha) {
			continue
		}
		if g.errorRate && !features.BAErrorMaterial(row[g.Level], row[features.BaselineErrorRate], row[features.NewSigErrors],
			cfg.Impact.MinExcess, cfg.BeforeAfter.MinErrorRise) {
			continue
		}
		if !notDecaying(rows, looks, g.Level) {
			continue
		}
		if g.kpi && features.BATrafficRose(row[features.BATputShiftStat], row[features.BATputSustainedStat], alpha) {
			continue
		}
		return g
	}
	return nil
}

// notDecaying reports condition 3: the level of column level did not decay
// between consecutive looks (features.BADecayed), oriented by the sign of
// the level at the last look. A NaN level fails it.
func notDecaying(rows map[int][]float64, looks []int, level int) bool {
	sign := 1.0
	last := rows[looks[len(looks)-1]][level]
	if math.IsNaN(last) {
		return false
	}
	if last < 0 {
		sign = -1
	}
	for i := 1; i < len(looks); i++ {
		a, b := looks[i-1], looks[i]
		if features.BADecayed(a, b, rows[a][level], rows[b][level], sign, minLateToEarly) {
			return false
		}
	}
	return true
}

// canaryReasons are the features a canary verdict reports: the three checks
// of the ensemble, then the evidence they judged.
var canaryReasons = []int{
	features.ImpactPass, features.TemporalPass, features.PersistencePass,
	features.ImpactRatio, features.ImpactNegLog10P,
}

// baSummaryReasons are reported when the before/after checks judged a look
// that nothing flagged, or could not judge it.
var baSummaryReasons = []int{features.BAChecks, features.BAChecksFired, features.BAMinP, features.BAPseudoPoints}

// StatisticalVotes returns the statistical fallback's vote at every horizon
// of hs with a row: 1 when the look flags the deploy (DecideStatistical's
// rule, each look read on its own and the looks before it), else 0.
func StatisticalVotes(rows map[int][]float64, hs []int, cfg *features.Config) map[int]float64 {
	out := map[int]float64{}
	for _, lk := range statisticalLooks(rows, hs, cfg) {
		out[lk.h] = 0
		if lk.state == lookFlagged {
			out[lk.h] = 1
		}
	}
	return out
}

// DecideStatistical decides one deploy with the statistical checks alone,
// as Faultline does when no model is in production: the canary ensemble and
// the before/after checks (see the rule above, and docs/detector.md), looked
// at sequentially over the horizons of hs that have rows (rows[h], computed
// with features settings cfg, whose horizons include hs). The deploy is
// faulty at the first look, ascending, that flags it; otherwise healthy when
// the latest look is clear, and inconclusive when it is not (neither kind of
// evidence could judge it, or a before/after check fired too early to tell)
// or no horizon has a row; a look in which another deploy replaced a change
// without a canary does not decide (the latest look before it does). The
// verdict is final once the largest horizon has a row or the deploy is
// flagged. Scores carry the vote as P (1 flagged, 0
// not) against the threshold 0.5. Reasons name what decided: for the canary
// ensemble its three checks (value 1 pass, 0 fail, contribution +1 or −1) and
// the impact evidence (contribution 0); for a before/after flag the group's
// level and sustained checks (value 1, contribution +1), their p-values and
// the level change (contribution 0); for a look the before/after checks
// judged without a canary, their summary (contribution 0).
func DecideStatistical(rows map[int][]float64, hs []int, cfg *features.Config) *Result {
	res := &Result{Model: StatisticalChecks, Reasons: []Reason{}, Scores: []HorizonScore{}}
	var deciding *statLook
	looks := statisticalLooks(rows, hs, cfg)
	for i := range looks {
		lk := &looks[i]
		flagged := lk.state == lookFlagged
		p := 0.0
		if flagged {
			p = 1
		}
		res.Scores = append(res.Scores, HorizonScore{Horizon: lk.h, P: p, Threshold: 0.5, Flagged: flagged,
			Inconclusive: lk.state == lookInconclusive || lk.state == lookReplaced})
		if lk.state != lookReplaced || deciding == nil {
			deciding = lk
		}
		if flagged {
			res.Verdict, res.DetectedAt, res.Final = Faulty, lk.h, true
			break
		}
	}
	switch {
	case res.Verdict == Faulty:
	case deciding == nil || deciding.state == lookInconclusive || deciding.state == lookReplaced:
		res.Verdict = Inconclusive
	default:
		res.Verdict = Healthy
	}
	if res.Verdict != Faulty && len(hs) > 0 {
		_, res.Final = rows[slices.Max(hs)]
	}
	if deciding != nil {
		res.DecidingHorizon = deciding.h
		res.Reasons = statisticalReasons(rows[deciding.h], deciding)
	}
	return res
}

// statisticalReasons lists the reasons of the deciding look.
func statisticalReasons(row []float64, lk *statLook) []Reason {
	var out []Reason
	add := func(c int, contribution float64) {
		out = append(out, Reason{Feature: features.Schema[c].Name, Value: row[c], Contribution: contribution})
	}
	switch {
	case lk.group != nil:
		g := lk.group
		add(g.shiftPass, 1)
		add(g.sustainedPass, 1)
		add(g.ShiftP, 0)
		add(g.SustainedP, 0)
		add(g.Level, 0)
		if g.errorRate {
			// What the rise is material against (features.BAErrorMaterial):
			// the baseline's rate, and whether new fingerprints came with it.
			add(features.BaselineErrorRate, 0)
			add(features.NewSigErrors, 0)
		}
	case lk.ba && !lk.canary:
		for _, c := range baSummaryReasons {
			add(c, 0)
		}
	default:
		for _, c := range canaryReasons {
			contribution := 0.0
			if c == features.ImpactPass || c == features.TemporalPass || c == features.PersistencePass {
				switch row[c] {
				case 1:
					contribution = 1
				case 0:
					contribution = -1
				}
			}
			add(c, contribution)
		}
		if !lk.canary {
			// Why the before/after checks could not judge either: too few
			// pseudo-change points, or a partial seasonal reference
			// (condition 9), in a history's first days.
			add(features.BAPseudoPoints, 0)
			add(features.BAReferenceDays, 0)
		}
	}
	return out
}
