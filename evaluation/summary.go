package evaluation

import (
	"fmt"
	"math"
	"strings"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/models/policy"
)

// fmtPct formats an estimate's value as a percentage, "–" when undefined.
func fmtPct(e metrics.Estimate) string {
	if !e.Defined() {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*e.Value)
}

func fmtNum(f Float, prec int) string {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func fmtMin(f Float) string {
	if math.IsNaN(float64(f)) {
		return "–"
	}
	return fmt.Sprintf("%.1f min", float64(f))
}

func fmtRatio(f Float) string {
	if math.IsNaN(float64(f)) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(f))
}

// coverageText formats the policy coverage as "10: 21% · 20: 26% · 60: 53%".
func (rep *Report) coverageText(r Result) string {
	var parts []string
	for _, h := range rep.Horizons {
		e := r.Coverage[fmt.Sprint(h)]
		parts = append(parts, fmt.Sprintf("%d: %s", h, fmtPct(e)))
	}
	return strings.Join(parts, " · ")
}

// ReferenceSentence says, in one line, what the named reference is and
// how many held-out deploys it labels.
func (rep *Report) ReferenceSentence(name string) string {
	r, ok := rep.Reference(name)
	if !ok {
		return name
	}
	s := fmt.Sprintf("%s — %s: %d of %d held-out deploys labeled, %d faulty", r.Name, r.Description, r.Deploys, rep.TestDeploys, r.Faulty)
	if r.Name == RefGoldOrWeak {
		s += fmt.Sprintf(" (%d from annotations, %d from weak labels)", r.FromGold, r.FromWeak)
	}
	return s
}

// tableRefs lists the references shown as headline tables: the headline,
// then truth when simulated.
func (rep *Report) tableRefs() []string {
	out := []string{rep.Headline}
	if rep.Simulated && rep.Headline != RefTruth {
		out = append(out, RefTruth)
	}
	return out
}

// Markdown returns summary.md.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Faultline evaluation\n\n")
	fmt.Fprintf(&b, "Generated %s on %d held-out deploys (split `%s`). Sequential policy: flagged at the first horizon whose model reaches its threshold; the baseline decides at %d min. Intervals are Wilson 95%%.\n\n", rep.GeneratedAt, rep.TestDeploys, rep.Split, rep.BaselineMinutes)
	if g := rep.Glance(); g != "" {
		fmt.Fprintf(&b, "%s\n\n", g)
	}
	for _, ref := range rep.tableRefs() {
		fmt.Fprintf(&b, "## Against %s\n\nReference: %s.\n\n", ref, rep.ReferenceSentence(ref))
		fmt.Fprintf(&b, "| contender | precision | recall | false-alarm rate | PR-AUC@%d | MTTD | TTD ratio | first caught at |\n|---|---|---|---|---|---|---|---|\n", rep.BaselineMinutes)
		for _, row := range rep.HeadlineRows(ref) {
			r := row.Policy
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", row.Contender, r.Precision.Percent(), r.Recall.Percent(), r.FalseAlarmRate.Percent(), fmtNum(row.PRAUC, 3), fmtMin(r.MTTD), fmtRatio(r.TTDRatio), rep.coverageText(r))
		}
		b.WriteString("\n")
	}
	for _, t := range rep.Targets {
		how := "Wilson 95% bound"
		if t.Estimate == policy.EstimateExpected {
			how = fmt.Sprintf("the labels' expected counts: expected precision %s; held-out checks by the Wilson 95%% bound", fmtNum(t.ExpectedPrecision, 3))
		}
		fmt.Fprintf(&b, "## Operating target: %s\n\nTarget: **%s** for the sequential policy as a whole, thresholds of all looks chosen together on validation (%s).", t.Contender, t.Statement, how)
		switch t.Fallback {
		case "":
		case policy.FallbackMaxExpectedPrecision:
			b.WriteString(" **Not met on validation**: the policy with the highest expected precision was taken.")
		case policy.FallbackMaxPrecision:
			b.WriteString(" **Not met on validation**: the most precise policy by its Wilson lower bound was taken.")
		case policy.FallbackPointEstimate:
			b.WriteString(" **Not met on validation**: the split is too small for any policy to meet it at its confidence; the policy meeting it at the point estimate with the most recall was taken (it flags more faulty deploys than the most precise one by its Wilson lower bound).")
		default:
			fmt.Fprintf(&b, " **Not met on validation** (fallback `%s`).", t.Fallback)
		}
		fmt.Fprintf(&b, "\n\n| data | precision | false alarms per healthy deploy | recall | target |\n|---|---|---|---|---|\n")
		for _, c := range t.Checks {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", c.Data, c.Precision.Percent(), c.FalseAlarmsPerHealthy.Percent(), c.Recall.Percent(), c.Verdict)
		}
		b.WriteString("\n")
	}
	for _, d := range rep.Disagreements {
		fmt.Fprintf(&b, "## Disagreements: %s vs %s\n\n%d held-out deploys (%d flagged by %s only, %d by %s only).\n\n", d.A, d.B, d.Deploys, d.AOnly, d.A, d.BOnly, d.B)
		fmt.Fprintf(&b, "| reference | labeled | %s precision | %s recall | %s precision | %s recall |\n|---|---|---|---|---|---|\n", d.A, d.A, d.B, d.B)
		for _, s := range d.ByReference {
			if s.Labeled == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s | %d (%d faulty) | %s | %s | %s | %s |\n", s.Reference, s.Labeled, s.Faulty, s.A.Precision.Percent(), s.A.Recall.Percent(), s.B.Precision.Percent(), s.B.Recall.Percent())
		}
		b.WriteString("\n")
	}
	if rep.Queue != nil {
		fmt.Fprintf(&b, "Annotation queue: %d of %d unannotated disagreements written to `%s`.\n\n", rep.Queue.Rows, rep.Queue.Candidates, rep.Queue.Path)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "- Note: %s\n", n)
	}
	return b.String()
}

// Glance returns one sentence on the primary disagreement (baseline vs the
// weak-label model) judged by the most trustworthy reference that labels
// some of it: truth when simulated, else gold; "" when none does.
func (rep *Report) Glance() string {
	for _, d := range rep.Disagreements {
		if d.A != ContenderBaseline || d.B != ContenderWeak {
			continue
		}
		for _, ref := range []string{RefTruth, RefGold} {
			for _, s := range d.ByReference {
				if s.Reference != ref || s.Labeled == 0 {
					continue
				}
				kn := func(e metrics.Estimate) string { return fmt.Sprintf("%s (%d/%d)", fmtPct(e), e.K, e.N) }
				return fmt.Sprintf("On the %d held-out deploys where %s and %s disagree (%d labeled by %s, %d faulty): %s precision %s vs %s %s; recall %s vs %s.",
					d.Deploys, d.B, d.A, s.Labeled, ref, s.Faulty, d.B, kn(s.B.Precision), d.A, kn(s.A.Precision), kn(s.B.Recall), kn(s.A.Recall))
			}
		}
		return fmt.Sprintf("%d held-out deploys where %s and %s disagree; none is annotated yet: see the annotation queue.", d.Deploys, d.B, d.A)
	}
	return ""
}
