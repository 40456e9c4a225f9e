package simulate

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// version is a build of a service and its (hidden) fault.
type version struct {
	name   string
	sha    string
	faulty bool
	shape  string
	// severity: error-rate multiplier (step, ramp, delayed), (p0+share)/p0
	// (new_signature) or latency factor (latency).
	severity  float64
	onset     int64   // minutes after the deploy's start at which the fault shows
	rampLen   float64 // ramp: minutes to full severity
	share     float64 // new_signature: share of requests failing with newFP
	latErr    float64 // latency: error-rate factor (1: errors unchanged)
	newFP     *fingerprint
	harmless  *fingerprint // healthy but new fingerprint, at harmRate
	harmRate  float64
	faultToBg bool // step/ramp/delayed errors show as an existing fingerprint
	// shift and burst faults: the KPI hit, which way, the relative size
	// and (burst) how many minutes from the onset
	kpi      string
	up       bool
	kpiSize  float64
	burstLen int64
}

// kpiActive reports whether v's shift or burst fault shows at since
// minutes after the event that deployed v.
func (v *version) kpiActive(since int64) bool {
	if v == nil || !v.faulty || v.kpi == "" || since < v.onset {
		return false
	}
	return v.shape != ShapeBurst || since < v.onset+v.burstLen
}

// event is one deployment on the stream's timeline.
type event struct {
	dep      history.Deployment
	ver      *version
	old      *version // version serving before
	oldStart int64    // start minute of the event that deployed old
	start    int64    // Unix minute of StartedAt
	rollout  int64    // minutes until 100% on ver (≥ 1)
	blip     bool
	blipAmp  float64
	blipTau  float64
	detected int64 // minute operators noticed the fault; -1 never
	kind     history.Kind
	hotfix   bool // ver is a hotfix of a faulty version
	noCanary bool // all traffic switched at once (rollout 0)
}

// streamResult is everything one stream contributes to the history.
type streamResult struct {
	idx         int
	rollbacks   int64 // deployments that are rollbacks, kind given or not
	deployments []history.Deployment
	metrics     []history.Metric
	signatures  []history.Signature
	incidents   []history.Incident
	annotations []history.Annotation
	kpiValues   []history.KPIValue
	truth       []history.Truth
}

type streamGen struct {
	cfg       *Config
	s         *service
	env       string
	r         rng
	scale     float64
	outages   []*outage // of this env affecting this service
	outageInc []int64   // Unix minutes at which outage incidents opened on this stream
	start     int64     // first minute of history
	end       int64     // first minute after history
	nver      int
	rollbacks int64
	// Generators apart from r, so that the knobs that only change what is
	// exported (real-valued counts, KPI values) leave the history as it is.
	kr   rng     // KPI values
	xr   rng     // export noise of real-valued counts
	sat0 float64 // mean saturation of the stream, %
}

var annotators = []string{"sre-alice", "sre-bob", "sre-carol", "sre-dave"}
var faultyNotes = []string{"", "", "error spike after rollout", "rolled back, see incident", "new exception in logs", "p99 regression"}
var healthyNotes = []string{"", "", "", "looks fine", "blip at restart only", "outage unrelated to deploy"}

func (g *streamGen) newVersion(patch bool, prev *version) *version {
	if !patch {
		g.nver++
	}
	name := fmt.Sprintf("1.%d.0", g.nver)
	if patch {
		name = prev.name[:strings.LastIndexByte(prev.name, '.')] + ".1"
		if prev.name == name {
			name += ".1"
		}
	}
	return &version{name: name, sha: g.r.hex(40)}
}

// makeFaulty gives v a fault of a random shape.
func (g *streamGen) makeFaulty(v *version) {
	r := g.r
	v.faulty = true
	if c := g.cfg; c.kpiFaults() {
		if u := r.Float64(); u < c.ShiftRate+c.BurstRate {
			g.makeKPIFault(v, u < c.ShiftRate)
			return
		}
	}
	switch u := r.Float64(); {
	case u < 0.30:
		v.shape = ShapeStep
	case u < 0.45:
		v.shape = ShapeRamp
	case u < 0.60:
		v.shape = ShapeDelayed
	case u < 0.80:
		v.shape = ShapeNewSignature
	default:
		v.shape = ShapeLatency
	}
	lo, hi, custom := 2.0, 25.0, g.cfg.SeverityMin > 0
	if custom {
		lo, hi = g.cfg.SeverityMin, g.cfg.SeverityMax
	}
	switch v.shape {
	case ShapeStep, ShapeRamp, ShapeDelayed:
		v.severity = r.logUniform(lo, hi)
		v.faultToBg = r.chance(0.4)
		if !v.faultToBg {
			et := pick(r, errorTypes)
			v.newFP = &fingerprint{id: g.s.name + "-" + r.hex(8), errorType: et.t, endpoint: pick(r, endpoints), status: et.status}
		}
		if v.shape == ShapeRamp {
			v.rampLen = r.uniform(10, 40)
		}
		if v.shape == ShapeDelayed {
			v.onset = 15 + r.Int64N(26)
		}
	case ShapeNewSignature:
		if custom {
			v.share = math.Min(0.5, g.s.p0*(r.logUniform(lo, hi)-1))
		} else {
			v.share = r.logUniform(0.001, 0.02)
		}
		v.severity = (g.s.p0 + v.share) / g.s.p0
		et := pick(r, errorTypes)
		v.newFP = &fingerprint{id: g.s.name + "-" + r.hex(8), errorType: et.t, endpoint: pick(r, endpoints), status: et.status}
	case ShapeLatency:
		if custom {
			v.severity = r.logUniform(lo, hi)
		} else {
			v.severity = r.uniform(1.5, 4)
		}
		v.latErr = 1
		if r.chance(0.3) {
			v.latErr = r.uniform(1.3, 2)
		}
	}
	v.severity = math.Round(v.severity*1000) / 1000
}

// makeKPIFault gives v a shift (or burst) fault of one KPI.
func (g *streamGen) makeKPIFault(v *version, shift bool) {
	r := g.r
	kpis := g.cfg.faultKPIs()
	v.kpi = kpis[r.IntN(len(kpis))]
	v.up = v.kpi == KPILatencyP95 || v.kpi == KPISaturation || (v.kpi == KPIThroughput && r.chance(g.cfg.ThroughputUpShare))
	if shift {
		v.shape = ShapeShift
		v.kpiSize = r.uniform(g.cfg.ShiftMin, g.cfg.ShiftMax)
		if r.chance(0.3) {
			v.onset = 1 + r.Int64N(5)
		}
	} else {
		v.shape = ShapeBurst
		v.onset = r.Int64N(9)
		v.burstLen = 5 + r.Int64N(11)
		switch {
		case v.kpi == KPISuccessRatio:
			v.kpiSize = r.uniform(0.2, 0.6)
		case v.kpi == KPIThroughput && !v.up:
			v.kpiSize = r.uniform(0.4, 0.8)
		case v.kpi == KPIThroughput:
			v.kpiSize = r.uniform(0.5, 2)
		case v.kpi == KPILatencyP95:
			v.kpiSize = r.uniform(1, 3)
		default:
			v.kpiSize = r.uniform(0.3, 0.8)
		}
	}
	v.kpiSize = math.Round(v.kpiSize*1000) / 1000
	v.severity = math.Round((1-v.kpiSize)*1000) / 1000
	if v.up {
		v.severity = math.Round((1+v.kpiSize)*1000) / 1000
	}
	if v.kpi == KPISuccessRatio {
		// The failed share shows as errors, under a new fingerprint or an
		// existing one, as for step faults.
		v.faultToBg = r.chance(0.4)
		if !v.faultToBg {
			et := pick(r, errorTypes)
			v.newFP = &fingerprint{id: g.s.name + "-" + r.hex(8), errorType: et.t, endpoint: pick(r, endpoints), status: et.status}
		}
	}
}

// timeline plans the stream's deployments and the operators' reactions.
func (g *streamGen) timeline() []*event {
	r := g.r
	cfg := g.cfg
	cul := cultures[cfg.Reactions]
	perDay := cfg.DeploysPerDay
	if cfg.DeploysPerDayMax > cfg.DeploysPerDay {
		perDay = newRNG(cfg.Seed, fmt.Sprintf("cadence/%d/%s", g.s.idx, g.env)).logUniform(cfg.DeploysPerDay, cfg.DeploysPerDayMax)
	}
	var planned []float64 // seconds since start
	for d := 0; d < cfg.Days; d++ {
		day := cfg.Start.Add(time.Duration(d) * 24 * time.Hour)
		rate := perDay
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			rate /= 4
		}
		n := r.poisson(rate)
		for i := int64(0); i < n; i++ {
			h := r.uniform(0, 24)
			if r.chance(0.85) {
				h = r.uniform(8, 18)
			}
			planned = append(planned, float64(d)*86400+h*3600)
		}
	}
	sort.Float64s(planned)

	cur := &version{name: "1.0.0", sha: r.hex(40)}
	curStart := g.start - 10000
	var events []*event
	busyUntil := g.start // no deploy before the previous rollout ended
	add := func(at int64, v *version, kind history.Kind) *event {
		sec := g.cfg.Start.Unix() + (at-g.start)*60 + r.Int64N(60)
		ev := &event{ver: v, old: cur, oldStart: curStart, start: at, detected: -1, kind: kind}
		switch u := r.Float64(); {
		case u < 0.3:
			ev.rollout = 1 + r.Int64N(2)
		case u < 0.7:
			ev.rollout = 3 + r.Int64N(8)
		default:
			ev.rollout = 10 + r.Int64N(21)
		}
		if cfg.NoCanaryRate > 0 && r.chance(cfg.NoCanaryRate) {
			ev.rollout, ev.noCanary = 0, true
		}
		if r.chance(0.35) {
			ev.blip, ev.blipAmp, ev.blipTau = true, r.logUniform(0.005, 0.08), r.uniform(0.7, 3)
		}
		started := time.Unix(sec, 0).UTC()
		files, added, deleted := int64(-1), int64(-1), int64(-1)
		if kind == history.KindDeploy {
			files = int64(math.Ceil(r.logUniform(1, 60)))
			added = int64(float64(files) * r.logUniform(2, 60))
			deleted = int64(float64(added) * r.uniform(0.05, 0.9))
		}
		dep := history.Deployment{
			ID:           fmt.Sprintf("dep-%s-%s-%04d", g.s.name, g.env, len(events)+1),
			Service:      g.s.name,
			Environment:  g.env,
			Version:      v.name,
			StartedAt:    started,
			FinishedAt:   started.Add(time.Duration(ev.rollout) * time.Minute),
			CommitSHA:    v.sha,
			Author:       pick(r, teamAuthors[g.s.team]),
			FilesChanged: files, LinesAdded: added, LinesDeleted: deleted,
			Kind: kind,
		}
		if r.chance(cfg.KindOmittedRate) {
			dep.Kind = ""
		}
		ev.dep = dep
		if kind == history.KindRollback {
			g.rollbacks++
		}
		events = append(events, ev)
		cur, curStart = v, at
		busyUntil = at + ev.rollout + 2
		return ev
	}
	for i, p := range planned {
		at := max(g.start+int64(p/60), busyUntil)
		next := g.end
		if i+1 < len(planned) {
			next = g.start + int64(planned[i+1]/60)
		}
		if at >= g.end-1 {
			break
		}
		prev := cur
		v := g.newVersion(false, cur)
		if r.chance(cfg.FaultRate) {
			g.makeFaulty(v)
		} else if r.chance(cfg.BenignSignatureRate) {
			v.harmless = &fingerprint{id: g.s.name + "-" + r.hex(8), errorType: pick(r, errorTypes).t, endpoint: pick(r, endpoints), status: 500}
			v.harmRate = r.logUniform(0.0002, 0.002)
		}
		ev := add(at, v, history.KindDeploy)
		if v.faulty {
			pRollback, pHotfix := cul.rollback, cul.hotfix
			if v.shape == ShapeLatency {
				pRollback, pHotfix = cul.latRollback, cul.latHotfix
			}
			detect := at + v.onset + int64(r.logUniform(cul.detectMin, cul.detectMax))
			switch u := r.Float64(); {
			case u < pRollback:
				if detect < next-3 {
					ev.detected = detect
					add(detect, prev, history.KindRollback)
				}
			case u < pRollback+pHotfix:
				fix := detect + cul.fixMin + r.Int64N(cul.fixSpan)
				if fix < next-3 {
					ev.detected = detect
					add(fix, g.newVersion(true, v), history.KindDeploy).hotfix = true
				}
			}
			continue
		}
		switch u := r.Float64(); {
		case u < cul.healthyRollback: // healthy version rolled back anyway
			if t := at + 10 + r.Int64N(110); t < next-3 {
				add(t, prev, history.KindRollback)
			}
		case u < cul.followUpCum: // quick follow-up with another healthy version
			if t := at + ev.rollout + 5 + r.Int64N(26); t < next-3 {
				add(t, g.newVersion(false, v), history.KindDeploy)
			}
		}
	}
	return events
}

// run generates the stream.
func (g *streamGen) run(idx int) *streamResult {
	res := &streamResult{idx: idx}
	events := g.timeline()
	res.metrics = make([]history.Metric, 0, (g.end-g.start)+(g.end-g.start)/20)
	if g.cfg.Signatures {
		res.signatures = make([]history.Signature, 0, (g.end-g.start)/2)
	}
	s, r := g.s, g.r
	envStr, svcStr := g.env, s.name

	var burstUntil int64
	var burstF float64 = 1
	var bursts []int64 // minutes at which bursts started
	e := -1            // last event started at or before m
	type fpCount struct {
		fp *fingerprint
		n  int64
	}
	var fps []fpCount
	addFP := func(fp *fingerprint, n int64) {
		if n <= 0 {
			return
		}
		for i := range fps {
			if fps[i].fp == fp {
				fps[i].n += n
				return
			}
		}
		fps = append(fps, fpCount{fp, n})
	}
	oi := 0
	for m := g.start; m < g.end; m++ {
		for e+1 < len(events) && events[e+1].start <= m {
			e++
		}
		// Traffic.
		lam := s.rate(m) * g.scale
		if s.pattern == patternBursty {
			if m >= burstUntil {
				burstF = 1
				if r.chance(1.0 / 240) {
					burstUntil, burstF = m+2+r.Int64N(19), r.uniform(2, 8)
					bursts = append(bursts, m)
				}
			}
			lam *= burstF
		}
		if s.pattern != patternLow {
			lam *= r.lognormal(0.05)
		}
		total := r.poisson(lam)
		if total == 0 {
			continue
		}
		for oi < len(g.outages) && g.outages[oi].to <= m {
			oi++
		}
		var out *outage
		if oi < len(g.outages) && g.outages[oi].from <= m {
			out = g.outages[oi]
		}
		// Versions serving this minute.
		type serving struct {
			v     *version
			since int64 // minutes since the event that deployed v
			ev    *event
			req   int64
		}
		var sv [2]serving
		n := 0
		if e < 0 {
			sv[0] = serving{v: nil, req: total}
			n = 1
		} else {
			ev := events[e]
			tau := m - ev.start
			if tau < ev.rollout {
				share := float64(tau+1) / float64(ev.rollout+1)
				newReq := r.binomial(total, share)
				sv[0] = serving{v: ev.old, since: m - ev.oldStart, req: total - newReq}
				sv[1] = serving{v: ev.ver, since: tau, ev: ev, req: newReq}
				n = 2
			} else {
				sv[0] = serving{v: ev.ver, since: tau, ev: ev, req: total}
				n = 1
			}
		}
		minute := history.MinuteTime(m)
		var agg minuteAgg // of the versions serving this minute
		for i := 0; i < n; i++ {
			x := sv[i]
			if x.req == 0 {
				continue
			}
			v := x.v
			vname := "1.0.0"
			if v != nil {
				vname = v.name
			} else if len(events) > 0 {
				vname = events[0].old.name
				v = events[0].old
			}
			kActive := v.kpiActive(x.since)
			if kActive && v.kpi == KPIThroughput {
				if v.up {
					x.req += r.poisson(float64(x.req) * v.kpiSize)
				} else if x.req = r.binomial(x.req, 1-v.kpiSize); x.req == 0 {
					continue
				}
			}
			req := float64(x.req)
			G := r.gamma(s.shape)
			bgRate := s.p0
			var faultRate, nsRate, harmRate, blipRate, outRate float64
			latF50, latF95 := 1.0, 1.0
			active := v != nil && v.faulty && x.since >= v.onset
			if active {
				switch v.shape {
				case ShapeStep, ShapeDelayed:
					faultRate = s.p0 * (v.severity - 1)
				case ShapeRamp:
					faultRate = s.p0 * (v.severity - 1) * math.Min(1, float64(x.since+1)/v.rampLen)
				case ShapeNewSignature:
					nsRate = v.share
				case ShapeLatency:
					ramp := math.Min(1, float64(x.since+1)/5)
					latF95 = 1 + (v.severity-1)*ramp
					latF50 = 1 + (v.severity-1)*0.25*ramp
					faultRate = s.p0 * (v.latErr - 1)
				}
			}
			if kActive {
				switch v.kpi {
				case KPISuccessRatio:
					faultRate = v.kpiSize // a failed share of the requests
				case KPILatencyP95:
					latF95 *= 1 + v.kpiSize
					latF50 *= 1 + v.kpiSize/4
				}
			}
			if v != nil && v.harmless != nil {
				harmRate = v.harmRate
			}
			if x.ev != nil && x.ev.blip && x.ev.ver == v && x.since < 15 {
				blipRate = x.ev.blipAmp * math.Exp(-float64(x.since)/x.ev.blipTau)
			}
			if out != nil {
				outRate = out.errAdd
				latF50 *= math.Sqrt(out.latFactor)
				latF95 *= out.latFactor
			}
			eBg := r.poisson(req * bgRate * G)
			eFault := r.poisson(req * faultRate * G)
			eNS := r.poisson(req * nsRate * G)
			eHarm := r.poisson(req * harmRate * G)
			eBlip := r.poisson(req * blipRate)
			eOut := r.poisson(req * outRate * G)
			// Never more errors than requests.
			for _, p := range []*int64{&eBg, &eHarm, &eBlip, &eNS, &eFault, &eOut} {
				if over := eBg + eFault + eNS + eHarm + eBlip + eOut - x.req; over > 0 {
					*p -= min(*p, over)
				}
			}
			errs := eBg + eFault + eNS + eHarm + eBlip + eOut
			// Latency: noisier with few requests.
			noise := 1 / math.Sqrt(req+1)
			p50 := s.p50 * latF50 * r.lognormal(0.04+0.3*noise)
			// The p95 factor of a latency fault is its severity: undo the p50 one.
			p95 := math.Max(p50, p50*s.r95*latF95/latF50*r.lognormal(0.06+0.5*noise))
			p99 := math.Max(p95, p95*s.r99*r.lognormal(0.08+0.7*noise))
			if blipRate > 0 {
				p99 *= 1 + 20*blipRate
			}
			p50, p95, p99 = round2(p50), round2(p95), round2(p99)
			agg.add(req, float64(errs), p50, p95, p99)
			if kActive && v.kpi == KPISaturation {
				agg.sat += req * v.kpiSize
			}
			if !g.cfg.AggregateMetrics {
				res.metrics = append(res.metrics, g.exportMetric(history.Metric{
					Service: svcStr, Environment: envStr, Version: vname, Minute: minute,
					Requests: req, Errors: float64(errs), LatencyP50: p50, LatencyP95: p95, LatencyP99: p99,
				}))
			}
			if !g.cfg.Signatures || errs == 0 {
				continue
			}
			fps = fps[:0]
			// Background errors spread over the service's fingerprints.
			if eBg < 16 {
				for k := int64(0); k < eBg; k++ {
					u := r.Float64()
					j := 0
					for j < len(s.bgW)-1 && u > s.bgW[j] {
						j++
					}
					addFP(&s.bg[j], 1)
				}
			} else {
				left, prevW := eBg, 0.0
				for j := range s.bg {
					w := s.bgW[j] - prevW
					prevW = s.bgW[j]
					k := left
					if j < len(s.bg)-1 {
						k = r.binomial(left, w/(1-(prevW-w)))
					}
					addFP(&s.bg[j], k)
					left -= k
				}
			}
			if eFault > 0 {
				if v.newFP != nil {
					addFP(v.newFP, eFault)
				} else {
					addFP(&s.bg[0], eFault)
				}
			}
			if eNS > 0 {
				addFP(v.newFP, eNS)
			}
			if eHarm > 0 {
				addFP(v.harmless, eHarm)
			}
			addFP(&s.restart, eBlip)
			addFP(&s.upstrm, eOut)
			for _, fc := range fps {
				res.signatures = append(res.signatures, history.Signature{
					Service: svcStr, Environment: envStr, Version: vname, Minute: minute,
					Fingerprint: fc.fp.id, Count: fc.n, ErrorType: fc.fp.errorType, Endpoint: fc.fp.endpoint, StatusCode: fc.fp.status,
				})
			}
		}
		if agg.req == 0 {
			continue
		}
		if g.cfg.AggregateMetrics {
			res.metrics = append(res.metrics, g.exportMetric(history.Metric{
				Service: svcStr, Environment: envStr, Version: history.AggregateVersion, Minute: minute,
				Requests: agg.req, Errors: agg.errs,
				LatencyP50: round2(agg.w50 / agg.req), LatencyP95: round2(agg.w95 / agg.req), LatencyP99: round2(agg.w99 / agg.req),
			}))
		}
		if g.cfg.KPIs {
			res.kpiValues = g.kpiValues(res.kpiValues, minute, m, &agg)
		}
	}
	g.finish(res, events, bursts)
	res.rollbacks = g.rollbacks
	return res
}

// minuteAgg sums one minute of the versions serving it.
type minuteAgg struct {
	req, errs     float64
	w50, w95, w99 float64 // request-weighted latencies
	sat           float64 // request-weighted relative size of active saturation faults
}

func (a *minuteAgg) add(req, errs, p50, p95, p99 float64) {
	a.req += req
	a.errs += errs
	a.w50 += req * p50
	a.w95 += req * p95
	a.w99 += req * p99
}

// exportMetric returns m as exported: with Config.RealValuedCounts, counts
// as Prometheus increase() over a minute gives them.
func (g *streamGen) exportMetric(m history.Metric) history.Metric {
	if !g.cfg.RealValuedCounts {
		return m
	}
	m.Requests = round4(m.Requests * g.xr.uniform(0.98, 1.02))
	m.Errors = math.Min(m.Requests, round4(m.Errors*g.xr.uniform(0.98, 1.02)))
	return m
}

// kpiValues appends the stream's KPI values of minute m (Unix minute um).
func (g *streamGen) kpiValues(out []history.KPIValue, m time.Time, um int64, a *minuteAgg) []history.KPIValue {
	s := g.s
	if g.sat0 == 0 {
		g.sat0 = g.kr.uniform(20, 60)
	}
	sat := g.sat0 * math.Sqrt(a.req/math.Max(s.rate(um)*g.scale, 0.1)) * g.kr.lognormal(0.04) * (1 + a.sat/a.req)
	kv := func(name string, v float64) history.KPIValue {
		return history.KPIValue{Service: s.name, Environment: g.env, Version: history.AggregateVersion, Name: name, Minute: m, Value: v}
	}
	return append(out,
		kv(KPILatencyP95, round2(a.w95/a.req)),
		kv(KPISaturation, round2(math.Min(100, sat))),
		kv(KPISuccessRatio, math.Round((1-a.errs/a.req)*1e6)/1e6),
		kv(KPIThroughput, round4(a.req/60)),
	)
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// kpiDeclarations are the KPIs every simulated service declares
// (Config.KPIs), for all its environments.
func kpiDeclarations(service string) []history.KPI {
	return []history.KPI{
		{Service: service, Name: KPILatencyP95, Direction: history.HigherIsWorse, Kind: history.KPILatency, Unit: "ms"},
		{Service: service, Name: KPISaturation, Direction: history.HigherIsWorse, Kind: history.KPIGauge, Unit: "%"},
		{Service: service, Name: KPISuccessRatio, Direction: history.LowerIsWorse, Kind: history.KPIRatio},
		{Service: service, Name: KPIThroughput, Direction: history.BothWorse, Kind: history.KPIRate, Unit: "req/s"},
	}
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// finish derives deployments, truth, incidents and annotations.
func (g *streamGen) finish(res *streamResult, events []*event, bursts []int64) {
	r := g.r
	cul := cultures[g.cfg.Reactions]
	confs := make([][]string, len(events))
	for i, ev := range events {
		res.deployments = append(res.deployments, ev.dep)
		v := ev.ver
		tr := history.Truth{DeploymentID: ev.dep.ID, OnsetMinute: -1}
		if v.faulty {
			tr.Faulty, tr.Shape, tr.OnsetMinute, tr.Severity = true, v.shape, v.onset, v.severity
			if v.kpi != "" {
				tr.KPI, tr.Direction = v.kpi, "down"
				if v.up {
					tr.Direction = "up"
				}
			}
		}
		var conf []string
		if ev.blip {
			conf = append(conf, ConfoundBlip)
		}
		for _, o := range g.outages {
			if o.from < ev.start+60 && o.to > ev.start {
				conf = append(conf, ConfoundOutage)
				break
			}
		}
		switch g.s.pattern {
		case patternLow:
			conf = append(conf, ConfoundLowTraffic)
		case patternSeasonal:
			conf = append(conf, ConfoundSeasonal)
		case patternBursty:
			for _, b := range bursts {
				if b >= ev.start-20 && b < ev.start+60 {
					conf = append(conf, ConfoundBursty)
					break
				}
			}
		}
		if i+1 < len(events) && events[i+1].start < ev.start+60 {
			conf = append(conf, ConfoundOverlap)
		}
		if ev.kind == history.KindRollback {
			conf = append(conf, ConfoundRollback)
		}
		if ev.hotfix {
			conf = append(conf, ConfoundHotfix)
		}
		if i+1 < len(events) && events[i+1].kind == history.KindRollback {
			conf = append(conf, ConfoundRolledBack)
		}
		if ev.kind == history.KindDeploy && v.harmless != nil {
			conf = append(conf, ConfoundBenignSignature)
		}
		if ev.noCanary {
			conf = append(conf, ConfoundNoCanary)
		}
		for _, m := range g.outageInc {
			if m >= ev.start && m < ev.start+incidentWindow {
				conf = append(conf, ConfoundOutageIncident)
				break
			}
		}
		confs[i] = conf
		res.truth = append(res.truth, tr)

		// Incidents responders opened on noticed faults.
		if v.faulty && ev.detected >= 0 && r.chance(cul.incident) {
			opened := history.MinuteTime(ev.detected - r.Int64N(5)).Add(time.Duration(r.Int64N(60)) * time.Second)
			in := history.Incident{
				ID:          fmt.Sprintf("inc-%s-%s-%03d", g.s.name, g.env, len(res.incidents)+1),
				Service:     g.s.name,
				Environment: g.env,
				OpenedAt:    opened,
				ResolvedAt:  opened.Add(time.Duration(15+r.Int64N(90)) * time.Minute),
				Severity:    pick(r, []string{"sev2", "sev3", "sev3"}),
			}
			if r.chance(cul.linked) {
				in.DeploymentID = ev.dep.ID
			}
			res.incidents = append(res.incidents, in)
		}
		if r.chance(g.cfg.AnnotationRate) {
			label, notes := history.LabelHealthy, healthyNotes
			if v.faulty {
				label, notes = history.LabelFaulty, faultyNotes
			}
			if r.chance(g.cfg.AnnotationNoise) {
				if label == history.LabelFaulty {
					label = history.LabelHealthy
				} else {
					label = history.LabelFaulty
				}
			}
			res.annotations = append(res.annotations, history.Annotation{
				DeploymentID: ev.dep.ID, Label: label, Annotator: pick(r, annotators),
				AnnotatedAt: ev.dep.StartedAt.Add(time.Duration(1+r.Int64N(72)) * time.Hour), Note: pick(r, notes),
			})
		}
	}
	// Incidents unrelated to deployments. The mean is written so that the
	// default rate (0.05 a day) gives Days/20 bit for bit.
	var n int64
	if rate := g.cfg.NoiseIncidentsPerDay * cul.noise; rate > 0 {
		n = r.poisson(float64(g.cfg.Days) / (1 / rate))
	}
	for i := int64(0); i < n; i++ {
		at := history.MinuteTime(g.start + r.Int64N(g.end-g.start))
		in := history.Incident{
			ID:       fmt.Sprintf("inc-%s-%s-%03d", g.s.name, g.env, len(res.incidents)+1),
			Service:  g.s.name,
			OpenedAt: at, ResolvedAt: at.Add(time.Duration(20+r.Int64N(220)) * time.Minute),
			Severity: pick(r, []string{"sev3", "sev4"}),
		}
		if r.chance(0.7) {
			in.Environment = g.env
		}
		m := history.UnixMinute(at)
		for j, ev := range events {
			if m >= ev.start && m < ev.start+incidentWindow {
				confs[j] = appendOnce(confs[j], ConfoundNoiseIncident)
			}
		}
		if in.Environment == g.env && g.cfg.NoiseIncidentLinkRate > 0 && r.chance(g.cfg.NoiseIncidentLinkRate) {
			// Blame the stream's latest deploy before the incident.
			for j := len(events) - 1; j >= 0; j-- {
				if events[j].start <= m {
					in.DeploymentID = events[j].dep.ID
					confs[j] = appendOnce(confs[j], ConfoundMisattributedIncident)
					break
				}
			}
		}
		res.incidents = append(res.incidents, in)
	}
	for i := range res.truth {
		res.truth[i].Confounders = strings.Join(confs[i], ",")
	}
	sort.Slice(res.incidents, func(i, j int) bool { return res.incidents[i].ID < res.incidents[j].ID })
}

func appendOnce(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}
