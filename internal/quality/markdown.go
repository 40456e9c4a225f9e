package quality

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// SmokeFloors are the floors of the smoke test (TestSmoke: regime
// SmokeRegime, SmokeServices × SmokeDays, seed 1, every deploy): low
// enough for today's detector, high enough to fail on a regression. Raise
// them as detection improves.
var SmokeFloors = Floors{Precision: 0.7, Recall: 0.35, MinSeverity: 1.5}

// The smoke test's fleet: ten days, so that most deploys lie past the
// features' seven-day warm-up and the promotion gate has a test split it
// can judge (on seven days it refused, and the smoke test scored the
// statistical fallback instead of a trained policy).
const (
	SmokeRegime   = "baseline-mixed"
	SmokeServices = 20
	SmokeDays     = 10
)

// Scored returns the fleet's score in scope, and false when the fleet has
// none (no production model, or a failure).
func (f Fleet) Scored(scope string) (Score, bool) {
	s, ok := f.Scores[scope]
	return s, ok
}

// regimeScore pools the counts of regime's fleets in scope.
func (r *Result) regimeScore(regime, scope string) (Score, bool) {
	var c Counts
	ok := false
	for _, f := range r.Fleets {
		if x, has := f.Scores[scope]; has && f.Regime == regime {
			c.Add(x.Counts)
			ok = true
		}
	}
	return c.Score(), ok
}

// Pooled pools the counts of every fleet in scope.
func (r *Result) Pooled(scope string) Score {
	var c Counts
	for _, f := range r.Fleets {
		if x, ok := f.Scores[scope]; ok {
			c.Add(x.Counts)
		}
	}
	return c.Score()
}

// RegimeMean is the unweighted mean across regimes (seeds pooled within a
// regime) of the point estimates; a regime without a defined value is left
// out of that value's mean, and Regimes counts those included in Precision.
type RegimeMean struct {
	Precision, Recall, RecallFloored, FalseAlarms, TTDRatio float64
	Regimes                                                 int
}

// MeanOfRegimes returns the mean across regimes in scope.
func (r *Result) MeanOfRegimes(scope string) RegimeMean {
	var sums, ns [5]float64
	for _, name := range r.Regimes {
		s, ok := r.regimeScore(name, scope)
		if !ok {
			continue
		}
		for i, v := range []float64{s.Precision.Value, s.Recall.Value, s.RecallFloored.Value, s.FalseAlarms.Value, s.TTDRatio.Value} {
			if !math.IsNaN(v) {
				sums[i] += v
				ns[i]++
			}
		}
	}
	var out [5]float64
	for i := range out {
		out[i] = math.NaN()
		if ns[i] > 0 {
			out[i] = sums[i] / ns[i]
		}
	}
	return RegimeMean{Precision: out[0], Recall: out[1], RecallFloored: out[2], FalseAlarms: out[3], TTDRatio: out[4], Regimes: int(ns[0])}
}

// Markdown renders docs/quality.md: how the benchmark measures, the
// regimes, and the tables. The output depends only on r (no clock).
func (r *Result) Markdown() []byte {
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	fl := r.Floors
	w("# Detection quality\n\n")
	w("<!-- Written by `faultline quality` (make quality). Do not edit the figures by hand: rerun the command. -->\n\n")
	w("This page scores the detector Faultline puts in production against the simulator's ground truth, on\n")
	w("fleets of many kinds. It is the project's own benchmark: a change to features, labeling functions, the\n")
	w("label model, training or the promotion gate shows here as figures that move.\n\n")
	extra, target := "", "quality"
	switch {
	case r.Annotate > 0:
		extra, target = fmt.Sprintf(" --annotate %d", r.Annotate), "quality-loop"
	case r.TruthLabels:
		extra, target = " --truth-labels", "quality-truth"
	}
	w("Command: `faultline quality --regimes %s --seeds %s --services %d --days %d%s`\n",
		strings.Join(r.Regimes, ","), joinSeeds(r.Seeds), r.Services, r.Days, extra)
	w("(`make %s` runs it with these defaults).\n\n", target)

	w("## How it is measured\n\n")
	w("- **Fleets.** Each regime below is a set of `faultline simulate` knobs (`faultline simulate --regime NAME`),\n")
	w("  or, for the `alt-*` regimes, a fleet of a second generator (`internal/altsim`) written apart from the\n")
	w("  simulator and unlike it: the detector was developed on the simulator, so these regimes show whether\n")
	w("  what it learned holds on histories made another way (they are a yardstick; nothing is tuned on them).\n")
	w("  For every regime and seed a fleet of %d services × 2 environments (alt: 1 or 2) × %d days is\n", r.Services, r.Days)
	w("  generated into a fresh embedded store, and `faultline run` runs on it with the default settings:\n")
	w("  extract, label, train, evaluate, register, promote, export. The **production policy** is whatever\n")
	w("  that run promoted; it scores every deployment as `faultline predict --model production` does. A\n")
	w("  deployment is flagged when the verdict is `faulty`; `inconclusive` counts as not flagged. When the\n")
	w("  run promoted nothing, the table says so and there is nothing to score.\n")
	w("- **Truth.** The generator's ground truth of every deployment (`faulty`, `shape`, `severity`,\n")
	w("  `confounders`); the pipeline never reads it. Severity is the error-rate multiplier of step, ramp,\n")
	w("  delayed and leak faults (a leak reaches it after 20 to 90 minutes), (base rate + new fingerprint's rate)\n")
	w("  / base rate for new_signature faults, (base rate + added rate) / base rate for partial faults, the mean\n")
	w("  multiplier of intermittent ones, and the p95 factor of latency faults.\n")
	w("- **Scopes.** *Test split*: the newest deploys by start time, which the run held out from training and\n")
	w("  threshold choice (15%% with the default train settings). *Every deploy*: all of them; the models were\n")
	w("  trained on weak labels of the oldest 70%%, never on truth, so this scope is larger, not leaked. (The\n")
	w("  simulator's fleets carry human annotations of 3%% of the deploys (0.5%% in `silent`), 5%% of them wrong, which training takes as\n")
	w("  targets where it has them, `train.annotations`; the `alt-*` fleets have none.)\n")
	w("- **Figures.** Precision (flagged deploys that are faulty), recall (faults flagged), recall on faults of\n")
	w("  severity ≥ %s×, false alarms per healthy deploy: value [Wilson 95%% interval] (k/n). TTD ratio: the mean\n", num(fl.MinSeverity))
	w("  minute at which the policy flagged the faults it caught, over %d minutes (the statistical ensemble's\n", TTDMinutes)
	w("  decision time), [mean ± 1.96 standard errors].\n")
	w("- **Floors.** Precision ≥ %s and recall ≥ %s on faults of severity ≥ %s×, point estimates; milder faults\n",
		num(fl.Precision), num(fl.Recall), num(fl.MinSeverity))
	w("  are reported without a floor. *Mean of regimes* is the unweighted mean over regimes (seeds pooled\n")
	w("  within a regime); *pooled* adds up every fleet's counts. The detection-trust goal is every regime at\n")
	w("  the floors and, across regimes, precision ≥ 0.95, recall ≥ 0.85 and TTD ratio ≤ 0.5. How much of that\n")
	w("  recall the fleets' error counts allow at all is the *error-count ceiling* of *Evidence in the window*.\n")
	w("- **Smoke test.** `go test ./internal/quality` (part of `make test`) runs regime `%s` on %d services ×\n", SmokeRegime, SmokeServices)
	w("  %d days, seed 1, and fails when the run promoted no model, or when the production policy's precision is\n", SmokeDays)
	w("  below %s or its recall on faults of severity ≥ %s× below %s, over every deploy. These floors are set\n",
		num(SmokeFloors.Precision), num(SmokeFloors.MinSeverity), num(SmokeFloors.Recall))
	w("  low enough to pass with today's detector and catch a regression; they rise as detection improves.\n")
	w("  `TestAltsimRegimes` runs the `alt-*` regimes on 20 services × 10 days, seed 1, with the same precision\n")
	w("  floor.\n")
	w("- **Aggregate regimes.** `aggregate-bigbang`, `kpi-shifts`, `bursts-and-drops`, `office-hours`, `alt-aggregate` and\n")
	w("  `alt-kpis`\n")
	w("  have one aggregate series per service and big-bang deploys. The severity of a `shift` or `burst` fault is\n")
	w("  its KPI factor (a 10–30%% shift up is 1.1–1.3×, down 0.9–0.7×), so the column for faults ≥ 1.5× counts few\n")
	w("  of them: judge `kpi-shifts`, `bursts-and-drops` and `alt-kpis` by plain recall.\n")
	w("- **Where recall is lost.** Every deploy, seeds pooled, everything against truth. *Weak labels vs truth*:\n")
	w("  the run's weak labels (`labels.parquet`); a deploy is labelled faulty when the label model's `p_faulty` is\n")
	w("  ≥ %s and at least one labeling function voted. Weak-label precision (labelled-faulty deploys that are\n", num(WeakLabelThreshold))
	w("  faulty) and recall (faults labelled faulty) bound what the models can learn: a fault the labels call\n")
	w("  healthy is taught as healthy. *Faults with a faulty vote*: the share of faults on which at least one\n")
	w("  labeling function voted faulty (what the label model could have labelled); *faults all abstained*: the\n")
	w("  share on which no function voted at all. Per labeling function: its faulty votes and their precision\n")
	w("  against truth, its healthy votes and how many of them fell on faults. *Oracle recall at precision ≥ %s*:\n", num(fl.Precision))
	w("  the thresholds of the production models' looks chosen on truth itself (the search the training run\n")
	w("  makes on the weak labels of its choice data, here on every deploy's truth, judged on the point\n")
	w("  estimate), and the recall that policy reaches at precision ≥ %s; a fleet where no thresholds reach that\n", num(fl.Precision))
	w("  precision counts as flagging nothing. Being tuned on truth it is not a result but an upper bound on\n")
	w("  what threshold choice could give with these models (up to the search's grid, thinned on large\n")
	w("  fleets): the gap between it and *production recall* (the production policy's recall over every\n")
	w("  deploy, as in *Every deploy*) is what threshold choice loses, the gap between it and 1 is what the\n")
	w("  models' ranking loses.\n")
	w("  That reading holds when *production precision* is at the floor too; below it, production recall can\n")
	w("  exceed the oracle's, bought with false alarms. Fleets without a production model have no oracle.\n")
	w("  *Thresholds of the looks* sets each fleet's production thresholds beside the oracle's, look by look.\n")
	w("  How much of the models' loss is the weak labels' is measured apart: `make quality-truth`\n")
	w("  ([quality-truth.md](quality-truth.md)) trains the same fleets again on the truth of every deploy.\n\n")

	w("## Regimes\n\n")
	w("| regime | what it stresses | generator | knobs |\n|---|---|---|---|\n")
	for _, name := range r.Regimes {
		reg, err := LookupRegime(name)
		if err != nil {
			w("| `%s` | unknown | | |\n", name)
			continue
		}
		knobs := "defaults"
		if len(reg.Knobs) > 0 {
			knobs = "`" + strings.Join(reg.Knobs, "`, `") + "`"
		}
		w("| `%s` | %s | `%s` | %s |\n", name, reg.About, reg.Generator, knobs)
	}
	w("\n")

	for _, scope := range []struct{ id, title string }{
		{ScopeTest, "Held-out test split (newest deploys)"},
		{ScopeAll, "Every deploy"},
	} {
		w("## %s\n\n", scope.title)
		r.mainTable(&b, scope.id)
		w("\n")
	}

	r.annotatedTable(&b)
	r.truthLabelsTable(&b)
	r.bandTables(&b)
	r.confounderTable(&b)
	r.lostTables(&b)
	return b.Bytes()
}

// annotatedTable writes the annotation loop's figures (Fleet.Annotated),
// when the benchmark ran it.
func (r *Result) annotatedTable(b *bytes.Buffer) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	k := 0
	for _, f := range r.Fleets {
		if f.Annotated != nil {
			k = r.Annotate
			break
		}
	}
	if k == 0 {
		return
	}
	w("## After the annotation loop\n\n")
	w("Per fleet, once scored: the first %d rows of its run's `models/weak/annotate.csv` (validation deploys on which\n", k)
	w("no labeling function, or one alone, voted, the models' most likely faulty first) labelled from the truth, each verdict wrong\n")
	w("with probability %s, imported as annotations, and `faultline run` again; its candidate goes through the\n", num(AnnotationNoise))
	w("gate against the first run's production. The production policy before → after, against truth\n")
	w("(docs/models.md, \"Annotations\"). Both runs' split is the same.\n\n")
	w("| regime | seed | annotated (faulty) | after | precision | recall | test split precision | test split recall |\n")
	w("|---|---|---|---|---|---|---|---|\n")
	var cmp runComparison
	for _, f := range r.Fleets {
		a := f.Annotated
		if a == nil {
			continue
		}
		_, ok0 := f.Scored(ScopeAll)
		if _, ok1 := a.Scores[ScopeAll]; !ok0 || !ok1 {
			w("| `%s` | %d | %d (%d) | %s | | | | |\n", f.Regime, f.Seed, a.Rows, a.Faulty, a.Production)
			continue
		}
		w("| `%s` | %d | %d (%d) | %s | %s |\n", f.Regime, f.Seed, a.Rows, a.Faulty, a.Production, cmp.row(f, a))
	}
	w("| **pooled** | | | | %s |\n\n", cmp.pooled())
}

// truthLabelsTable writes the figures of the runs with the truth as labels
// (Fleet.TruthLabels), when the benchmark ran them.
func (r *Result) truthLabelsTable(b *bytes.Buffer) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	if !r.TruthLabels {
		return
	}
	w("## With the truth as labels\n\n")
	w("Per fleet, once scored: the truth of every deployment imported as an annotation (no noise), and\n")
	w("`faultline run` again. Training takes annotations as targets, so this run's models learn from the truth\n")
	w("and its threshold choice is made on the truth of the validation split; everything else (features, trainer,\n")
	w("policy, gate) is the default. *Truth-trained* scores the version that run registered, promoted or not\n")
	w("(*gate* says which), against truth; *weak* is the first run's production policy, as above. The gap between\n")
	w("them is what the weak labels cost; the gap between *truth-trained* and the floors is what the features and\n")
	w("models cannot reach even with perfect labels. Over every deploy the truth-trained models score the 70%% of\n")
	w("deploys they were trained on, on their own targets: read the test split, which neither run trained or chose on.\n\n")
	w("| regime | seed | truth-trained version | gate | precision weak → truth-trained | recall weak → truth-trained | test split precision | test split recall |\n")
	w("|---|---|---|---|---|---|---|---|\n")
	var cmp runComparison
	for _, f := range r.Fleets {
		a := f.TruthLabels
		if a == nil {
			continue
		}
		gate := "refused"
		if strings.HasPrefix(a.Decision, "promoted") {
			gate = "promoted"
		}
		if _, ok1 := a.Scores[ScopeAll]; !ok1 {
			w("| `%s` | %d | %s | %s | | | | |\n", f.Regime, f.Seed, a.Production, gate)
			continue
		}
		w("| `%s` | %d | %s | %s | %s |\n", f.Regime, f.Seed, a.Production, gate, cmp.row(f, a))
	}
	w("| **pooled** | | | | %s |\n\n", cmp.pooled())
}

// runComparison sets a fleet's first run beside its second (the annotation
// loop's, the truth-trained one) in the cells of one table: precision and
// recall over every deploy and on the test split, each first → second,
// with the counts pooled over the rows.
type runComparison struct {
	first, second [2]Counts // every deploy, test split (the zero Counts adds and scores)
}

// row adds the fleet's two runs to the pooled counts and returns their
// four cells; the second run must be scored. A first run without scores
// (no production model) shows – and is left out of the pooled counts.
func (c *runComparison) row(f Fleet, second *Annotated) string {
	s1, t1 := second.Scores[ScopeAll], second.Scores[ScopeTest]
	p0, r0, tp0, tr0 := "–", "–", "–", "–"
	if s0, ok := f.Scored(ScopeAll); ok {
		t0, _ := f.Scored(ScopeTest)
		c.first[0].Add(s0.Counts)
		c.first[1].Add(t0.Counts)
		p0, r0, tp0, tr0 = s0.Precision.Decimal(3), pt3(s0.Recall), t0.Precision.Decimal(3), pt3(t0.Recall)
	}
	c.second[0].Add(s1.Counts)
	c.second[1].Add(t1.Counts)
	return fmt.Sprintf("%s → %s | %s → %s | %s → %s | %s → %s",
		p0, s1.Precision.Decimal(3), r0, pt3(s1.Recall), tp0, t1.Precision.Decimal(3), tr0, pt3(t1.Recall))
}

// pooled returns the pooled row's four cells.
func (c *runComparison) pooled() string {
	p0, p1, q0, q1 := c.first[0].Score(), c.second[0].Score(), c.first[1].Score(), c.second[1].Score()
	return fmt.Sprintf("%s → %s | %s → %s | %s → %s | %s → %s",
		p0.Precision.Decimal(3), p1.Precision.Decimal(3), pt3(p0.Recall), pt3(p1.Recall),
		q0.Precision.Decimal(3), q1.Precision.Decimal(3), pt3(q0.Recall), pt3(q1.Recall))
}

// pt3 is an estimate's point value with three decimals, and its count.
func pt3(e metrics.Estimate) string {
	if e.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f (%d/%d)", e.Value, e.K, e.N)
}

// bandTables writes the recall per severity band of every fleet, per scope.
func (r *Result) bandTables(b *bytes.Buffer) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## Recall per severity band\n\n")
	for _, scope := range []struct{ id, title string }{{ScopeTest, "Test split"}, {ScopeAll, "Every deploy"}} {
		w("%s:\n\n| regime | seed |", scope.title)
		for _, band := range Bands {
			w(" %s |", band.Name)
		}
		w("\n|---|---|%s\n", strings.Repeat("---|", len(Bands)))
		for _, f := range r.Fleets {
			s, ok := f.Scored(scope.id)
			if !ok {
				continue
			}
			w("| `%s` | %d |", f.Regime, f.Seed)
			for _, e := range s.BandRecall {
				w(" %s |", e.Decimal(2))
			}
			w("\n")
		}
		pooled := r.Pooled(scope.id)
		w("| pooled | |")
		for _, e := range pooled.BandRecall {
			w(" %s |", e.Decimal(2))
		}
		w("\n\n")
	}

}

// confounderTable writes the false alarms per confounder, pooled and per
// regime.
func (r *Result) confounderTable(b *bytes.Buffer) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## False alarms per confounder\n\n")
	w("Every deploy, seeds pooled: the share of *healthy* deploys with the confounder that were flagged. The\n")
	w("confounders are listed by `faultline help simulate` (overlap: replaced within 60 minutes).\n\n")
	pooled := r.Pooled(ScopeAll)
	var regimeScores []Score
	var present []string
	for _, name := range r.Regimes {
		if s, ok := r.regimeScore(name, ScopeAll); ok {
			regimeScores = append(regimeScores, s)
			present = append(present, name)
		}
	}
	w("| confounder | all regimes |")
	for _, name := range present {
		w(" `%s` |", name)
	}
	w("\n|---|---|%s\n", strings.Repeat("---|", len(present)))
	for _, c := range confounders(pooled) {
		w("| %s | %s |", c, pooled.ConfounderAlarms[c].Decimal(2))
		for _, s := range regimeScores {
			e, ok := s.ConfounderAlarms[c]
			if !ok {
				w(" – |")
				continue
			}
			w(" %d/%d |", e.K, e.N)
		}
		w("\n")
	}
	w("\n")
}

// pooled adds up, over regime's fleets, the counts that counts returns for
// each (nil: the fleet has none), and reports whether any fleet had them.
func pooled[C any](r *Result, regime string, counts func(f *Fleet) *C, add func(c *C, o C)) (C, bool) {
	var c C
	ok := false
	for i := range r.Fleets {
		f := &r.Fleets[i]
		if o := counts(f); o != nil && f.Regime == regime {
			add(&c, *o)
			ok = true
		}
	}
	return c, ok
}

// regimeLabels pools the weak labels against truth of regime's fleets.
func (r *Result) regimeLabels(regime string) (LabelScore, bool) {
	c, ok := pooled(r, regime, func(f *Fleet) *LabelCounts {
		if f.WeakLabels == nil {
			return nil
		}
		return &f.WeakLabels.LabelCounts
	}, (*LabelCounts).Add)
	return c.Score(), ok
}

// regimeOracle pools the oracle policies of regime's fleets.
func (r *Result) regimeOracle(regime string) (OracleScore, bool) {
	c, ok := pooled(r, regime, func(f *Fleet) *OracleCounts {
		if f.Oracle == nil {
			return nil
		}
		return &f.Oracle.OracleCounts
	}, (*OracleCounts).Add)
	return c.Score(), ok
}

// regimeEvidence pools the evidence tallies of regime's fleets.
func (r *Result) regimeEvidence(regime string) (EvidenceScore, bool) {
	c, ok := pooled(r, regime, func(f *Fleet) *EvidenceCounts {
		if f.Evidence == nil {
			return nil
		}
		return &f.Evidence.EvidenceCounts
	}, (*EvidenceCounts).Add)
	return c.Score(), ok
}

// evidenceTable writes, per regime, how many faults of severity ≥ the
// floor's left evidence in their window (EvidenceMinErrors) and the
// production recall on each kind, and the error-count ceiling beside the
// production recall on those faults.
func (r *Result) evidenceTable(b *bytes.Buffer) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	fl := r.Floors
	w("\n### Evidence in the window\n\n")
	w("Every deploy, seeds pooled, faults of severity ≥ %s× that raise the error rate (step, ramp, delayed,\n", num(fl.MinSeverity))
	w("new_signature; the alt generator's step, leak, partial and intermittent). *Evidence-poor*: fewer than %d\n", EvidenceMinErrors)
	w("excess errors estimated in the window the version served (its requests × expected error rate × (severity −\n")
	w("1), for a delayed fault only after its onset, for a ramp half, for a leak as much as the fastest one, 20\n")
	w("minutes to full, adds; on aggregate-only metrics the service's requests, its rate before the change times\n")
	w("the minutes served; `internal/quality/evidence.go`). Their errors cannot tell them from noise: what the\n")
	w("policy flags of them, it flags on other signs, and recall on the faults with evidence is what the error\n")
	w("rate let detection reach. Latency faults and KPI shifts and bursts are not judged (–: a regime with none).\n")
	w("The expected error rate is the pipeline's estimate, raised where a recent deploy's blip lifted the\n")
	w("baseline, so the evidence-poor share is a lower bound.\n\n")
	w("*Error-count ceiling* (`internal/quality/ceiling.go`): the recall on faults of severity ≥ %s× (every shape)\n", num(fl.MinSeverity))
	w("of an oracle that knows how many errors each deploy's window would hold without a fault (a restart blip or\n")
	w("a harmless new error included) and flags the windows whose error count is improbable under it (a Poisson\n")
	w("test at one false-alarm rate per deploy, the largest at which the expected precision over every deploy of\n")
	w("the fleet is still ≥ %s), beside the production recall on the same faults. It leans the oracle's way:\n", num(fl.Precision))
	w("faults it cannot judge (latency, KPI shifts and bursts, windows without a rate) count as found, and it\n")
	w("takes error counts to be Poisson around the fault-free count — where they are overdispersed (the `alt-*`\n")
	w("fleets), a real test pays more false alarms and the ceiling overstates. It is a yardstick, not a proof: a\n")
	w("detector can beat it on other signs (latency, new fingerprints, reactions seen within the window); where it\n")
	w("is below %s, the recall floor is out of reach of the error rate.\n\n", num(fl.Recall))
	w("| regime | faults judged | evidence-poor | production recall with evidence | production recall evidence-poor | error-count ceiling at precision ≥ %s | production recall ≥ %s× |\n", num(fl.Precision), num(fl.MinSeverity))
	w("|---|---|---|---|---|---|---|\n")
	// The pooled ceiling adds up the regimes' tallies (every fleet is one
	// regime's); the mean is over the regimes that have one.
	var all EvidenceCounts
	var sum float64
	n := 0
	for _, name := range r.Regimes {
		e, ok := r.regimeEvidence(name)
		if !ok {
			w("| `%s` | – | – | – | – | – | – |\n", name)
			continue
		}
		all.Add(e.EvidenceCounts)
		ceil, prod := "–", "–"
		if v, ok := e.Ceiling(); ok {
			ceil = pt(v)
			sum += v
			n++
		}
		if s, ok := r.regimeScore(name, ScopeAll); ok {
			prod = s.RecallFloored.Decimal(2)
		}
		if e.Judged == 0 {
			w("| `%s` | – | – | – | – | %s | %s |\n", name, ceil, prod)
			continue
		}
		w("| `%s` | %d | %s | %s | %s | %s | %s |\n", name, e.Judged, e.PoorShare.Decimal(2), e.RichRecall.Decimal(2), e.PoorRecall.Decimal(2), ceil, prod)
	}
	if v, ok := all.Ceiling(); ok && n > 0 {
		w("\nThe error-count ceiling is %s pooled over every fleet (%.0f of %d faults), %s as the mean of %d regimes.\n",
			pt(v), all.CeilingFound, all.CeilingFaults, pt(sum/float64(n)), n)
	}
}

// thresholdsTable writes, per fleet with a production model, its policy's
// threshold at each look beside the oracle's, and how many fleets' policies
// switched a look off (threshold 1: it never flags).
func (r *Result) thresholdsTable(b *bytes.Buffer) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	var fleets []*Fleet
	for i := range r.Fleets {
		if f := &r.Fleets[i]; f.Oracle != nil && len(f.Thresholds) > 0 && len(f.Thresholds) == len(f.Oracle.Horizons) {
			fleets = append(fleets, f)
		}
	}
	if len(fleets) == 0 {
		return
	}
	w("\n### Thresholds of the looks\n\n")
	w("Per fleet, the production policy's threshold at each look (chosen by the training run on its weak labels)\n")
	w("beside the oracle's (chosen on truth), both on the scale of the production predictions; *off*: the\n")
	w("threshold is 1 and the look never flags. A look the oracle uses and the production policy switched off, or\n")
	w("a production threshold far above the oracle's, is where the choice on weak labels loses recall.\n\n")
	w("| regime | seed | looks (min) | production thresholds | oracle thresholds |\n|---|---|---|---|---|\n")
	off := map[int]int{} // look → fleets whose production policy switched it off
	var looks []int
	cell := func(ts []float64) string {
		if len(ts) == 0 {
			return "– (precision floor not reached)"
		}
		out := make([]string, len(ts))
		for i, t := range ts {
			out[i] = fmt.Sprintf("%.2f", t)
			if t >= 1 {
				out[i] = "off"
			}
		}
		return strings.Join(out, " / ")
	}
	for _, f := range fleets {
		hs := make([]string, len(f.Oracle.Horizons))
		for i, h := range f.Oracle.Horizons {
			hs[i] = strconv.Itoa(h)
			if f.Thresholds[i] >= 1 {
				if off[h] == 0 {
					looks = append(looks, h)
				}
				off[h]++
			}
		}
		w("| `%s` | %d | %s | %s | %s |\n", f.Regime, f.Seed, strings.Join(hs, " / "), cell(f.Thresholds), cell(f.Oracle.Thresholds))
	}
	if len(looks) > 0 {
		slices.Sort(looks)
		parts := make([]string, len(looks))
		for i, h := range looks {
			parts[i] = fmt.Sprintf("the %d-minute look on %d", h, off[h])
		}
		list := parts[len(parts)-1]
		if n := len(parts); n > 1 {
			list = strings.Join(parts[:n-1], ", ") + " and " + list
		}
		w("\nOf %d fleets, the production policy switched off %s.\n", len(fleets), list)
	}
}

// lostTables writes where recall is lost: per regime, the weak labels
// against truth, the oracle policy's recall at the precision floor and the
// production recall; then the labeling functions' votes against truth.
func (r *Result) lostTables(b *bytes.Buffer) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	fl := r.Floors
	w("## Where recall is lost\n\n")
	w("Every deploy, seeds pooled, each figure against truth (see *How it is measured*). The oracle is tuned on\n")
	w("truth: an upper bound on threshold choice with the production models, not a result.\n\n")
	w("| regime | weak-label precision | weak-label recall | faults with a faulty vote | faults all abstained | oracle recall at precision ≥ %s | production recall | production precision |\n", num(fl.Precision))
	w("|---|---|---|---|---|---|---|---|\n")
	var notes []string
	for _, name := range r.Regimes {
		ls, okL := r.regimeLabels(name)
		if !okL {
			w("| `%s` | | | | | | | |\n", name)
			continue
		}
		oracle := "– (no production model)"
		if o, ok := r.regimeOracle(name); ok {
			oracle = o.Recall.Decimal(2)
			if o.Met < o.Fleets {
				notes = append(notes, fmt.Sprintf("`%s`: on %d of %d fleets no thresholds reach precision %s on truth; the oracle flags nothing there", name, o.Fleets-o.Met, o.Fleets, num(fl.Precision)))
			}
		}
		prodRecall, prodPrecision := "–", "–"
		if s, ok := r.regimeScore(name, ScopeAll); ok {
			prodRecall, prodPrecision = s.Recall.Decimal(2), s.Precision.Decimal(2)
		}
		for _, f := range r.Fleets {
			if f.Regime == name && f.Production == Fallback {
				notes = append(notes, fmt.Sprintf("`%s` seed %d: no production model: no oracle, and its production recall is the statistical checks'", name, f.Seed))
			}
		}
		w("| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", name, ls.Precision.Decimal(2), ls.Recall.Decimal(2), ls.Coverage.Decimal(2), ls.Abstained.Decimal(2), oracle, prodRecall, prodPrecision)
	}
	if len(notes) > 0 {
		w("\n")
		for _, n := range notes {
			w("- %s\n", n)
		}
	}
	r.evidenceTable(b)
	r.thresholdsTable(b)
	w("\n### Labeling functions against truth\n\n")
	w("Every deploy, seeds pooled: each function's faulty votes with the share on faults (precision), and its\n")
	w("healthy votes with how many fell on faults.\n\n")
	for _, name := range r.Regimes {
		ls, ok := r.regimeLabels(name)
		if !ok || len(ls.Functions) == 0 {
			continue
		}
		w("`%s`:\n\n| labeling function | faulty votes | precision of faulty votes | healthy votes | healthy votes on faults |\n|---|---|---|---|---|\n", name)
		for _, fv := range ls.Functions {
			w("| %s | %d | %s | %d | %d |\n", fv.Function, fv.Faulty, fv.Precision().Decimal(2), fv.Healthy, fv.HealthyOnFaults)
		}
		w("\n")
	}
}

// mainTable writes the per-fleet table of scope with its mean and pooled rows.
func (r *Result) mainTable(b *bytes.Buffer, scope string) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	fl := r.Floors
	w("| regime | seed | production | deploys | faults | precision | recall | recall ≥ %s× | TTD ratio | false alarms / healthy | floors |\n", num(fl.MinSeverity))
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	var notes []string
	for _, f := range r.Fleets {
		s, ok := f.Scored(scope)
		switch {
		case f.Error != "":
			notes = append(notes, fmt.Sprintf("`%s` seed %d failed: %s", f.Regime, f.Seed, oneLine(f.Error)))
			w("| `%s` | %d | failed | %d | %d | | | | | | not met |\n", f.Regime, f.Seed, f.Deployments, f.Faulty)
		case !ok:
			notes = append(notes, fmt.Sprintf("`%s` seed %d: no production model (%s)", f.Regime, f.Seed, oneLine(f.Decision)))
			w("| `%s` | %d | none | %d | %d | | | | | | not met |\n", f.Regime, f.Seed, f.Deployments, f.Faulty)
		default:
			if f.Production == Fallback {
				notes = append(notes, fmt.Sprintf("`%s` seed %d: no production model: fallback to statistical checks (%s)", f.Regime, f.Seed, oneLine(f.Decision)))
			}
			w("| `%s` | %d | %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", f.Regime, f.Seed, f.Production,
				s.Deployments, s.Confusion.TP+s.Confusion.FN, s.Precision.Decimal(2), s.Recall.Decimal(2), s.RecallFloored.Decimal(2),
				mean(s.TTDRatio), s.FalseAlarms.Decimal(2), floorsCell(s, fl))
		}
	}
	m := r.MeanOfRegimes(scope)
	met := func(v, floor float64) string {
		if !math.IsNaN(v) && v >= floor {
			return ""
		}
		return "x"
	}
	var miss []string
	if met(m.Precision, fl.Precision) != "" {
		miss = append(miss, "precision")
	}
	if met(m.RecallFloored, fl.Recall) != "" {
		miss = append(miss, "recall")
	}
	cell := "met"
	if len(miss) > 0 {
		cell = "not met: " + strings.Join(miss, ", ")
	}
	w("| **mean of %d regimes** | | | | | %s | %s | %s | %s | %s | %s |\n", m.Regimes, pt(m.Precision), pt(m.Recall), pt(m.RecallFloored), pt(m.TTDRatio), pt(m.FalseAlarms), cell)
	p := r.Pooled(scope)
	w("| **pooled** | | | %d | %d | %s | %s | %s | %s | %s | %s |\n", p.Deployments, p.Confusion.TP+p.Confusion.FN,
		p.Precision.Decimal(2), p.Recall.Decimal(2), p.RecallFloored.Decimal(2), mean(p.TTDRatio), p.FalseAlarms.Decimal(2), floorsCell(p, fl))
	if len(notes) > 0 {
		w("\n")
		for _, n := range notes {
			w("- %s\n", n)
		}
	}
}

func floorsCell(s Score, f Floors) string {
	p, r := s.Meets(f)
	switch {
	case p && r:
		return "met"
	case p:
		return "not met: recall"
	case r:
		return "not met: precision"
	default:
		return "not met: precision, recall"
	}
}

// est formats an estimate as "0.83 [0.71, 0.91] (25/30)".

func mean(m Mean) string {
	if m.N == 0 || math.IsNaN(m.Value) {
		return "–"
	}
	return fmt.Sprintf("%.2f [%.2f, %.2f]", m.Value, m.Lo, m.Hi)
}

func pt(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func joinSeeds(seeds []int64) string {
	s := make([]string, len(seeds))
	for i, x := range seeds {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, ",")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
