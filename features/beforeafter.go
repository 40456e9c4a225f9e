package features

import (
	"math"
	"slices"
	"sync"
)

// The before/after checks (step beforeAfter of ComputeInto): the service
// after the change against its own recent past, for changes without a
// canary — no other version serving at the same time, or only aggregate
// series. Each series (the service's error rate, p95 latency and
// throughput, and every declared KPI) is seasonally adjusted, four tests
// compare the window with the baseline, and each test is calibrated by
// replaying it at pseudo-change points of the same series before the
// change: it fires when its statistic exceeds the (1 − budget) quantile of
// the replayed values. docs/features.md, "Before/after checks", says what
// each assumes.

// baTest names the before/after tests, in column order.
type baTest int

const (
	baShift     baTest = iota // level: mean after vs before
	baSustained               // quartile: three quarters of the minutes after on the worse side
	baBurst                   // short windows of large excess
	baVariance                // spread after vs before
	numBATests
)

// baColumns is the number of columns of one series' group: the level
// change, then statistic, p-value and pass of each test.
const baColumns = 1 + 3*int(numBATests)

// baOutcome is one series' result at the change.
type baOutcome struct {
	ok      bool    // the change could be judged: enough minutes on both sides
	level   float64 // mean adjusted value in the window minus in the baseline
	stat    [numBATests]float64
	p       [numBATests]float64 // NaN with too few pseudo-change points
	points  int                 // usable pseudo-change points
	refDays int                 // reference days with data at the change
}

// baPoint is a change point in the view: segment j, index t of the first
// minute after it.
type baPoint struct{ j, t int }

// baScratch holds the buffers of one beforeAfter step, reused by every
// series; scratches are pooled (getBAScratch) so that computing a vector
// does not allocate them anew.
type baScratch struct {
	buf []float64
	// tame[j]: the adjusted values of replay segment j at the window's
	// horizon are tame (prefixSums).
	tame   []bool
	null   [numBATests][]float64
	sorted []float64
	points []baPoint // candidate pseudo-change points, in order of preference
	bursts []int     // burst window lengths ≤ H
	isq    []float64 // 1/√n for n up to the longest burst window
	qbuf   []float64 // a window's values, for sustainedStat
}

// baPrep is what the tests read of one series on the replay segments
// 0..replay_days of the view: its seasonally adjusted values (L each) and
// their prefix sums (L+1 each: count, sum and sum of squares of the values
// that are not NaN; for the error rate also requests and errors over the
// same minutes). baCut.prepare computes it once at the deploy's largest
// horizon, for the windows of every horizon: a smaller horizon's adjusted
// values are the same up to its cut (segment 0 index t0+H, the other
// segments their first L), and the tests read no further.
type baPrep struct {
	y, c, s1, s2, rq, er [][]float64 // rq, er nil unless the error rate
}

var baPool sync.Pool

// getBAScratch returns a pooled scratch.
func getBAScratch() *baScratch {
	sc, _ := baPool.Get().(*baScratch)
	if sc == nil {
		sc = &baScratch{}
	}
	return sc
}

func putBAScratch(sc *baScratch) { baPool.Put(sc) }

// layout carves the buffers out of sc.buf: the null samples and their
// sorting scratch of pp values each; tame gets segs flags.
func (sc *baScratch) layout(segs, pp int) {
	need := (int(numBATests) + 1) * pp
	if cap(sc.buf) < need {
		sc.buf = make([]float64, need)
	}
	buf := sc.buf[:need]
	take := func(k int) []float64 { s := buf[:k:k]; buf = buf[k:]; return s }
	if cap(sc.tame) < segs {
		sc.tame = make([]bool, segs)
	}
	sc.tame = sc.tame[:segs]
	for k := range sc.null {
		sc.null[k] = take(pp)[:0]
	}
	sc.sorted = take(pp)
	sc.points, sc.bursts = sc.points[:0], sc.bursts[:0]
}

// beforeAfter sets the before/after columns: the error rate (higher is
// worse), the p95 latency (higher is worse) and the throughput (lower is
// worse) of the service from its request series, the declared KPIs in
// their own directions, and the summary over all of them. It reads the
// window's before/after view (cutBeforeAfter) and nothing computed by
// other steps: the canary comparisons and these are separate features.
func (c *calc) beforeAfter() {
	v := &c.w.ba
	if v.L == 0 {
		return
	}
	sc := c.newBAScratch()
	defer putBAScratch(sc)
	budget := c.cfg.BeforeAfter.Budget
	outErr := c.baEvaluate(sc, v.rate, nil, v.prepRate, KindRatio, HigherIsWorse, true)
	outLat := c.baEvaluate(sc, v.lat, v.llat, v.prepLat, KindLatency, HigherIsWorse, false)
	outTput := c.baEvaluate(sc, v.req, v.lreq, v.prepReq, KindRate, LowerIsWorse, false)
	c.writeBA(BAErrLevelChange, &outErr, budget)
	c.writeBA(BALatLevelChange, &outLat, budget)
	c.writeBA(BATputLevelChange, &outTput, budget)

	kpi, nKPI := c.baKPIs(sc)
	c.v[BAKPIs] = float64(nKPI)
	c.writeBA(BAKPILevelChange, &kpi, budget)

	c.v[BAPseudoPoints] = float64(outTput.points)
	if outTput.ok {
		c.v[BAReferenceDays] = float64(outTput.refDays)
	}
	c.baErrCounts()
	c.baSummary(budget)
}

// newBAScratch returns the step's buffers and lists the candidate
// pseudo-change points: first on the day of the change, latest first,
// at every replay_step_minutes back to replay_span_minutes before its time
// of day, keeping only points whose window ends by the start; then on each
// previous day, nearest the change's time of day first (offsets 0, −step,
// +step, −2·step, …). Every window (baseline and H minutes) lies in its
// segment.
func (c *calc) newBAScratch() *baScratch {
	v, bc := &c.w.ba, &c.cfg.BeforeAfter
	R := bc.ReplayDays
	sc := getBAScratch()
	sc.layout(v.segs, bc.PseudoPoints)
	t0, step := v.span+c.B, bc.ReplayStepMinutes
	for o := -step; o >= -v.span; o -= step {
		if o+c.H <= 0 {
			sc.points = append(sc.points, baPoint{0, t0 + o})
		}
	}
	for j := 1; j <= R; j++ {
		for o := 0; o <= v.span; o += step {
			offs := []int{-o, o}
			if o == 0 {
				offs = offs[:1]
			}
			for _, oo := range offs {
				if oo+c.H <= 1440*j { // the window ends by the start
					sc.points = append(sc.points, baPoint{j, t0 + oo})
				}
			}
		}
	}
	for _, w := range bc.BurstMinutes {
		if w <= c.baWindow() {
			sc.bursts = append(sc.bursts, w)
		}
	}
	if len(sc.bursts) == 0 {
		sc.bursts = append(sc.bursts, max(1, c.baWindow()))
	}
	sc.qbuf = slices.Grow(sc.qbuf[:0], c.H)[:c.H]
	longest := slices.Max(sc.bursts)
	sc.isq = slices.Grow(sc.isq[:0], longest+1)[:longest+1]
	for n := 1; n <= longest; n++ {
		sc.isq[n] = 1 / math.Sqrt(float64(n))
	}
	return sc
}

// baEvaluate judges one series x of the view (segs segments of L values)
// of the given kind and direction at the change, and replays the same
// tests at the pseudo-change points.
//
//   - Scale: rates and latencies are compared on a log scale, lg: the
//     view's ln(x + ε), ε 1% of the series' mean over the minutes before
//     the start's clock time on the day of the change and the previous
//     days of the view (baCut.logScale; the same for every horizon);
//     ratios and gauges as they are (lg is not read).
//   - Seasonal reference: from each minute is subtracted the median (or,
//     with reference_statistic mean, the mean) of the same clock minute on
//     those of the reference_days previous days that have it; a minute
//     without any is left out (with reference_days 0, nothing is
//     subtracted).
//   - Tests: see baStats.
//   - Calibration: the tests are replayed at the first pseudo_points
//     candidate points (newBAScratch) whose baseline and window have
//     enough minutes; every value they read lies before the start. A test
//     with fewer than min_pseudo_points replayed values has p-value NaN.
//
// The seasonally adjusted values and their prefix sums are pr's, shared
// with the windows of the deploy's other horizons (baCut.prepare).
//
// withCounts: x is the error rate; the requests and errors of the view
// floor the baseline's spread at the binomial noise of a minute.
func (c *calc) baEvaluate(sc *baScratch, x, lg [][]float64, pr *baPrep, kind KPIKind, dir Direction, withCounts bool) baOutcome {
	v, bc := &c.w.ba, &c.cfg.BeforeAfter
	L, R, K := v.L, bc.ReplayDays, bc.ReferenceDays
	out := baOutcome{}
	for k := range out.stat {
		out.stat[k], out.p[k] = math.NaN(), math.NaN()
	}
	out.level = math.NaN()

	// Judged only with a value before the start.
	t0 := v.span + c.B
	seen := false
	for j := 0; j < v.segs && !seen; j++ {
		for _, xv := range x[j][:min(L, 1440*j+t0)] { // minutes before the start
			if xv == xv { // not NaN
				seen = true
				break
			}
		}
	}
	if !seen {
		return out
	}
	gs := x
	if kind.logScale() {
		gs = lg
	}
	var gsum float64
	for _, g := range gs[0][:t0] {
		if g == g {
			gsum += math.Abs(g)
		}
	}
	floor := 1e-9 * (1 + gsum/float64(t0))

	// Whether the adjusted values of each replay segment, up to this
	// horizon's cut, are tame: their sum of squares (prefixSums).
	for j := 0; j <= R; j++ {
		end := L // the segment's last value at this horizon
		if j == 0 {
			end = t0 + c.H // the cut
		}
		sc.tame[j] = pr.s2[j][end] <= tameMax
	}
	for d := 1; d <= K && d < v.segs; d++ {
		for _, g := range gs[d][t0-c.B : t0+c.H] {
			if g == g {
				out.refDays++
				break
			}
		}
	}

	block := 1
	if withCounts {
		block = c.sustainedBlock(pr, t0)
	}
	st, level, ok := c.baStats(sc, pr, baPoint{0, t0}, dir, withCounts, floor, block)
	if !ok {
		return out
	}
	out.ok, out.stat, out.level = true, st, level
	for k := range sc.null {
		sc.null[k] = sc.null[k][:0]
	}
	for _, pt := range sc.points {
		if out.points == bc.PseudoPoints {
			break
		}
		st, _, ok := c.baStats(sc, pr, pt, dir, withCounts, floor, block)
		if !ok {
			continue
		}
		out.points++
		for k, z := range st {
			if !math.IsNaN(z) {
				sc.null[k] = append(sc.null[k], z)
			}
		}
	}
	for k := range out.p {
		if len(sc.null[k]) >= bc.MinPseudoPoints {
			out.p[k] = tailP(sc.null[k], out.stat[k], sc.sorted)
		}
	}
	return out
}

// seasonalAdjust sets y[i] to g[i] minus the reference of minute i: the
// median (median true) or the mean of the refs[d][i] that are not NaN;
// NaN when g[i] is or when all of them are. With no refs (reference_days
// 0), y is g.
func seasonalAdjust(y, g []float64, refs [][]float64, median bool) {
	y = y[:len(g)]
	switch len(refs) {
	case 0:
		copy(y, g)
		return
	case 3: // the default reference_days, on the hot path of extraction
		r1, r2, r3 := refs[0][:len(g)], refs[1][:len(g)], refs[2][:len(g)]
		for i, gv := range g {
			a, b, c := r1[i], r2[i], r3[i]
			switch {
			case gv != gv:
				y[i] = gv
			case a == a && b == b && c == c:
				if median {
					y[i] = gv - median3(a, b, c)
				} else {
					y[i] = gv - (a+b+c)/3
				}
			default:
				var buf [3]float64
				vs := buf[:0]
				for _, v := range [3]float64{a, b, c} {
					if v == v {
						vs = append(vs, v)
					}
				}
				y[i] = math.NaN()
				if len(vs) > 0 {
					y[i] = gv - reference(vs, median)
				}
			}
		}
		return
	}
	var buf [maxSegs]float64
	for i, gv := range g {
		if gv != gv {
			y[i] = gv
			continue
		}
		vs := buf[:0]
		for _, r := range refs {
			if rv := r[i]; rv == rv {
				vs = append(vs, rv)
			}
		}
		y[i] = math.NaN()
		if len(vs) > 0 {
			y[i] = gv - reference(vs, median)
		}
	}
}

// reference returns the median (median true) or the mean of vs, which
// holds at least one value and no NaN; it may reorder vs. The median of an
// even count is the mean of the middle two, so with one or two values the
// two statistics agree.
func reference(vs []float64, median bool) float64 {
	n := len(vs)
	if !median || n <= 2 {
		var s float64
		for _, v := range vs {
			s += v
		}
		return s / float64(n)
	}
	if n == 3 {
		return median3(vs[0], vs[1], vs[2])
	}
	slices.Sort(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// median3 returns the median of a, b and c.
func median3(a, b, c float64) float64 {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	return max(a, b)
}

// prefixSums sets C, S1 and S2 (len(y)+1 values) to the running count,
// sum and sum of squares of the values of y that are not NaN. It reports
// whether they are tame: their sum of squares is at most tameMax, so that
// each is at most about 1e150 in magnitude and no sum, difference of sums
// or burst statistic of baStats overflows (the running sum of squares
// never decreases, so it bounds every square).
func prefixSums(C, S1, S2, y []float64) (tame bool) {
	C, S1, S2 = C[:len(y)+1], S1[:len(y)+1], S2[:len(y)+1]
	var c, s1, s2 float64
	C[0], S1[0], S2[0] = 0, 0, 0
	for i, yv := range y {
		if yv == yv { // not NaN
			c++
			s1 += yv
			s2 += yv * yv
		}
		C[i+1], S1[i+1], S2[i+1] = c, s1, s2
	}
	return s2 <= tameMax
}

// tameMax bounds the sum of squares of a segment's adjusted values for
// which baStats may take the burst statistic from the extreme sums.
const tameMax = 1e300

// baStats computes the four test statistics at change point pt, from the
// adjusted values of the B minutes before it (the baseline) and the
// baWindow minutes from it (the window: H, or up to the next deploy); ok is
// false unless the baseline has at least max(3, B/2) values and the window
// at least half its minutes. With σ the
// baseline's standard deviation (floored, and for the error rate at the
// binomial noise of a minute at the baseline's rate and traffic), each is
// oriented so that larger is worse (the magnitude for both):
//
//   - level: (window mean − baseline mean) / (σ·√(1/n_window + 1/n_baseline));
//   - sustained: (the window's quartile nearest the baseline − baseline
//     mean) / (σ·√(1/n_window + 1/n_baseline)), sustainedStat: how far
//     three quarters of the window moved, which a burst of a few minutes
//     barely moves;
//   - burst: the largest sum of (value − baseline mean)/σ over a window of
//     burst_minutes consecutive minutes, over √(its values);
//   - variance: ln of the window's standard deviation (around its own
//     mean) over σ, larger when noisier in every direction.
func (c *calc) baStats(sc *baScratch, pr *baPrep, pt baPoint, dir Direction, withCounts bool, floor float64, block int) (st [numBATests]float64, level float64, ok bool) {
	B, H := c.B, c.baWindow()
	if H < 1 {
		return st, 0, false
	}
	C, S1, S2 := pr.c[pt.j], pr.s1[pt.j], pr.s2[pt.j]
	t := pt.t
	nb, na := C[t]-C[t-B], C[t+H]-C[t]
	if nb < math.Max(3, float64(B)/2) || na < math.Max(1, float64(H)/2) {
		return st, 0, false
	}
	mb := (S1[t] - S1[t-B]) / nb
	sdb := math.Max(math.Sqrt(math.Max(0, (S2[t]-S2[t-B]-nb*mb*mb)/(nb-1))), floor)
	if withCounts {
		RQ, ER := pr.rq[pt.j], pr.er[pt.j]
		if rb := RQ[t] - RQ[t-B]; rb > 0 {
			pr := (ER[t] - ER[t-B] + 0.5) / (rb + 1)
			sdb = math.Max(sdb, math.Sqrt(pr*(1-pr)/(rb/nb)))
		}
	}
	ma := (S1[t+H] - S1[t]) / na
	level = ma - mb
	st[baShift] = dir.orient(level / (sdb * math.Sqrt(1/na+1/nb)))

	w := pr.y[pt.j][t : t+H]
	if block > 1 {
		w = blockMeans(sc.qbuf, C, S1, t, H, block)
	}
	st[baSustained] = sustainedStat(sc.qbuf, w, mb, sdb*math.Sqrt(1/na+1/nb), dir)

	hi, lo, seen := 0.0, 0.0, false
	if na == float64(H) && sc.tame[pt.j] {
		// Only the extremes dir reads (the statistic below).
		hi, lo, seen = burstExtremes(S1[t:t+H+1], sc.bursts, sc.isq, mb, dir != LowerIsWorse, dir == LowerIsWorse || dir == BothWorse)
	}
	if !seen {
		hi, lo, seen = burstScan(C, S1, t, H, sc.bursts, sc.isq, mb)
	}
	st[baBurst] = math.NaN()
	if seen {
		switch dir {
		case LowerIsWorse:
			st[baBurst] = -lo / sdb
		case BothWorse:
			st[baBurst] = math.Max(hi, -lo) / sdb
		default:
			st[baBurst] = hi / sdb
		}
	}

	st[baVariance] = math.NaN()
	if na >= 3 {
		sda := math.Max(math.Sqrt(math.Max(0, (S2[t+H]-S2[t]-na*ma*ma)/(na-1))), floor)
		st[baVariance] = math.Log(sda / sdb)
	}
	return st, level, true
}

// sustainedBlock returns the length in minutes of the blocks the error
// rate's sustained test reads (blockMeans), from the change's own baseline
// (the B minutes before the start t0 of segment 0, so point-in-time
// correct): long enough that the baseline expects
// before_after.sustained_block_errors errors in one, at most a quarter of
// the window so that the quartile still has four blocks, at least 1.
// Where most minutes log no error, a quartile of minutes sits at zero
// whatever the rate; one of blocks does not. Every pseudo-change point is
// replayed with the same length.
func (c *calc) sustainedBlock(pr *baPrep, t0 int) int {
	k := c.cfg.BeforeAfter.SustainedBlockErrors
	most := c.baWindow() / 4
	if k <= 0 || most <= 1 {
		return 1
	}
	B := c.B
	mins := pr.c[0][t0] - pr.c[0][t0-B]
	errs := pr.er[0][t0] - pr.er[0][t0-B]
	if mins <= 0 {
		return 1
	}
	perMin := math.Max(errs, 0.5) / mins                // no error yet: half of one
	return int(min(math.Ceil(k/perMin), float64(most))) // ≥ 1: the ceiling of a positive number
}

// blockMeans writes into buf the means of the values in the consecutive
// blocks of b minutes of the window from t to t+H (C and S1: the series'
// prefix counts and sums; the last block is shorter when b does not
// divide H) and returns them, NaN for a block without a value.
func blockMeans(buf, C, S1 []float64, t, H, b int) []float64 {
	out := buf[:0]
	for s := t; s < t+H; s += b {
		e := min(s+b, t+H)
		n := C[e] - C[s]
		if n <= 0 {
			out = append(out, math.NaN())
			continue
		}
		out = append(out, (S1[e]-S1[s])/n)
	}
	return out
}

// sustainedStat is the sustained test's statistic on the window's values
// w (NaN skipped; buf holds len(w) values and may be w's own array, as
// blockMeans' output is: each value is read before its slot is written):
// how far the quarter of its minutes nearest the baseline still lie on
// the worse side of the
// baseline mean mb — the lower quartile's excess when higher is worse,
// the upper quartile's shortfall when lower is worse, the larger of the
// two for both — over scale. Three quarters of the window must move for
// it to move, so a burst or a restart transient of a few minutes barely
// does; unlike a count of minutes above and below, it keeps growing with
// the size of a shift that every minute shows, where the count stops at
// all minutes. NaN without a value.
func sustainedStat(buf, w []float64, mb, scale float64, dir Direction) float64 {
	v := buf[:0]
	for _, x := range w {
		if x == x { // not NaN
			v = append(v, x)
		}
	}
	n := len(v)
	if n == 0 {
		return math.NaN()
	}
	lo, hi := (n-1)/4, n-1-(n-1)/4 // the lower and upper quartiles' ranks
	switch dir {
	case LowerIsWorse:
		return (mb - selectRank(v, hi)) / scale
	case BothWorse:
		up := (selectRank(v, lo) - mb) / scale
		return math.Max(up, (mb-selectRank(v, hi))/scale)
	default:
		return (selectRank(v, lo) - mb) / scale
	}
}

// selectRank returns the k-th smallest of v (k from 0), reordering v
// (Hoare's selection, median-of-three pivots).
func selectRank(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		p := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < p {
				i++
			}
			for v[j] > p {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}

// burstScan returns the largest and smallest burst sums
// z = (S1[i+w] − S1[i] − n·mb)·isq[n], n the values among the w minutes
// from i, over the windows from t to t+H of each length w in bursts that
// have at least w/2 values (the first largest and smallest, in the order
// of bursts and i); seen is false when no window has.
func burstScan(C, S1 []float64, t, H int, bursts []int, isq []float64, mb float64) (hi, lo float64, seen bool) {
	for _, w := range bursts {
		half := float64(w) / 2
		for i := t; i+w <= t+H; i++ {
			n := C[i+w] - C[i]
			if n < half {
				continue
			}
			z := (S1[i+w] - S1[i] - n*mb) * isq[int(n)]
			if !seen {
				hi, lo, seen = z, z, true
			} else if z > hi {
				hi = z
			} else if z < lo {
				lo = z
			}
		}
	}
	return hi, lo, seen
}

// burstExtremes returns what burstScan returns for a window without NaN
// whose adjusted values are tame (prefixSums), s1 being its H+1 prefix
// sums, or ok false: hi when wantHi, lo when wantLo (the other is not
// computed and meaningless). Every short window then has its w values, and
// z = (d − w·mb)·isq[w] is a non-decreasing function of
// d = s1[i+w] − s1[i] (each correctly rounded operation is), so the
// largest z is z of the largest d — the same value, and the same bits
// unless it is zero (+0 and −0 compare equal, and the scan keeps the first
// one it meets): ok is false when a wanted extreme is zero. Tame values
// keep every d and z finite.
func burstExtremes(s1 []float64, bursts []int, isq []float64, mb float64, wantHi, wantLo bool) (hi, lo float64, ok bool) {
	for k, w := range bursts {
		a, b := s1[w:], s1[:len(s1)-w]
		b = b[:len(a)]
		dmax := a[0] - b[0]
		dmin := dmax
		switch {
		case wantHi && wantLo:
			for i := 1; i < len(a); i++ {
				d := a[i] - b[i]
				if d > dmax {
					dmax = d
				}
				if d < dmin {
					dmin = d
				}
			}
		case wantHi:
			for i := 1; i < len(a); i++ {
				if d := a[i] - b[i]; d > dmax {
					dmax = d
				}
			}
		case wantLo:
			for i := 1; i < len(a); i++ {
				if d := a[i] - b[i]; d < dmin {
					dmin = d
				}
			}
		}
		n := float64(w)
		zhi, zlo := (dmax-n*mb)*isq[w], (dmin-n*mb)*isq[w]
		if (wantHi && zhi == 0) || (wantLo && zlo == 0) {
			return 0, 0, false
		}
		if k == 0 {
			hi, lo = zhi, zlo
			continue
		}
		if zhi > hi {
			hi = zhi
		}
		if zlo < lo {
			lo = zlo
		}
	}
	return hi, lo, true
}

// tailP is the replay p-value of statistic s against the replayed values
// null: the share (c+1)/(n+1) of values at least as large (c of n), while
// c exceeds the top quarter of the null (at least 5 values). Beyond it —
// where a few dozen replays cannot resolve a 1% tail — an exponential tail
// is fitted to the top k values over the next one, u (peaks over threshold:
// scale β their mean excess, floored at a quarter of the null's standard
// deviation): p = (k+1)/(n+1) · exp(−(s − u)/β). NaN when s is NaN or the
// null empty. sorted is scratch of at least len(null).
func tailP(null []float64, s float64, sorted []float64) float64 {
	n := len(null)
	if math.IsNaN(s) || n == 0 {
		return math.NaN()
	}
	k := min(max(5, n/4), n-1)
	c := 0
	for _, z := range null {
		if z >= s {
			c++
		}
	}
	emp := float64(c+1) / float64(n+1)
	if c > k || k < 1 {
		return emp
	}
	z := sorted[:n]
	copy(z, null)
	slices.Sort(z)
	u := z[n-k-1]
	var ex, m, m2 float64
	for _, v := range z[n-k:] {
		ex += v - u
	}
	for _, v := range z {
		m += v
		m2 += v * v
	}
	m /= float64(n)
	sd := math.Sqrt(math.Max(0, m2/float64(n)-m*m))
	beta := math.Max(ex/float64(k), 0.25*sd)
	if beta <= 0 {
		return 0 // every replayed value equal, and s above them
	}
	return float64(k+1) / float64(n+1) * math.Exp(-(s-u)/beta)
}

// baKPIs judges every declared KPI in its own direction and scale and
// returns, test by test, the KPI with the smallest p-value, that p-value
// times the number of KPIs it was the smallest of (Bonferroni, capped at
// 1), and its statistic; the level change is that of the KPI the level
// test picked. Without p-values (too little history), a test's statistic
// is the largest over the KPIs. It also returns the KPIs judged.
func (c *calc) baKPIs(sc *baScratch) (baOutcome, int) {
	out := baOutcome{level: math.NaN()}
	for k := range out.stat {
		out.stat[k], out.p[k] = math.NaN(), math.NaN()
	}
	var outs []baOutcome
	for i := range c.w.ba.kpis {
		kp := &c.w.ba.kpis[i]
		if o := c.baEvaluate(sc, kp.x, kp.lx, kp.prep, kp.kind, kp.dir, false); o.ok {
			outs = append(outs, o)
		}
	}
	if len(outs) == 0 {
		return out, 0
	}
	out.ok = true
	for k := range out.stat {
		best, judged := -1, 0
		for i := range outs {
			if p := outs[i].p[k]; !math.IsNaN(p) {
				judged++
				if best < 0 || p < outs[best].p[k] {
					best = i
				}
			}
		}
		if best >= 0 {
			out.p[k] = math.Min(1, outs[best].p[k]*float64(judged))
			out.stat[k] = outs[best].stat[k]
			if baTest(k) == baShift {
				out.level = outs[best].level
			}
			continue
		}
		for i := range outs {
			if s := outs[i].stat[k]; math.IsNaN(out.stat[k]) || s > out.stat[k] {
				out.stat[k] = s
				if baTest(k) == baShift {
					out.level = outs[i].level
				}
			}
		}
	}
	return out, len(outs)
}

// writeBA writes outcome o into the group of columns starting at first
// (level change, then statistic, p-value and pass of each test): a test
// passes when its p-value is at most budget; NaN p-values abstain.
func (c *calc) writeBA(first int, o *baOutcome, budget float64) {
	if !o.ok {
		return
	}
	c.v[first] = o.level
	for k := range o.stat {
		col := first + 1 + 3*k
		c.v[col], c.v[col+1] = o.stat[k], o.p[k]
		if !math.IsNaN(o.p[k]) {
			c.v[col+2] = b2f(o.p[k] <= budget)
		}
	}
}

// baGroups are the first columns of the before/after groups ba_summary
// counts.
var baGroups = [...]int{BAErrLevelChange, BALatLevelChange, BATputLevelChange, BAKPILevelChange}

// baSummary sets the checks judged and fired over every before/after
// group, and the family's Bonferroni p-value and pass.
func (c *calc) baSummary(budget float64) {
	v := c.v
	var judged, fired float64
	minP := math.Inf(1)
	for _, g := range baGroups {
		for k := 0; k < int(numBATests); k++ {
			col := g + 1 + 3*k
			if math.IsNaN(v[col+2]) {
				continue
			}
			judged++
			fired += v[col+2]
			minP = math.Min(minP, v[col+1])
		}
	}
	v[BAChecks] = judged
	if judged == 0 {
		return
	}
	v[BAChecksFired] = fired
	v[BAMinP] = math.Min(1, minP*judged)
	v[BAPass] = b2f(v[BAMinP] <= budget)
}

// baLateMinutes is where ba_err_late_z's window starts, in minutes after
// the change: a deploy restarts the service, and the errors of the
// restart's first minutes (connections dropped, caches cold) are in every
// deploy's window, healthy or not.
const baLateMinutes = 5

// baErrCounts sets ba_err_log_ratio and ba_err_late_z from the service's
// error and request counts in the before/after view (which does not add
// an aggregate series to per-version ones): the errors of the window
// against those expected at the baseline's rate — shrunk by prior_errors
// pseudo-errors for the log ratio; for the late count test, from
// baLateMinutes on, over the Poisson spread of the expected count and of
// the baseline rate's estimate. Neither is seasonally adjusted nor
// replayed: they are the models' inputs, not checks.
func (c *calc) baErrCounts() {
	v := &c.w.ba
	t0 := v.span + c.B
	var eb, rb, ea, ra, el, rl float64
	for i := t0 - c.B; i < t0+c.baWindow(); i++ {
		r, e := v.req[0][i], v.errs[0][i]
		if math.IsNaN(r) {
			continue
		}
		if i < t0 {
			eb, rb = eb+e, rb+r
			continue
		}
		ea, ra = ea+e, ra+r
		if i >= t0+baLateMinutes {
			el, rl = el+e, rl+r
		}
	}
	if rb > 0 && ra > 0 {
		c.v[BAErrLogRatio] = math.Log(shrunkRatio(ea, ra*(eb+0.5)/(rb+1), c.prior))
	}
	if rb > 0 && rl > 0 {
		exp := rl * (eb + 0.5) / (rb + 1)
		c.v[BAErrLateStat] = (el - exp) / math.Sqrt(exp*(1+rl/rb))
	}
}

// baWindow is the length of the window the before/after tests read after
// the change (and after each pseudo-change point alike): the horizon, or
// fewer minutes when the next deploy of the stream started within it —
// the service's minutes from then on are another version's.
func (c *calc) baWindow() int { return c.w.own }
