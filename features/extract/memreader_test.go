package extract

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// memReader is an in-memory history.Reader for tests.
type memReader struct {
	deps    []history.Deployment
	metrics map[history.Stream][]history.Series
	sigs    map[history.Stream][]history.Signature
}

func (m *memReader) Services(context.Context) ([]history.Service, error) { return nil, nil }
func (m *memReader) Incidents(context.Context, history.Range) ([]history.Incident, error) {
	return nil, nil
}
func (m *memReader) Annotations(context.Context) ([]history.Annotation, error) { return nil, nil }

func (m *memReader) Deployments(_ context.Context, r history.Range) ([]history.Deployment, error) {
	var out []history.Deployment
	for _, d := range m.deps {
		if r.Contains(d.StartedAt) {
			out = append(out, d)
		}
	}
	return out, nil
}

func (m *memReader) Streams(context.Context) ([]history.Stream, error) {
	var out []history.Stream
	for s := range m.metrics {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Service+"\x00"+out[i].Environment < out[j].Service+"\x00"+out[j].Environment
	})
	return out, nil
}

func (m *memReader) Metrics(_ context.Context, s history.Stream, r history.Range) ([]history.Series, error) {
	var out []history.Series
	for _, sr := range m.metrics[s] {
		c := history.Series{Version: sr.Version}
		for i, mi := range sr.Minutes {
			if !r.Contains(history.MinuteTime(mi)) {
				continue
			}
			c.Minutes = append(c.Minutes, mi)
			c.Requests = append(c.Requests, sr.Requests[i])
			c.Errors = append(c.Errors, sr.Errors[i])
			c.P50 = append(c.P50, sr.P50[i])
			c.P95 = append(c.P95, sr.P95[i])
			c.P99 = append(c.P99, sr.P99[i])
		}
		if len(c.Minutes) > 0 {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memReader) Signatures(_ context.Context, s history.Stream, r history.Range) ([]history.Signature, error) {
	var out []history.Signature
	for _, g := range m.sigs[s] {
		if r.Contains(g.Minute) {
			out = append(out, g)
		}
	}
	return out, nil
}

// testTruth is the generator's truth of one deploy.
type testTruth struct {
	faulty bool
	onset  int
}

// genHistory makes a small deterministic fleet: services × envs, days of
// per-minute traffic with a daily cycle, deploys every few hours with 5-10
// minute rollouts, a share of faulty versions (error step from onset), new
// fingerprints on faulty versions, and one fleet-wide outage per env.
func genHistory(services int, envs []string, days int, seed uint64) (*memReader, map[string]testTruth) {
	rng := rand.New(rand.NewPCG(seed, 99))
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	m0 := history.UnixMinute(start)
	n := int64(days * 1440)
	m := &memReader{metrics: map[history.Stream][]history.Series{}, sigs: map[history.Stream][]history.Signature{}}
	truth := map[string]testTruth{}
	outage := map[string]int64{}
	for _, e := range envs {
		outage[e] = m0 + n/2 + rng.Int64N(600)
	}
	for si := 0; si < services; si++ {
		svc := fmt.Sprintf("svc%02d", si)
		rpm := 50 + rng.Float64()*800
		if si == 0 {
			rpm = 2 // a low-traffic service
		}
		for _, env := range envs {
			st := history.Stream{Service: svc, Environment: env}
			type seg struct {
				from    int64
				version string
				mult    float64
				onset   int64
			}
			var segs []seg
			segs = append(segs, seg{from: m0, version: "v0", mult: 1})
			for t := m0 + 180 + rng.Int64N(240); t < m0+n-30; t += 120 + rng.Int64N(360) {
				v := fmt.Sprintf("v%d", len(segs))
				id := fmt.Sprintf("%s-%s-%s", svc, env, v)
				faulty := rng.Float64() < 0.2
				mult, onset := 1.0, int64(0)
				if faulty {
					mult = 3 + rng.Float64()*5
					if rng.Float64() < 0.3 {
						onset = 15 + rng.Int64N(20)
					}
				}
				at := history.MinuteTime(t).Add(time.Duration(rng.IntN(60)) * time.Second)
				roll := 5 + rng.Int64N(6)
				m.deps = append(m.deps, history.Deployment{ID: id, Service: svc, Environment: env, Version: v,
					StartedAt: at, FinishedAt: at.Add(time.Duration(roll) * time.Minute), FilesChanged: rng.Int64N(20), LinesAdded: rng.Int64N(500),
					LinesDeleted: rng.Int64N(100), Kind: history.KindDeploy})
				truth[id] = testTruth{faulty: faulty, onset: int(onset)}
				segs = append(segs, seg{from: t, version: v, mult: mult, onset: onset})
			}
			series := map[string]*history.Series{}
			add := func(v string, mi, req, e int64, p95 float64) {
				s := series[v]
				if s == nil {
					s = &history.Series{Version: v}
					series[v] = s
				}
				s.Minutes = append(s.Minutes, mi)
				s.Requests = append(s.Requests, float64(req))
				s.Errors = append(s.Errors, float64(e))
				s.P50 = append(s.P50, p95/2)
				s.P95 = append(s.P95, p95)
				s.P99 = append(s.P99, p95*1.6)
			}
			k := 0
			for mi := m0; mi < m0+n; mi++ {
				for k+1 < len(segs) && segs[k+1].from <= mi {
					k++
				}
				day := 1 + 0.5*math.Sin(2*math.Pi*float64(mi%1440)/1440)
				total := float64(rpm) * day
				rate := 0.005 * (1 + 0.3*math.Sin(2*math.Pi*float64(mi%1440)/1440))
				if o := outage[env]; mi >= o && mi < o+40 {
					rate *= 6
				}
				cur := segs[k]
				share := 1.0
				if k > 0 && mi-cur.from < 8 {
					share = float64(mi-cur.from+1) / 9
				}
				parts := []struct {
					s     seg
					share float64
				}{{cur, share}}
				if share < 1 {
					parts = append(parts, struct {
						s     seg
						share float64
					}{segs[k-1], 1 - share})
				}
				for _, p := range parts {
					req := poisson(rng, total*p.share)
					if req == 0 {
						continue
					}
					r := rate
					if p.s.mult > 1 && mi-p.s.from >= p.s.onset {
						r *= p.s.mult
					}
					e := min(req, poisson(rng, float64(req)*r))
					add(p.s.version, mi, req, e, 120*(1+0.05*rng.NormFloat64()))
					if e > 0 {
						fp := "fp-common"
						if p.s.mult > 1 && mi-p.s.from >= p.s.onset && rng.Float64() < 0.5 {
							fp = "fp-" + p.s.version
						}
						m.sigs[st] = append(m.sigs[st], history.Signature{Service: svc, Environment: env, Version: p.s.version,
							Minute: history.MinuteTime(mi), Fingerprint: fp, Count: e})
					}
				}
			}
			var vs []string
			for v := range series {
				vs = append(vs, v)
			}
			sort.Strings(vs)
			for _, v := range vs {
				m.metrics[st] = append(m.metrics[st], *series[v])
			}
			sort.SliceStable(m.sigs[st], func(i, j int) bool {
				a, b := m.sigs[st][i], m.sigs[st][j]
				if !a.Minute.Equal(b.Minute) {
					return a.Minute.Before(b.Minute)
				}
				if a.Version != b.Version {
					return a.Version < b.Version
				}
				return a.Fingerprint < b.Fingerprint
			})
		}
	}
	sort.Slice(m.deps, func(i, j int) bool {
		if !m.deps[i].StartedAt.Equal(m.deps[j].StartedAt) {
			return m.deps[i].StartedAt.Before(m.deps[j].StartedAt)
		}
		return m.deps[i].ID < m.deps[j].ID
	})
	return m, truth
}

func poisson(rng *rand.Rand, lam float64) int64 {
	if lam <= 0 {
		return 0
	}
	if lam > 50 {
		return max(0, int64(math.Round(lam+math.Sqrt(lam)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-lam), int64(0), 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
