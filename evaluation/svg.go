package evaluation

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/models/policy"
)

// contenderColor gives each contender a fixed colour in every chart.
func contenderColor(name string) string {
	switch name {
	case ContenderBaseline:
		return "#6b7280"
	case ContenderEnsemble:
		return "#2563eb"
	case ContenderWeak:
		return "#ea580c"
	case ContenderProduction:
		return "#16a34a"
	}
	return "#7c3aed"
}

// svgPlot maps data coordinates to an SVG drawing area with margins.
type svgPlot struct {
	b                      strings.Builder
	w, h                   float64
	left, right, top, bot  float64
	xmin, xmax, ymin, ymax float64
}

func newPlot(w, h, xmin, xmax, ymin, ymax float64, title string) *svgPlot {
	p := &svgPlot{w: w, h: h, left: 44, right: 12, top: 36, bot: 34, xmin: xmin, xmax: xmax, ymin: ymin, ymax: ymax}
	fmt.Fprintf(&p.b, `<svg class="chart" width="%g" height="%g" viewBox="0 0 %g %g" role="img"><title>%s</title>`, w, h, w, h, html.EscapeString(title))
	fmt.Fprintf(&p.b, `<text x="%g" y="15" class="ct">%s</text>`, p.left, html.EscapeString(title))
	return p
}

func (p *svgPlot) x(v float64) float64 {
	return p.left + (v-p.xmin)/(p.xmax-p.xmin)*(p.w-p.left-p.right)
}

func (p *svgPlot) y(v float64) float64 {
	return p.h - p.bot - (v-p.ymin)/(p.ymax-p.ymin)*(p.h-p.top-p.bot)
}

// axes draws a frame, grid lines at the given ticks and axis labels.
func (p *svgPlot) axes(xticks, yticks []float64, xfmt, yfmt func(float64) string, xlabel, ylabel string) {
	for _, t := range yticks {
		fmt.Fprintf(&p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`, p.left, p.y(t), p.w-p.right, p.y(t))
		fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" class="tk" text-anchor="end">%s</text>`, p.left-4, p.y(t)+3, html.EscapeString(yfmt(t)))
	}
	for _, t := range xticks {
		fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" class="tk" text-anchor="middle">%s</text>`, p.x(t), p.h-p.bot+12, html.EscapeString(xfmt(t)))
	}
	fmt.Fprintf(&p.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="frame"/>`, p.left, p.top, p.w-p.left-p.right, p.h-p.top-p.bot)
	fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" class="al" text-anchor="middle">%s</text>`, (p.left+p.w-p.right)/2, p.h-4, html.EscapeString(xlabel))
	fmt.Fprintf(&p.b, `<text x="10" y="%.1f" class="al" text-anchor="middle" transform="rotate(-90 10 %.1f)">%s</text>`, (p.top+p.h-p.bot)/2, (p.top+p.h-p.bot)/2, html.EscapeString(ylabel))
}

func (p *svgPlot) polyline(xs, ys []float64, color string, dashed bool) {
	var pts []string
	for i := range xs {
		if math.IsNaN(ys[i]) || math.IsNaN(xs[i]) {
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", p.x(xs[i]), p.y(ys[i])))
	}
	if len(pts) == 0 {
		return
	}
	dash := ""
	if dashed {
		dash = ` stroke-dasharray="4 3"`
	}
	fmt.Fprintf(&p.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, strings.Join(pts, " "), color, dash)
}

func (p *svgPlot) dot(x, y float64, color, title string) {
	fmt.Fprintf(&p.b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="#fff"><title>%s</title></circle>`, p.x(x), p.y(y), color, html.EscapeString(title))
}

// legend lists the contenders in one row of the top margin, under the title.
func (p *svgPlot) legend(names []string) {
	for i, n := range names {
		y := p.top - 4
		x := p.left + float64(i)*78
		fmt.Fprintf(&p.b, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f" class="tk">%s</text>`, x, y-8, contenderColor(n), x+14, y+1, html.EscapeString(n))
	}
}

func (p *svgPlot) done() template.HTML {
	p.b.WriteString(`</svg>`)
	return template.HTML(p.b.String()) //nolint:gosec // every text node above is escaped
}

func pctTick(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }
func numTick(v float64) string { return fmt.Sprintf("%g", v) }

var unitTicks = []float64{0, 0.25, 0.5, 0.75, 1}

// prChart draws the precision-recall curves of every contender at one
// horizon against ref, with each contender's operating point.
func (rep *Report) prChart(ref string, h int) template.HTML {
	p := newPlot(340, 270, 0, 1, 0, 1.02, fmt.Sprintf("PR curves at %d min (vs %s)", h, ref))
	p.axes(unitTicks, unitTicks, pctTick, pctTick, "recall", "precision")
	var names []string
	for _, c := range rep.contenders {
		r, ok := rep.Result(c.Name, ref, fmt.Sprintf("h%d", h))
		if !ok {
			continue
		}
		names = append(names, c.Name)
		col := contenderColor(c.Name)
		if len(r.curve) > 1 && c.Name != ContenderBaseline {
			// Step-wise, as average precision integrates it: precision P_k
			// holds over the recall step (R_{k−1}, R_k].
			xs, ys := []float64{}, []float64{}
			prevR := 0.0
			for _, pt := range r.curve {
				xs, ys = append(xs, prevR, pt.Recall), append(ys, pt.Precision, pt.Precision)
				prevR = pt.Recall
			}
			p.polyline(xs, ys, col, false)
		}
		if r.Precision.Defined() && r.Recall.Defined() {
			p.dot(r.Recall.Value, r.Precision.Value, col, fmt.Sprintf("%s operating point: precision %s, recall %s, AP %s", c.Name, fmtPct(r.Precision), fmtPct(r.Recall), fmtNum(r.PRAUC, 3)))
		}
	}
	p.legend(names)
	return p.done()
}

// ttdChart draws, per contender, how many detected faulty deploys were
// first caught at each horizon (policy, against ref).
func (rep *Report) ttdChart(ref string) template.HTML {
	maxN := 1
	type col struct {
		name   string
		counts []int
	}
	var cols []col
	for _, c := range rep.contenders {
		r, ok := rep.Result(c.Name, ref, "policy")
		if !ok {
			continue
		}
		cc := col{name: c.Name}
		for _, h := range rep.Horizons {
			n := r.Detections[fmt.Sprint(h)]
			cc.counts = append(cc.counts, n)
			maxN = max(maxN, n)
		}
		cols = append(cols, cc)
	}
	nh := float64(len(rep.Horizons))
	p := newPlot(380, 270, 0, nh, 0, float64(maxN)*1.1, fmt.Sprintf("Time to detection of faulty deploys (vs %s)", ref))
	var xt []float64
	for i := range rep.Horizons {
		xt = append(xt, float64(i)+0.5)
	}
	yt := niceTicks(float64(maxN))
	p.axes(xt, yt, func(v float64) string { return fmt.Sprintf("%d min", rep.Horizons[int(v)]) }, numTick, "first detected at", "deploys")
	bw := 0.8 / float64(max(1, len(cols)))
	for j, cc := range cols {
		for i, n := range cc.counts {
			x0 := float64(i) + 0.1 + float64(j)*bw
			fmt.Fprintf(&p.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d at %d min</title></rect>`,
				p.x(x0), p.y(float64(n)), p.x(x0+bw)-p.x(x0)-1, p.y(0)-p.y(float64(n)), contenderColor(cc.name), html.EscapeString(cc.name), n, rep.Horizons[i])
		}
	}
	var names []string
	for _, cc := range cols {
		names = append(names, cc.name)
	}
	p.legend(names)
	return p.done()
}

// niceTicks returns about five round ticks from 0 to max.
func niceTicks(maxV float64) []float64 {
	if maxV <= 0 {
		return []float64{0}
	}
	step := math.Pow(10, math.Floor(math.Log10(maxV/4)))
	for _, m := range []float64{1, 2, 5, 10} {
		if maxV/(step*m) <= 5 {
			step *= m
			break
		}
	}
	var out []float64
	for v := 0.0; v <= maxV+1e-9; v += step {
		out = append(out, v)
	}
	return out
}

// coverageChart draws one stacked bar per contender: the shares of its
// detected faulty deploys first caught at each horizon.
func (rep *Report) coverageChart(ref string) template.HTML {
	var rows []Result
	for _, c := range rep.contenders {
		if r, ok := rep.Result(c.Name, ref, "policy"); ok {
			rows = append(rows, r)
		}
	}
	w, rowH := 560.0, 26.0
	h := 40 + rowH*float64(len(rows)) + 26
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" width="%g" height="%g" viewBox="0 0 %g %g" role="img"><title>Coverage</title><text x="90" y="15" class="ct">%s</text>`, w, h, w, h, html.EscapeString("Coverage: detected faulty deploys by first horizon (vs "+ref+")"))
	shades := []string{"#0f766e", "#14b8a6", "#99f6e4", "#ccfbf1"}
	x0, bw := 90.0, w-110
	for i, r := range rows {
		y := 28 + float64(i)*rowH
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" class="tk" text-anchor="end">%s</text>`, x0-6, y+14, html.EscapeString(r.Contender))
		x := x0
		for j, hz := range rep.Horizons {
			e := r.Coverage[fmt.Sprint(hz)]
			if !e.Defined() || e.Value == 0 {
				continue
			}
			ww := e.Value * bw
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="18" fill="%s"><title>%s: %s first caught at %d min</title></rect>`, x, y, ww, shades[min(j, len(shades)-1)], html.EscapeString(r.Contender), e.Percent(), hz)
			if ww > 34 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="bl" text-anchor="middle">%d′ %.0f%%</text>`, x+ww/2, y+13, hz, 100*e.Value)
			}
			x += ww
		}
		if r.Confusion.TP == 0 {
			fmt.Fprintf(&b, `<text x="%g" y="%.1f" class="tk">no faulty deploy detected</text>`, x0+4, y+13)
		}
	}
	ly := 28 + float64(len(rows))*rowH + 10
	for j, hz := range rep.Horizons {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f" class="tk">%d min</text>`, x0+float64(j)*70, ly, shades[min(j, len(shades)-1)], x0+float64(j)*70+14, ly+9, hz)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// lfChart plots each labeling function's estimated accuracy (label model)
// against its measured accuracy: against annotations (purple) and, on
// simulated history, against truth (teal); the diagonal is agreement.
func (rep *Report) lfChart() template.HTML {
	if rep.LF == nil {
		return ""
	}
	p := newPlot(320, 280, 0, 1, 0, 1, "LF accuracy: estimated vs measured")
	p.axes(unitTicks, unitTicks, pctTick, pctTick, "estimated accuracy (label model)", "measured accuracy")
	p.polyline([]float64{0, 1}, []float64{0, 1}, "#9ca3af", true)
	n := 0
	for _, f := range rep.LF.Functions {
		e := float64(f.EstimatedAccuracy)
		if math.IsNaN(e) {
			continue
		}
		type pt struct {
			v          float64
			color, src string
		}
		var pts []pt
		if m := float64(f.EmpiricalAccuracy); !math.IsNaN(m) {
			pts = append(pts, pt{m, "#7c3aed", "annotations"})
		}
		if f.TruthAccuracy.Defined() {
			pts = append(pts, pt{f.TruthAccuracy.Value, "#0f766e", "truth"})
		}
		for _, q := range pts {
			p.dot(e, q.v, q.color, fmt.Sprintf("%s: estimated %.2f, vs %s %.2f", f.Name, e, q.src, q.v))
			n++
		}
		if len(pts) > 0 {
			anchor, dx := "start", 5.0
			if e > 0.55 {
				anchor, dx = "end", -5
			}
			fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" class="tk" text-anchor="%s">%s</text>`, p.x(e)+dx, p.y(pts[0].v)-4, anchor, html.EscapeString(f.Name))
		}
	}
	if n == 0 {
		fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" class="tk" text-anchor="middle">no measured accuracy (no annotations or truth)</text>`, p.x(0.5), p.y(0.5))
	}
	ly := p.h - p.bot - 22
	fmt.Fprintf(&p.b, `<circle cx="%.1f" cy="%.1f" r="4" fill="#7c3aed"/><text x="%.1f" y="%.1f" class="tk">vs annotations</text>`, p.x(0.55), ly, p.x(0.55)+7, ly+3)
	fmt.Fprintf(&p.b, `<circle cx="%.1f" cy="%.1f" r="4" fill="#0f766e"/><text x="%.1f" y="%.1f" class="tk">vs truth</text>`, p.x(0.55), ly+13, p.x(0.55)+7, ly+16)
	return p.done()
}

// calibrationChart is the reliability diagram of p_faulty against one reference.
func (rep *Report) calibrationChart(c Calibration) template.HTML {
	p := newPlot(300, 270, 0, 1, 0, 1, fmt.Sprintf("Calibration vs %s (n=%d)", c.Reference, c.Deploys))
	p.axes(unitTicks, unitTicks, pctTick, pctTick, "p_faulty (bin mean)", "share faulty")
	p.polyline([]float64{0, 1}, []float64{0, 1}, "#9ca3af", true)
	var xs, ys []float64
	for _, b := range c.Bins {
		if !b.Faulty.Defined() {
			continue
		}
		mp := float64(b.MeanP)
		fmt.Fprintf(&p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#0f766e" stroke-width="1.5"/>`, p.x(mp), p.y(b.Faulty.Lo), p.x(mp), p.y(b.Faulty.Hi))
		p.dot(mp, b.Faulty.Value, "#0f766e", fmt.Sprintf("p in [%.1f, %.1f): mean %.2f, faulty %s", b.Lo, b.Hi, mp, b.Faulty.Percent()))
		xs, ys = append(xs, mp), append(ys, b.Faulty.Value)
	}
	p.polyline(xs, ys, "#0f766e", false)
	return p.done()
}

// sparkline draws an error-rate series with the deploy marked at its middle.
func sparkline(vals []float64) template.HTML {
	if len(vals) == 0 {
		return template.HTML(`<span class="muted">no series</span>`)
	}
	w, h := 140.0, 28.0
	hi := 0.0
	for _, v := range vals {
		if !math.IsNaN(v) {
			hi = math.Max(hi, v)
		}
	}
	if hi == 0 {
		hi = 1e-3
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" width="%g" height="%g" viewBox="0 0 %g %g" role="img"><title>error rate, peak %.2f%%</title>`, w, h, w, h, 100*hi)
	mid := w / 2
	fmt.Fprintf(&b, `<line x1="%.1f" y1="0" x2="%.1f" y2="%g" stroke="#dc2626" stroke-width="1" stroke-dasharray="2 2"/>`, mid, mid, h)
	var seg []string
	flush := func() {
		if len(seg) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#111827" stroke-width="1.2"/>`, strings.Join(seg, " "))
		}
		seg = seg[:0]
	}
	for i, v := range vals {
		if math.IsNaN(v) {
			flush()
			continue
		}
		x := float64(i) / float64(len(vals)-1) * w
		y := h - 2 - v/hi*(h-4)
		seg = append(seg, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	flush()
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// horizonColors colour the horizons of a reliability chart, in order.
var horizonColors = []string{"#0f766e", "#2563eb", "#7c3aed", "#db2777", "#ca8a04"}

// reliabilityChart is the reliability diagram of one contender's models on
// validation (train.json): per horizon, the calibrated probabilities' bins
// (mean p against share faulty, with Wilson intervals; solid) and the
// model's own probabilities before calibration (dashed).
func (rep *Report) reliabilityChart(contender string) template.HTML {
	var mcs []ModelCalibration
	for _, mc := range rep.ModelCalibration {
		if mc.Contender == contender {
			mcs = append(mcs, mc)
		}
	}
	p := newPlot(340, 290, 0, 1, 0, 1, fmt.Sprintf("Reliability on validation: %s", contender))
	p.axes(unitTicks, unitTicks, pctTick, pctTick, "predicted P(faulty) (bin mean)", "share labelled faulty")
	p.polyline([]float64{0, 1}, []float64{0, 1}, "#9ca3af", true)
	for k, mc := range mcs {
		col := horizonColors[k%len(horizonColors)]
		for _, curve := range []struct {
			bins       []policy.ReliabilityBin
			calibrated bool
		}{{mc.ReliabilityModel, false}, {mc.ReliabilityCalibrated, true}} {
			var xs, ys []float64
			for _, b := range curve.bins {
				if b.N == 0 {
					continue
				}
				e := metrics.Proportion(b.Positives, b.N)
				mp := float64(b.MeanP)
				xs, ys = append(xs, mp), append(ys, e.Value)
				if !curve.calibrated {
					continue
				}
				fmt.Fprintf(&p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1" opacity="0.6"/>`, p.x(mp), p.y(e.Lo), p.x(mp), p.y(e.Hi), col)
				p.dot(mp, e.Value, col, fmt.Sprintf("%d min, calibrated p in [%.1f, %.1f): mean %.3f, faulty %s", mc.Horizon, b.Lo, b.Hi, mp, e.Percent()))
			}
			p.polyline(xs, ys, col, !curve.calibrated)
		}
	}
	for k, mc := range mcs {
		x := p.left + float64(k)*62
		fmt.Fprintf(&p.b, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f" class="tk">%d min</text>`, x, p.top-12, horizonColors[k%len(horizonColors)], x+14, p.top-3, mc.Horizon)
	}
	fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" class="tk">dashed: before calibration</text>`, p.x(0)+4, p.y(1)+12)
	if len(mcs) == 0 {
		fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" class="tk" text-anchor="middle">no calibration in train.json</text>`, p.x(0.5), p.y(0.5))
	}
	return p.done()
}
