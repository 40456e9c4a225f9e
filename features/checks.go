package features

import (
	"math"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// The statistical checks of the new version (impact, temporal correlation,
// persistence) and the unanimous ensemble over them: steps of ComputeInto.

// impact judges the new version's errors in the window against the
// expected rate (expectedRate): shrunk ratio, excess rate, z score, and a
// conditional binomial test of new errors among new plus baseline errors
// with the baseline exposure scaled down by the seasonal factor. It also
// compares the new version with the seasonal same-clock rate. Everything is
// NaN unless both the baseline and the new version served requests.
func (c *calc) impact() {
	v, cfg := c.v, c.cfg
	if !(c.baseR > 0 && c.newR > 0) {
		return
	}
	pexp := c.pexp
	mu := c.newR * pexp
	ratio := shrunkRatio(c.newE, mu, c.prior)
	v[ImpactRatio] = ratio
	v[ImpactLogRatio] = math.Log(ratio)
	v[NewErrorRateShrunk] = ratio * pexp
	v[ImpactExcess] = ratio*pexp - pexp
	v[ImpactZ] = (c.newE - mu) / math.Sqrt(mu+1)
	p := metrics.BinomialUpper(c.newE, c.newE+c.baseE, c.newR/(c.newR+c.baseR/c.errorFactor))
	v[ImpactNegLog10P] = negLog10(p)
	v[ImpactPass] = b2f(p < cfg.Impact.Alpha && ratio >= cfg.Impact.MinRatio && v[ImpactExcess] >= cfg.Impact.MinExcess)
	if len(c.w.days) > 0 {
		srate := (c.seasonE + 0.5) / (c.seasonR + 1)
		v[ImpactVsSeasonalRatio] = shrunkRatio(c.newE, c.newR*srate, c.prior)
	}
}

// temporal decides whether the error change came with the deploy. The
// same-minute comparison of new and previous version (vsPrev) decides
// when it is clear either way: new significantly worse passes; no sign at
// all that it is worse fails (whatever raised the rate hit the previous
// version too). Otherwise the service's change point (changePointCheck)
// decides, and the fleet step may still fail it. NaN when the service
// served nothing.
func (c *calc) temporal() {
	v, cfg := c.v, c.cfg
	cpOK := c.changePointCheck()
	overlapOK, pPrev := c.vsPrev()
	switch {
	case overlapOK && pPrev < cfg.Temporal.Alpha && v[VsPrevRatio] >= cfg.Impact.MinRatio:
		v[TemporalPass], v[TemporalByChangePoint] = 1, 0
	case overlapOK && pPrev >= noEvidenceP:
		v[TemporalPass], v[TemporalByChangePoint] = 0, 0
	case c.baseR+c.svcR > 0:
		v[TemporalPass], v[TemporalByChangePoint] = b2f(cpOK), 1
	}
}

// noEvidenceP: a same-minute comparison with p at or above this shows no
// sign that the new version is worse than the previous one.
const noEvidenceP = 0.2

// changePointCheck sets the best upward change point of the service's
// error rate over baseline and window (offset from the start, LLR, shrunk
// ratio after/before) and reports whether it passes: LLR ≥
// temporal.min_llr, ratio ≥ impact.min_ratio, within
// [-temporal.minutes_before, +temporal.minutes_after] of the start.
func (c *calc) changePointCheck() bool {
	v, w, cfg, B := c.v, c.w, c.cfg, c.B
	t, llr := changePoint(w.svcErr, w.svcReq)
	v[CPLLR] = llr
	if t < 0 {
		return false
	}
	v[CPOffset] = float64(t - B)
	e1, r1 := sum(w.svcErr[:t]), sum(w.svcReq[:t])
	e2, r2 := sum(w.svcErr[t:]), sum(w.svcReq[t:])
	v[CPRatio] = shrunkRatio(e2, r2*(e1+0.5)/(r1+1), c.prior)
	return llr >= cfg.Temporal.MinLLR && v[CPRatio] >= cfg.Impact.MinRatio &&
		t-B >= -cfg.Temporal.MinutesBefore && t-B <= cfg.Temporal.MinutesAfter
}

// vsPrev compares new and previous version over the window minutes in
// which both served (overlap_minutes), counting errors from the new
// version's first elevated minute on (firstElevated), so that a fault with
// a delayed onset is compared while it shows. It sets the shrunk ratio and
// the conditional binomial test new > previous, and returns whether both
// sides have min_requests and the test's p-value (1 without overlap).
func (c *calc) vsPrev() (ok bool, p float64) {
	v, w := c.v, c.w
	from := c.firstElevated()
	var oNE, oNR, oPE, oPR, oMin float64
	for j := c.B; j < c.B+c.H; j++ {
		if w.bothServe(j) {
			oMin++
			if j >= from {
				oNE += w.newErr[j]
				oNR += w.newReq[j]
				oPE += w.prevErr[j]
				oPR += w.prevReq[j]
			}
		}
	}
	v[OverlapMinutes] = oMin
	ok = oNR >= c.cfg.MinRequests && oPR >= c.cfg.MinRequests
	p = 1.0
	if oNR > 0 && oPR > 0 {
		v[VsPrevRatio] = shrunkRatio(oNE, oNR*(oPE+0.5)/(oPR+1), c.prior)
		p = metrics.BinomialUpper(oNE, oNE+oPE, oNR/(oNR+oPR))
		v[VsPrevNegLog10P] = negLog10(p)
	}
	return ok, p
}

// firstElevated returns the index in the window arrays of the new
// version's first elevated minute (minuteElevated against the expected
// rate), or B (the start) when there is none or no baseline.
func (c *calc) firstElevated() int {
	w := c.w
	if c.baseR > 0 {
		for k := 0; k < c.H; k++ {
			if j := c.B + k; w.newReq[j] > 0 && minuteElevated(w.newErr[j], w.newReq[j]*c.pexp, c.cfg) {
				return j
			}
		}
	}
	return c.B
}

// bothServe reports whether the new and a previous version both served
// requests at index j of the window arrays.
func (w *Window) bothServe(j int) bool { return w.newReq[j] > 0 && w.prevReq[j] > 0 }

// elevatedMinutes judges the new version minute by minute against the
// expected rate: the share of window minutes elevated (minuteElevated),
// the longest run, the first one, and the slope of the per-minute shrunk
// ratio (minutes without new-version traffic skipped). NaN without
// baseline requests.
func (c *calc) elevatedMinutes() {
	v, w, B, H := c.v, c.w, c.B, c.H
	if c.baseR <= 0 {
		return
	}
	ratios := make([]float64, H)
	var nElev, run, maxRun float64
	first := -1
	for k := 0; k < H; k++ {
		j := B + k
		ratios[k] = math.NaN()
		if w.newReq[j] <= 0 {
			run = 0
			continue
		}
		lam := w.newReq[j] * c.pexp
		ratios[k] = shrunkRatio(w.newErr[j], lam, c.prior)
		if minuteElevated(w.newErr[j], lam, c.cfg) {
			nElev++
			run++
			maxRun = math.Max(maxRun, run)
			if first < 0 {
				first = k
			}
		} else {
			run = 0
		}
	}
	v[ElevatedMinutesFrac] = nElev / float64(H)
	v[ElevatedMaxRun] = maxRun
	if first >= 0 {
		v[ElevatedFirstMinute] = float64(first)
	}
	v[RateSlope] = olsSlope(ratios) * 10
}

// persistence judges whether the elevation is sustained. The minutes from
// the start to the new version's last served minute (servedSpan) are split
// into persistence.buckets buckets (fewer when it served fewer minutes), so
// a version rolled back or replaced inside the window is judged while it
// served. It passes when the version served long enough, the share of
// elevated buckets from the first elevated one on is at least
// persistence.min_fraction and the last bucket is elevated. NaN without
// baseline requests; the pass is NaN when the new version served nothing.
func (c *calc) persistence() {
	v, cfg, H := c.v, c.cfg, c.H
	if c.baseR <= 0 {
		return
	}
	span := c.w.servedSpan()
	nb := max(1, min(cfg.Persistence.Buckets, span))
	elev := make([]bool, nb)
	firstB := c.elevatedBuckets(span, elev)
	frac := 0.0
	if firstB >= 0 {
		n := 0
		for b := firstB; b < nb; b++ {
			if elev[b] {
				n++
			}
		}
		frac = float64(n) / float64(nb-firstB)
	}
	v[PersistenceFrac] = frac
	if c.newR > 0 {
		served := span >= min(H, cfg.Persistence.MinServedMinutes)
		v[PersistencePass] = b2f(served && frac >= cfg.Persistence.MinFraction && elev[nb-1])
	}
}

// servedSpan returns the number of window minutes from the start to the
// new version's last minute with requests; 0 when it served none.
func (w *Window) servedSpan() int {
	for k := w.H - 1; k >= 0; k-- {
		if w.newReq[w.B+k] > 0 {
			return k + 1
		}
	}
	return 0
}

// elevatedBuckets splits the first span window minutes into len(elev)
// buckets, marks in elev those where the new version is elevated (shrunk
// ratio ≥ impact.min_ratio and Poisson p < persistence.alpha against the
// expected rate), sets the first and last bucket's ratio, and returns the
// first elevated bucket or -1. Buckets without requests are not elevated.
func (c *calc) elevatedBuckets(span int, elev []bool) int {
	v, w, cfg, B := c.v, c.w, c.cfg, c.B
	nb := len(elev)
	firstB := -1
	for b := 0; b < nb && span > 0; b++ {
		a, z := B+b*span/nb, B+(b+1)*span/nb
		e, r := sum(w.newErr[a:z]), sum(w.newReq[a:z])
		if r <= 0 {
			continue
		}
		lam := r * c.pexp
		ratio := shrunkRatio(e, lam, c.prior)
		if b == 0 {
			v[FirstBucketRatio] = ratio
		}
		if b == nb-1 {
			v[LastBucketRatio] = ratio
		}
		elev[b] = ratio >= cfg.Impact.MinRatio && metrics.PoissonUpper(e, lam) < cfg.Persistence.Alpha
		if elev[b] && firstB < 0 {
			firstB = b
		}
	}
	return firstB
}

// minuteElevated reports whether e errors against lam expected are
// elevated for the persistence check.
func minuteElevated(e, lam float64, cfg *Config) bool {
	return shrunkRatio(e, lam, cfg.PriorErrors) >= cfg.Impact.MinRatio && metrics.PoissonUpper(e, lam) < cfg.Persistence.Alpha
}

// ensemble sets inconclusive (too few new-version or baseline requests
// for the checks to judge) and the unanimous vote over ensembleChecks.
// It assumes the checks' steps ran.
func (c *calc) ensemble() {
	inconc := c.newR < c.cfg.MinRequests || c.baseR < c.cfg.MinBaselineRequests
	c.v[Inconclusive] = b2f(inconc)
	vote(c.v)
}

// ensembleChecks are the pass columns the unanimous ensemble requires.
var ensembleChecks = [...]int{ImpactPass, TemporalPass, PersistencePass}

// vote sets checks_passed and the unanimous ensemble from the pass columns
// of ensembleChecks and inconclusive.
func vote(v []float64) {
	passed := 0.0
	for _, k := range ensembleChecks {
		if v[k] == 1 {
			passed++
		}
	}
	v[ChecksPassed] = passed
	v[EnsembleFaulty] = math.NaN()
	if v[Inconclusive] != 1 {
		v[EnsembleFaulty] = b2f(passed == float64(len(ensembleChecks)))
	}
}
