package registrytest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/registry"
)

// Outcome is a contender's sequential policy on an evaluation set: its
// confusion against the reference labels and its mean time to detection.
type Outcome struct {
	C    metrics.Confusion
	MTTD float64
}

// Conf returns the Outcome of tp, fp, fn and tn decisions with mean time
// to detection mttd minutes (ignored without true positives).
func Conf(tp, fp, fn, tn int, mttd float64) Outcome {
	return Outcome{C: metrics.Confusion{TP: tp, FP: fp, FN: fn, TN: tn}, MTTD: mttd}
}

// Scored returns the registry.Scored of an outcome under the gate's metric
// names (see registry.Scored), against one reference "weak".
func (o Outcome) Scored(name string, version int) registry.Scored {
	s := registry.Scored{Name: name, Version: version, Values: map[string]float64{}}
	mttd := math.NaN()
	if o.C.TP > 0 {
		mttd = o.MTTD
	}
	s.Policy = []registry.RefScore{{Reference: "weak", Confusion: o.C, Precision: o.C.PrecisionEstimate(), Recall: o.C.RecallEstimate(), MTTD: metrics.Float(mttd)}}
	for k, x := range map[string]float64{
		"policy.precision": o.C.Precision(), "policy.recall": o.C.Recall(), "policy.false_alarm_rate": o.C.FalsePositiveRate(),
		"policy.mttd_min": mttd, "policy.ttd_ratio": mttd / 60,
	} {
		if metrics.Defined(x) {
			s.Values[k] = x
			s.Values["weak:"+k] = x
		}
	}
	return s
}

// Evaluator is a registry.Evaluator for tests of the registry's rules: it
// reports the outcomes set for each version (by number), and for the
// statistical baseline, as if it had scored them on evaluation set Hash.
// Package registry/evidence computes real evidence; this one lets the
// conformance suite state the scores a rule is tested against. It is safe
// for concurrent use.
type Evaluator struct {
	Hash     string
	Baseline Outcome
	// Err, when set, is returned instead of evidence.
	Err error
	// Before, when set, runs at the start of every Evaluate.
	Before func(cand, cur *registry.Version)

	mu       sync.Mutex
	outcomes map[int]Outcome
}

// NewEvaluator returns an Evaluator on set hash with the baseline's outcome.
func NewEvaluator(hash string, baseline Outcome) *Evaluator {
	return &Evaluator{Hash: hash, Baseline: baseline, outcomes: map[int]Outcome{}}
}

// Set states version's outcome.
func (e *Evaluator) Set(version int, o Outcome) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outcomes[version] = o
}

// Evaluate implements registry.Evaluator.
func (e *Evaluator) Evaluate(ctx context.Context, cand, cur *registry.Version) (*registry.Evidence, error) {
	if e.Before != nil {
		e.Before(cand, cur)
	}
	if e.Err != nil {
		return nil, e.Err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	score := func(v *registry.Version) (registry.Scored, error) {
		o, ok := e.outcomes[v.Version]
		if !ok {
			return registry.Scored{}, fmt.Errorf("registrytest: no outcome for version %d", v.Version)
		}
		return o.Scored(fmt.Sprintf("%s@%d", v.Name, v.Version), v.Version), nil
	}
	ev := &registry.Evidence{
		Set:        registry.EvalSet{Hash: e.Hash, Workdir: "registrytest", Split: "test", Reference: "weak", BaselineMinutes: 60},
		Baseline:   e.Baseline.Scored("statistical checks", 0),
		ComputedAt: time.Now().UTC(),
	}
	var err error
	if ev.Candidate, err = score(cand); err != nil {
		return nil, err
	}
	if cur != nil {
		s, err := score(cur)
		if err != nil {
			return nil, err
		}
		ev.Current = &s
		// The faults both flag: here found at each version's own mean.
		for _, x := range []*registry.Scored{&ev.Candidate, ev.Current} {
			if m, ok := x.Values["policy.mttd_min"]; ok && ev.Candidate.Policy[0].Confusion.TP > 0 && s.Policy[0].Confusion.TP > 0 {
				x.Values[registry.MetricSharedMTTD] = m
				x.Values["weak:"+registry.MetricSharedMTTD] = m
			}
		}
	}
	ev.Set.Deploys = ev.Candidate.Policy[0].Confusion.N()
	ev.Set.Labeled = ev.Set.Deploys
	ev.Set.Extracted = ev.Set.Deploys
	return ev, nil
}
