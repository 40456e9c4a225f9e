package features

import (
	"math"
)

// Compute returns the feature vector of w, in Schema order (NaN where a
// feature is undefined). It reads nothing but w and cfg: the same call
// serves the offline extractor and online detectors.
func Compute(w *Window, cfg *Config) []float64 {
	v := make([]float64, NumFeatures)
	ComputeInto(v, w, cfg)
	return v
}

// ComputeInto is Compute writing into dst, which must have NumFeatures
// elements.
func ComputeInto(v []float64, w *Window, cfg *Config) {
	_ = v[NumFeatures-1]
	for i := range v {
		v[i] = math.NaN()
	}
	B, H := w.B, w.H
	prior := cfg.PriorErrors
	d := &w.Deploy

	// Context known at deploy time (or by the cut).
	v[IsRollback] = b2f(d.Rollback)
	if d.FilesChanged >= 0 {
		v[ChangeFiles] = float64(d.FilesChanged)
	}
	if d.LinesAdded >= 0 && d.LinesDeleted >= 0 {
		v[ChangeLines] = float64(d.LinesAdded + d.LinesDeleted)
		v[LogChangeLines] = math.Log1p(v[ChangeLines])
	}
	v[MinutesSincePrevDeploy] = w.sincePrev
	st := d.StartedAt.UTC()
	v[HourOfDay] = float64(st.Hour())
	v[DayOfWeek] = float64(st.Weekday())
	if math.IsNaN(w.finishedAfter) {
		v[RolloutFinished], v[RolloutMinutes] = 0, float64(H)
	} else {
		v[RolloutFinished], v[RolloutMinutes] = 1, math.Min(w.finishedAfter, float64(H))
	}
	v[OverlapDeploy] = b2f(w.overlap)

	Rb, Eb := sum(w.svcReq[:B]), sum(w.svcErr[:B])
	Rn, En := sum(w.newReq[B:]), sum(w.newErr[B:])
	Rp, Ep := sum(w.prevReq[B:]), sum(w.prevErr[B:])
	Rs := sum(w.svcReq[B:])
	last := max(B, B+H-5)
	if tot := sum(w.svcReq[last:]); tot > 0 {
		v[NewTrafficShare] = sum(w.newReq[last:]) / tot
	}
	v[BaselineRPM] = Rb / float64(B)
	v[LogBaselineRPM] = math.Log10(1 + v[BaselineRPM])
	v[NewRPM] = Rn / float64(H)
	v[NewRequests], v[NewErrors] = Rn, En
	if Rb > 0 {
		v[BaselineErrorRate] = Eb / Rb
	}
	if Rn > 0 {
		v[NewErrorRate] = En / Rn
	}
	if Rp > 0 {
		v[PrevErrorRate] = Ep / Rp
	}

	// Seasonality: the same clock time on previous days.
	var facts, tfacts []float64
	var sPostE, sPostR float64
	for _, sd := range w.days {
		preRate := (sd.preE + 0.5) / (sd.preR + 1)
		facts = append(facts, shrunkRatio(sd.postE, sd.postR*preRate, prior))
		tfacts = append(tfacts, (sd.postR/float64(H))/(sd.preR/float64(B)))
		sPostE += sd.postE
		sPostR += sd.postR
	}
	v[SeasonalDaysUsed] = float64(len(w.days))
	sf, tf := 1.0, 1.0
	if len(w.days) > 0 {
		sf, tf = median(facts), median(tfacts)
		v[SeasonalErrorRate] = sPostE / sPostR
	}
	v[SeasonalErrorFactor], v[SeasonalTrafficFactor] = sf, tf
	sfc := math.Min(math.Max(sf, 1), cfg.Impact.MaxSeasonalFactor)

	// Impact: the new version against the (seasonally adjusted) baseline.
	pb := math.NaN()
	if Rb > 0 {
		pb = (Eb + 0.5) / (Rb + 1)
	}
	pexp := pb * sfc
	v[ExpectedErrorRate] = pexp
	if Rb > 0 && Rn > 0 {
		mu := Rn * pexp
		ratio := shrunkRatio(En, mu, prior)
		v[ImpactRatio] = ratio
		v[ImpactLogRatio] = math.Log(ratio)
		v[NewErrorRateShrunk] = ratio * pexp
		v[ImpactExcess] = ratio*pexp - pexp
		v[ImpactZ] = (En - mu) / math.Sqrt(mu+1)
		p := binomUpper(En, En+Eb, Rn/(Rn+Rb/sfc))
		v[ImpactNegLog10P] = negLog10(p)
		v[ImpactPass] = b2f(p < cfg.Impact.Alpha && ratio >= cfg.Impact.MinRatio && v[ImpactExcess] >= cfg.Impact.MinExcess)
		if len(w.days) > 0 {
			srate := (sPostE + 0.5) / (sPostR + 1)
			v[ImpactVsSeasonalRatio] = shrunkRatio(En, Rn*srate, prior)
		}
	}

	// Temporal correlation.
	t, llr := changePoint(w.svcErr, w.svcReq)
	v[CPLLR] = llr
	cpOK := false
	if t >= 0 {
		v[CPOffset] = float64(t - B)
		e1, r1 := sum(w.svcErr[:t]), sum(w.svcReq[:t])
		e2, r2 := sum(w.svcErr[t:]), sum(w.svcReq[t:])
		v[CPRatio] = shrunkRatio(e2, r2*(e1+0.5)/(r1+1), prior)
		cpOK = llr >= cfg.Temporal.MinLLR && v[CPRatio] >= cfg.Impact.MinRatio &&
			t-B >= -cfg.Temporal.MinutesBefore && t-B <= cfg.Temporal.MinutesAfter
	}
	// The same-minute comparison starts at the new version's first elevated
	// minute, so that a fault with a delayed onset is compared while it shows.
	from := B
	if Rb > 0 {
		for k := 0; k < H; k++ {
			if j := B + k; w.newReq[j] > 0 && minuteElevated(w.newErr[j], w.newReq[j]*pexp, cfg) {
				from = j
				break
			}
		}
	}
	var oNE, oNR, oPE, oPR, oMin float64
	var oNP, oNW, oPP, oPW float64
	for j := B; j < B+H; j++ {
		if w.newReq[j] > 0 && w.prevReq[j] > 0 {
			oMin++
			if j >= from {
				oNE += w.newErr[j]
				oNR += w.newReq[j]
				oPE += w.prevErr[j]
				oPR += w.prevReq[j]
			}
			oNP += w.newP95w[j]
			oNW += w.newLatW[j]
			oPP += w.prevP95w[j]
			oPW += w.prevLatW[j]
		}
	}
	v[OverlapMinutes] = oMin
	overlapOK := oNR >= cfg.MinRequests && oPR >= cfg.MinRequests
	pPrev := 1.0
	if oNR > 0 && oPR > 0 {
		v[VsPrevRatio] = shrunkRatio(oNE, oNR*(oPE+0.5)/(oPR+1), prior)
		pPrev = binomUpper(oNE, oNE+oPE, oNR/(oNR+oPR))
		v[VsPrevNegLog10P] = negLog10(pPrev)
	}
	// The same-minute comparison decides when it is clear either way: new
	// significantly worse (pass), or no sign at all that it is worse
	// (fail: whatever raised the rate hit the previous version too).
	// Otherwise the change point decides.
	switch {
	case overlapOK && pPrev < cfg.Temporal.Alpha && v[VsPrevRatio] >= cfg.Impact.MinRatio:
		v[TemporalPass], v[TemporalByChangePoint] = 1, 0
	case overlapOK && pPrev >= noEvidenceP:
		v[TemporalPass], v[TemporalByChangePoint] = 0, 0
	case Rb+Rs > 0:
		v[TemporalPass], v[TemporalByChangePoint] = b2f(cpOK), 1
	}

	// Persistence.
	if Rb > 0 {
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
			lam := w.newReq[j] * pexp
			ratios[k] = shrunkRatio(w.newErr[j], lam, prior)
			if minuteElevated(w.newErr[j], lam, cfg) {
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

		// Buckets span the minutes the new version served: when it stopped
		// serving inside the window (rolled back or replaced — visible in
		// the data by the cut), persistence is judged while it served.
		span := 0
		for k := H - 1; k >= 0; k-- {
			if w.newReq[B+k] > 0 {
				span = k + 1
				break
			}
		}
		nb := max(1, min(cfg.Persistence.Buckets, span))
		elev := make([]bool, nb)
		firstB := -1
		for b := 0; b < nb && span > 0; b++ {
			a, z := B+b*span/nb, B+(b+1)*span/nb
			e, r := sum(w.newErr[a:z]), sum(w.newReq[a:z])
			if r <= 0 {
				continue
			}
			lam := r * pexp
			ratio := shrunkRatio(e, lam, prior)
			if b == 0 {
				v[FirstBucketRatio] = ratio
			}
			if b == nb-1 {
				v[LastBucketRatio] = ratio
			}
			elev[b] = ratio >= cfg.Impact.MinRatio && poissonUpper(e, lam) < cfg.Persistence.Alpha
			if elev[b] && firstB < 0 {
				firstB = b
			}
		}
		frac := 0.0
		if firstB >= 0 {
			c := 0
			for b := firstB; b < nb; b++ {
				if elev[b] {
					c++
				}
			}
			frac = float64(c) / float64(nb-firstB)
		}
		v[PersistenceFrac] = frac
		if Rn > 0 {
			served := span >= min(H, cfg.Persistence.MinServedMinutes)
			v[PersistencePass] = b2f(served && frac >= cfg.Persistence.MinFraction && elev[nb-1])
		}
	}

	// Unanimous ensemble.
	inconc := Rn < cfg.MinRequests || Rb < cfg.MinBaselineRequests
	v[Inconclusive] = b2f(inconc)
	vote(v)

	// New error signatures.
	var nsErr float64
	firstSig := -1
	for k, c := range w.sigNew {
		nsErr += c
		if c > 0 && firstSig < 0 {
			firstSig = k
		}
	}
	v[NewSigFingerprints] = float64(w.newFP)
	v[NewSigErrors] = nsErr
	if den := math.Max(En, w.sigTotal); den > 0 {
		v[NewSigShare] = math.Min(1, nsErr/den)
	}
	if Rn > 0 {
		v[NewSigRate] = 1000 * nsErr / Rn
	}
	v[NewSigPersist] = 0
	if firstSig >= 0 {
		c := 0
		for k := firstSig; k < H; k++ {
			if w.sigNew[k] > 0 {
				c++
			}
		}
		v[NewSigPersist] = float64(c) / float64(H-firstSig)
	}
	v[KnownFingerprints] = float64(w.knownFP)
	v[NewSigPass] = b2f(nsErr >= cfg.Signatures.MinErrors)

	// Latency.
	bw := sum(w.svcLatW[:B])
	nw := sum(w.newLatW[B:])
	if bw > 0 && nw > 0 {
		base95 := sum(w.svcP95w[:B]) / bw
		new95 := sum(w.newP95w[B:]) / nw
		if base95 > 0 {
			v[P95Ratio] = new95 / base95
		}
		if base99 := sum(w.svcP99w[:B]) / bw; base99 > 0 {
			v[P99Ratio] = (sum(w.newP99w[B:]) / nw) / base99
		}
		var m, m2, c float64
		for j := 0; j < B; j++ {
			if w.svcLatW[j] > 0 {
				x := w.svcP95w[j] / w.svcLatW[j]
				m += x
				m2 += x * x
				c++
			}
		}
		if c > 0 {
			m /= c
			sd := math.Sqrt(math.Max(0, m2/c-m*m))
			sd = math.Max(sd, 0.01*m)
			if sd > 0 {
				v[P95Z] = (new95 - m) / sd
			}
		}
	}
	if oNW > 0 && oPW > 0 && oPP > 0 {
		v[P95VsPrevRatio] = (oNP / oNW) / (oPP / oPW)
	}
	v[LatencyPass] = b2f(v[P95Ratio] >= cfg.Latency.MinRatio && v[P95Z] >= cfg.Latency.MinZ)

	// Traffic.
	const minTrafficRatio = 1e-4
	if Rb > 0 {
		tr := (Rs / float64(H)) / (Rb / float64(B)) / tf
		v[TrafficRatio] = tr
		// Floored so that a version that served nothing yet stays finite.
		v[TrafficLogRatio] = math.Log(math.Max(tr, minTrafficRatio))
		v[TrafficChangePass] = b2f(tr >= cfg.Traffic.Ratio || tr <= 1/cfg.Traffic.Ratio)
	}

	// The service's own elevation, by the rule the fleet counts use.
	el := make([]bool, B+H)
	Elevated(w.svcReq, w.svcErr, B, cfg, el)
	var ne float64
	for j := B; j < B+H; j++ {
		if el[j] {
			ne++
		}
	}
	v[ServiceElevatedFrac] = ne / float64(H)

	if w.fleet != nil {
		fillFleet(v, w.fleet, w.fleetTotal, B, H, cfg)
	}
}

// FillFleet sets the fleet columns of v (computed without fleet data) for a
// deploy starting at Unix minute start: the offline extractor computes
// fleet counts in a second pass and completes vectors with it. The result
// equals Compute on a window built with the same Fleet.
func FillFleet(v []float64, start int64, h int, f *Fleet, cfg *Config) {
	B := cfg.BaselineMinutes
	lo := start - int64(B)
	counts, total := cutFleet(f, lo, B+h)
	fillFleet(v, counts, total, B, h, cfg)
}

// vote sets checks_passed and the unanimous ensemble from the three pass
// columns and inconclusive.
func vote(v []float64) {
	passed := 0.0
	for _, k := range []int{ImpactPass, TemporalPass, PersistencePass} {
		if v[k] == 1 {
			passed++
		}
	}
	v[ChecksPassed] = passed
	v[EnsembleFaulty] = math.NaN()
	if v[Inconclusive] != 1 {
		v[EnsembleFaulty] = b2f(passed == 3)
	}
}

func fillFleet(v []float64, counts []float64, total, B, H int, cfg *Config) {
	v[FleetServices] = float64(total)
	for _, k := range []int{FleetElevatedFrac, FleetElevatedMaxFrac, FleetElevatedBaseFrac, FleetOutage, FleetAdjustedLogRatio, FleetElevatedAtCP} {
		v[k] = math.NaN()
	}
	if total <= 0 {
		return
	}
	n := float64(total)
	meanFrac := func(a, z int) (mean, mx float64) {
		var s, c float64
		mx = math.NaN()
		for j := a; j < z; j++ {
			if math.IsNaN(counts[j]) {
				continue
			}
			f := counts[j] / n
			s += f
			c++
			if math.IsNaN(mx) || f > mx {
				mx = f
			}
		}
		if c == 0 {
			return math.NaN(), math.NaN()
		}
		return s / c, mx
	}
	post, mx := meanFrac(B, B+H)
	base, _ := meanFrac(0, B)
	v[FleetElevatedFrac], v[FleetElevatedMaxFrac], v[FleetElevatedBaseFrac] = post, mx, base
	if !math.IsNaN(post) {
		v[FleetOutage] = b2f(post >= cfg.Fleet.OutageShare)
		v[FleetAdjustedLogRatio] = v[ImpactLogRatio] * (1 - post)
	}
	// A change point that came with other services' elevation is the
	// fleet's, not the deploy's: the temporal check then fails.
	if cp := v[CPOffset]; !math.IsNaN(cp) {
		c := B + int(cp)
		_, atCP := meanFrac(max(0, c-2), min(B+H, c+3))
		v[FleetElevatedAtCP] = atCP
		if v[TemporalByChangePoint] == 1 && v[TemporalPass] == 1 && atCP >= cfg.Fleet.ChangePointShare {
			v[TemporalPass] = 0
			vote(v)
		}
	}
}

// Elevated marks the minutes at which a service's error rate (all versions
// together, requests req and errors errs per consecutive minute) is
// significantly above its trailing baseline of the b minutes before:
// shrunk ratio ≥ fleet.elevated_ratio and Poisson p < fleet.elevated_alpha.
// out[i] depends on minutes i-b..i only, so elevation is point-in-time; the
// first b minutes are never elevated.
func Elevated(req, errs []float64, b int, cfg *Config, out []bool) {
	var rs, es float64
	for i := range out {
		out[i] = false
		if i >= b {
			if i > b {
				rs -= req[i-b-1]
				es -= errs[i-b-1]
			}
			if rs > 0 && req[i] > 0 {
				lam := req[i] * (es + 0.5) / (rs + 1)
				if shrunkRatio(errs[i], lam, cfg.PriorErrors) >= cfg.Fleet.ElevatedRatio &&
					poissonUpper(errs[i], lam) < cfg.Fleet.ElevatedAlpha {
					out[i] = true
				}
			}
		}
		rs += req[i]
		es += errs[i]
	}
}

// noEvidenceP: a same-minute comparison with p at or above this shows no
// sign that the new version is worse than the previous one.
const noEvidenceP = 0.2

// minuteElevated reports whether e errors against lam expected are
// elevated for the persistence check.
func minuteElevated(e, lam float64, cfg *Config) bool {
	return shrunkRatio(e, lam, cfg.PriorErrors) >= cfg.Impact.MinRatio && poissonUpper(e, lam) < cfg.Persistence.Alpha
}

func sum(a []float64) float64 {
	var s float64
	for _, x := range a {
		s += x
	}
	return s
}
