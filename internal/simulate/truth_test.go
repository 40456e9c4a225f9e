package simulate

import (
	"context"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
)

// simulated is a small simulated fleet read back through the embedded store.
type simulated struct {
	st      history.Store
	sum     Summary
	deps    []history.Deployment
	truth   map[string]history.Truth
	series  map[history.Stream][]history.Series
	sigs    map[history.Stream][]history.Signature
	streams []history.Stream
}

func simulateInto(t *testing.T, cfg Config) *simulated {
	t.Helper()
	ctx := context.Background()
	st := embeddedtest.Open(t)
	tx, err := st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(ctx, cfg, tx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s := &simulated{st: st, sum: sum, truth: map[string]history.Truth{}, series: map[history.Stream][]history.Series{}, sigs: map[history.Stream][]history.Signature{}}
	if s.deps, err = st.Deployments(ctx, history.Range{}); err != nil {
		t.Fatal(err)
	}
	tr, err := st.Truth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range tr {
		s.truth[x.DeploymentID] = x
	}
	if s.streams, err = st.Streams(ctx); err != nil {
		t.Fatal(err)
	}
	for _, str := range s.streams {
		if s.series[str], err = st.Metrics(ctx, str, history.Range{}); err != nil {
			t.Fatal(err)
		}
		if s.sigs[str], err = st.Signatures(ctx, str, history.Range{}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func truthConfig() Config {
	c := DefaultConfig()
	c.Services = 12
	c.Days = 6
	c.DeploysPerDay = 6
	c.FaultRate = 0.25
	c.Seed = 7
	return c
}

// window sums requests, errors and p95 of version v on stream st over
// minutes [from, to) (Unix minutes).
func (s *simulated) window(st history.Stream, v string, from, to int64) (req, errs, p95 float64, n int) {
	for _, x := range s.series[st] {
		if x.Version != v {
			continue
		}
		a := sort.Search(x.Len(), func(i int) bool { return x.Minutes[i] >= from })
		for i := a; i < x.Len() && x.Minutes[i] < to; i++ {
			req += x.Requests[i]
			errs += x.Errors[i]
			p95 += x.P95[i]
			n++
		}
	}
	if n > 0 {
		p95 /= float64(n)
	}
	return
}

func streamOf(d history.Deployment) history.Stream {
	return history.Stream{Service: d.Service, Environment: d.Environment}
}

// previous returns the deployment before d on its stream, if any.
func (s *simulated) previous(d history.Deployment) (history.Deployment, bool) {
	var prev history.Deployment
	found := false
	for _, x := range s.deps {
		if x.ID == d.ID {
			return prev, found
		}
		if streamOf(x) == streamOf(d) {
			prev, found = x, true
		}
	}
	return prev, false
}

func TestTruthMatchesHistory(t *testing.T) {
	s := simulateInto(t, truthConfig())
	if int64(len(s.truth)) != s.sum.Deployments || len(s.deps) != len(s.truth) {
		t.Fatalf("%d truth rows for %d deployments", len(s.truth), len(s.deps))
	}
	for _, shape := range Shapes {
		if s.sum.FaultyByShape[shape] == 0 {
			t.Errorf("no faulty deploy of shape %s", shape)
		}
	}

	// Error-rate faults: the new version's error rate after onset against the
	// old version's before the deploy, summed over deploys with traffic.
	type agg struct{ beforeReq, beforeErr, afterReq, afterErr float64 }
	var faulty, healthy agg
	var latBefore, latAfter float64
	var latN int
	newFP, newFPChecked := 0, 0
	for _, d := range s.deps {
		tr := s.truth[d.ID]
		st := streamOf(d)
		start := history.UnixMinute(d.StartedAt)
		prev, ok := s.previous(d)
		oldVersion := ""
		if ok {
			oldVersion = prev.Version
		}
		if !ok || oldVersion == d.Version || start-history.UnixMinute(prev.StartedAt) < 90 {
			continue
		}
		next := int64(math.MaxInt64)
		for _, x := range s.deps {
			if streamOf(x) == st && x.StartedAt.After(d.StartedAt) {
				next = history.UnixMinute(x.StartedAt)
				break
			}
		}
		bReq, bErr, bP95, bn := s.window(st, oldVersion, start-60, start)
		switch {
		case tr.Faulty && (tr.Shape == ShapeStep || tr.Shape == ShapeDelayed || tr.Shape == ShapeRamp):
			from := start + tr.OnsetMinute + 10
			if next < from+20 {
				continue
			}
			aReq, aErr, _, _ := s.window(st, d.Version, from, from+20)
			faulty.beforeReq += bReq
			faulty.beforeErr += bErr
			faulty.afterReq += aReq
			faulty.afterErr += aErr
		case tr.Faulty && tr.Shape == ShapeLatency:
			if next < start+40 || bn < 30 {
				continue
			}
			_, _, aP95, an := s.window(st, d.Version, start+10, start+40)
			if an > 20 {
				latBefore += bP95
				latAfter += aP95
				latN++
			}
		case tr.Faulty && tr.Shape == ShapeNewSignature:
			seen := map[string]bool{}
			for _, g := range s.sigs[st] {
				if history.UnixMinute(g.Minute) < start {
					seen[g.Fingerprint] = true
				}
			}
			if next < start+60 {
				continue
			}
			newFPChecked++
			for _, g := range s.sigs[st] {
				m := history.UnixMinute(g.Minute)
				if g.Version == d.Version && m >= start && m < next && !seen[g.Fingerprint] {
					newFP++
					break
				}
			}
		case !tr.Faulty && d.Kind != history.KindRollback:
			if next < start+60 || s.truth[prev.ID].Faulty {
				continue
			}
			aReq, aErr, _, _ := s.window(st, d.Version, start+20, start+60) // after any restart blip
			healthy.beforeReq += bReq
			healthy.beforeErr += bErr
			healthy.afterReq += aReq
			healthy.afterErr += aErr
		}
	}
	rate := func(e, r float64) float64 { return e / max(r, 1) }
	fr := rate(faulty.afterErr, faulty.afterReq) / rate(faulty.beforeErr, faulty.beforeReq)
	hr := rate(healthy.afterErr, healthy.afterReq) / rate(healthy.beforeErr, healthy.beforeReq)
	t.Logf("error-rate ratio after/before: faulty %.2f (%.0f→%.0f req), healthy %.2f; latency p95 ratio %.2f over %d; new fingerprints %d/%d",
		fr, faulty.beforeReq, faulty.afterReq, hr, latAfter/latBefore, latN, newFP, newFPChecked)
	if faulty.afterReq == 0 || fr < 3 {
		t.Errorf("faulty error-rate deploys: after/before ratio %.2f, want ≥ 3", fr)
	}
	if healthy.afterReq == 0 || hr > 1.6 || hr < 0.6 {
		t.Errorf("healthy deploys: after/before error-rate ratio %.2f, want about 1", hr)
	}
	if latN == 0 || latAfter/latBefore < 1.3 {
		t.Errorf("latency faults: p95 ratio %.2f over %d deploys, want ≥ 1.3", latAfter/latBefore, latN)
	}
	if newFPChecked == 0 || newFP < newFPChecked*8/10 {
		t.Errorf("new-signature faults with a new fingerprint: %d of %d", newFP, newFPChecked)
	}
}

func TestRolloutsAndRollbacks(t *testing.T) {
	s := simulateInto(t, truthConfig())
	var rollbacks, omitted, inferredOK int
	for _, d := range s.deps {
		st := streamOf(d)
		start := history.UnixMinute(d.StartedAt)
		// The version served before the deploy.
		prev, ok := s.previous(d)
		if d.KindInferred {
			omitted++
		}
		if d.Kind == history.KindRollback {
			rollbacks++
			served := false
			for _, x := range s.series[st] {
				if x.Version == d.Version && x.Len() > 0 && x.Minutes[0] < start {
					served = true
				}
			}
			if !served {
				t.Errorf("%s rolls back to %s, which never served %v before", d.ID, d.Version, st)
			}
			if d.KindInferred {
				inferredOK++
			}
		}
		// During the rollout both versions serve; after it the old one is gone.
		if !ok || prev.Version == d.Version {
			continue
		}
		fin := history.UnixMinute(d.FinishedAt)
		rollout := fin - start
		next := int64(math.MaxInt64)
		for _, x := range s.deps {
			if streamOf(x) == st && x.StartedAt.After(d.StartedAt) {
				next = history.UnixMinute(x.StartedAt)
				break
			}
		}
		oldAfter, _, _, _ := s.window(st, prev.Version, fin+1, min(next, fin+120))
		if oldAfter != 0 {
			t.Errorf("%s: old version %s still served %g requests after the rollout", d.ID, prev.Version, oldAfter)
		}
		if rollout >= 5 {
			oldDuring, _, _, _ := s.window(st, prev.Version, start+1, fin-1)
			newDuring, _, _, _ := s.window(st, d.Version, start+1, fin-1)
			lowTraffic := false
			for _, x := range s.series[st] {
				if x.Len() > 0 && x.Len() < 1440*3 {
					lowTraffic = true
				}
			}
			if !lowTraffic && (oldDuring == 0 || newDuring == 0) {
				t.Errorf("%s: rollout of %d min, old served %g, new %g", d.ID, rollout, oldDuring, newDuring)
			}
		}
	}
	if rollbacks == 0 || omitted == 0 || inferredOK == 0 {
		t.Errorf("rollbacks %d, kinds inferred %d, rollbacks inferred %d: all must occur", rollbacks, omitted, inferredOK)
	}
	// Rollbacks of faulty versions come after the fault, and some faulty
	// deploys are never rolled back.
	var fixed, unfixed int
	for _, d := range s.deps {
		if !s.truth[d.ID].Faulty || d.Kind == history.KindRollback {
			continue
		}
		prev, _ := s.previous(d)
		rolled := false
		for _, x := range s.deps {
			if streamOf(x) == streamOf(d) && x.StartedAt.After(d.StartedAt) {
				rolled = x.Version == prev.Version && x.StartedAt.Sub(d.StartedAt) < 4*time.Hour
				break
			}
		}
		if rolled {
			fixed++
		} else {
			unfixed++
		}
	}
	if fixed == 0 || unfixed == 0 {
		t.Errorf("faulty deploys rolled back %d, not rolled back %d: both must occur", fixed, unfixed)
	}
}

func TestTrafficPatterns(t *testing.T) {
	s := simulateInto(t, truthConfig())
	// Low-traffic services have many zero-error minutes and gaps; the
	// busiest ones serve every minute.
	var zeroErr, minutes int64
	var sparse, full int
	total := int64(truthConfig().Days) * 1440
	for _, ser := range s.series {
		var n int64
		for _, x := range ser {
			for i := range x.Minutes {
				if x.Errors[i] == 0 {
					zeroErr++
				}
				minutes++
			}
			n += int64(x.Len())
		}
		switch {
		case n < total*9/10:
			sparse++
		case n >= total:
			full++
		}
	}
	if sparse == 0 || full == 0 {
		t.Errorf("streams with gaps %d, streams with data every minute %d: both must occur", sparse, full)
	}
	if zeroErr == 0 || zeroErr == minutes {
		t.Errorf("zero-error minutes %d of %d", zeroErr, minutes)
	}
	// Overdispersion: for a steady high-traffic stream, the variance of
	// per-minute errors exceeds the mean (Poisson would give ≈ equal).
	overdispersed := 0
	for _, ser := range s.series {
		for _, x := range ser {
			if x.Len() < 600 {
				continue
			}
			var mean, sq float64
			for _, e := range x.Errors[:600] {
				mean += float64(e)
			}
			mean /= 600
			for _, e := range x.Errors[:600] {
				sq += (float64(e) - mean) * (float64(e) - mean)
			}
			if mean > 2 && sq/599 > 1.5*mean {
				overdispersed++
			}
		}
	}
	if overdispersed == 0 {
		t.Error("no stream with overdispersed errors")
	}
	if s.sum.Outages == 0 {
		t.Error("no outage simulated")
	}
}
