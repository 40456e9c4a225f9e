// Package evidence computes the promotion gate's own evidence
// (registry.Evaluator): it scores a candidate version, the version the
// alias holds now and the statistical baseline on one evaluation set taken
// from the history store, never from what a version carries about itself.
//
// The evaluation set is the deploys of one split (evaluate.split, default
// "test") of a work folder's split.parquet — the candidate's pipeline run
// folder by default — whose reference labels are the human annotations of
// the history store where present and the folder's weak labels
// (labels.parquet) otherwise, as in the evaluation stage. Features are
// extracted from the history store by the extractor every stage uses
// (detector/batch.Extract), with each version's own feature settings, and
// the versions' policies decide each deploy exactly as `faultline predict`
// does. The baseline is the unanimous ensemble of the statistical checks
// at the ensemble horizon (features.ensemble_horizon), features computed with the configured
// feature settings — what check and predict fall back to without a
// production model.
package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/registry"
)

// Reference names, as in the evaluation stage.
const (
	RefGold       = "gold"
	RefWeak       = "weak"
	RefGoldOrWeak = "gold_or_weak"
)

// Options configure an Evaluator. Zero values take the defaults given.
type Options struct {
	// History is the store deploys, series and annotations are read from.
	// Required.
	History history.Reader
	// Registry gives the versions' models. Required.
	Registry *registry.Registry
	// Workdir, when set, is the folder whose split.parquet (and
	// labels.parquet) define the evaluation set. Otherwise the candidate's
	// run folder (its lineage; never for an imported version), else the
	// current holder's, else DefaultWorkdir — the first that holds a
	// split.parquet.
	Workdir        string
	DefaultWorkdir string
	// Split is the split of split.parquet to evaluate on (default "test";
	// evaluate.split).
	Split string
	// BaselineMinutes is the horizon of the statistical baseline (default:
	// Features.EnsembleHorizon, the ensemble horizon, else 60).
	BaselineMinutes int
	// Features are the feature settings of the statistical baseline (the
	// "features" section; zero: features.DefaultConfig()).
	Features *features.Config
	// Scratch, Workers and Progress are passed to the extractor.
	Scratch  string
	Workers  int
	Progress progress.Func
	// CodeVersion is recorded with the evidence.
	CodeVersion string
	// Now returns the time recorded with the evidence (default time.Now).
	Now func() time.Time
}

// Evaluator implements registry.Evaluator.
type Evaluator struct {
	o Options
}

var _ registry.Evaluator = (*Evaluator)(nil)

// New returns an Evaluator with options o.
func New(o Options) *Evaluator {
	if o.Split == "" {
		o.Split = workdir.SplitTest
	}
	if o.Features == nil {
		cfg := features.DefaultConfig()
		o.Features = &cfg
	}
	if o.BaselineMinutes == 0 {
		o.BaselineMinutes = o.Features.EnsembleHorizon
	}
	if o.BaselineMinutes == 0 {
		o.BaselineMinutes = 60
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Progress = progress.Or(o.Progress)
	return &Evaluator{o: o}
}

// Evaluate implements registry.Evaluator.
func (e *Evaluator) Evaluate(ctx context.Context, cand, cur *registry.Version) (*registry.Evidence, error) {
	o := e.o
	if o.History == nil || o.Registry == nil {
		return nil, fmt.Errorf("%w: no history store to score versions on", registry.ErrNoEvidence)
	}
	set, ids, refs, err := e.evalSet(ctx, cand, cur)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(o.Features.Horizons, o.BaselineMinutes) {
		return nil, fmt.Errorf("%w: the statistical baseline decides at %d minutes (the ensemble horizon), which features.horizons %v does not compute",
			registry.ErrNoEvidence, o.BaselineMinutes, o.Features.Horizons)
	}
	type contender struct {
		v *registry.Version
		d *detector.Detector
	}
	cs := []contender{{v: cand}}
	if cur != nil {
		cs = append(cs, contender{v: cur})
	}
	// A current holder whose features this build no longer computes (its
	// bundle's schema is not this build's) cannot be scored, and no
	// detector of this build can load it: the candidate is then judged
	// without it (Evidence.CurrentUnscorable), rather than never promoted.
	unscorable := ""
	for i := range cs {
		b, err := o.Registry.Bundle(ctx, cs[i].v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s@%d: %v", registry.ErrNoEvidence, cs[i].v.Name, cs[i].v.Version, err)
		}
		if cs[i].d, err = detector.New(b); err != nil {
			if i > 0 && errors.Is(err, detector.ErrSchemaMismatch) {
				unscorable = fmt.Sprintf("%s@%d cannot be scored by this build: %v", cs[i].v.Name, cs[i].v.Version, err)
				cs = cs[:i]
				break
			}
			return nil, fmt.Errorf("%w: %s@%d: %v", registry.ErrNoEvidence, cs[i].v.Name, cs[i].v.Version, err)
		}
	}

	// One extraction per distinct feature setting: usually one.
	var extracted []*batch.Features
	featuresFor := func(cfg features.Config) (*batch.Features, error) {
		for _, f := range extracted {
			if batch.SameConfig(f.Config(), cfg) {
				return f, nil
			}
		}
		f, err := batch.Extract(ctx, o.History, cfg, ids, batch.Options{Scratch: o.Scratch, Workers: o.Workers, Progress: o.Progress})
		if err != nil {
			return nil, fmt.Errorf("%w: extract the evaluation set: %v", registry.ErrNoEvidence, err)
		}
		extracted = append(extracted, f)
		return f, nil
	}
	base, err := featuresFor(*o.Features)
	if err != nil {
		return nil, err
	}
	set.Extracted = len(base.Deploys())
	if set.Extracted == 0 {
		return nil, fmt.Errorf("%w: none of the %d deploys of the evaluation set (%s split of %s) is in the history store %s",
			registry.ErrNoEvidence, set.Deploys, set.Split, set.Workdir, describe(o.History))
	}
	ev := &registry.Evidence{Set: set, ComputedAt: o.Now().UTC(), CodeVersion: o.CodeVersion, CurrentUnscorable: unscorable}
	if set.Extracted < set.Deploys {
		ev.Notes = append(ev.Notes, fmt.Sprintf("%d of the %d deploys of the split are not in the history store; they count as not flagged", set.Deploys-set.Extracted, set.Deploys))
	}

	// The statistical baseline.
	bd := make(map[string]decision, len(ids))
	for _, id := range ids {
		d := decision{at: -1, p: map[int]float64{}}
		if row, ok := base.Row(o.BaselineMinutes, id); ok {
			if v := row[features.EnsembleFaulty]; v >= 0.5 {
				d.at = o.BaselineMinutes
			}
		}
		bd[id] = d
	}
	ev.Baseline = score(fmt.Sprintf("statistical checks: unanimous ensemble at %d min", o.BaselineMinutes), 0, ids, refs, bd, nil, o.BaselineMinutes)

	dss := make([]map[string]decision, len(cs)) // each contender's decisions
	for i, c := range cs {
		f, err := featuresFor(c.d.FeatureConfig())
		if err != nil {
			return nil, err
		}
		rows, err := f.Score(ctx, c.d)
		if err != nil {
			return nil, fmt.Errorf("%w: score %s@%d: %v", registry.ErrNoEvidence, c.v.Name, c.v.Version, err)
		}
		ds := make(map[string]decision, len(rows))
		for _, r := range rows {
			d := decision{at: -1, p: looksAlone(r)}
			if r.Verdict == detector.Faulty {
				d.at = r.DetectedAt
			}
			ds[r.DeploymentID] = d
		}
		th := map[int]float64{}
		for _, h := range c.d.Horizons() {
			th[h] = c.d.Threshold(h)
		}
		s := score(fmt.Sprintf("%s@%d", c.v.Name, c.v.Version), c.v.Version, ids, refs, ds, th, o.BaselineMinutes)
		dss[i] = ds
		if i == 0 {
			ev.Candidate = s
			ev.Paired = paired(ids, refs[0], ds, bd)
		} else {
			ev.Current = &s
		}
	}
	if ev.Current != nil {
		ev.SharedTTD = sharedTTD(ids, refs, dss[0], dss[1], &ev.Candidate, ev.Current)
	}
	return ev, nil
}

// sharedTTD puts on the candidate's and the current holder's scores the
// mean detection minute of the faulty deploys both flagged, against each
// reference: "policy.shared_mttd_min" (headline) and
// "REFERENCE:policy.shared_mttd_min". It is the time-to-detection
// comparison on the same faults. Each version's own mean
// (policy.mttd_min) is over the faults it found: a version that finds
// many more, later ones among them, has a higher mean without being
// slower on any fault the other finds. Absent when no faulty deploy was
// flagged by both. It returns the paired counts against every reference,
// in the order of refs (registry.Evidence.SharedTTD).
func sharedTTD(ids []string, refs []reference, cd, hd map[string]decision, cand, cur *registry.Scored) []registry.SharedTTD {
	out := make([]registry.SharedTTD, 0, len(refs))
	for i, ref := range refs {
		var sc, sh float64
		pair := registry.SharedTTD{Reference: ref.name}
		for _, id := range ids {
			if y, ok := ref.labels[id]; !ok || !y {
				continue
			}
			c, okc := cd[id]
			h, okh := hd[id]
			if okc && okh && c.at >= 0 && h.at >= 0 {
				pair.Shared++
				sc += float64(c.at)
				sh += float64(h.at)
				switch {
				case c.at > h.at:
					pair.Later++
				case c.at < h.at:
					pair.Earlier++
				}
			}
		}
		out = append(out, pair)
		n := float64(pair.Shared)
		if n == 0 {
			continue
		}
		for _, x := range []struct {
			s *registry.Scored
			v float64
		}{{cand, sc / n}, {cur, sh / n}} {
			x.s.Values[ref.name+":"+registry.MetricSharedMTTD] = x.v
			if i == 0 {
				x.s.Values[registry.MetricSharedMTTD] = x.v
			}
		}
	}
	return out
}

func describe(r history.Reader) string {
	if d, ok := r.(interface{ Describe() string }); ok {
		return d.Describe()
	}
	return ""
}

// reference is one set of labels over the evaluation set's deploys.
type reference struct {
	name   string
	labels map[string]bool
}

// evalSet finds the evaluation folder and builds the set: its deploys
// (sorted ids) and references, headline first.
func (e *Evaluator) evalSet(ctx context.Context, cand, cur *registry.Version) (registry.EvalSet, []string, []reference, error) {
	o := e.o
	dir, runID, err := e.folder(cand, cur)
	if err != nil {
		return registry.EvalSet{}, nil, nil, err
	}
	set := registry.EvalSet{Workdir: dir, RunID: runID, Split: o.Split, BaselineMinutes: o.BaselineMinutes}
	splitPath := filepath.Join(dir, workdir.SplitFile)
	split, err := workdir.ReadSplit(splitPath)
	if err != nil {
		return set, nil, nil, fmt.Errorf("%w: %v", registry.ErrNoEvidence, err)
	}
	var ids []string
	for id, s := range split {
		if s == o.Split {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	set.Deploys = len(ids)
	if len(ids) == 0 {
		return set, nil, nil, fmt.Errorf("%w: %s has no deploys in split %q (evaluate.split)", registry.ErrNoEvidence, splitPath, o.Split)
	}

	var weak map[string]bool
	lpath := filepath.Join(dir, workdir.LabelsFile)
	switch l, err := workdir.ReadLabels(lpath); {
	case err == nil:
		weak = map[string]bool{}
		in := map[string]bool{}
		for _, id := range ids {
			in[id] = true
		}
		for i, id := range l.IDs {
			if in[id] && (l.Label[i] == 0 || l.Label[i] == 1) {
				weak[id] = l.Label[i] == 1
			}
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return set, nil, nil, fmt.Errorf("%w: %v", registry.ErrNoEvidence, err)
	}
	anns, err := o.History.Annotations(ctx)
	if err != nil {
		return set, nil, nil, fmt.Errorf("%w: read annotations: %v", registry.ErrNoEvidence, err)
	}
	gold := map[string]bool{}
	all := history.GoldLabels(anns)
	for _, id := range ids {
		if y, ok := all[id]; ok {
			gold[id] = y
		}
	}
	var refs []reference
	switch {
	case len(gold) > 0 && weak != nil:
		gw := map[string]bool{}
		for id, y := range weak {
			gw[id] = y
		}
		for id, y := range gold {
			gw[id] = y
		}
		refs = []reference{{RefGoldOrWeak, gw}, {RefGold, gold}, {RefWeak, weak}}
		for id := range gw {
			if _, ok := gold[id]; ok {
				set.FromGold++
			} else {
				set.FromWeak++
			}
		}
	case len(gold) > 0:
		refs = []reference{{RefGold, gold}}
		set.FromGold = len(gold)
	case len(weak) > 0:
		refs = []reference{{RefWeak, weak}}
		set.FromWeak = len(weak)
	default:
		return set, nil, nil, fmt.Errorf("%w: none of the %d deploys of the %s split of %s has a reference label (no annotations, no weak label in %s)",
			registry.ErrNoEvidence, len(ids), o.Split, dir, workdir.LabelsFile)
	}
	head := refs[0]
	set.Reference, set.Labeled = head.name, len(head.labels)
	h := sha256.New()
	fmt.Fprintf(h, "split=%s\nreference=%s\n", o.Split, head.name)
	for _, id := range ids {
		if y, ok := head.labels[id]; ok {
			fmt.Fprintf(h, "%s\t%t\n", id, y)
			if y {
				set.Faulty++
			}
		}
	}
	set.Hash = "eg-" + hex.EncodeToString(h.Sum(nil))[:16]
	return set, ids, refs, nil
}

// folder picks the evaluation folder (see Options.Workdir) and the run id
// that wrote it.
func (e *Evaluator) folder(cand, cur *registry.Version) (string, string, error) {
	has := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, workdir.SplitFile))
		return dir != "" && err == nil
	}
	if e.o.Workdir != "" {
		if !has(e.o.Workdir) {
			return "", "", fmt.Errorf("%w: %s holds no %s to take the evaluation set from", registry.ErrNoEvidence, e.o.Workdir, workdir.SplitFile)
		}
		dir, run := abs(e.o.Workdir), ""
		for _, v := range []*registry.Version{cand, cur} {
			if v != nil && !v.Imported() && v.Lineage.Workdir != "" && abs(v.Lineage.Workdir) == dir {
				run = v.Lineage.RunID
				break
			}
		}
		return dir, run, nil
	}
	var tried []string
	for _, v := range []*registry.Version{cand, cur} {
		if v == nil || v.Imported() || v.Lineage.Workdir == "" {
			continue
		}
		if has(v.Lineage.Workdir) {
			return abs(v.Lineage.Workdir), v.Lineage.RunID, nil
		}
		tried = append(tried, v.Lineage.Workdir)
	}
	if e.o.DefaultWorkdir != "" {
		if has(e.o.DefaultWorkdir) {
			return abs(e.o.DefaultWorkdir), "", nil
		}
		tried = append(tried, e.o.DefaultWorkdir)
	}
	return "", "", fmt.Errorf("%w: no evaluation set: no %s in %v; give a run's work folder (--workdir)", registry.ErrNoEvidence, workdir.SplitFile, tried)
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// decision is a contender's decision on one deploy: the first minute it
// flagged the deploy (-1 never) and its P(faulty) per horizon.
type decision struct {
	at int
	p  map[int]float64
}

// paired counts the faulty deploys of ref by which of the candidate (cd)
// and the baseline (bd) flagged them.
func paired(ids []string, ref reference, cd, bd map[string]decision) *registry.Paired {
	flagged := func(ds map[string]decision, id string) bool { d, ok := ds[id]; return ok && d.at >= 0 }
	var p registry.Paired
	for _, id := range ids {
		if y, ok := ref.labels[id]; !ok || !y {
			continue
		}
		c, b := flagged(cd, id), flagged(bd, id)
		switch {
		case c && b:
			p.Both++
		case c:
			p.CandidateOnly++
		case b:
			p.BaselineOnly++
		default:
			p.Neither++
		}
	}
	return &p
}

// score tallies a contender's decisions against every reference. Deploys
// without a decision count as not flagged. thresholds (nil for the
// looksAlone returns the probabilities by horizon that each look of r,
// judged alone (the hH.* measures), flags on: r.P, NaN at the looks the
// policy skips for a fleet event (detector.Result.FleetEventLooks).
func looksAlone(r batch.Row) map[int]float64 {
	if r.Result == nil || len(r.Result.FleetEventLooks) == 0 {
		return r.P
	}
	p := maps.Clone(r.P)
	for _, h := range r.Result.FleetEventLooks {
		p[h] = math.NaN()
	}
	return p
}

// baseline) give the per-horizon metrics of the headline reference.
func score(name string, version int, ids []string, refs []reference, ds map[string]decision, thresholds map[int]float64, baselineMinutes int) registry.Scored {
	s := registry.Scored{Name: name, Version: version, Values: map[string]float64{}}
	put := func(key string, x float64) {
		if metrics.Defined(x) {
			s.Values[key] = x
		}
	}
	for i, ref := range refs {
		var c metrics.Confusion
		var ttd []float64
		for _, id := range ids {
			y, ok := ref.labels[id]
			if !ok {
				continue
			}
			d, ok := ds[id]
			flagged := ok && d.at >= 0
			c.Add(flagged, y)
			if flagged && y {
				ttd = append(ttd, float64(d.at))
			}
		}
		mttd := math.NaN()
		if len(ttd) > 0 {
			sum := 0.0
			for _, x := range ttd {
				sum += x
			}
			mttd = sum / float64(len(ttd))
		}
		rs := registry.RefScore{Reference: ref.name, Confusion: c, Precision: c.PrecisionEstimate(), Recall: c.RecallEstimate(), MTTD: metrics.Float(mttd)}
		s.Policy = append(s.Policy, rs)
		vals := map[string]float64{
			"policy.precision":        c.Precision(),
			"policy.recall":           c.Recall(),
			"policy.false_alarm_rate": c.FalsePositiveRate(),
			"policy.mttd_min":         mttd,
			"policy.ttd_ratio":        mttd / float64(baselineMinutes),
		}
		for k, x := range vals {
			put(ref.name+":"+k, x)
			if i == 0 {
				put(k, x)
			}
		}
	}
	for _, id := range ids {
		if d, ok := ds[id]; ok && d.at >= 0 {
			s.Flagged++
		}
	}
	// Per horizon, against the headline reference.
	hs := make([]int, 0, len(thresholds))
	for h := range thresholds {
		hs = append(hs, h)
	}
	sort.Ints(hs)
	for _, h := range hs {
		var c metrics.Confusion
		for _, id := range ids {
			y, ok := refs[0].labels[id]
			if !ok {
				continue
			}
			p := math.NaN()
			if d, ok := ds[id]; ok {
				if x, ok := d.p[h]; ok {
					p = x
				}
			}
			c.Add(!math.IsNaN(p) && p >= thresholds[h], y)
		}
		put(fmt.Sprintf("h%d.precision", h), c.Precision())
		put(fmt.Sprintf("h%d.recall", h), c.Recall())
		put(fmt.Sprintf("h%d.false_alarm_rate", h), c.FalsePositiveRate())
	}
	return s
}
