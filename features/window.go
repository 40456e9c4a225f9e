package features

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Deploy is what is known about a deployment when it starts.
type Deploy struct {
	ID          string
	Service     string
	Environment string
	Version     string
	StartedAt   time.Time
	// FinishedAt is when the rollout reached 100%; zero when unknown. A
	// window ignores it when it lies after start+H.
	FinishedAt time.Time
	// Change size; negative when unknown.
	FilesChanged int64
	LinesAdded   int64
	LinesDeleted int64
	// Rollback is true for a deployment of a version deployed before.
	Rollback bool
}

// Series is the per-minute traffic of one version of the deploy's service in
// its environment, sorted by minute (Unix minutes, strictly ascending). A
// minute absent had no traffic. Latencies are milliseconds, NaN when absent.
// P95 and P99 may be nil when no latency is known.
type Series struct {
	Version  string
	Minutes  []int64
	Requests []int64
	Errors   []int64
	P95      []float64
	P99      []float64
}

// SignatureRow is the count of one error fingerprint in one minute of one
// version of the deploy's service in its environment.
type SignatureRow struct {
	Minute      int64
	Version     string
	Fingerprint string
	Count       int64
}

// Fleet is the environment around the deploy's service: for each minute
// from Start on, how many OTHER services of the environment were elevated
// (see Elevated; elevation at a minute uses data up to that minute only),
// and how many other services the environment has.
type Fleet struct {
	Start    int64   // Unix minute of Others[0]
	Others   []int32 // other services elevated, per minute
	Services int     // other services in the environment
}

// Input is the raw material of a window: everything a caller (the offline
// extractor or an online detector) holds about one deploy. It may contain
// data from after start+H — NewWindow drops it — so callers need not cut.
type Input struct {
	Deploy Deploy
	// PrevDeployAt is the start of the previous deployment of the same
	// service and environment; zero when none is known.
	PrevDeployAt time.Time
	// OtherDeployStarts are start times of other deployments of the same
	// service and environment; only those after this deploy's start and
	// before start+H are used.
	OtherDeployStarts []time.Time
	// Series holds every version of the stream. It should cover the
	// baseline, the window, and the seasonal days before.
	Series []Series
	// Signatures are the stream's signature rows sorted by minute. Rows in
	// the window define the new version's fingerprints; when
	// PriorFingerprints is nil, rows in the look-back before the start
	// define the known ones.
	Signatures []SignatureRow
	// PriorFingerprints optionally maps each fingerprint of the stream to
	// the last minute before the deploy's start minute at which it was
	// seen (any version). Entries at or after the start minute are ignored.
	PriorFingerprints map[string]int64
	// Fleet is optional; without it the fleet features are NaN.
	Fleet *Fleet
}

// Window is one deploy seen at horizon H: only data of minutes before
// start+H. Build it with NewWindow.
type Window struct {
	Deploy Deploy
	H      int // horizon, minutes
	B      int // baseline minutes

	start         int64   // deploy start minute
	sincePrev     float64 // minutes since previous deploy, capped
	overlap       bool    // another deploy started within the window
	finishedAfter float64 // minutes from start to finish; NaN when not finished by the cut

	// Dense per-minute arrays, length B+H; index i is minute start-B+i.
	svcReq, svcErr, svcP95w, svcP99w, svcLatW []float64
	newReq, newErr, newP95w, newP99w, newLatW []float64
	prevReq, prevErr, prevP95w, prevLatW      []float64

	days []seasonDay

	sigNew     []float64 // per window minute, new-version errors with new fingerprints
	sigTotal   float64   // new-version signature counts in the window
	newFP      int       // distinct new fingerprints
	knownFP    int       // distinct known fingerprints
	fleet      []float64 // other services elevated per minute, length B+H; nil without fleet
	fleetTotal int
}

type seasonDay struct {
	preE, preR, postE, postR float64
}

// Start returns the deploy's start minute (Unix minutes).
func (w *Window) Start() int64 { return w.start }

// Cut returns the first Unix minute not in the window: start minute + H.
func (w *Window) Cut() int64 { return w.start + int64(w.H) }

// minuteOf converts a time to Unix minutes (floor).
func minuteOf(t time.Time) int64 {
	s := t.Unix()
	if s < 0 && s%60 != 0 {
		return s/60 - 1
	}
	return s / 60
}

// NewWindow builds the window of in at horizon h: it keeps only data of
// minutes before start+h and facts known by then. It is the only way
// features see data, for both the extractor and detectors.
func NewWindow(in *Input, h int, cfg *Config) (*Window, error) {
	if h <= 0 {
		return nil, fmt.Errorf("features: horizon must be positive, not %d", h)
	}
	if in.Deploy.StartedAt.IsZero() {
		return nil, fmt.Errorf("features: deployment %q has no start time", in.Deploy.ID)
	}
	B := cfg.BaselineMinutes
	w := &Window{Deploy: in.Deploy, H: h, B: B}
	s := minuteOf(in.Deploy.StartedAt)
	w.start = s
	cut := s + int64(h)
	cutTime := in.Deploy.StartedAt.Add(time.Duration(h) * time.Minute)

	// Facts known at deploy time or by the cut.
	w.sincePrev = float64(cfg.PrevDeployCapMinutes)
	if p := in.PrevDeployAt; !p.IsZero() && p.Before(in.Deploy.StartedAt) {
		w.sincePrev = math.Min(w.sincePrev, in.Deploy.StartedAt.Sub(p).Minutes())
	}
	for _, t := range in.OtherDeployStarts {
		if t.After(in.Deploy.StartedAt) && t.Before(cutTime) {
			w.overlap = true
		}
	}
	w.finishedAfter = math.NaN()
	if f := in.Deploy.FinishedAt; !f.IsZero() && !f.After(cutTime) {
		w.finishedAfter = math.Max(0, f.Sub(in.Deploy.StartedAt).Minutes())
	}
	if w.Deploy.FinishedAt.After(cutTime) {
		w.Deploy.FinishedAt = time.Time{} // not known yet at the cut
	}

	n := B + h
	buf := make([]float64, 14*n)
	take := func() []float64 { s := buf[:n:n]; buf = buf[n:]; return s }
	w.svcReq, w.svcErr, w.svcP95w, w.svcP99w, w.svcLatW = take(), take(), take(), take(), take()
	w.newReq, w.newErr, w.newP95w, w.newP99w, w.newLatW = take(), take(), take(), take(), take()
	w.prevReq, w.prevErr, w.prevP95w, w.prevLatW = take(), take(), take(), take()

	lo := s - int64(B)
	for k := range in.Series {
		sr := &in.Series[k]
		if err := checkSeries(sr); err != nil {
			return nil, fmt.Errorf("features: deployment %s: %w", in.Deploy.ID, err)
		}
		isNew := sr.Version == in.Deploy.Version
		// Previous versions: the ones that served during the baseline.
		isPrev := false
		if !isNew {
			i := sort.Search(len(sr.Minutes), func(i int) bool { return sr.Minutes[i] >= lo })
			isPrev = i < len(sr.Minutes) && sr.Minutes[i] < s
		}
		i := sort.Search(len(sr.Minutes), func(i int) bool { return sr.Minutes[i] >= lo })
		for ; i < len(sr.Minutes) && sr.Minutes[i] < cut; i++ {
			j := int(sr.Minutes[i] - lo)
			req, er := float64(sr.Requests[i]), float64(sr.Errors[i])
			p95, p99 := at(sr.P95, i), at(sr.P99, i)
			w.svcReq[j] += req
			w.svcErr[j] += er
			addLat(w.svcP95w, w.svcP99w, w.svcLatW, j, req, p95, p99)
			switch {
			case isNew && j >= B:
				w.newReq[j] += req
				w.newErr[j] += er
				addLat(w.newP95w, w.newP99w, w.newLatW, j, req, p95, p99)
			case isPrev:
				w.prevReq[j] += req
				w.prevErr[j] += er
				addLat(w.prevP95w, nil, w.prevLatW, j, req, p95, math.NaN())
			}
		}
	}

	// Seasonal days: same clock time on previous days (all before the start).
	for d := 1; d <= cfg.SeasonalDays; d++ {
		off := int64(d) * 1440
		if off < int64(h) {
			continue // would reach into the window itself
		}
		var sd seasonDay
		pre0, post0, post1 := s-off-int64(B), s-off, s-off+int64(h)
		for k := range in.Series {
			sr := &in.Series[k]
			i := sort.Search(len(sr.Minutes), func(i int) bool { return sr.Minutes[i] >= pre0 })
			for ; i < len(sr.Minutes) && sr.Minutes[i] < post1; i++ {
				if sr.Minutes[i] < post0 {
					sd.preE += float64(sr.Errors[i])
					sd.preR += float64(sr.Requests[i])
				} else {
					sd.postE += float64(sr.Errors[i])
					sd.postR += float64(sr.Requests[i])
				}
			}
		}
		if sd.preR > 0 && sd.postR > 0 {
			w.days = append(w.days, sd)
		}
	}

	// Error signatures.
	w.sigNew = make([]float64, h)
	known := map[string]bool{}
	lb := s - int64(cfg.SignatureLookbackMinutes)
	if in.PriorFingerprints != nil {
		for fp, last := range in.PriorFingerprints {
			if last >= lb && last < s {
				known[fp] = true
			}
		}
	} else {
		i := sort.Search(len(in.Signatures), func(i int) bool { return in.Signatures[i].Minute >= lb })
		for ; i < len(in.Signatures) && in.Signatures[i].Minute < s; i++ {
			known[in.Signatures[i].Fingerprint] = true
		}
	}
	w.knownFP = len(known)
	newFPs := map[string]bool{}
	i := sort.Search(len(in.Signatures), func(i int) bool { return in.Signatures[i].Minute >= s })
	for ; i < len(in.Signatures) && in.Signatures[i].Minute < cut; i++ {
		r := &in.Signatures[i]
		if r.Version != in.Deploy.Version {
			continue
		}
		w.sigTotal += float64(r.Count)
		if !known[r.Fingerprint] {
			newFPs[r.Fingerprint] = true
			w.sigNew[r.Minute-s] += float64(r.Count)
		}
	}
	w.newFP = len(newFPs)

	if in.Fleet != nil {
		w.fleet, w.fleetTotal = cutFleet(in.Fleet, lo, n)
	}
	return w, nil
}

// cutFleet copies the fleet counts of minutes [lo, lo+n); minutes the
// fleet does not cover are NaN.
func cutFleet(f *Fleet, lo int64, n int) ([]float64, int) {
	out := make([]float64, n)
	for j := range out {
		k := lo + int64(j) - f.Start
		if k < 0 || k >= int64(len(f.Others)) {
			out[j] = math.NaN()
			continue
		}
		out[j] = float64(f.Others[k])
	}
	return out, f.Services
}

func checkSeries(sr *Series) error {
	n := len(sr.Minutes)
	if len(sr.Requests) != n || len(sr.Errors) != n || (sr.P95 != nil && len(sr.P95) != n) || (sr.P99 != nil && len(sr.P99) != n) {
		return fmt.Errorf("series of version %q: columns of different lengths", sr.Version)
	}
	return nil
}

func at(v []float64, i int) float64 {
	if v == nil {
		return math.NaN()
	}
	return v[i]
}

func addLat(p95w, p99w, lw []float64, j int, req, p95, p99 float64) {
	if req <= 0 || math.IsNaN(p95) {
		return
	}
	p95w[j] += req * p95
	if p99w != nil && !math.IsNaN(p99) {
		p99w[j] += req * p99
	}
	lw[j] += req
}
