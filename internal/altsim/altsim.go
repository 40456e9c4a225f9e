// Package altsim is a second fleet generator, written apart from
// internal/simulate and on purpose unlike it, so that Faultline's detection
// can be checked on histories it was not developed on. Traffic is
// overdispersed (a log-normal mixture of Poisson counts) with a daily and a
// weekly cycle; error counts are overdispersed too; restart transients decay
// linearly, not exponentially; faults include slow leaks, partial failures
// that add an absolute error rate, and intermittent ones; operators react by
// rollback, by a hotfix hours later, or not at all, with a probability that
// grows with the fault's severity; outages are local to one stream. With
// Aggregate the history is what a team without per-version metrics has: one
// real-valued series per service and environment, Prometheus-style
// timestamps with seconds, big-bang deploys and no error signatures; with
// KPIs too, four declared KPIs per stream (availability, requests per
// second, p95 latency, CPU) and faults that shift one of them.
//
// The generator is a yardstick, not a target: its parameters were set
// before Faultline was ever run on its output, and changes to detection
// must not be tuned on it (docs/quality.md, "Regimes").
package altsim

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// Shapes of the faults it generates (history.Truth.Shape).
const (
	ShapeStep         = "step"         // the error rate times Severity from the start
	ShapeLeak         = "leak"         // the error rate grows linearly to Severity over 20 to 90 minutes
	ShapePartial      = "partial"      // a share of requests fails: an absolute error rate added
	ShapeIntermittent = "intermittent" // the error rate times a factor in a random 20–50 % of minutes
	ShapeLatency      = "latency"      // p95 and p99 latency times Severity
	// ShapeShift (Config.KPIs): a sustained shift of one KPI — CPU up by
	// 10 to 35 points over 5 to 20 minutes, or requests down by 10 to 40 %
	// (callers failing before they reach the service). Severity is 1 + the
	// relative shift up, 1 − it down, as history.Truth has it.
	ShapeShift = "shift"
)

// KPI names of Config.KPIs (history.Truth.KPI).
const (
	KPIAvailability = "availability" // ratio, lower is worse: 1 − errors/requests
	KPIRPS          = "rps"          // rate, both ways: requests per second
	KPIP95          = "p95_ms"       // latency, higher is worse
	KPICPU          = "cpu"          // gauge, higher is worse: percent busy
)

// Config sizes and seeds a fleet. Zero values take the defaults given.
type Config struct {
	Seed     int64
	Services int       // default 30
	Days     int       // default 21
	Start    time.Time // default 2026-03-02T00:00Z (a Monday)
	// Aggregate writes one unversioned, real-valued series per service and
	// environment, with big-bang deploys and no error signatures.
	Aggregate bool
	// KPIs (with Aggregate) declares four KPIs per stream and writes their
	// aggregate values; a third of the faults are then KPI shifts
	// (ShapeShift).
	KPIs bool
	// FaultRate is the share of deploys (not rollbacks or hotfixes) that
	// are faulty (default 0.08).
	FaultRate float64
}

func (c *Config) defaults() {
	if c.Services == 0 {
		c.Services = 30
	}
	if c.Days == 0 {
		c.Days = 21
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	}
	if c.FaultRate == 0 {
		c.FaultRate = 0.08
	}
}

// Validate reports a configuration the generator cannot run.
func (c Config) Validate() error {
	c.defaults()
	switch {
	case c.Services < 1 || c.Services > 10000:
		return fmt.Errorf("altsim: services must be in 1..10000, not %d", c.Services)
	case c.Days < 2 || c.Days > 366:
		return fmt.Errorf("altsim: days must be in 2..366, not %d", c.Days)
	case !(c.FaultRate > 0 && c.FaultRate < 1):
		return fmt.Errorf("altsim: fault rate %v is not in (0, 1)", c.FaultRate)
	case c.KPIs && !c.Aggregate:
		return fmt.Errorf("altsim: KPIs are written for aggregate fleets only")
	}
	return nil
}

// Store is where Into writes: an importable history that keeps truth.
type Store interface {
	BeginImport(ctx context.Context) (history.ImportTx, error)
	history.TruthStore
}

// Summary counts what Into wrote.
type Summary struct {
	Deployments, Faulty int64
}

// Into generates the fleet of cfg into st in one import, with its truth.
func Into(ctx context.Context, cfg Config, st Store) (Summary, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	tx, err := st.BeginImport(ctx)
	if err != nil {
		return Summary{}, err
	}
	sum, truth, err := generate(ctx, cfg, tx)
	if err == nil {
		err = st.PutTruth(ctx, truth)
	}
	if err != nil {
		tx.Rollback(context.Background())
		return sum, fmt.Errorf("altsim: %w", err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		tx.Rollback(context.Background())
		return sum, fmt.Errorf("altsim: commit: %w", err)
	}
	return sum, nil
}

// src is the generator's randomness: one PCG stream per label.
type src struct{ *rand.Rand }

func newSrc(seed int64, label string) src {
	h := fnv.New64a()
	h.Write([]byte("altsim/" + label))
	return src{rand.New(rand.NewPCG(uint64(seed)^0x9e3779b97f4a7c15, h.Sum64()))}
}

func (s src) between(a, b float64) float64 { return a + (b-a)*s.Float64() }
func (s src) logBetween(a, b float64) float64 {
	return math.Exp(s.between(math.Log(a), math.Log(b)))
}

// count draws a Poisson count of mean m: by inversion of the cumulative
// distribution below 40, by a rounded normal above.
func (s src) count(m float64) float64 {
	if !(m > 0) {
		return 0
	}
	if m >= 40 {
		return math.Max(0, math.Round(m+math.Sqrt(m)*s.NormFloat64()))
	}
	u, p := s.Float64(), math.Exp(-m)
	c, k := p, 0.0
	for u > c && k < 1000 {
		k++
		p *= m / k
		c += p
	}
	return k
}

// overdispersed draws a count of mean m whose rate itself varies: Poisson
// of m times a log-normal factor of mean 1 and log-sd sigma.
func (s src) overdispersed(m, sigma float64) float64 {
	return s.count(m * math.Exp(sigma*s.NormFloat64()-sigma*sigma/2))
}

type fault struct {
	shape    string
	severity float64 // history.Truth.Severity
	mult     float64 // step, leak, intermittent
	add      float64 // partial
	duty     float64 // intermittent
	newSig   bool
	kpi      string  // shift: KPICPU or KPIRPS
	cpuAdd   float64 // shift of KPICPU: points added once grown
	rampMin  float64 // leak, and the growth of a CPU shift
	drop     float64 // shift of KPIRPS: share of requests lost
}

type event struct {
	t        int64 // minute from the start of the history
	version  string
	prev     string
	kind     history.Kind
	fault    *fault
	rollout  int64   // minutes to 100%; 0: big-bang
	transAmp float64 // restart transient: added error rate at the start, decaying linearly
	transLen float64
	harmless float64 // added error rate of a harmless new error (fingerprint of its own)
	id       string
}

type stream struct {
	service, env string
	rpm, base    float64 // requests a minute, error rate
	errSigma     float64
	lat          float64
	known        []string
	events       []*event
	outage       map[int64]bool
}

func generate(ctx context.Context, cfg Config, tx history.ImportTx) (Summary, []history.Truth, error) {
	var sum Summary
	var truth []history.Truth
	var svcs []history.Service
	fleet := newSrc(cfg.Seed, "fleet")
	for i := 0; i < cfg.Services; i++ {
		svcs = append(svcs, history.Service{Name: fmt.Sprintf("svc%03d", i), Tier: []string{"critical", "standard"}[fleet.IntN(2)]})
	}
	if err := tx.AddServices(ctx, svcs); err != nil {
		return sum, nil, err
	}
	var incidents []history.Incident
	for _, sv := range svcs {
		envs := []string{"eu"}
		if fleet.Float64() < 0.5 {
			envs = append(envs, "us")
		}
		for _, env := range envs {
			if err := ctx.Err(); err != nil {
				return sum, nil, err
			}
			r := newSrc(cfg.Seed, sv.Name+"/"+env)
			st := newStream(r, cfg, sv.Name, env)
			if cfg.KPIs {
				if err := tx.AddKPIs(ctx, kpiDeclarations(sv.Name, env)); err != nil {
					return sum, nil, err
				}
			}
			incs := st.plan(r, cfg)
			incidents = append(incidents, incs...)
			deps, tr := st.deployments(cfg)
			if err := tx.AddDeployments(ctx, deps); err != nil {
				return sum, nil, err
			}
			truth = append(truth, tr...)
			ms, sigs, kvs := st.minutes(r, cfg)
			if err := inBatches(ctx, ms, tx.AddMetrics); err != nil {
				return sum, nil, err
			}
			if err := inBatches(ctx, sigs, tx.AddSignatures); err != nil {
				return sum, nil, err
			}
			if err := inBatches(ctx, kvs, tx.AddKPIValues); err != nil {
				return sum, nil, err
			}
			sum.Deployments += int64(len(deps))
			for _, t := range tr {
				if t.Faulty {
					sum.Faulty++
				}
			}
		}
	}
	if err := tx.AddIncidents(ctx, incidents); err != nil {
		return sum, nil, err
	}
	return sum, truth, nil
}

// inBatches hands rows to add a bounded batch at a time.
func inBatches[T any](ctx context.Context, rows []T, add func(context.Context, []T) error) error {
	const batch = 16384
	for i := 0; i < len(rows); i += batch {
		if err := add(ctx, rows[i:min(i+batch, len(rows))]); err != nil {
			return err
		}
	}
	return nil
}

func newStream(r src, cfg Config, service, env string) *stream {
	st := &stream{service: service, env: env,
		rpm:      r.logBetween(3, 3000),
		base:     r.logBetween(2e-4, 1.5e-2),
		errSigma: r.between(0.1, 0.6),
		lat:      r.between(20, 400),
		outage:   map[int64]bool{},
	}
	for j := 0; j < 3+r.IntN(10); j++ {
		st.known = append(st.known, fmt.Sprintf("%s-%s-e%d", service, env, j))
	}
	for d := 0; d < cfg.Days; d++ {
		if r.Float64() < 0.08 { // a local outage of 3 to 20 minutes: +5 % errors
			s := int64(d*1440 + r.IntN(1400))
			for m := s; m < s+3+int64(r.IntN(18)); m++ {
				st.outage[m] = true
			}
		}
	}
	return st
}

// plan lays out the stream's deploys, faults, reactions and incidents.
func (st *stream) plan(r src, cfg Config) []history.Incident {
	end := int64(cfg.Days) * 1440
	perDay := []float64{0.3, 0.7, 1.5, 3, 6}[r.IntN(5)]
	var sched []int64
	for d := 0; d < cfg.Days; d++ {
		rate := perDay
		if d%7 >= 5 { // weekends: fewer deploys
			rate *= 0.3
		}
		n := r.count(rate)
		for k := 0.0; k < n; k++ {
			t := int64(d*1440) + int64(r.between(7*60, 19*60))
			if r.Float64() < 0.2 {
				t += int64(r.IntN(720)) - 420
			}
			if t > 60 && t < end-120 {
				sched = append(sched, t)
			}
		}
	}
	slices.Sort(sched)
	var incs []history.Incident
	cur, vnum := "v0", 0
	last := int64(-10)
	add := func(e *event) {
		e.prev = cur
		st.events = append(st.events, e)
		cur, last = e.version, e.t
	}
	for i := 0; i < len(sched); i++ {
		t := sched[i]
		if t < last+2 {
			continue
		}
		next := end - 60
		for _, u := range sched[i+1:] {
			if u >= t+2 {
				next = min(next, u)
				break
			}
		}
		vnum++
		e := &event{t: t, version: fmt.Sprintf("v%d", vnum), kind: history.KindDeploy}
		if !cfg.Aggregate && r.Float64() >= 0.3 {
			e.rollout = []int64{5, 10, 15, 30}[r.IntN(4)]
		}
		if r.Float64() < 0.4 {
			e.transAmp, e.transLen = r.between(0.005, 0.04), r.between(2, 6)
		}
		if r.Float64() < cfg.FaultRate {
			e.fault = st.newFault(r, cfg.KPIs)
		} else if r.Float64() < 0.12 {
			e.harmless = r.logBetween(1e-4, 1.5e-3)
		}
		add(e)
		switch f := e.fault; {
		case f != nil:
			// Reactions grow with severity: a rollback within 6 to 45
			// minutes, a hotfix within 30 to 240, or nothing.
			pr := math.Min(0.85, 0.2+0.3*math.Log(math.Max(f.severity, 1.01)))
			u := r.Float64()
			var re *event
			switch {
			case u < 0.6*pr:
				re = &event{t: t + int64(r.between(6, 45)), version: e.prev, kind: history.KindRollback}
			case u < pr:
				vnum++
				re = &event{t: t + int64(r.between(30, 240)), version: fmt.Sprintf("v%d", vnum), kind: history.KindDeploy}
			}
			if r.Float64() < 0.7*pr {
				at := t + int64(r.between(5, 60))
				inc := history.Incident{ID: fmt.Sprintf("inc-%s-%s-%d", st.service, st.env, vnum), Service: st.service,
					Environment: st.env, OpenedAt: cfg.Start.Add(time.Duration(at) * time.Minute), Severity: "sev2"}
				inc.ResolvedAt = inc.OpenedAt.Add(time.Hour)
				if r.Float64() < 0.6 {
					inc.DeploymentID = e.version // replaced by the ID in deployments()
				}
				incs = append(incs, inc)
			}
			if re != nil && re.t < next {
				add(re)
			}
		case r.Float64() < 0.03: // a healthy version rolled back anyway
			re := &event{t: t + int64(r.between(10, 60)), version: e.prev, kind: history.KindRollback}
			if re.t < next {
				add(re)
			}
		}
	}
	for i, e := range st.events {
		e.id = fmt.Sprintf("%s-%s-%04d", st.service, st.env, i+1)
	}
	for i := range incs {
		if v := incs[i].DeploymentID; v != "" {
			for _, e := range st.events {
				if e.version == v && e.fault != nil {
					incs[i].DeploymentID = e.id
					break
				}
			}
		}
	}
	return incs
}

func (st *stream) newFault(r src, kpis bool) *fault {
	f := &fault{}
	if kpis && r.Float64() < 1.0/3 {
		f.shape = ShapeShift
		if r.Float64() < 0.5 {
			f.kpi, f.cpuAdd, f.rampMin = KPICPU, r.between(10, 35), r.between(5, 20)
			f.severity = 1 + f.cpuAdd/cpuBase
		} else {
			f.kpi, f.drop = KPIRPS, r.between(0.1, 0.4)
			f.severity = 1 - f.drop
		}
		return f
	}
	w := r.Float64() * 10
	switch {
	case w < 3:
		f.shape, f.mult = ShapeStep, r.logBetween(1.5, 20)
		f.severity = f.mult
	case w < 5:
		f.shape, f.mult, f.rampMin = ShapeLeak, r.logBetween(2, 15), r.between(20, 90)
		f.severity = f.mult
	case w < 7:
		f.shape, f.add = ShapePartial, r.logBetween(0.002, 0.05)
		f.severity = 1 + f.add/st.base
	case w < 9:
		f.shape, f.mult = ShapeLatency, r.between(1.5, 4)
		f.severity = f.mult
	default:
		f.shape, f.mult, f.duty = ShapeIntermittent, r.logBetween(5, 30), r.between(0.2, 0.5)
		f.severity = 1 + (f.mult-1)*f.duty
	}
	f.newSig = f.shape != ShapeLatency && r.Float64() < 0.5
	return f
}

func (st *stream) deployments(cfg Config) ([]history.Deployment, []history.Truth) {
	var deps []history.Deployment
	var truth []history.Truth
	for i, e := range st.events {
		at := cfg.Start.Add(time.Duration(e.t) * time.Minute)
		d := history.Deployment{ID: e.id, Service: st.service, Environment: st.env, Version: e.version,
			StartedAt: at, FinishedAt: at.Add(time.Duration(e.rollout) * time.Minute), Kind: e.kind,
			FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1}
		deps = append(deps, d)
		t := history.Truth{DeploymentID: e.id, OnsetMinute: -1}
		var conf []string
		if e.transAmp > 0 {
			conf = append(conf, "blip")
		}
		if e.harmless > 0 {
			conf = append(conf, "benign_signature")
		}
		if i+1 < len(st.events) && st.events[i+1].t < e.t+60 {
			conf = append(conf, "overlap")
		}
		for m := e.t; m < e.t+60; m++ {
			if st.outage[m] {
				conf = append(conf, "outage")
				break
			}
		}
		if st.rpm < 20 {
			conf = append(conf, "low_traffic")
		}
		t.Confounders = strings.Join(conf, ",")
		if f := e.fault; f != nil {
			t.Faulty, t.Shape, t.Severity, t.OnsetMinute = true, f.shape, f.severity, 0
			if f.shape == ShapeShift {
				t.KPI, t.Direction = f.kpi, "up"
				if f.kpi == KPIRPS {
					t.Direction = "down"
				}
			}
		}
		truth = append(truth, t)
	}
	return deps, truth
}

// versionState is what a version adds to the stream's errors and latency.
type versionState struct {
	f        *fault
	harmless float64
	newFP    string
	harmFP   string
}

func (st *stream) minutes(r src, cfg Config) ([]history.Metric, []history.Signature, []history.KPIValue) {
	states := map[string]*versionState{"v0": {}}
	for _, e := range st.events {
		if _, ok := states[e.version]; ok {
			continue
		}
		vs := &versionState{f: e.fault, harmless: e.harmless}
		if e.fault != nil && e.fault.newSig {
			vs.newFP = fmt.Sprintf("%s-%s-%s-new", st.service, st.env, e.version)
		}
		if e.harmless > 0 {
			vs.harmFP = fmt.Sprintf("%s-%s-%s-harmless", st.service, st.env, e.version)
		}
		states[e.version] = vs
	}
	end := int64(cfg.Days) * 1440
	var ms []history.Metric
	var sigs []history.Signature
	var kvs []history.KPIValue
	var cur *event
	ei := 0
	scale := r.between(0.5, 1.5)
	peak := st.rpm * scale
	for m := int64(0); m < end; m++ {
		for ei < len(st.events) && st.events[ei].t <= m {
			cur = st.events[ei]
			ei++
		}
		tod := float64(m%1440) / 1440
		load := st.rpm * scale * (0.35 + 0.65*(0.5+0.5*math.Sin(2*math.Pi*(tod-0.3))))
		if (m/1440)%7 >= 5 {
			load *= 0.6
		}
		req := r.overdispersed(load, 0.15)
		if req == 0 {
			continue
		}
		type part struct {
			version string
			req     float64
			since   float64 // minutes since this version's deploy; -1 for the previous version
		}
		parts := []part{{"v0", req, -1}}
		if cur != nil {
			since := float64(m - cur.t)
			share := 1.0
			if cur.rollout > 0 && since < float64(cur.rollout) {
				share = math.Min(1, 0.05+0.95*since/float64(cur.rollout))
			}
			n := math.Round(req * share)
			parts = []part{{cur.version, n, since}}
			if req-n > 0 {
				parts = append(parts, part{cur.prev, req - n, -1})
			}
		}
		agg := history.Metric{Service: st.service, Environment: st.env, Minute: cfg.Start.Add(time.Duration(m) * time.Minute)}
		var cpu float64
		if cfg.KPIs { // drawn only then, so that fleets without KPIs keep their draws
			cpu = cpuBase - 25 + 50*load/peak + 3*r.NormFloat64()
		}
		for i := range parts {
			p := &parts[i]
			vs := states[p.version]
			if f := vs.f; f != nil && f.shape == ShapeShift {
				switch f.kpi {
				case KPIRPS: // callers fail before they reach the service
					p.req = math.Round(p.req * (1 - f.drop))
				case KPICPU:
					grown := 1.0
					if p.since >= 0 {
						grown = math.Min(1, p.since/f.rampMin)
					}
					cpu += f.cpuAdd * grown
				}
			}
			if p.req <= 0 {
				continue
			}
			rate := st.base * (1 + 0.3*math.Sin(2*math.Pi*tod))
			extra, lat := 0.0, st.lat
			if f := vs.f; f != nil {
				switch f.shape {
				case ShapeStep:
					extra = rate * (f.mult - 1)
				case ShapeLeak:
					grown := 1.0
					if p.since >= 0 {
						grown = math.Min(1, p.since/f.rampMin)
					}
					extra = rate * (f.mult - 1) * grown
				case ShapePartial:
					extra = f.add
				case ShapeIntermittent:
					if r.Float64() < f.duty {
						extra = rate * (f.mult - 1)
					}
				case ShapeLatency:
					lat *= f.mult
				}
			}
			if p.since >= 0 && cur.transAmp > 0 && p.since < cur.transLen {
				rate += cur.transAmp * (1 - p.since/cur.transLen)
			}
			if st.outage[m] {
				rate += 0.05
			}
			eb := r.overdispersed(p.req*rate, st.errSigma)
			en := r.overdispersed(p.req*extra, st.errSigma)
			eh := r.count(p.req * vs.harmless)
			errs := math.Min(p.req, eb+en+eh)
			p95 := lat * math.Exp(r.NormFloat64()*(0.08+0.3/math.Sqrt(p.req)))
			p50 := 0.4 * lat * math.Exp(0.05*r.NormFloat64())
			if cfg.Aggregate {
				agg.Requests += p.req
				agg.Errors += errs
				agg.LatencyP50, agg.LatencyP95, agg.LatencyP99 = p50, p95, 1.6*p95
				continue
			}
			ms = append(ms, history.Metric{Service: st.service, Environment: st.env, Version: p.version,
				Minute: agg.Minute, Requests: p.req, Errors: errs, LatencyP50: p50, LatencyP95: p95, LatencyP99: 1.6 * p95})
			at := agg.Minute
			sig := func(fp string, n float64) {
				if n >= 1 {
					sigs = append(sigs, history.Signature{Service: st.service, Environment: st.env, Version: p.version,
						Minute: at, Fingerprint: fp, Count: int64(n)})
				}
			}
			// Background errors: most under the stream's commonest
			// fingerprint, the rest under another known one.
			if eb > 0 {
				other := math.Floor(eb * r.between(0, 0.5))
				sig(st.known[0], eb-other)
				sig(st.known[1+r.IntN(len(st.known)-1)], other)
			}
			if vs.newFP != "" {
				sig(vs.newFP, en)
			} else {
				sig(st.known[r.IntN(len(st.known))], en)
			}
			sig(vs.harmFP, eh)
		}
		if cfg.Aggregate {
			// A Prometheus-style export: rates times 60 with scrape jitter,
			// stamped at the evaluation second.
			j := r.between(0.97, 1.03)
			agg.Requests *= j
			agg.Errors *= j
			at := agg.Minute
			agg.Minute = agg.Minute.Add(time.Duration(r.IntN(60)) * time.Second)
			if agg.Requests <= 0 {
				continue
			}
			ms = append(ms, agg)
			if cfg.KPIs {
				kv := func(name string, v float64) {
					kvs = append(kvs, history.KPIValue{Service: st.service, Environment: st.env, Name: name, Minute: at, Value: v})
				}
				kv(KPIAvailability, 1-agg.Errors/agg.Requests)
				kv(KPIRPS, agg.Requests/60)
				kv(KPIP95, agg.LatencyP95)
				kv(KPICPU, math.Max(0, math.Min(100, cpu)))
			}
		}
	}
	return ms, mergeSignatures(sigs), kvs
}

// cpuBase is the CPU level (percent) of a stream at its mean load.
const cpuBase = 45.0

// kpiDeclarations declares the stream's KPIs (Config.KPIs).
func kpiDeclarations(service, env string) []history.KPI {
	k := func(name string, d history.Direction, kind history.KPIKind, unit string) history.KPI {
		return history.KPI{Service: service, Environment: env, Name: name, Direction: d, Kind: kind, Unit: unit}
	}
	return []history.KPI{
		k(KPIAvailability, history.LowerIsWorse, history.KPIRatio, ""),
		k(KPIRPS, history.BothWorse, history.KPIRate, "req/s"),
		k(KPIP95, history.HigherIsWorse, history.KPILatency, "ms"),
		k(KPICPU, history.HigherIsWorse, history.KPIGauge, "%"),
	}
}

// mergeSignatures adds up the counts of rows with the same key (a known
// fingerprint drawn twice in a minute).
func mergeSignatures(s []history.Signature) []history.Signature {
	type key struct {
		v, fp string
		m     int64
	}
	idx := map[key]int{}
	out := s[:0]
	for _, x := range s {
		k := key{x.Version, x.Fingerprint, x.Minute.Unix()}
		if i, ok := idx[k]; ok {
			out[i].Count += x.Count
			continue
		}
		idx[k] = len(out)
		out = append(out, x)
	}
	return out
}
