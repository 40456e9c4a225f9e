package features

import "math"

// The signals around the checks (new error signatures, latency, traffic):
// steps of ComputeInto.

// signatures sets the new-error-signature columns from the fingerprints
// NewWindow classified (new in the window versus known in the look-back):
// distinct and total new-fingerprint errors of the new version, their share
// of its errors and rate per 1000 requests, how persistently they recur
// from their first minute on, and the pass (new_sig_errors ≥
// signatures.min_errors). It reads the new version's volumes. Where the
// stream was not observed over the look-back (LookbackUnseen) and the
// window logged a fingerprint it did not hold, they are NaN.
func (c *calc) signatures() {
	v, w, H := c.v, c.w, c.H
	var nsErr float64
	firstSig := -1
	for k, n := range w.sigNew {
		nsErr += n
		if n > 0 && firstSig < 0 {
			firstSig = k
		}
	}
	v[NewSigFingerprints] = float64(w.newFP)
	v[NewSigErrors] = nsErr
	if den := math.Max(c.newE, w.sigTotal); den > 0 {
		v[NewSigShare] = math.Min(1, nsErr/den)
	}
	if c.newR > 0 {
		v[NewSigRate] = 1000 * nsErr / c.newR
	}
	v[NewSigPersist] = 0
	if firstSig >= 0 {
		n := 0
		for k := firstSig; k < H; k++ {
			if w.sigNew[k] > 0 {
				n++
			}
		}
		v[NewSigPersist] = float64(n) / float64(H-firstSig)
	}
	v[KnownFingerprints] = float64(w.knownFP)
	v[NewSigPass] = b2f(nsErr >= c.cfg.Signatures.MinErrors)
	if w.unseen && w.newFP > 0 {
		// Fingerprints the look-back did not hold, in a history that does
		// not reach back over it: not known to be new (LookbackUnseen).
		for _, col := range [...]int{NewSigFingerprints, NewSigErrors, NewSigShare, NewSigRate, NewSigPersist, NewSigPass} {
			v[col] = math.NaN()
		}
	}
}

// latency compares the new version's request-weighted p95 and p99 over the
// window with the service's over the baseline (ratios, and a z score of
// the p95 against the baseline's per-minute spread) and with the previous
// version's p95 over the minutes both served. Minutes without latency
// carry no weight; ratios are NaN without latency on either side. The
// pass needs p95_ratio ≥ latency.min_ratio and p95_z ≥ latency.min_z.
func (c *calc) latency() {
	v, w, B := c.v, c.w, c.B
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
		if m, sd, ok := w.baselineP95(); ok && sd > 0 {
			v[P95Z] = (new95 - m) / sd
		}
	}
	var oNP, oNW, oPP, oPW float64
	for j := B; j < B+c.H; j++ {
		if w.bothServe(j) {
			oNP += w.newP95w[j]
			oNW += w.newLatW[j]
			oPP += w.prevP95w[j]
			oPW += w.prevLatW[j]
		}
	}
	if oNW > 0 && oPW > 0 && oPP > 0 {
		v[P95VsPrevRatio] = (oNP / oNW) / (oPP / oPW)
	}
	v[LatencyPass] = b2f(v[P95Ratio] >= c.cfg.Latency.MinRatio && v[P95Z] >= c.cfg.Latency.MinZ)
}

// baselineP95 returns the mean and standard deviation of the service's
// per-minute weighted p95 over the baseline minutes with latency; the
// deviation is floored at 1% of the mean. ok is false without such minutes.
func (w *Window) baselineP95() (mean, sd float64, ok bool) {
	var m, m2, n float64
	for j := 0; j < w.B; j++ {
		if w.svcLatW[j] > 0 {
			x := w.svcP95w[j] / w.svcLatW[j]
			m += x
			m2 += x * x
			n++
		}
	}
	if n == 0 {
		return 0, 0, false
	}
	m /= n
	sd = math.Sqrt(math.Max(0, m2/n-m*m))
	return m, math.Max(sd, 0.01*m), true
}

// minTrafficRatio floors traffic_ratio inside its logarithm, so that a
// service that served nothing yet stays finite.
const minTrafficRatio = 1e-4

// traffic compares the service's requests per minute in the window with
// the baseline, divided by the seasonal traffic factor; the pass is a
// change by traffic.ratio either way. NaN without baseline requests.
func (c *calc) traffic() {
	v := c.v
	if c.baseR <= 0 {
		return
	}
	tr := (c.svcR / float64(c.H)) / (c.baseR / float64(c.B)) / c.trafficFactor
	v[TrafficRatio] = tr
	v[TrafficLogRatio] = math.Log(math.Max(tr, minTrafficRatio))
	v[TrafficChangePass] = b2f(tr >= c.cfg.Traffic.Ratio || tr <= 1/c.cfg.Traffic.Ratio)
}
