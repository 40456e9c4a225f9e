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
//
// The vector is filled by steps: each is a method of calc that writes its
// own group of columns (every column starts as NaN) and may read what the
// steps before it left in calc or in the vector. The order below is the
// order of their dependencies. To add a check or a signal:
//  1. add its columns to schema.go (indexes, schemaList, a new
//     SchemaVersion) and its group to docGroups in docs_test.go;
//  2. write one step method, with a doc comment saying what it computes,
//     what it assumes and which earlier results it reads;
//  3. call it below, after the steps it reads from.
func ComputeInto(v []float64, w *Window, cfg *Config) {
	_ = v[NumFeatures-1]
	for i := range v {
		v[i] = math.NaN()
	}
	c := calc{v: v, w: w, cfg: cfg, B: w.B, H: w.H, prior: cfg.PriorErrors}
	c.deployContext()
	c.volumes()
	c.seasonal()
	c.expectedRate()
	c.impact()
	c.temporal()
	c.elevatedMinutes()
	c.persistence()
	c.ensemble()
	c.signatures()
	c.latency()
	c.traffic()
	c.serviceElevation()
	c.fleet()
	c.beforeAfter()
}

// calc is one ComputeInto call: the window, the settings, the vector being
// filled, and the intermediate values that steps share. Each group of
// fields names the step that sets it; a step reads only what steps before
// it set. calc lives on the stack: steps are called directly, never through
// function values, so that computing a vector allocates no more than the
// steps themselves do.
type calc struct {
	v     []float64
	w     *Window
	cfg   *Config
	B, H  int     // baseline and window minutes
	prior float64 // cfg.PriorErrors

	// volumes: requests and errors over whole periods.
	baseR, baseE float64 // the service (all versions) over the baseline
	newR, newE   float64 // the new version over the window
	svcR         float64 // the service over the window

	// seasonal: the same clock window on previous days (w.days).
	seasonE, seasonR float64 // errors and requests of those windows, pooled
	trafficFactor    float64 // seasonal_traffic_factor (1 without days)
	errorFactor      float64 // seasonal_error_factor clamped to [1, impact.max_seasonal_factor]

	// expectedRate: the error rate the new version is held to, NaN
	// without baseline requests.
	pexp float64
}

// deployContext sets the columns known at deploy time or by the cut:
// rollback flag, change size, time since the previous deploy, clock time of
// the start, rollout progress and overlapping deploys. It reads only the
// deploy record and the facts NewWindow cut.
func (c *calc) deployContext() {
	v, w, d := c.v, c.w, &c.w.Deploy
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
		v[RolloutFinished], v[RolloutMinutes] = 0, float64(c.H)
	} else {
		v[RolloutFinished], v[RolloutMinutes] = 1, math.Min(w.finishedAfter, float64(c.H))
	}
	v[OverlapDeploy] = b2f(w.overlap)
}

// volumes sums requests and errors of the service over the baseline, of
// the new and the previous version(s) and of the service over the window
// (kept in calc for the later steps), and sets the traffic levels, the raw
// error rates and the new version's share of the last 5 window minutes.
// Rates are NaN where their requests are zero.
func (c *calc) volumes() {
	v, w, B := c.v, c.w, c.B
	c.baseR, c.baseE = sum(w.svcReq[:B]), sum(w.svcErr[:B])
	c.newR, c.newE = sum(w.newReq[B:]), sum(w.newErr[B:])
	prevR, prevE := sum(w.prevReq[B:]), sum(w.prevErr[B:])
	c.svcR = sum(w.svcReq[B:])
	last := max(B, B+c.H-5)
	if tot := sum(w.svcReq[last:]); tot > 0 {
		v[NewTrafficShare] = sum(w.newReq[last:]) / tot
	}
	v[BaselineRPM] = c.baseR / float64(B)
	v[LogBaselineRPM] = math.Log10(1 + v[BaselineRPM])
	v[NewRPM] = c.newR / float64(c.H)
	v[NewRequests], v[NewErrors] = c.newR, c.newE
	if c.baseR > 0 {
		v[BaselineErrorRate] = c.baseE / c.baseR
	}
	if c.newR > 0 {
		v[NewErrorRate] = c.newE / c.newR
	}
	if prevR > 0 {
		v[PrevErrorRate] = prevE / prevR
	}
}

// seasonal compares the same clock window on previous days (w.days, each
// with traffic before and after the clock time of the start) with its own
// baseline: the median shrunk error-rate ratio and the median traffic ratio
// over the days, 1 when there is no day. It keeps the pooled errors and
// requests of those windows and the error factor, clamped to
// [1, impact.max_seasonal_factor], for expectedRate and impact.
func (c *calc) seasonal() {
	v, w, B, H := c.v, c.w, c.B, c.H
	var facts, tfacts []float64
	for _, sd := range w.days {
		preRate := (sd.preE + 0.5) / (sd.preR + 1)
		facts = append(facts, shrunkRatio(sd.postE, sd.postR*preRate, c.prior))
		tfacts = append(tfacts, (sd.postR/float64(H))/(sd.preR/float64(B)))
		c.seasonE += sd.postE
		c.seasonR += sd.postR
	}
	v[SeasonalDaysUsed] = float64(len(w.days))
	sf, tf := 1.0, 1.0
	if len(w.days) > 0 {
		sf, tf = median(facts), median(tfacts)
		v[SeasonalErrorRate] = c.seasonE / c.seasonR
	}
	v[SeasonalErrorFactor], v[SeasonalTrafficFactor] = sf, tf
	c.trafficFactor = tf
	c.errorFactor = math.Min(math.Max(sf, 1), c.cfg.Impact.MaxSeasonalFactor)
}

// expectedRate sets the error rate the new version is held to: the
// service's baseline rate (smoothed by half an error per request) times
// the clamped seasonal factor; NaN without baseline requests. Impact,
// temporal and persistence all judge against it.
func (c *calc) expectedRate() {
	pb := math.NaN()
	if c.baseR > 0 {
		pb = (c.baseE + 0.5) / (c.baseR + 1)
	}
	c.pexp = pb * c.errorFactor
	c.v[ExpectedErrorRate] = c.pexp
}

func sum(a []float64) float64 {
	var s float64
	for _, x := range a {
		s += x
	}
	return s
}
