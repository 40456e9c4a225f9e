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
// minute absent had no traffic. A series with Version "" is the aggregate
// of all versions, as teams without per-version data have it: it stands
// for the service in the minutes no per-version series has, and is never
// the new or a previous version. Latencies are milliseconds, NaN when absent.
// P95 and P99 may be nil when no latency is known.
type Series struct {
	Version  string
	Minutes  []int64
	Requests []float64 // real-valued counts (history.Series)
	Errors   []float64
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
	// KPIs are the stream's declared KPIs (aggregate series); optional,
	// read by the before/after checks only.
	KPIs []KPISeries
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

	ba baView // the service around the start and on previous days (cutBeforeAfter)
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
	w := &Window{Deploy: in.Deploy, H: h, B: B, start: minuteOf(in.Deploy.StartedAt)}
	w.cutFacts(in, cfg)
	if err := w.cutSeries(in); err != nil {
		return nil, err
	}
	w.cutSeasonalDays(in, cfg)
	w.cutSignatures(in, cfg)
	if err := w.cutBeforeAfter(in, cfg); err != nil {
		return nil, err
	}
	if in.Fleet != nil {
		w.fleet, w.fleetTotal = cutFleet(in.Fleet, w.start-int64(B), B+h)
	}
	return w, nil
}

// cutTime is the end of the window: the deploy's start plus H minutes.
func (w *Window) cutTime() time.Time {
	return w.Deploy.StartedAt.Add(time.Duration(w.H) * time.Minute)
}

// cutFacts sets the facts known at deploy time or by the cut: minutes
// since the previous deploy (capped), whether another deploy started
// inside the window, and when the rollout finished if it did by the cut
// (a later end is erased from w.Deploy).
func (w *Window) cutFacts(in *Input, cfg *Config) {
	started, cutTime := in.Deploy.StartedAt, w.cutTime()
	w.sincePrev = float64(cfg.PrevDeployCapMinutes)
	if p := in.PrevDeployAt; !p.IsZero() && p.Before(started) {
		w.sincePrev = math.Min(w.sincePrev, started.Sub(p).Minutes())
	}
	for _, t := range in.OtherDeployStarts {
		if t.After(started) && t.Before(cutTime) {
			w.overlap = true
		}
	}
	w.finishedAfter = math.NaN()
	if f := in.Deploy.FinishedAt; !f.IsZero() && !f.After(cutTime) {
		w.finishedAfter = math.Max(0, f.Sub(started).Minutes())
	}
	if w.Deploy.FinishedAt.After(cutTime) {
		w.Deploy.FinishedAt = time.Time{} // not known yet at the cut
	}
}

// cutSeries fills the dense per-minute arrays of baseline and window from
// every version's series: the service (all versions), the new version
// (window minutes only) and the previous versions (those that served
// during the baseline). Minutes at or after the cut are dropped.
func (w *Window) cutSeries(in *Input) error {
	n := w.B + w.H
	buf := make([]float64, 14*n)
	take := func() []float64 { s := buf[:n:n]; buf = buf[n:]; return s }
	w.svcReq, w.svcErr, w.svcP95w, w.svcP99w, w.svcLatW = take(), take(), take(), take(), take()
	w.newReq, w.newErr, w.newP95w, w.newP99w, w.newLatW = take(), take(), take(), take(), take()
	w.prevReq, w.prevErr, w.prevP95w, w.prevLatW = take(), take(), take(), take()

	for k := range in.Series {
		if err := checkSeries(&in.Series[k]); err != nil {
			return fmt.Errorf("features: deployment %s: %w", in.Deploy.ID, err)
		}
	}
	// The aggregate series (version "") is the service only in minutes
	// without per-version rows (it is not their sum), and is neither the
	// new nor a previous version.
	covered := make([]bool, n)
	for _, aggregate := range [2]bool{false, true} {
		for k := range in.Series {
			if sr := &in.Series[k]; (sr.Version == aggregateVersion) == aggregate {
				w.cutVersion(sr, in.Deploy.Version, covered)
			}
		}
	}
	return nil
}

// cutVersion adds the minutes of series sr in [start-B, cut) to the
// service arrays and, for the new or a previous version, to theirs. An
// aggregate series (version "") adds only minutes not yet covered.
func (w *Window) cutVersion(sr *Series, newVersion string, covered []bool) {
	B, s := w.B, w.start
	lo, cut := s-int64(B), w.Cut()
	aggregate := sr.Version == aggregateVersion
	i := sort.Search(len(sr.Minutes), func(i int) bool { return sr.Minutes[i] >= lo })
	isNew := sr.Version == newVersion && !aggregate
	// Previous versions: the ones that served during the baseline.
	isPrev := !isNew && !aggregate && i < len(sr.Minutes) && sr.Minutes[i] < s
	for ; i < len(sr.Minutes) && sr.Minutes[i] < cut; i++ {
		j := int(sr.Minutes[i] - lo)
		if aggregate && covered[j] {
			continue
		}
		covered[j] = true
		req, er := sr.Requests[i], sr.Errors[i]
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

// cutSeasonalDays keeps, for each of the seasonal_days previous days whose
// same-clock window ends before the start, the service's errors and
// requests over that day's baseline and window, when both had traffic.
func (w *Window) cutSeasonalDays(in *Input, cfg *Config) {
	s, B, h := w.start, int64(w.B), int64(w.H)
	covered := make([]bool, B+h)
	for d := 1; d <= cfg.SeasonalDays; d++ {
		off := int64(d) * 1440
		if off < h {
			continue // would reach into the window itself
		}
		var sd seasonDay
		pre0, post0, post1 := s-off-B, s-off, s-off+h
		clear(covered)
		for _, aggregate := range [2]bool{false, true} {
			for k := range in.Series {
				sr := &in.Series[k]
				if (sr.Version == aggregateVersion) != aggregate {
					continue
				}
				sd.add(sr, pre0, post0, post1, covered)
			}
		}
		if sd.preR > 0 && sd.postR > 0 {
			w.days = append(w.days, sd)
		}
	}
}

// add adds the requests and errors of series sr over the day's baseline
// [pre0, post0) and window [post0, post1); an aggregate series (version
// "") only in minutes not yet covered.
func (sd *seasonDay) add(sr *Series, pre0, post0, post1 int64, covered []bool) {
	aggregate := sr.Version == aggregateVersion
	i := sort.Search(len(sr.Minutes), func(i int) bool { return sr.Minutes[i] >= pre0 })
	for ; i < len(sr.Minutes) && sr.Minutes[i] < post1; i++ {
		j := sr.Minutes[i] - pre0
		if aggregate && covered[j] {
			continue
		}
		covered[j] = true
		if sr.Minutes[i] < post0 {
			sd.preE += sr.Errors[i]
			sd.preR += sr.Requests[i]
		} else {
			sd.postE += sr.Errors[i]
			sd.postR += sr.Requests[i]
		}
	}
}

// cutSignatures classifies the new version's error fingerprints in the
// window: known when seen on the stream in the look-back before the start
// (from PriorFingerprints when given, else from the signature rows), new
// otherwise. It keeps the per-minute errors with new fingerprints and the
// counts of distinct new and known fingerprints.
func (w *Window) cutSignatures(in *Input, cfg *Config) {
	s, cut := w.start, w.Cut()
	w.sigNew = make([]float64, w.H)
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
