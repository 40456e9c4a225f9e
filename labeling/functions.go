package labeling

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

const (
	faulty  = labelmodel.Positive
	healthy = labelmodel.Negative
	abstain = labelmodel.Abstain
)

// streamDeploys are the deployments of one service and environment, ordered
// by start, with the first start of every version.
type streamDeploys struct {
	ds        []history.Deployment
	firstSeen map[string]time.Time
}

func newStreamDeploys(ds []history.Deployment) *streamDeploys {
	s := &streamDeploys{ds: ds, firstSeen: map[string]time.Time{}}
	for _, d := range ds {
		if t, ok := s.firstSeen[d.Version]; !ok || d.StartedAt.Before(t) {
			s.firstSeen[d.Version] = d.StartedAt
		}
	}
	return s
}

// successor returns the index of the first later deployment of another
// version than deployment i, or -1.
func (s *streamDeploys) successor(i int) int {
	for j := i + 1; j < len(s.ds); j++ {
		if s.ds[j].Version != s.ds[i].Version {
			return j
		}
	}
	return -1
}

// isRollback reports whether deployment j rolls back: its kind says so, or
// its version was deployed to the stream before.
func (s *streamDeploys) isRollback(j int) bool {
	d := s.ds[j]
	return d.Kind == history.KindRollback || s.firstSeen[d.Version].Before(d.StartedAt)
}

// latestBefore returns the index of the latest deployment started at or
// before t, or -1.
func (s *streamDeploys) latestBefore(t time.Time) int {
	i := sort.Search(len(s.ds), func(i int) bool { return s.ds[i].StartedAt.After(t) })
	return i - 1
}

// fleet is the deployment and incident history the functions look at.
type fleet struct {
	streams   map[history.Stream]*streamDeploys
	envs      map[string][]string // service -> environments, sorted
	incidents []history.Incident  // ordered by OpenedAt
	linked    map[string]bool     // deployments that an incident names
	// pos locates a deployment: its stream and index there.
	pos map[string]deployPos
}

type deployPos struct {
	stream history.Stream
	i      int
}

func newFleet(all []history.Deployment, incidents []history.Incident) *fleet {
	incidents = slices.Clone(incidents)
	sort.SliceStable(incidents, func(a, b int) bool { return incidents[a].OpenedAt.Before(incidents[b].OpenedAt) })
	f := &fleet{streams: map[history.Stream]*streamDeploys{}, envs: map[string][]string{}, incidents: incidents,
		linked: map[string]bool{}, pos: make(map[string]deployPos, len(all))}
	for _, in := range incidents {
		if in.DeploymentID != "" {
			f.linked[in.DeploymentID] = true
		}
	}
	by := map[history.Stream][]history.Deployment{}
	for _, d := range all {
		k := history.Stream{Service: d.Service, Environment: d.Environment}
		by[k] = append(by[k], d)
	}
	for k, ds := range by {
		sort.SliceStable(ds, func(a, b int) bool {
			if !ds[a].StartedAt.Equal(ds[b].StartedAt) {
				return ds[a].StartedAt.Before(ds[b].StartedAt)
			}
			return ds[a].ID < ds[b].ID
		})
		f.streams[k] = newStreamDeploys(ds)
		f.envs[k.Service] = append(f.envs[k.Service], k.Environment)
		for i, d := range ds {
			f.pos[d.ID] = deployPos{k, i}
		}
	}
	for _, e := range f.envs {
		slices.Sort(e)
	}
	return f
}

// incidentFaulty returns the deployments the incident function votes
// faulty on.
func (f *fleet) incidentFaulty(cfg IncidentConfig) map[string]bool {
	out := map[string]bool{}
	window := time.Duration(cfg.WindowMinutes) * time.Minute
	for _, in := range f.incidents {
		if cfg.Linked && in.DeploymentID != "" {
			out[in.DeploymentID] = true
			continue
		}
		envs := []string{in.Environment}
		if in.Environment == "" {
			envs = f.envs[in.Service]
		}
		for _, env := range envs {
			s := f.streams[history.Stream{Service: in.Service, Environment: env}]
			if s == nil {
				continue
			}
			i := s.latestBefore(in.OpenedAt)
			if i >= 0 && in.OpenedAt.Sub(s.ds[i].StartedAt) <= window {
				out[s.ds[i].ID] = true
			}
		}
	}
	return out
}

// incidentDuring reports whether an incident was linked to d or opened on
// its service and environment (or all environments) in [from, until).
func (f *fleet) incidentDuring(d history.Deployment, from, until time.Time) bool {
	i := sort.Search(len(f.incidents), func(i int) bool { return !f.incidents[i].OpenedAt.Before(from) })
	for ; i < len(f.incidents) && f.incidents[i].OpenedAt.Before(until); i++ {
		in := f.incidents[i]
		if in.Service == d.Service && (in.Environment == "" || in.Environment == d.Environment) {
			return true
		}
	}
	return f.linked[d.ID]
}

// seriesIndex answers range sums over one version's per-minute series.
type seriesIndex struct {
	minutes []int64
	// Prefix sums, length len(minutes)+1.
	req, errs     []int64
	w95, l95      []float64 // requests of minutes with p95, and p95×requests
	w99, l99      []float64
	latMins, mins []int64 // minutes with p95; minutes with requests
}

func newSeriesIndex(s *history.Series) *seriesIndex {
	n := s.Len()
	x := &seriesIndex{minutes: s.Minutes, req: make([]int64, n+1), errs: make([]int64, n+1),
		w95: make([]float64, n+1), l95: make([]float64, n+1), w99: make([]float64, n+1), l99: make([]float64, n+1),
		latMins: make([]int64, n+1), mins: make([]int64, n+1)}
	for i := range n {
		r := s.Requests[i]
		x.req[i+1] = x.req[i] + r
		x.errs[i+1] = x.errs[i] + s.Errors[i]
		x.w95[i+1], x.l95[i+1] = x.w95[i], x.l95[i]
		x.w99[i+1], x.l99[i+1] = x.w99[i], x.l99[i]
		x.latMins[i+1], x.mins[i+1] = x.latMins[i], x.mins[i]
		if r > 0 {
			x.mins[i+1]++
		}
		if i < len(s.P95) && r > 0 && !math.IsNaN(s.P95[i]) {
			x.w95[i+1] += float64(r)
			x.l95[i+1] += float64(r) * s.P95[i]
			x.latMins[i+1]++
		}
		if i < len(s.P99) && r > 0 && !math.IsNaN(s.P99[i]) {
			x.w99[i+1] += float64(r)
			x.l99[i+1] += float64(r) * s.P99[i]
		}
	}
	return x
}

// window holds sums over a range of minutes.
type window struct {
	req, errs          int64
	w95, l95, w99, l99 float64
	latMins, mins      int64
	lastMinute         int64 // last minute with requests; -1 when none
}

func (w *window) add(o window) {
	w.req += o.req
	w.errs += o.errs
	w.w95 += o.w95
	w.l95 += o.l95
	w.w99 += o.w99
	w.l99 += o.l99
	w.latMins += o.latMins
	w.mins += o.mins
	w.lastMinute = max(w.lastMinute, o.lastMinute)
}

func (w *window) p95() float64 { return ratioF(w.l95, w.w95) }
func (w *window) p99() float64 { return ratioF(w.l99, w.w99) }

func ratioF(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}

// sum returns the sums over minutes in [a, b).
func (x *seriesIndex) sum(a, b int64) window {
	lo, _ := slices.BinarySearch(x.minutes, a)
	hi, _ := slices.BinarySearch(x.minutes, b)
	w := window{lastMinute: -1}
	if hi <= lo {
		return w
	}
	w.req = x.req[hi] - x.req[lo]
	w.errs = x.errs[hi] - x.errs[lo]
	w.w95, w.l95 = x.w95[hi]-x.w95[lo], x.l95[hi]-x.l95[lo]
	w.w99, w.l99 = x.w99[hi]-x.w99[lo], x.l99[hi]-x.l99[lo]
	w.latMins, w.mins = x.latMins[hi]-x.latMins[lo], x.mins[hi]-x.mins[lo]
	for i := hi - 1; i >= lo; i-- {
		if x.req[i+1] > x.req[i] {
			w.lastMinute = x.minutes[i]
			break
		}
	}
	return w
}

// streamData is the traffic and error signatures of one stream.
type streamData struct {
	versions   map[string]*seriesIndex
	names      []string // versions, sorted
	lastMinute int64    // last minute with any row; -1 when none
	// Error signatures: minutes at which each fingerprint occurred (any
	// version), and each version's rows ordered by minute.
	fpMinutes map[string][]int64
	sigs      map[string][]history.Signature
}

// version returns the sums of version v over [a, b).
func (sd *streamData) version(v string, a, b int64) window {
	if x := sd.versions[v]; x != nil {
		return x.sum(a, b)
	}
	return window{lastMinute: -1}
}

// others returns the sums of every version but v over [a, b).
func (sd *streamData) others(v string, a, b int64) window {
	w := window{lastMinute: -1}
	for _, name := range sd.names { // sorted: float sums in a fixed order
		if name != v {
			w.add(sd.versions[name].sum(a, b))
		}
	}
	return w
}

func loadStreamData(ctx context.Context, r history.Reader, s history.Stream, rng history.Range, withSigs bool) (*streamData, error) {
	series, err := r.Metrics(ctx, s, rng)
	if err != nil {
		return nil, fmt.Errorf("read metrics of %s/%s: %w", s.Service, s.Environment, err)
	}
	sd := &streamData{versions: make(map[string]*seriesIndex, len(series)), lastMinute: -1}
	for i := range series {
		sd.versions[series[i].Version] = newSeriesIndex(&series[i])
		sd.names = append(sd.names, series[i].Version)
		if n := series[i].Len(); n > 0 {
			sd.lastMinute = max(sd.lastMinute, series[i].Minutes[n-1])
		}
	}
	slices.Sort(sd.names)
	if withSigs {
		rows, err := r.Signatures(ctx, s, rng)
		if err != nil {
			return nil, fmt.Errorf("read error signatures of %s/%s: %w", s.Service, s.Environment, err)
		}
		sd.fpMinutes = map[string][]int64{}
		sd.sigs = map[string][]history.Signature{}
		for _, row := range rows {
			m := history.UnixMinute(row.Minute)
			fm := sd.fpMinutes[row.Fingerprint]
			if len(fm) == 0 || fm[len(fm)-1] != m {
				sd.fpMinutes[row.Fingerprint] = append(fm, m)
			}
			sd.sigs[row.Version] = append(sd.sigs[row.Version], row)
		}
		for _, fm := range sd.fpMinutes {
			slices.Sort(fm)
		}
		for _, vs := range sd.sigs {
			sort.SliceStable(vs, func(a, b int) bool { return vs[a].Minute.Before(vs[b].Minute) })
		}
	}
	return sd, nil
}

// seenIn reports whether fingerprint fp occurred in [a, b).
func (sd *streamData) seenIn(fp string, a, b int64) bool {
	fm := sd.fpMinutes[fp]
	i, _ := slices.BinarySearch(fm, a)
	return i < len(fm) && fm[i] < b
}

// builtinVotes computes the votes of the enabled built-in functions on
// targets. ensemble maps deployment ids to ensemble_faulty (nil when the
// ensemble function is disabled).
func builtinVotes(ctx context.Context, r history.Reader, cfg *Config, targets []history.Deployment, f *fleet,
	ensemble map[string]float64, prog progress.Func) (map[string][]int8, error) {
	n := len(targets)
	votes := map[string][]int8{}
	col := func(on bool, name string) []int8 {
		if !on {
			return nil
		}
		c := make([]int8, n)
		for i := range c {
			c[i] = abstain
		}
		votes[name] = c
		return c
	}
	rb := col(cfg.Rollback.Enabled, FnRollback)
	sl := col(cfg.ShortLived.Enabled, FnShortLived)
	ns := col(cfg.NewSignatures.Enabled, FnNewSignatures)
	en := col(cfg.Ensemble.Enabled, FnEnsemble)
	ic := col(cfg.Incident.Enabled, FnIncident)
	la := col(cfg.Latency.Enabled, FnLatency)
	he := col(cfg.Healthy.Enabled, FnHealthy)

	var incFaulty map[string]bool
	if ic != nil {
		incFaulty = f.incidentFaulty(cfg.Incident)
	}
	// Deployment-level functions.
	for t, d := range targets {
		p, ok := f.pos[d.ID]
		if !ok {
			return nil, fmt.Errorf("deployment %s is not in the history", d.ID)
		}
		s := f.streams[p.stream]
		succ := s.successor(p.i)
		var gap time.Duration
		if succ >= 0 {
			gap = s.ds[succ].StartedAt.Sub(d.StartedAt)
		}
		self := s.isRollback(p.i)
		if rb != nil && !self && succ >= 0 && s.isRollback(succ) &&
			gap <= hours(cfg.Rollback.WithinHours) {
			rb[t] = faulty
		}
		if sl != nil && !self && succ >= 0 && !s.isRollback(succ) &&
			gap <= hours(cfg.ShortLived.WithinHours) {
			sl[t] = faulty
		}
		if en != nil {
			if v, ok := ensemble[d.ID]; ok {
				switch {
				case v == 1:
					en[t] = faulty
				case v == 0 && cfg.Ensemble.VoteHealthy:
					en[t] = healthy
				}
			}
		}
		if ic != nil && incFaulty[d.ID] {
			ic[t] = faulty
		}
	}
	if ns == nil && la == nil && he == nil {
		return votes, nil
	}
	// Traffic-level functions, one stream at a time.
	byStream := map[history.Stream][]int{}
	var streams []history.Stream
	for t, d := range targets {
		k := f.pos[d.ID].stream
		if _, ok := byStream[k]; !ok {
			streams = append(streams, k)
		}
		byStream[k] = append(byStream[k], t)
	}
	sort.Slice(streams, func(a, b int) bool {
		if streams[a].Service != streams[b].Service {
			return streams[a].Service < streams[b].Service
		}
		return streams[a].Environment < streams[b].Environment
	})
	var back, fwd time.Duration
	if ns != nil {
		back = max(back, hours(cfg.NewSignatures.LookbackHours))
		fwd = max(fwd, time.Duration(cfg.NewSignatures.WindowMinutes)*time.Minute)
	}
	if la != nil {
		back = max(back, time.Duration(cfg.Latency.BaselineMinutes)*time.Minute)
		fwd = max(fwd, time.Duration(cfg.Latency.WindowMinutes)*time.Minute)
	}
	if he != nil {
		back = max(back, hours(cfg.Healthy.MinHours))
		fwd = max(fwd, hours(cfg.Healthy.MinHours)+time.Minute)
	}
	prog = progress.Or(prog)
	for si, k := range streams {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		idx := byStream[k]
		lo, hi := targets[idx[0]].StartedAt, targets[idx[0]].StartedAt
		for _, t := range idx {
			lo = minTime(lo, targets[t].StartedAt)
			hi = maxTime(hi, targets[t].StartedAt)
		}
		rng := history.Range{From: lo.Add(-back).Truncate(time.Minute), Until: hi.Add(fwd).Truncate(time.Minute).Add(time.Minute)}
		sd, err := loadStreamData(ctx, r, k, rng, ns != nil)
		if err != nil {
			return nil, err
		}
		s := f.streams[k]
		for _, t := range idx {
			d := targets[t]
			i := f.pos[d.ID].i
			if ns != nil {
				ns[t] = newSignaturesVote(cfg.NewSignatures, sd, d)
			}
			if la != nil {
				la[t] = latencyVote(cfg.Latency, sd, d)
			}
			if he != nil {
				he[t] = healthyVote(cfg.Healthy, f, s, sd, i)
			}
		}
		prog("labeling functions", int64(si+1), int64(len(streams)))
	}
	return votes, nil
}

func hours(h float64) time.Duration { return time.Duration(h * float64(time.Hour)) }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// startMinute is the first whole minute at or after the deploy's start.
func startMinute(t time.Time) int64 {
	m := history.UnixMinute(t)
	if history.MinuteTime(m).Before(t) {
		m++
	}
	return m
}

func newSignaturesVote(cfg NewSignaturesConfig, sd *streamData, d history.Deployment) int8 {
	t0 := startMinute(d.StartedAt)
	end := t0 + int64(cfg.WindowMinutes)
	look := t0 - int64(math.Round(cfg.LookbackHours*60))
	rows := sd.sigs[d.Version]
	i := sort.Search(len(rows), func(i int) bool { return history.UnixMinute(rows[i].Minute) >= t0 })
	var errs int64
	first := int64(-1)
	minutes := map[int64]bool{}
	known := map[string]bool{}
	for ; i < len(rows); i++ {
		m := history.UnixMinute(rows[i].Minute)
		if m >= end {
			break
		}
		fp := rows[i].Fingerprint
		old, checked := known[fp]
		if !checked {
			old = sd.seenIn(fp, look, t0)
			known[fp] = old
		}
		if old {
			continue
		}
		errs += rows[i].Count
		minutes[m] = true
		if first < 0 {
			first = m
		}
	}
	if errs < cfg.MinErrors || first < 0 {
		return abstain
	}
	last := end - 1
	w := sd.version(d.Version, t0, end)
	if w.lastMinute >= first {
		last = w.lastMinute
	}
	if cfg.MinPerMille > 0 && w.req > 0 && float64(errs)*1000/float64(w.req) < cfg.MinPerMille {
		return abstain
	}
	span := last - first + 1
	if span < 1 {
		span = 1
	}
	if float64(len(minutes))/float64(span) >= cfg.MinPersist {
		return faulty
	}
	return abstain
}

func latencyVote(cfg LatencyConfig, sd *streamData, d history.Deployment) int8 {
	t0 := startMinute(d.StartedAt)
	nw := sd.version(d.Version, t0, t0+int64(cfg.WindowMinutes))
	if nw.req < cfg.MinRequests || nw.latMins < int64(cfg.MinMinutes) {
		return abstain
	}
	base := sd.others(d.Version, t0-int64(cfg.BaselineMinutes), t0)
	if base.latMins < int64(cfg.MinMinutes) {
		return abstain
	}
	worse := func(n, b, ratio float64) bool {
		return !math.IsNaN(n) && !math.IsNaN(b) && b > 0 && n >= ratio*b && n-b >= cfg.MinIncreaseMs
	}
	if worse(nw.p95(), base.p95(), cfg.P95Ratio) || worse(nw.p99(), base.p99(), cfg.P99Ratio) {
		return faulty
	}
	return abstain
}

// healthyPseudoErrors shrinks error-rate ratios towards 1 so that a handful
// of errors on little traffic does not decide.
const healthyPseudoErrors = 5

func healthyVote(cfg HealthyConfig, f *fleet, s *streamDeploys, sd *streamData, i int) int8 {
	d := s.ds[i]
	life := hours(cfg.MinHours)
	succ := s.successor(i)
	if succ >= 0 {
		if s.ds[succ].StartedAt.Sub(d.StartedAt) < life || s.isRollback(succ) {
			return abstain
		}
	}
	t0 := startMinute(d.StartedAt)
	t1 := t0 + int64(math.Round(cfg.MinHours*60))
	if sd.lastMinute < t1-1 {
		return abstain // the history does not reach that far
	}
	if f.incidentDuring(d, d.StartedAt, d.StartedAt.Add(life)) {
		return abstain
	}
	nw := sd.version(d.Version, t0, t1)
	if nw.req < cfg.MinRequests {
		return abstain
	}
	base := sd.others(d.Version, t0-(t1-t0), t0)
	if base.req > 0 {
		rate := float64(base.errs) / float64(base.req)
		exp := float64(nw.req) * rate
		if (float64(nw.errs)+healthyPseudoErrors)/(exp+healthyPseudoErrors) > cfg.MaxErrorRatio {
			return abstain
		}
	}
	if n, b := nw.p95(), base.p95(); !math.IsNaN(n) && !math.IsNaN(b) && b > 0 && n > cfg.MaxLatencyRatio*b {
		return abstain
	}
	return healthy
}
