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

	start     int64   // deploy start minute
	sincePrev float64 // minutes since previous deploy, capped
	overlap   bool    // another deploy started within the window
	// own is the number of whole minutes from the start minute before the
	// minute in which the next deploy of the stream started, at most H:
	// the minutes of the window that only this version served.
	own           int
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

	// unseen: the stream was not observed over the signature look-back
	// (LookbackUnseen), so a fingerprint it had not logged is not known to
	// be new.
	unseen bool

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
// minutes before start+h and facts known by then. It (or NewWindows, or a
// Cutter) is the only way features see data, for both the extractor and
// detectors.
func NewWindow(in *Input, h int, cfg *Config) (*Window, error) {
	ws, err := new(Cutter).Windows(in, []int{h}, cfg)
	if err != nil {
		return nil, err
	}
	return ws[0], nil
}

// NewWindows builds the windows of in at each horizon of hs, in that
// order: window i is the one NewWindow(in, hs[i], cfg) builds, to the bit,
// and the horizons share the work they have in common.
func NewWindows(in *Input, hs []int, cfg *Config) ([]*Window, error) {
	return new(Cutter).Windows(in, hs, cfg)
}

// A Cutter builds windows as NewWindows does, reusing its buffers from one
// call to the next: the windows of a call, and everything they hold, are
// valid until the next call. It suits an extractor computing one deploy
// after another. The zero Cutter is ready to use; a Cutter is not safe for
// concurrent use.
type Cutter struct {
	wins    []Window
	ptrs    []*Window
	ba      baCut    // the before/after view at the largest horizon
	buf     f64Arena // the windows' dense arrays
	covered []bool
	known   map[string]bool // fingerprints known at the start
	newFPs  map[string]bool
	full    Window      // the dense arrays at the largest horizon (cutSeries)
	days    []seasonDay // cutSeasonalDays' sums, one per window
}

// Windows builds the windows of in at each horizon of hs, in that order,
// as NewWindows does, in the Cutter's buffers.
func (c *Cutter) Windows(in *Input, hs []int, cfg *Config) ([]*Window, error) {
	hmax := 0
	for _, h := range hs {
		if h <= 0 {
			return nil, fmt.Errorf("features: horizon must be positive, not %d", h)
		}
		hmax = max(hmax, h)
	}
	if in.Deploy.StartedAt.IsZero() {
		return nil, fmt.Errorf("features: deployment %q has no start time", in.Deploy.ID)
	}
	for k := range in.Series {
		if err := checkSeries(&in.Series[k]); err != nil {
			return nil, fmt.Errorf("features: deployment %s: %w", in.Deploy.ID, err)
		}
	}
	if len(hs) == 0 {
		return nil, nil
	}
	B := cfg.BaselineMinutes
	start := minuteOf(in.Deploy.StartedAt)
	c.buf.reset()
	if err := c.ba.cutBeforeAfter(in, start, B, hmax, cfg); err != nil {
		return nil, fmt.Errorf("features: deployment %s: %w", in.Deploy.ID, err)
	}
	known := c.knownPrints(in, start, cfg)
	// The dense arrays of baseline and window hold per-minute sums: those
	// of a smaller horizon are the first B+H minutes of the largest's.
	c.full = Window{Deploy: in.Deploy, H: hmax, B: B, start: start}
	c.full.cutSeries(in, c)
	if cap(c.wins) < len(hs) {
		c.wins = make([]Window, len(hs))
		c.ptrs = make([]*Window, len(hs))
	}
	c.wins, c.ptrs = c.wins[:len(hs)], c.ptrs[:len(hs)]
	prev := int64(math.MinInt64)
	if p := in.PrevDeployAt; !p.IsZero() {
		prev = minuteOf(p)
	}
	unseen := LookbackUnseen(firstSeriesMinute(in.Series), prev, start, cfg.SignatureLookbackMinutes)
	for i, h := range hs {
		w := &c.wins[i]
		days, kpis := w.days[:0], w.ba.kpis[:0]
		*w = Window{Deploy: in.Deploy, H: h, B: B, start: start, days: days}
		w.ba.kpis = kpis
		w.cutFacts(in, cfg)
		w.seriesOf(&c.full)
		w.cutSignatures(in, known, c)
		w.unseen = unseen
		c.ba.view(&w.ba, B, h)
		if in.Fleet != nil {
			w.fleet, w.fleetTotal = cutFleet(in.Fleet, w.start-int64(B), B+h, &c.buf)
		}
		c.ptrs[i] = w
	}
	c.cutSeasonalDays(in, cfg, c.wins, hmax)
	return c.ptrs, nil
}

// seriesOf sets w's dense arrays to the first B+H minutes of full's (the
// same deploy at a horizon at least w's).
func (w *Window) seriesOf(full *Window) {
	n := w.B + w.H
	cut := func(x []float64) []float64 { return x[:n:n] }
	w.svcReq, w.svcErr, w.svcP95w, w.svcP99w, w.svcLatW = cut(full.svcReq), cut(full.svcErr), cut(full.svcP95w), cut(full.svcP99w), cut(full.svcLatW)
	w.newReq, w.newErr, w.newP95w, w.newP99w, w.newLatW = cut(full.newReq), cut(full.newErr), cut(full.newP95w), cut(full.newP99w), cut(full.newLatW)
	w.prevReq, w.prevErr, w.prevP95w, w.prevLatW = cut(full.prevReq), cut(full.prevErr), cut(full.prevP95w), cut(full.prevLatW)
}

// bools returns n false values from the Cutter's buffer.
func (c *Cutter) bools(n int) []bool {
	if cap(c.covered) < n {
		c.covered = make([]bool, n)
	}
	c.covered = c.covered[:n]
	clear(c.covered)
	return c.covered
}

// zeros returns n zero values from the Cutter's buffer.
func (c *Cutter) zeros(n int) []float64 {
	s := c.buf.take(n)
	clear(s)
	return s
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
	w.own = w.H
	for _, t := range in.OtherDeployStarts {
		if t.After(started) && t.Before(cutTime) {
			w.overlap = true
			w.own = min(w.own, int(minuteOf(t)-w.start))
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
// It assumes the series were checked (checkSeries).
func (w *Window) cutSeries(in *Input, c *Cutter) {
	n := w.B + w.H
	buf := c.zeros(14 * n)
	take := func() []float64 { s := buf[:n:n]; buf = buf[n:]; return s }
	w.svcReq, w.svcErr, w.svcP95w, w.svcP99w, w.svcLatW = take(), take(), take(), take(), take()
	w.newReq, w.newErr, w.newP95w, w.newP99w, w.newLatW = take(), take(), take(), take(), take()
	w.prevReq, w.prevErr, w.prevP95w, w.prevLatW = take(), take(), take(), take()

	// The aggregate series (version "") is the service only in minutes
	// without per-version rows (it is not their sum), and is neither the
	// new nor a previous version.
	covered := c.bools(n)
	for _, aggregate := range [2]bool{false, true} {
		for k := range in.Series {
			if sr := &in.Series[k]; (sr.Version == aggregateVersion) == aggregate {
				w.cutVersion(sr, in.Deploy.Version, covered)
			}
		}
	}
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

// cutSeasonalDays keeps in each window of ws (one deploy at several
// horizons, the largest hmax), for each of the seasonal_days previous days
// whose same-clock window ends before the start, the service's errors and
// requests over that day's baseline and window, when both had traffic.
// One pass over each day serves every window: each window's sums add the
// same rows in the same order as a pass of its own would.
func (c *Cutter) cutSeasonalDays(in *Input, cfg *Config, ws []Window, hmax int) {
	if len(ws) == 0 {
		return
	}
	s, B := ws[0].start, int64(ws[0].B)
	covered := c.bools(int(B) + hmax)
	if cap(c.days) < len(ws) {
		c.days = make([]seasonDay, len(ws))
	}
	post := c.days[:len(ws)] // each window's sums over its window
	for d := 1; d <= cfg.SeasonalDays; d++ {
		off := int64(d) * 1440
		pre0, post0, post1 := s-off-B, s-off, s-off+int64(hmax)
		var pre seasonDay // the baseline, the same for every window
		clear(post)
		clear(covered)
		for _, aggregate := range [2]bool{false, true} {
			for k := range in.Series {
				sr := &in.Series[k]
				if (sr.Version == aggregateVersion) != aggregate {
					continue
				}
				i := sort.Search(len(sr.Minutes), func(i int) bool { return sr.Minutes[i] >= pre0 })
				for ; i < len(sr.Minutes) && sr.Minutes[i] < post1; i++ {
					m := sr.Minutes[i]
					if j := m - pre0; aggregate && covered[j] {
						continue
					} else {
						covered[j] = true
					}
					if m < post0 {
						pre.preE += sr.Errors[i]
						pre.preR += sr.Requests[i]
						continue
					}
					for k := range ws {
						if m < post0+int64(ws[k].H) {
							post[k].postE += sr.Errors[i]
							post[k].postR += sr.Requests[i]
						}
					}
				}
			}
		}
		for k := range ws {
			if off < int64(ws[k].H) {
				continue // would reach into the window itself
			}
			if sd := (seasonDay{preE: pre.preE, preR: pre.preR, postE: post[k].postE, postR: post[k].postR}); sd.preR > 0 && sd.postR > 0 {
				ws[k].days = append(ws[k].days, sd)
			}
		}
	}
}

// knownPrints returns the fingerprints known at the start of in's deploy:
// seen on the stream in the look-back before the start minute (from
// PriorFingerprints when given, else from the signature rows).
func (c *Cutter) knownPrints(in *Input, s int64, cfg *Config) map[string]bool {
	if c.known == nil {
		c.known = map[string]bool{}
	}
	known := c.known
	clear(known)
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
	return known
}

// LookbackUnseen reports whether a stream was not observed over the
// signature look-back of lookback minutes before the start minute start
// well enough to call a fingerprint new: its metrics begin (first, the
// first minute with any row; negative when none) in the second half of the
// look-back — a history imported or recorded from a later day; a gap of a
// few minutes at its start does not count — and the latest deployment of
// the stream that started before the start minute (prev, its minute;
// math.MinInt64 when none) did not start in it. A fingerprint is new when
// the stream had not logged it; where the history does not reach back, not
// having logged it is missing evidence, and the errors every restart logs
// look new at the first restart the history holds. One earlier deployment
// in the observed part is enough: its restart logged them. The features'
// new_sig_* columns are NaN there when the window logged a fingerprint the
// look-back did not hold, and labeling's new_error_signatures abstains.
func LookbackUnseen(first, prev, start int64, lookback int) bool {
	look := start - int64(lookback)
	if first >= 0 && first <= look+(start-look)/2 {
		return false
	}
	return !(prev >= look && prev < start)
}

// firstSeriesMinute returns the first minute of any of series, -1 when
// they have none.
func firstSeriesMinute(series []Series) int64 {
	first := int64(-1)
	for i := range series {
		if m := series[i].Minutes; len(m) > 0 && (first < 0 || m[0] < first) {
			first = m[0]
		}
	}
	return first
}

// cutSignatures classifies the new version's error fingerprints in the
// window: known when seen on the stream in the look-back before the start
// (known, from knownPrints), new otherwise. It keeps the per-minute errors
// with new fingerprints and the counts of distinct new and known
// fingerprints.
func (w *Window) cutSignatures(in *Input, known map[string]bool, c *Cutter) {
	s, cut := w.start, w.Cut()
	w.sigNew = c.zeros(w.H)
	w.knownFP = len(known)
	if c.newFPs == nil {
		c.newFPs = map[string]bool{}
	}
	newFPs := c.newFPs
	clear(newFPs)
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
// The values come from a, or are allocated when a is nil.
func cutFleet(f *Fleet, lo int64, n int, a *f64Arena) ([]float64, int) {
	var out []float64
	if a != nil {
		out = a.take(n)
	} else {
		out = make([]float64, n)
	}
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
