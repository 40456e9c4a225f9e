package evaluation

import (
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/models/policy"
)

// headlineView is one table of the report's top.
type headlineView struct {
	Ref      string
	Sentence string
	Rows     []HeadlineRow
}

// disagreementRow is one line of the disagreements table.
type disagreementRow struct {
	C     *Candidate
	Spark template.HTML
}

func (rep *Report) renderHTML(w io.Writer) error {
	funcs := template.FuncMap{
		"est":   metrics.Estimate.Percent,
		"pct":   fmtPct,
		"num":   fmtNum,
		"flt":   func(f metrics.Float) Float { return Float(f) },
		"mins":  fmtMin,
		"ratio": fmtRatio,
		"cov":   rep.coverageText,
		"f":     func(x float64, prec int) string { return orDash(fmtF(x, prec)) },
		"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
		"join":  strings.Join,
		"color": contenderColor,
		"verdicts": func(c *Candidate) []string {
			var parts []string
			for _, ct := range rep.contenders {
				v := c.Verdicts[ct.Name]
				if v == "-" {
					v = "–"
				} else {
					v = "flagged at " + strings.TrimPrefix(v, "flagged@") + "′"
				}
				parts = append(parts, ct.Name+": "+v)
			}
			return parts
		},
		"weak": weakWord,
		"verdict": func(v string) template.HTML {
			col := map[string]string{policy.Met: "#166534", policy.Missed: "#b91c1c"}[v]
			if col == "" {
				col = "#92400e"
			}
			return template.HTML(`<b style="color:` + col + `">` + template.HTMLEscapeString(v) + `</b>`) //nolint:gosec // escaped
		},
		"achieved": func(c TargetCheck, t policy.Target) metrics.Estimate { return c.Achieved(t) },
		"fallbackText": func(f string) string {
			switch f {
			case policy.FallbackMaxPrecision:
				return "no policy met the target on validation; training took the most precise one by its Wilson lower bound"
			case policy.FallbackPointEstimate:
				return "the validation split is too small for any policy to meet the target at its confidence; training took the one that meets it at the point estimate with the most recall, which flags more faulty deploys than the most precise one by its Wilson lower bound"
			case policy.FallbackMaxExpectedPrecision:
				return "no policy met the target on validation by the labels' expected counts; training took the one with the highest expected precision"
			case policy.FallbackNone:
				return "too few faulty validation deploys to flag min_flagged of them; the policy flags nothing"
			}
			return f
		},
	}
	t, err := template.New("report").Funcs(funcs).Parse(reportTemplate)
	if err != nil {
		return err
	}
	var heads []headlineView
	for _, ref := range rep.tableRefs() {
		heads = append(heads, headlineView{Ref: ref, Sentence: rep.ReferenceSentence(ref), Rows: rep.HeadlineRows(ref)})
	}
	var prs []template.HTML
	for _, h := range rep.Horizons {
		prs = append(prs, rep.prChart(rep.Headline, h))
	}
	if rep.Simulated {
		for _, h := range rep.Horizons {
			prs = append(prs, rep.prChart(RefTruth, h))
		}
	}
	var cals []template.HTML
	for _, c := range rep.Calibration {
		cals = append(cals, rep.calibrationChart(c))
	}
	var rels []template.HTML
	for _, c := range rep.contenders {
		for _, mc := range rep.ModelCalibration {
			if mc.Contender == c.Name {
				rels = append(rels, rep.reliabilityChart(c.Name))
				break
			}
		}
	}
	shown := append(append([]*Candidate{}, rep.candidates...), rep.annotated...)
	if len(shown) > rep.cfg.ReportDisagreements {
		shown = shown[:rep.cfg.ReportDisagreements]
	}
	var drows []disagreementRow
	for _, c := range shown {
		drows = append(drows, disagreementRow{C: c, Spark: sparkline(c.Spark)})
	}
	chartRef := rep.Headline
	if rep.Simulated {
		chartRef = RefTruth
	}
	data := map[string]any{
		"R":             rep,
		"Heads":         heads,
		"PRCharts":      prs,
		"TTD":           rep.ttdChart(chartRef),
		"Coverage":      rep.coverageChart(chartRef),
		"ChartRef":      chartRef,
		"LFChart":       rep.lfChart(),
		"Calibrations":  cals,
		"Reliability":   rels,
		"Disagreements": drows,
		"Candidates":    len(rep.candidates),
		"Annotated":     len(rep.annotated),
		"Spark":         rep.cfg.SparklineMinutes,
	}
	return t.Execute(w, data)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

const reportTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>Faultline evaluation — {{.R.GeneratedAt}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;margin:0;background:#f9fafb}
main{max-width:1320px;margin:0 auto;padding:20px 28px 60px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.sub{color:#4b5563;margin:0 0 12px}.muted{color:#6b7280}
table{border-collapse:collapse;background:#fff;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:middle}
th{background:#f3f4f6;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.ref{background:#eef2ff;border-left:4px solid #4f46e5;padding:6px 10px;margin:6px 0;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
svg.chart{background:#fff;border:1px solid #e5e7eb}
svg .grid{stroke:#f3f4f6}svg .frame{fill:none;stroke:#d1d5db}
svg .tk{font-size:10px;fill:#374151}svg .al{font-size:11px;fill:#4b5563}svg .ct{font-size:12px;font-weight:600;fill:#111827}
svg .bl{font-size:10px;fill:#fff}
.glance{font-size:15px;background:#fff;border:1px solid #e5e7eb;border-left:4px solid #ea580c;padding:8px 12px;margin:10px 0}
.note{color:#92400e;background:#fffbeb;border:1px solid #fde68a;padding:4px 8px;margin:4px 0}
code{font-size:12px}
td.v{font-size:12px;white-space:nowrap}
table.dis{font-size:12px}table.dis td,table.dis th{padding:4px 6px}
</style>
</head>
<body>
<main>
<h1>Faultline evaluation</h1>
<p class="sub">{{.R.TestDeploys}} held-out deploys (split <code>{{.R.Split}}</code>) · generated {{.R.GeneratedAt}} · horizons {{range $i, $h := .R.Horizons}}{{if $i}}, {{end}}{{$h}}{{end}} min · baseline decides at {{.R.BaselineMinutes}} min · intervals are Wilson 95%{{if .R.Simulated}} · simulated history{{end}}</p>
{{with .R.Glance}}<p class="glance">{{.}}</p>{{end}}
{{range .R.Notes}}<p class="note">{{.}}</p>{{end}}

{{range .Heads}}
<h2>Headline — against {{.Ref}}</h2>
<p class="ref">Reference: {{.Sentence}}.</p>
<table>
<thead><tr><th>contender</th><th>precision</th><th>recall</th><th>false-alarm rate</th><th>PR-AUC @{{$.R.BaselineMinutes}}</th><th>MTTD</th><th>TTD ratio</th><th>first caught at (coverage)</th><th>TP / FP / FN / TN</th></tr></thead>
<tbody>
{{range .Rows}}<tr><td><span class="sw" style="background:{{color .Contender}}"></span>{{.Contender}}</td><td class="n">{{est .Policy.Precision}}</td><td class="n">{{est .Policy.Recall}}</td><td class="n">{{est .Policy.FalseAlarmRate}}</td><td class="n">{{num .PRAUC 3}}</td><td class="n">{{mins .Policy.MTTD}}</td><td class="n">{{ratio .Policy.TTDRatio}}</td><td class="n">{{cov .Policy}}</td><td class="n">{{.Policy.Confusion.TP}} / {{.Policy.Confusion.FP}} / {{.Policy.Confusion.FN}} / {{.Policy.Confusion.TN}}</td></tr>
{{end}}</tbody>
</table>
{{end}}
{{if .R.Targets}}
<h2>Operating target</h2>
{{range .R.Targets}}{{$t := .Target}}
<p class="ref"><b>{{.Contender}}</b>: target <b>{{.Statement}}</b> for the sequential policy as a whole (a deploy counts once, at the first look that flags it), thresholds of all looks chosen together on validation to meet it {{if .Estimate}}by the labels' expected counts (a deploy labelled faulty at p counts p of a true flag and 1 − p of a false one; expected precision {{num .ExpectedPrecision 3}}; the held-out checks below are judged by the Wilson 95% bound){{else}}by the Wilson 95% bound{{end}} (objective: {{.Objective}}). Thresholds on the model's probability: {{range $h, $v := .Thresholds}}{{$h}} min: {{$v}} {{end}}{{if .CalibratedThresholds}}(calibrated: {{range $h, $v := .CalibratedThresholds}}{{$h}} min: {{$v}} {{end}}){{end}}.{{if .Fallback}} <b>Not met on validation</b>: {{fallbackText .Fallback}}.{{end}}</p>
<table>
<thead><tr><th>data</th><th>precision</th><th>false alarms per healthy deploy</th><th>recall</th><th>{{.Statement}}?</th></tr></thead>
<tbody>{{range .Checks}}<tr><td>{{.Data}}<br/><span class="muted">{{.Description}}</span></td><td class="n">{{est .Precision}}</td><td class="n">{{est .FalseAlarmsPerHealthy}}</td><td class="n">{{est .Recall}}</td><td>{{verdict .Verdict}}<br/><span class="muted">{{est (achieved . $t)}}</span></td></tr>
{{end}}</tbody>
</table>
{{end}}
<p class="muted">Met: the whole 95% interval of the constrained figure is on the target's side; missed: it is all on the wrong side; undecided: the interval contains the target (too few deploys to tell) or nothing was flagged.</p>
{{end}}
<p class="muted">Sequential policy: a deploy is flagged at the first horizon whose model reaches its threshold; a look whose window fell in a fleet event (at least the policy's fleet_event_share of the environment's other services elevated, train.fleet_event_share) does not flag, as the detector does not. TTD ratio = mean time to detection of detected faulty deploys ÷ {{.R.BaselineMinutes}} min (the baseline's). PR-AUC is the step-wise average precision of the {{.R.BaselineMinutes}}-minute scores.</p>

<h2>Disagreements</h2>
{{range .R.Disagreements}}
<h3>{{.A}} vs {{.B}}: {{.Deploys}} deploys ({{.AOnly}} flagged by {{.A}} only, {{.BOnly}} by {{.B}} only)</h3>
{{if .Deploys}}<table>
<thead><tr><th>reference</th><th>labeled</th><th>{{.A}} precision</th><th>{{.A}} recall</th><th>{{.B}} precision</th><th>{{.B}} recall</th></tr></thead>
<tbody>{{range .ByReference}}{{if .Labeled}}<tr><td>{{.Reference}}</td><td class="n">{{.Labeled}} ({{.Faulty}} faulty)</td><td class="n">{{est .A.Precision}}</td><td class="n">{{est .A.Recall}}</td><td class="n">{{est .B.Precision}}</td><td class="n">{{est .B.Recall}}</td></tr>
{{end}}{{end}}</tbody>
</table>{{end}}
{{else}}<p class="muted">Only one contender: nothing to compare.</p>
{{end}}

<h2>Precision–recall per horizon</h2>
<div class="charts">{{range .PRCharts}}{{.}}{{end}}</div>
<p class="muted">Lines: the curve of each model's scores; dots: the operating point at its threshold. The baseline is binary: a single point.</p>

<h2>Time to detection and coverage</h2>
<div class="charts">{{.TTD}}{{.Coverage}}</div>

<h2>All results</h2>
<table>
<thead><tr><th>reference</th><th>contender</th><th>scope</th><th>precision</th><th>recall</th><th>false-alarm rate</th><th>PR-AUC</th><th>MTTD</th><th>TTD ratio</th></tr></thead>
<tbody>
{{range .R.Results}}<tr><td>{{.Reference}}</td><td>{{.Contender}}</td><td>{{.Scope}}</td><td class="n">{{est .Precision}}</td><td class="n">{{est .Recall}}</td><td class="n">{{est .FalseAlarmRate}}</td><td class="n">{{num .PRAUC 3}}</td><td class="n">{{mins .MTTD}}</td><td class="n">{{ratio .TTDRatio}}</td></tr>
{{end}}</tbody>
</table>

<h2>Labeling functions</h2>
{{if .R.LF}}
<div class="charts">
<table>
<thead><tr><th>function</th><th>coverage</th><th>overlap</th><th>conflict</th><th>estimated accuracy</th><th>empirical accuracy (annotations)</th>{{if .R.Simulated}}<th>accuracy vs truth</th>{{end}}<th>faulty votes alone</th><th>their p_faulty (label model)</th><th>annotated faulty of them</th>{{if .R.Simulated}}<th>faulty by truth of them</th>{{end}}</tr></thead>
<tbody>{{range .R.LF.Functions}}<tr><td>{{.Name}}</td><td class="n">{{num .Coverage 3}}</td><td class="n">{{num .Overlap 3}}</td><td class="n">{{num .Conflict 3}}</td><td class="n">{{num .EstimatedAccuracy 3}}</td><td class="n">{{num .EmpiricalAccuracy 3}}</td>{{if $.R.Simulated}}<td class="n">{{est .TruthAccuracy}}</td>{{end}}<td class="n">{{.Lone}}</td><td class="n">{{num .LonePFaulty 3}}</td><td class="n">{{est .LoneAnnotated}}</td>{{if $.R.Simulated}}<td class="n">{{est .LoneTruth}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
<p class="muted">A faulty vote alone: no other function voted faulty and none voted healthy. Its label rests on how far the label model trusts the function by its agreement with the others elsewhere, which says least there; compare its p_faulty with what annotators said of those deploys (models/weak/annotate.csv lists some to annotate).</p>
{{.LFChart}}
</div>
{{else}}<p class="muted">No lf_report.json in the workdir.</p>{{end}}

<h2>Label-model calibration</h2>
{{if .Calibrations}}<div class="charts">{{range .Calibrations}}{{.}}{{end}}</div>
<p class="muted">Reliability of p_faulty over every labeled deploy with a reference: bin mean against share faulty, with Wilson intervals; the dashed diagonal is perfect calibration.{{range .R.Calibration}} Brier score vs {{.Reference}}: {{num .Brier 4}}.{{end}}</p>
{{else}}<p class="muted">No calibration: needs labels.parquet and gold annotations or simulator truth.</p>{{end}}

<h2>Model calibration (validation)</h2>
{{if .R.ModelCalibration}}<div class="charts">{{range .Reliability}}{{.}}{{end}}</div>
<table>
<thead><tr><th>contender</th><th>horizon</th><th>method</th><th>a</th><th>b</th><th>validation deploys (faulty)</th><th>ECE model → calibrated</th><th>Brier model → calibrated</th></tr></thead>
<tbody>{{range .R.ModelCalibration}}<tr><td>{{.Contender}}</td><td class="n">{{.Horizon}} min</td><td>{{.Method}}</td>{{with .Platt}}<td class="n">{{f .A 3}}</td><td class="n">{{f .B 3}}</td>{{else}}<td></td><td></td>{{end}}<td class="n">{{.Rows}} ({{.Positives}})</td><td class="n">{{num (flt .ECEModel) 3}} → {{num (flt .ECECalibrated) 3}}</td><td class="n">{{num (flt .BrierModel) 4}} → {{num (flt .BrierCalibrated) 4}}</td></tr>
{{end}}</tbody>
</table>
<p class="muted">Calibrated P(faulty) = σ(a·logit(p) + b), p the model's probability (Platt scaling), fitted by training on the validation split against its labels (deploys labelled faulty when the label is ≥ 0.5). Points: bins of calibrated probability, mean against the share labelled faulty, with Wilson intervals; dashed: the model's probabilities before calibration (trained with class weights, they are not probabilities of the data). ECE: expected calibration error over 10 bins. The fit and the diagram use the same deploys: expect slightly better calibration here than on new deploys.</p>
{{else}}<p class="muted">No calibration recorded in the contenders' train.json.</p>{{end}}

<h2>Disagreements worth a look</h2>
<p class="muted">{{.Candidates}} unannotated and {{.Annotated}} annotated disagreements; the most uncertain and most impactful first. Sparkline: error rate of the service in its environment, all versions, {{.Spark}} min either side of the deploy (red dashes).</p>
{{if .Disagreements}}
<table class="dis">
<thead><tr><th>deploy</th><th>service / env</th><th>started</th><th>disagreement</th><th>verdicts</th><th>p model (thr)</th><th>p_faulty</th><th>gold</th>{{if .R.Simulated}}<th>truth</th>{{end}}<th>excess errors</th><th>priority</th><th>error rate</th></tr></thead>
<tbody>
{{range .Disagreements}}<tr><td><code>{{.C.Deploy.DeploymentID}}</code></td><td>{{.C.Deploy.Service}} / {{.C.Deploy.Environment}}</td><td class="n">{{when .C.Deploy.StartedAt}}</td><td>{{join .C.Pairs " "}}</td><td class="v">{{range $i, $v := verdicts .C}}{{if $i}}<br/>{{end}}{{$v}}{{end}}</td><td class="n">{{f .C.PModel 3}} ({{f .C.Threshold 2}})</td><td class="n">{{f .C.PFaulty 3}}</td><td>{{.C.Gold}}</td>{{if $.R.Simulated}}<td>{{.C.Truth}}</td>{{end}}<td class="n">{{f .C.ExcessErrors 0}}</td><td class="n">{{f .C.Priority 3}}</td><td>{{.Spark}}</td></tr>
{{end}}</tbody>
</table>
{{else}}<p class="muted">No disagreements.</p>{{end}}

<h2>Lineage</h2>
<table>
<thead><tr><th>input</th><th>sha256</th><th>bytes</th></tr></thead>
<tbody>{{range .R.Lineage.Inputs}}<tr><td><code>{{.Path}}</code></td><td><code>{{.SHA256}}</code></td><td class="n">{{.Bytes}}</td></tr>
{{end}}{{range .R.Lineage.Models}}{{range .Files}}<tr><td><code>{{.Path}}</code></td><td><code>{{.SHA256}}</code></td><td class="n">{{.Bytes}}</td></tr>
{{end}}{{end}}</tbody>
</table>
<table>
<thead><tr><th>contender</th><th>source</th><th>version</th><th>thresholds</th></tr></thead>
<tbody>{{range .R.Contenders}}<tr><td>{{.Name}}</td><td><code>{{.Source}}</code></td><td><code>{{.Version}}</code></td><td>{{range $h, $t := .Thresholds}}{{$h}}: {{$t}} {{end}}</td></tr>
{{end}}</tbody>
</table>
<p class="muted">Inputs are the files of the run folder below{{if .R.Lineage.Store}} · store <code>{{.R.Lineage.Store}}</code>{{end}}{{if .R.Lineage.CodeVersion}} · faultline {{.R.Lineage.CodeVersion}}{{end}}</p>
{{if .R.Lineage.Config}}<h3>Configuration</h3><pre>{{.R.Lineage.Config}}</pre>{{end}}
</main>
</body>
</html>
`
