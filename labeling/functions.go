package labeling

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/parallel"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

const (
	faulty  = labelmodel.Positive
	healthy = labelmodel.Negative
	abstain = labelmodel.Abstain
)

// Function is a built-in deploy labeling function together with its
// settings: a value of a Function type is the function's section of the
// "labeling" configuration (key labeling.NAME, decoded strictly: an unknown
// key is an error). Each built-in is one type in its own file, lf_NAME.go,
// listed once in registry (registry.go); the configuration, the votes, the
// report and the label command iterate over the registry. docs/labeling.md
// says how to add one.
//
// The unexported methods keep the implementations in this package: they see
// the package's view of the history (type deploy).
type Function interface {
	// Name is the function's column (lf_NAME), configuration key and report
	// entry: lower-case letters, digits and underscores, starting with a
	// letter.
	Name() string
	// Description says when the function votes what; it is the function's
	// description in lf_report.json.
	Description() string
	// Assumption states what the function takes for granted — what must
	// hold in a history for its votes to be right.
	Assumption() string
	// Validate checks the settings. An error starts with the key within the
	// section ("within_hours: 0 must be > 0"); Config.Validate prefixes
	// "labeling.NAME.".
	Validate() error

	// defaults returns the function with its default settings, documented
	// on its type.
	defaults() Function
	// enabled reports whether the function runs (its key "enabled").
	enabled() bool
	// needs declares what vote reads besides the deployments.
	needs() needs
	// vote returns faulty, healthy or abstain on one deployment. It must
	// depend on nothing but d and the settings.
	vote(d *deploy) int8
}

// needs is the data a function reads besides the deployments. The union of
// the enabled functions' needs is loaded once per labeling run.
type needs struct {
	// incidents: the history's incidents (deploy.fleet).
	incidents bool
	// traffic: the per-minute series of the deployment's stream
	// (deploy.traffic), over at least [start-before, start+after] of every
	// deployment labelled.
	traffic       bool
	before, after time.Duration
	// signatures: also the stream's error signatures (with traffic).
	signatures bool
	// kpis: also the stream's declared KPIs and their aggregate values
	// (with traffic), on streams with aggregate metrics only.
	kpis bool
	// features: columns of the work directory's features files
	// (deploy.feature).
	features []featureColumn
}

// featureColumn is a column of features_hH.parquet that a function reads.
type featureColumn struct {
	horizon int
	column  string
	// allowed lists the values the column may hold besides NaN; any other
	// is an error naming the file and row. Nil allows every value.
	allowed []float64
}

// deploy is what a function sees of the deployment it votes on: the
// deployment, its stream's deployments, the fleet's incidents and, when an
// enabled function declared them, the stream's traffic and the deployment's
// features. It is computed once per run (fleet, streams, features) or per
// stream (traffic) and shared by every function.
type deploy struct {
	history.Deployment
	stream *stream // the deployments of its service and environment
	i      int     // its index in stream.ds
	fleet  *fleet
	// traffic is the stream's traffic; nil unless an enabled function
	// declared needs.traffic.
	traffic *streamData
}

// successor returns the first later deployment of another version on the
// stream, the one that replaced this deployment's version.
func (d *deploy) successor() (history.Deployment, bool) {
	if j := d.stream.successor(d.i); j >= 0 {
		return d.stream.ds[j], true
	}
	return history.Deployment{}, false
}

// feature returns the deployment's value of a column that the function
// declared in needs.features; false when its row is absent from the file.
func (d *deploy) feature(horizon int, column string) (float64, bool) {
	r, ok := d.fleet.featureRows[horizon][d.ID]
	if !ok {
		return 0, false
	}
	return d.fleet.features[featureKey{horizon, column}][r], true
}

// isRollback reports whether d rolls back to an earlier version. The kind is
// the history store's: given at import or inferred there (docs/schema.md).
// Labeling does not infer it again.
func isRollback(d history.Deployment) bool { return d.Kind == history.KindRollback }

// stream are the deployments of one service and environment, ordered by
// start, then id.
type stream struct {
	ds []history.Deployment
}

// successor returns the index of the first later deployment of another
// version than deployment i, or -1.
func (s *stream) successor(i int) int {
	for j := i + 1; j < len(s.ds); j++ {
		if s.ds[j].Version != s.ds[i].Version {
			return j
		}
	}
	return -1
}

// latestBefore returns the index of the latest deployment started at or
// before t, or -1.
func (s *stream) latestBefore(t time.Time) int {
	i := sort.Search(len(s.ds), func(i int) bool { return s.ds[i].StartedAt.After(t) })
	return i - 1
}

// fleet is the history the functions look at: every deployment by stream,
// the incidents, and the features read.
type fleet struct {
	streams   map[history.Stream]*stream
	incidents []history.Incident // ordered by OpenedAt
	linked    map[string]bool    // deployments that an incident names
	// pos locates a deployment: its stream and index there.
	pos map[string]deployPos
	// features are the columns read from features_hH.parquet, by row;
	// featureRows gives each deployment's row in the file of a horizon.
	// (One index per horizon, not a map per column: at a million
	// deployments a map per column took gigabytes.)
	features    map[featureKey][]float64
	featureRows map[int]map[string]int32
	// bursts caches incidentBursts, under burstsMu: streams vote in
	// parallel.
	burstsMu sync.Mutex
	bursts   map[burstKey][]bool
}

type deployPos struct {
	stream history.Stream
	i      int
}

type featureKey struct {
	horizon int
	column  string
}

func newFleet(all []history.Deployment, incidents []history.Incident) *fleet {
	incidents = slices.Clone(incidents)
	sort.SliceStable(incidents, func(a, b int) bool { return incidents[a].OpenedAt.Before(incidents[b].OpenedAt) })
	f := &fleet{streams: map[history.Stream]*stream{}, incidents: incidents, linked: map[string]bool{},
		pos: make(map[string]deployPos, len(all)), features: map[featureKey][]float64{}, featureRows: map[int]map[string]int32{}}
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
		f.streams[k] = &stream{ds: ds}
		for i, d := range ds {
			f.pos[d.ID] = deployPos{k, i}
		}
	}
	return f
}

// incidentRange returns the indexes [i, j) of f.incidents of the incidents
// opened in [from, until].
func (f *fleet) incidentRange(from, until time.Time) (int, int) {
	i := sort.Search(len(f.incidents), func(i int) bool { return !f.incidents[i].OpenedAt.Before(from) })
	j := sort.Search(len(f.incidents), func(j int) bool { return f.incidents[j].OpenedAt.After(until) })
	return i, max(i, j)
}

// burstKey identifies a definition of incident bursts.
type burstKey struct {
	services int
	within   time.Duration
}

// incidentBursts marks, per incident of f.incidents, whether it is part of
// a burst: incidents opened on at least services distinct services of one
// environment within `within` of it (either way), itself included. An
// incident of all environments counts in every environment. The result is
// computed once per definition.
func (f *fleet) incidentBursts(services int, within time.Duration) []bool {
	f.burstsMu.Lock()
	defer f.burstsMu.Unlock()
	key := burstKey{services, within}
	if b, ok := f.bursts[key]; ok {
		return b
	}
	out := make([]bool, len(f.incidents))
	for i, in := range f.incidents {
		seen := map[string]bool{in.Service: true}
		for _, dir := range []int{-1, 1} {
			for j := i + dir; j >= 0 && j < len(f.incidents); j += dir {
				o := f.incidents[j]
				if d := o.OpenedAt.Sub(in.OpenedAt); d > within || d < -within {
					break
				}
				if o.Environment == in.Environment || o.Environment == "" || in.Environment == "" {
					seen[o.Service] = true
				}
			}
		}
		out[i] = len(seen) >= services
	}
	if f.bursts == nil {
		f.bursts = map[burstKey][]bool{}
	}
	f.bursts[key] = out
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

// featuresSwitch is implemented by functions whose reads of the features
// files are an optional part of them: featuresSwitch names the setting,
// under the function's section, that turns those reads off.
type featuresSwitch interface {
	featuresSwitch() string
}

// readFeatures reads the feature columns that fns declared, one read per
// file. Errors name the first function that reads the file.
func (f *fleet) readFeatures(dir string, fns []Function) error {
	var horizons []int
	cols := map[int][]featureColumn{}
	reader := map[int]Function{}
	for _, fn := range fns {
		for _, c := range fn.needs().features {
			if _, ok := reader[c.horizon]; !ok {
				horizons = append(horizons, c.horizon)
				reader[c.horizon] = fn
			}
			cols[c.horizon] = append(cols[c.horizon], c)
		}
	}
	for _, h := range horizons {
		name := reader[h].Name()
		path := filepath.Join(dir, workdir.FeaturesFile(h))
		var names []string
		for _, c := range cols[h] {
			if !slices.Contains(names, c.column) {
				names = append(names, c.column)
			}
		}
		fc, err := workdir.ReadFeatures(path, names...)
		if errors.Is(err, fs.ErrNotExist) {
			off := name + ".enabled"
			if o, ok := reader[h].(featuresSwitch); ok {
				off = name + "." + o.featuresSwitch()
			}
			return fmt.Errorf("%s: %s not found: run `faultline extract` first, or turn off what reads it (labeling.%s: false)", name, path, off)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, c := range cols[h] {
			vals := fc.Column(c.column)
			if err := checkAllowed(path, c, vals); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			f.features[featureKey{h, c.column}] = vals
		}
		rows := make(map[string]int32, len(fc.IDs))
		for i, id := range fc.IDs {
			rows[id] = int32(i)
		}
		f.featureRows[h] = rows
	}
	return nil
}

// checkAllowed checks that vals holds only NaN and c.allowed.
func checkAllowed(path string, c featureColumn, vals []float64) error {
	if c.allowed == nil {
		return nil
	}
	for i, v := range vals {
		if !math.IsNaN(v) && !slices.Contains(c.allowed, v) {
			var s []string
			for _, a := range c.allowed {
				s = append(s, strconv.FormatFloat(a, 'g', -1, 64))
			}
			return fmt.Errorf("%s: row %d: %s %v is not %s or NaN", path, i+1, c.column, v, strings.Join(s, ", "))
		}
	}
	return nil
}

// builtinVotes computes the votes of fns, the enabled built-in functions,
// on targets; all is every deployment of the history. It returns one column
// per function, by name.
func builtinVotes(ctx context.Context, in Input, fns []Function, all, targets []history.Deployment) (map[string][]int8, error) {
	var nd needs
	for _, fn := range fns {
		n := fn.needs()
		nd.incidents = nd.incidents || n.incidents
		nd.traffic = nd.traffic || n.traffic || n.signatures
		nd.signatures = nd.signatures || n.signatures
		nd.kpis = nd.kpis || n.kpis
		nd.before, nd.after = max(nd.before, n.before), max(nd.after, n.after)
	}
	var incidents []history.Incident
	if nd.incidents {
		var err error
		if incidents, err = in.History.Incidents(ctx, history.Range{}); err != nil {
			return nil, fmt.Errorf("read incidents: %w", err)
		}
	}
	f := newFleet(all, incidents)
	if err := f.readFeatures(in.Workdir, fns); err != nil {
		return nil, err
	}
	// KPIs are read where the history can give them (every store can);
	// elsewhere the functions that need them abstain.
	kr, withKPIs := in.History.(kpiReader)
	withKPIs = withKPIs && nd.kpis
	var kpiDecls []history.KPI
	if withKPIs {
		var err error
		if kpiDecls, err = kr.KPIs(ctx); err != nil {
			return nil, fmt.Errorf("read KPI declarations: %w", err)
		}
	}
	streams, byStream, err := f.group(targets)
	if err != nil {
		return nil, err
	}
	cols := make([][]int8, len(fns))
	for j := range cols {
		cols[j] = make([]int8, len(targets))
	}
	prog := progress.Or(in.Progress)
	// Streams are independent: each worker loads one stream's series and
	// votes on its deploys, writing rows of its own (GOMAXPROCS workers).
	var (
		done   atomic.Int64
		progMu sync.Mutex
	)
	err = parallel.Do(len(streams), 0, func(_, si int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := streams[si]
		idx := byStream[k]
		var sd *streamData
		if nd.traffic {
			rng := trafficRange(targets, idx, nd.before, nd.after)
			var err error
			if sd, err = loadStreamData(ctx, in.History, k, rng, nd.signatures); err != nil {
				return err
			}
			if withKPIs && sd.aggregateOnly() {
				if err := sd.loadKPIs(ctx, kr, kpiDecls, k, rng); err != nil {
					return err
				}
			}
		}
		for _, t := range idx {
			d := &deploy{Deployment: targets[t], stream: f.streams[k], i: f.pos[targets[t].ID].i, fleet: f, traffic: sd}
			reacted := 0
			for j, fn := range fns {
				v := fn.vote(d)
				if v == unexplained || v == faulty && isReaction(fn) {
					reacted++
				}
				cols[j][t] = v
			}
			explainReactions(cols, t, reacted)
			yieldToHealth(fns, cols, t, reacted)
		}
		progMu.Lock()
		prog("labeling functions", done.Add(1), int64(len(streams)))
		progMu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	votes := make(map[string][]int8, len(fns))
	for j, fn := range fns {
		votes[fn.Name()] = cols[j]
	}
	return votes, nil
}

// kpiReader is what the functions read of the history's KPIs (every
// store's history.KPIReader).
type kpiReader interface {
	kpiSource
	KPIs(ctx context.Context) ([]history.KPI, error)
}

// group returns the streams of targets, sorted, and the indexes of the
// targets of each.
func (f *fleet) group(targets []history.Deployment) ([]history.Stream, map[history.Stream][]int, error) {
	byStream := map[history.Stream][]int{}
	var streams []history.Stream
	for t, d := range targets {
		p, ok := f.pos[d.ID]
		if !ok {
			return nil, nil, fmt.Errorf("deployment %s is not in the history", d.ID)
		}
		if _, ok := byStream[p.stream]; !ok {
			streams = append(streams, p.stream)
		}
		byStream[p.stream] = append(byStream[p.stream], t)
	}
	sort.Slice(streams, func(a, b int) bool {
		if streams[a].Service != streams[b].Service {
			return streams[a].Service < streams[b].Service
		}
		return streams[a].Environment < streams[b].Environment
	})
	return streams, byStream, nil
}

// trafficRange is the range of minutes to load for the targets idx of one
// stream: from before the first start to after the last.
func trafficRange(targets []history.Deployment, idx []int, before, after time.Duration) history.Range {
	lo, hi := targets[idx[0]].StartedAt, targets[idx[0]].StartedAt
	for _, t := range idx {
		lo = minTime(lo, targets[t].StartedAt)
		hi = maxTime(hi, targets[t].StartedAt)
	}
	return history.Range{From: lo.Add(-before).Truncate(time.Minute), Until: hi.Add(after).Truncate(time.Minute).Add(time.Minute)}
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

// poissonUpper is the upper one-sided confidence bound, at the confidence
// whose standard normal quantile is z, of the mean of a Poisson count of
// which k was observed (Byar's approximation of the exact bound, within
// about 1% of it from k = 0 on).
func poissonUpper(k, z float64) float64 {
	k1 := k + 1
	c := 1 - 1/(9*k1) + z/(3*math.Sqrt(k1))
	return k1 * c * c * c
}

// poissonLower is the lower one-sided confidence bound, at the confidence
// whose standard normal quantile is z, of the mean of a Poisson count of
// which k was observed (Byar's approximation of the exact bound, within
// about 1% of it from k = 5 on and below it, the strict side, for fewer);
// 0 for k ≤ 0.
func poissonLower(k, z float64) float64 {
	if k <= 0 {
		return 0
	}
	c := 1 - 1/(9*k) - z/(3*math.Sqrt(k))
	return math.Max(0, k*c*c*c)
}

// shownCount is the count judged against a materiality floor when k were
// observed: the lower one-sided bound of the Poisson mean at confidence
// (poissonLower), or k itself when confidence is 0.
func shownCount(k, confidence float64) float64 {
	if confidence == 0 {
		return k
	}
	return poissonLower(k, zOf(confidence))
}

// zOf returns the standard normal quantile of p.
func zOf(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// fleetMaxColumn is the features column fleetEvent reads.
var fleetMaxColumn = features.Schema[features.FleetElevatedMaxFrac].Name

// fleetEvent reports whether, in some minute of the deployment's first
// horizon minutes, at least share of the other services of its environment
// had an elevated error rate (fleet_elevated_max_frac of
// features_hH.parquet): a fleet-wide event — an outage of a shared
// dependency — that raises every service's errors and latency whatever
// their versions. Without fleet data (NaN, or the deployment absent from
// the file) it reports false. The caller declares the column in its needs.
func fleetEvent(d *deploy, horizon int, share float64) bool {
	v, ok := d.feature(horizon, fleetMaxColumn)
	return ok && features.FleetEvent(v, share)
}

// validFleetShare checks the max_fleet_share setting of the functions that
// guard against fleet events: a share in [0, 1], 0 turning the guard off.
func validFleetShare(s float64) error {
	if !(s >= 0 && s <= 1) {
		return config.Errorf("max_fleet_share", "%v must be in [0, 1]", s)
	}
	return nil
}
