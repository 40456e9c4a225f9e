package features

import (
	"math"
	"slices"
	"sort"
)

// baView is what the before/after checks see of the service: its
// per-minute series on segments of minutes around the start's time of day,
// on the day of the change (segment 0) and on each of the previous
// replay_days + reference_days days (segment j lies j days earlier), then,
// with reference_weeks, on the days a week or more before each replay day
// that are not among them (baCut.layoutDays: segment j lies days[j] days
// earlier). Segment j covers the L minutes from lo(j) = start −
// 1440·days[j] − span − B, with L = 2·span + B + H, so that the start
// minute is index span+B of segment 0 and the same clock minute of every
// other segment. Each series holds segs segments of L values, NaN
// where unknown and at or after the cut.
//
// Only segment 0 reaches the cut (span < 1440), so the windows of one
// deploy at several horizons (Cutter) share the segments of the largest
// horizon's view: segment j ≥ 1 of horizon H is the first L values of the
// largest horizon's, and segment 0 is its own copy cut at start+H.
type baView struct {
	segs, L, span int
	// The service (all versions): requests and errors per minute (0 for a
	// minute without a row after the stream's first row, NaN before it),
	// the request-weighted p95 latency (NaN without latency), and the
	// error rate (errors over requests, NaN without requests).
	req, errs, lat, rate [][]float64
	// lreq and llat are req and lat on the log scale (baCut.logScale),
	// shared by the views of all horizons of the deploy.
	lreq, llat [][]float64
	// The adjusted values and prefix sums of the error rate, latency and
	// throughput (baPrep), shared by the views of all horizons.
	prepRate, prepLat, prepReq *baPrep
	kpis                       []baKPI
}

// baKPI is one declared KPI in the view.
type baKPI struct {
	name string
	dir  Direction
	kind KPIKind
	x    [][]float64 // segs segments of L values, NaN where absent
	lx   [][]float64 // x on the log scale (baCut.logScale) for rates and latencies, else nil
	prep *baPrep     // adjusted values and prefix sums, on the KPI's scale
}

// baLo returns the first minute of the segment d days before the day of
// the view of a deploy starting at minute start with baseline b and
// replay span span.
func baLo(start int64, span, b, d int) int64 {
	return start - int64(1440*d+span+b)
}

// baCut is the before/after view of one deploy at its largest horizon,
// which its windows share, with the buffers of the per-horizon views.
type baCut struct {
	segs, L, span int
	t0            int // span + B: the index of the start's clock minute
	// days[j] is how many days before the day of the change segment j
	// lies; weeks[j·W+w−1] is the segment a week·w before replay segment
	// j (W = reference_weeks; layoutDays).
	days, weeks          []int
	ndaily, nweeks       int         // segments 0..ndaily−1 are the days in a row
	median               bool        // the seasonal reference is the days' median (reference_statistic)
	req, errs, lat, rate [][]float64 // segs segments of L values
	lreq, llat           [][]float64 // req and lat on the log scale
	prepRate, prepLat    baPrep
	prepReq              baPrep
	kpiPreps             []baPrep // of kpis, in order
	kpis                 []baKPI
	latW                 []float64
	flat                 f64Arena // backing of the segments above
	own                  f64Arena // per-horizon segment 0 copies
	heads                [][]float64
}

// cutBeforeAfter cuts the before/after view of in at horizon h (the
// largest of the windows that will share it): the series on the segments
// the pseudo-change points and their seasonal references need
// (replay_days + reference_days + 1 of them), minutes at or after start+h
// left out. A minute's service totals are the sum of the per-version rows
// of that minute when it has any, else the aggregate row (version ""):
// the aggregate is what a team's monitoring measured for the whole service
// and is not added to per-version rows. It assumes the series were
// checked; it checks the KPIs.
func (bv *baCut) cutBeforeAfter(in *Input, start int64, b, h int, cfg *Config) error {
	bc := &cfg.BeforeAfter
	bv.span = bc.ReplaySpanMinutes
	bv.layoutDays(bc)
	bv.L = 2*bv.span + b + h
	bv.t0 = bv.span + b
	segs, L := bv.segs, bv.L
	n := segs * L
	bv.flat.reset()
	bv.own.reset()
	bv.heads = bv.heads[:0]
	flat := bv.flat.take(4 * n)
	req, errs, lat, rate := flat[:n:n], flat[n:2*n:2*n], flat[2*n:3*n:3*n], flat[3*n:]
	if cap(bv.latW) < n {
		bv.latW = make([]float64, n)
	}
	latW := bv.latW[:n] // request weights of lat
	clear(latW)
	clear(errs)
	clear(lat)
	for i := range req {
		req[i] = math.NaN() // no row yet
	}
	cut := start + int64(h)
	first := int64(math.MaxInt64)
	// Per-version rows first; then the aggregate fills the minutes they
	// leave empty.
	for _, aggregate := range [2]bool{false, true} {
		for k := range in.Series {
			sr := &in.Series[k]
			if (sr.Version == aggregateVersion) != aggregate {
				continue
			}
			if len(sr.Minutes) > 0 && sr.Minutes[0] < cut {
				first = min(first, sr.Minutes[0])
			}
			for j := 0; j < segs; j++ {
				lo := baLo(start, bv.span, b, bv.days[j])
				hi := min(lo+int64(L), cut)
				i := sort.Search(len(sr.Minutes), func(i int) bool { return sr.Minutes[i] >= lo })
				for ; i < len(sr.Minutes) && sr.Minutes[i] < hi; i++ {
					x := j*L + int(sr.Minutes[i]-lo)
					rq := sr.Requests[i]
					switch {
					case !math.IsNaN(req[x]) && aggregate:
						continue // the minute has per-version rows
					case math.IsNaN(req[x]):
						req[x] = 0
					}
					req[x] += rq
					errs[x] += sr.Errors[i]
					if p95 := at(sr.P95, i); rq > 0 && !math.IsNaN(p95) {
						lat[x] += rq * p95
						latW[x] += rq
					}
				}
			}
		}
	}
	for j := 0; j < segs; j++ {
		lo := baLo(start, bv.span, b, bv.days[j])
		for i := 0; i < L; i++ {
			x, m := j*L+i, lo+int64(i)
			switch {
			case !math.IsNaN(req[x]):
				if latW[x] > 0 {
					lat[x] /= latW[x]
				} else {
					lat[x] = math.NaN()
				}
			case m >= first && m < cut:
				req[x], lat[x] = 0, math.NaN() // no row: no traffic
			default:
				req[x], errs[x], lat[x] = math.NaN(), math.NaN(), math.NaN()
			}
			rate[x] = math.NaN()
			if r := req[x]; r > 0 {
				rate[x] = errs[x] / r
			}
		}
	}
	bv.req, bv.errs, bv.lat, bv.rate = bv.segments(req), bv.segments(errs), bv.segments(lat), bv.segments(rate)
	bv.lreq, bv.llat = bv.segments(bv.logScale(req, b)), bv.segments(bv.logScale(lat, b))
	R, K := bc.ReplayDays, bc.ReferenceDays
	bv.prepare(&bv.prepRate, bv.rate, R, K, bv.req, bv.errs)
	bv.prepare(&bv.prepLat, bv.llat, R, K, nil, nil)
	bv.prepare(&bv.prepReq, bv.lreq, R, K, nil, nil)
	bv.kpis = bv.kpis[:0]
	if cap(bv.kpiPreps) < len(in.KPIs) {
		bv.kpiPreps = make([]baPrep, len(in.KPIs))
	}
	bv.kpiPreps = bv.kpiPreps[:len(in.KPIs)]
	for k := range in.KPIs {
		kp := &in.KPIs[k]
		if err := checkKPI(kp); err != nil {
			return err
		}
		x := bv.flat.take(n)
		for i := range x {
			x[i] = math.NaN()
		}
		for j := 0; j < segs; j++ {
			lo := baLo(start, bv.span, b, bv.days[j])
			hi := min(lo+int64(L), cut)
			i := sort.Search(len(kp.Minutes), func(i int) bool { return kp.Minutes[i] >= lo })
			for ; i < len(kp.Minutes) && kp.Minutes[i] < hi; i++ {
				if val := kp.Values[i]; !math.IsInf(val, 0) {
					x[j*L+int(kp.Minutes[i]-lo)] = val
				}
			}
		}
		kv := baKPI{name: kp.Name, dir: kp.Direction, kind: kp.Kind, x: bv.segments(x), prep: &bv.kpiPreps[k]}
		g := kv.x
		if kp.Kind.logScale() {
			kv.lx = bv.segments(bv.logScale(x, b))
			g = kv.lx
		}
		bv.prepare(kv.prep, g, R, K, nil, nil)
		bv.kpis = append(bv.kpis, kv)
	}
	return nil
}

// layoutDays sets the view's segments (baView): the day of the change and
// the replay_days + reference_days days before it, then for each replay
// day j and w = 1..reference_weeks the day j + 7·w, when not already
// among them.
func (bv *baCut) layoutDays(bc *BeforeAfterConfig) {
	R, K, W := bc.ReplayDays, bc.ReferenceDays, bc.ReferenceWeeks
	bv.days, bv.weeks, bv.nweeks = bv.days[:0], bv.weeks[:0], W
	for d := 0; d <= R+K; d++ {
		bv.days = append(bv.days, d)
	}
	for j := 0; j <= R; j++ {
		for w := 1; w <= W; w++ {
			d := j + 7*w
			i := slices.Index(bv.days, d)
			if i < 0 {
				i = len(bv.days)
				bv.days = append(bv.days, d)
			}
			bv.weeks = append(bv.weeks, i)
		}
	}
	bv.segs, bv.ndaily = len(bv.days), R+K+1
	bv.median = bc.referenceMedian()
}

// logScale returns ln(x + ε) of the segs·L values of x (NaN where x is
// NaN or negative), ε being 1% of the mean of |x| over the span+b minutes
// before the start's clock time in every segment of the days in a row —
// the day of the change and the replay and reference days before it, not
// the week-earlier ones, so that a view whose history is too short for the
// weekly reference has the values of one without it —, or 1 when that
// mean is zero or none of those minutes has a value. Those minutes are the same
// in the view of every horizon (segment 0's lie before the start), so the
// windows of all horizons of a deploy share ε and the transformed series.
func (bv *baCut) logScale(x []float64, b int) []float64 {
	t0, L := bv.span+b, bv.L
	var sum, cnt float64
	for j := 0; j < bv.ndaily; j++ {
		for _, xv := range x[j*L : j*L+t0] {
			if xv == xv { // not NaN
				sum += math.Abs(xv)
				cnt++
			}
		}
	}
	eps := 0.01 * sum / cnt
	if !(eps > 0) { // also NaN: no value
		eps = 1
	}
	g := bv.flat.take(len(x))
	for i, xv := range x {
		if xv >= 0 { // neither NaN nor negative
			g[i] = math.Log(xv + eps)
		} else {
			g[i] = math.NaN()
		}
	}
	return g
}

// prepare sets p to the seasonally adjusted values of g (the cut's segs
// segments, on the series' scale) on the replay segments 0..r, each minute
// less the median (or mean: reference_statistic) of the same clock minute
// on those of the k following segments that have a value (seasonalAdjust)
// — with reference_weeks, on those of the segments a week or more earlier
// instead, when every replay segment has one with a value —, and to their
// prefix sums (prefixSums); with req and errs (the error rate), also the
// requests and errors summed over the minutes with an adjusted value.
//
// A following segment without any value before the start's clock time — a
// day before the series began, or a day it has no data for — is no
// reference: with none left, the segment is compared unadjusted, as with
// reference_days 0, rather than left out. So the first days of a history
// are judged on the days it has (a deploy on its third day replays on its
// first two) instead of having no p-values for want of pseudo-change points
// on every change of its first replay_days days.
func (bv *baCut) prepare(p *baPrep, g [][]float64, r, k int, req, errs [][]float64) {
	L := bv.L
	p.y, p.c, p.s1, p.s2 = bv.head()[:r+1], bv.head()[:r+1], bv.head()[:r+1], bv.head()[:r+1]
	p.rq, p.er = nil, nil
	if req != nil {
		p.rq, p.er = bv.head()[:r+1], bv.head()[:r+1]
	}
	// has[j]: segment j has a value before the start's clock time, the
	// minutes the views of all horizons share.
	var has [maxSegs]bool
	for j := 1; j < bv.segs; j++ {
		for _, v := range g[j][:bv.t0] {
			if v == v { // not NaN
				has[j] = true
				break
			}
		}
	}
	// With reference_weeks, the weekly reference when every replay segment
	// has a week-earlier day with values (the change and its null are
	// adjusted alike) and it fits the history before the change better
	// than the daily one (pairedSpread); else the daily reference.
	W := bv.nweeks
	weekly := W > 0
	for j := 0; j <= r && weekly; j++ {
		weekly = slices.ContainsFunc(bv.weeks[j*W:(j+1)*W], func(i int) bool { return has[i] })
	}
	var refBuf [maxSegs][]float64
	adjust := func(j int, weekly bool) []float64 {
		y := bv.flat.take(L)
		refs := refBuf[:0]
		if weekly {
			for _, i := range bv.weeks[j*W : (j+1)*W] {
				if has[i] {
					refs = append(refs, g[i][:L])
				}
			}
		} else {
			for d := j + 1; d <= j+k && d < bv.segs; d++ {
				if has[d] {
					refs = append(refs, g[d][:L])
				}
			}
		}
		seasonalAdjust(y, g[j][:L], refs, bv.median)
		return y
	}
	var daily, weeklyY [maxDays + 1][]float64
	var spreadD, spreadW float64
	for j := 0; j <= r; j++ {
		daily[j] = adjust(j, false)
		if weekly {
			weeklyY[j] = adjust(j, true)
			n := L // minutes before the start: all of an earlier day's
			if j == 0 {
				n = bv.t0
			}
			d, w := pairedSpread(daily[j][:n], weeklyY[j][:n])
			spreadD += d
			spreadW += w
		}
	}
	ys := &daily
	if weekly && spreadW < spreadD {
		ys = &weeklyY
	}
	for j := 0; j <= r; j++ {
		y := ys[j]
		p.y[j] = y
		p.c[j], p.s1[j], p.s2[j] = bv.flat.take(L+1), bv.flat.take(L+1), bv.flat.take(L+1)
		prefixSums(p.c[j], p.s1[j], p.s2[j], y)
		if req != nil {
			RQ, ER, rqj, erj := bv.flat.take(L+1), bv.flat.take(L+1), req[j][:L], errs[j][:L]
			var rq, er float64
			RQ[0], ER[0] = 0, 0
			for i, yv := range y {
				if yv == yv {
					rq += rqj[i]
					er += erj[i]
				}
				RQ[i+1], ER[i+1] = rq, er
			}
			p.rq[j], p.er[j] = RQ, ER
		}
	}
}

// pairedSpread returns the variances of a and b about their means over the
// minutes where both have a value: how far each seasonal reference leaves
// the series from a level of its own (a level difference between days is
// the baseline mean's to remove, not the reference's).
func pairedSpread(a, b []float64) (va, vb float64) {
	var n, sa, sb float64
	for i, x := range a {
		if y := b[i]; x == x && y == y {
			n++
			sa += x
			sb += y
		}
	}
	if n < 2 {
		return 0, 0
	}
	ma, mb := sa/n, sb/n
	for i, x := range a {
		if y := b[i]; x == x && y == y {
			va += (x - ma) * (x - ma)
			vb += (y - mb) * (y - mb)
		}
	}
	return va / n, vb / n
}

// segments splits the segs·L values of x into segments.
func (bv *baCut) segments(x []float64) [][]float64 {
	s := bv.head()
	for j := range s {
		s[j] = x[j*bv.L : (j+1)*bv.L : (j+1)*bv.L]
	}
	return s
}

// head returns segs slice headers from the cut's buffer.
func (bv *baCut) head() [][]float64 {
	if len(bv.heads)+bv.segs > cap(bv.heads) {
		bv.heads = make([][]float64, 0, max(64, 2*cap(bv.heads), bv.segs))
	}
	k := len(bv.heads)
	bv.heads = bv.heads[:k+bv.segs]
	return bv.heads[k : k+bv.segs : k+bv.segs]
}

// view sets v to the view at horizon h ≤ the cut's: segments j ≥ 1 are the
// first L values of the cut's, segment 0 the cut's first t0+h minutes
// (those before start+h) followed by NaN. The largest horizon's view is
// the cut itself.
func (bv *baCut) view(v *baView, b, h int) {
	v.segs, v.span = bv.segs, bv.span
	v.L = 2*bv.span + b + h
	if v.L == bv.L {
		v.req, v.errs, v.lat, v.rate = bv.req, bv.errs, bv.lat, bv.rate
		v.lreq, v.llat = bv.lreq, bv.llat
		v.prepRate, v.prepLat, v.prepReq = &bv.prepRate, &bv.prepLat, &bv.prepReq
		v.kpis = append(v.kpis[:0], bv.kpis...)
		return
	}
	v.prepRate, v.prepLat, v.prepReq = &bv.prepRate, &bv.prepLat, &bv.prepReq
	known := bv.span + b + h // minutes of segment 0 before the cut
	sub := func(x [][]float64) [][]float64 {
		s := bv.head()
		for j := 1; j < len(s); j++ {
			s[j] = x[j][:v.L:v.L]
		}
		s0 := bv.own.take(v.L)
		copy(s0, x[0][:known])
		for i := known; i < v.L; i++ {
			s0[i] = math.NaN()
		}
		s[0] = s0
		return s
	}
	v.req, v.errs, v.lat, v.rate = sub(bv.req), sub(bv.errs), sub(bv.lat), sub(bv.rate)
	v.lreq, v.llat = sub(bv.lreq), sub(bv.llat)
	v.kpis = v.kpis[:0]
	for _, k := range bv.kpis {
		k.x = sub(k.x)
		if k.lx != nil {
			k.lx = sub(k.lx)
		}
		v.kpis = append(v.kpis, k)
	}
}

// f64Arena hands out float64 slices from one buffer, reused from one
// reset to the next; a slice it hands out is not cleared.
type f64Arena struct {
	all, free []float64
	need      int // values handed out since the reset
}

// reset makes the buffer's values available again, growing it to what the
// previous round needed.
func (a *f64Arena) reset() {
	if a.need > cap(a.all) {
		a.all = make([]float64, a.need)
	}
	a.free, a.need = a.all[:cap(a.all)], 0
}

// take returns n values.
func (a *f64Arena) take(n int) []float64 {
	a.need += n
	if len(a.free) < n {
		a.free = make([]float64, max(n, a.need))
	}
	s := a.free[:n:n]
	a.free = a.free[n:]
	return s
}

// aggregateVersion is the Version of a series (metrics) that covers all
// versions of the service, as teams without per-version data have it
// (internal/history's AggregateVersion).
const aggregateVersion = ""
