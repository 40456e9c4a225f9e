// Package extract is the offline driver of feature computation: it reads a
// history (history.Reader), builds every deploy's window at each horizon
// with package features, and writes deploys.parquet, features_hH.parquet
// and extract.json to a work directory (docs/architecture.md). Extract is
// the same computation returning the rows in memory, for `faultline check`
// and `predict`: a selection of a few deploys (Options.Range, Options.IDs)
// reads only their environments' streams over the minutes their windows
// need, and gives the rows a full extraction would.
//
// Memory stays bounded whatever the history's length: streams (service,
// environment) are read one block of block_days at a time, feature vectors
// computed in the first pass are spilled to a temporary file, and only
// per-environment per-minute fleet counts (4 bytes a minute) and the deploy
// list stay in memory.
package extract

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// Options select what Run extracts.
type Options struct {
	// Range selects deployments by start time; zero sides are open.
	Range history.Range
	// Shard and Shards split the deployments into Shards disjoint parts by
	// a hash of their stream (service, environment); Run extracts part
	// Shard (0-based). Shards ≤ 1 means everything.
	Shard, Shards int
	// Workers is the number of streams processed in parallel (default
	// GOMAXPROCS).
	Workers int
	// IDs, when not empty, restricts the selection to the deployments with
	// these ids (among those in Range and Shard). Neighbouring deploys and
	// the environment's fleet are read as for a full extraction, so the
	// selected rows equal a full extraction's.
	IDs []string
	// Config is the "features" configuration section.
	Config features.Config
	// Progress receives progress; may be nil.
	Progress progress.Func
}

// ShardOf returns the shard (0..n-1) of a stream: FNV-1a of service and
// environment, modulo n. Every deploy of a stream lands in one shard.
func ShardOf(s history.Stream, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(s.Service))
	h.Write([]byte{0})
	h.Write([]byte(s.Environment))
	return int(h.Sum64() % uint64(n))
}

// ParseShard parses "i/n" (0 ≤ i < n).
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: want i/n with 0 ≤ i < n", s)
	}
	return i, n, nil
}

type run struct {
	r      history.Reader
	cfg    features.Config
	hs     []int
	hmax   int
	B      int
	all    []history.Deployment
	start  []int64                  // start minute of all[i]
	byStr  map[history.Stream][]int // indices into all, by start
	sel    map[history.Stream][]int // selected indices, by start
	envs   map[string]*envFleet
	prog   progress.Func
	done   int64
	total  int64
	mu     sync.Mutex // guards spill, offsets, done
	spill  io.Writer
	spillR io.ReaderAt
	off    int64
	offs   map[int]int64 // deploy index → record offset
	recLen int
	// kr reads KPI values when the reader offers them (history.KPIReader);
	// kpiDecls are its declarations. nil without.
	kr       history.KPIReader
	kpiDecls []history.KPI
}

// envFleet holds the per-minute count of elevated services of one
// environment over [lo, lo+len(count)), and its data end.
type envFleet struct {
	mu       sync.Mutex
	lo       int64
	count    []int32
	services int
	end      int64 // last minute with metrics in any stream; math.MinInt64 if none
}

// Run extracts features for the deployments selected by opt into the work
// directory dir and returns what it wrote to extract.json.
func Run(ctx context.Context, r history.Reader, dir string, opt Options) (*workdir.Extract, error) {
	if err := checkOptions(opt); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("extract: work directory: %w", err)
	}
	x, selected, sum, cleanup, err := compute(ctx, r, opt, dir, false)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if err := x.write(ctx, dir, selected, sum); err != nil {
		return nil, err
	}
	return sum, nil
}

func checkOptions(opt Options) error {
	if err := opt.Config.Validate(); err != nil {
		return err
	}
	if opt.Shards > 1 && (opt.Shard < 0 || opt.Shard >= opt.Shards) {
		return fmt.Errorf("extract: shard %d of %d out of range", opt.Shard, opt.Shards)
	}
	return nil
}

// memSpillMax is the largest spill (bytes) that compute keeps in memory
// when asked to (a variable for tests).
var memSpillMax int64 = 64 << 20

// compute runs pass 1 (deployments, streams, per-stream feature vectors
// spilled to a file in spillDir, or to memory when inMemory and small) and
// returns the run ready for pass 2, the selected deploy indices in deploy
// order and the summary so far. cleanup removes the spill.
func compute(ctx context.Context, r history.Reader, opt Options, spillDir string, inMemory bool) (x *run, selected []int, sum *workdir.Extract, cleanup func(), err error) {
	cleanup = func() {}
	defer func() {
		if err != nil {
			cleanup()
			cleanup = func() {}
		}
	}()
	x = newRun(r, opt)
	if err := x.readKPIDecls(ctx); err != nil {
		return nil, nil, nil, cleanup, err
	}
	selected, fleetLo, fleetHi, err := x.selectDeploys(ctx, opt)
	if err != nil {
		return nil, nil, nil, cleanup, err
	}
	tasks, err := x.streamTasks(ctx, fleetLo, fleetHi)
	if err != nil {
		return nil, nil, nil, cleanup, err
	}

	// Pass 1: per stream, features without the fleet, spilled to disk (or
	// memory).
	flush, cleanup, err := x.openSpill(spillDir, inMemory)
	if err != nil {
		return nil, nil, nil, cleanup, err
	}
	x.prog("extract", 0, x.total)
	if err := x.runStreams(ctx, tasks, opt.Workers); err != nil {
		return nil, nil, nil, cleanup, err
	}
	if err := flush(); err != nil {
		return nil, nil, nil, cleanup, fmt.Errorf("extract: spill: %w", err)
	}
	return x, selected, x.summary(opt, len(tasks)), cleanup, nil
}

// newRun returns the run of opt over r, before anything is read.
func newRun(r history.Reader, opt Options) *run {
	cfg := opt.Config
	x := &run{r: r, cfg: cfg, hs: cfg.SortedHorizons(), B: cfg.BaselineMinutes, prog: progress.Or(opt.Progress)}
	x.hmax = x.hs[len(x.hs)-1]
	x.recLen = 4 + len(x.hs)*features.NumFeatures*8 + x.B + x.hmax
	return x
}

// readKPIDecls reads the KPI declarations when the reader offers KPIs
// (history.KPIReader, which every Store implements): the before/after
// checks judge each stream's declared KPIs in their own direction.
func (x *run) readKPIDecls(ctx context.Context) error {
	kr, ok := x.r.(history.KPIReader)
	if !ok {
		return nil
	}
	decls, err := kr.KPIs(ctx)
	if err != nil {
		return fmt.Errorf("extract: read KPI declarations: %w", err)
	}
	x.kr, x.kpiDecls = kr, decls
	return nil
}

// selectDeploys reads the deployments the selection needs: the selected
// ones plus their neighbours (previous deploy within the cap, later deploys
// within the largest horizon). It indexes them by stream (x.all, x.start,
// x.byStr), records the selected ones (x.sel, x.total) and returns them in
// deploy order with the span of minutes [fleetLo, fleetHi) their windows
// cover (fleetHi ≤ fleetLo when nothing is selected).
func (x *run) selectDeploys(ctx context.Context, opt Options) (selected []int, fleetLo, fleetHi int64, err error) {
	rr := history.Range{}
	if !opt.Range.From.IsZero() {
		rr.From = opt.Range.From.Add(-time.Duration(x.cfg.PrevDeployCapMinutes) * time.Minute)
	}
	if !opt.Range.Until.IsZero() {
		rr.Until = opt.Range.Until.Add(time.Duration(x.hmax) * time.Minute)
	}
	all, err := x.r.Deployments(ctx, rr)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("extract: read deployments: %w", err)
	}
	var ids map[string]bool
	if len(opt.IDs) > 0 {
		ids = make(map[string]bool, len(opt.IDs))
		for _, id := range opt.IDs {
			ids[id] = true
		}
	}
	x.all = all
	x.start = make([]int64, len(all))
	x.byStr = map[history.Stream][]int{}
	x.sel = map[history.Stream][]int{}
	fleetLo, fleetHi = int64(math.MaxInt64), int64(math.MinInt64)
	for i, d := range all {
		st := history.Stream{Service: d.Service, Environment: d.Environment}
		x.start[i] = history.UnixMinute(d.StartedAt)
		x.byStr[st] = append(x.byStr[st], i)
		if !opt.Range.Contains(d.StartedAt) || ShardOf(st, opt.Shards) != opt.Shard && opt.Shards > 1 || ids != nil && !ids[d.ID] {
			continue
		}
		x.sel[st] = append(x.sel[st], i)
		selected = append(selected, i)
		fleetLo = min(fleetLo, x.start[i]-int64(x.B))
		fleetHi = max(fleetHi, x.start[i]+int64(x.hmax))
	}
	x.total = int64(len(selected))
	return selected, fleetLo, fleetHi, nil
}

// streamTasks returns the streams pass 1 reads, sorted by service and
// environment: every stream of an environment with selected deploys (the
// fleet control needs them all), including streams that have deploys but
// no metrics. It sets up x.envs, one fleet count over [fleetLo, fleetHi)
// per such environment, with its number of streams.
func (x *run) streamTasks(ctx context.Context, fleetLo, fleetHi int64) ([]history.Stream, error) {
	streams, err := x.r.Streams(ctx)
	if err != nil {
		return nil, fmt.Errorf("extract: list streams: %w", err)
	}
	known := map[history.Stream]bool{}
	for _, s := range streams {
		known[s] = true
	}
	for s := range x.byStr {
		if !known[s] {
			streams = append(streams, s)
			known[s] = true
		}
	}
	sort.Slice(streams, func(i, j int) bool {
		if streams[i].Service != streams[j].Service {
			return streams[i].Service < streams[j].Service
		}
		return streams[i].Environment < streams[j].Environment
	})
	x.envs = map[string]*envFleet{}
	for s := range x.sel {
		if x.envs[s.Environment] == nil && fleetHi > fleetLo {
			x.envs[s.Environment] = &envFleet{lo: fleetLo, count: make([]int32, fleetHi-fleetLo), end: math.MinInt64}
		}
	}
	var tasks []history.Stream
	for _, s := range streams {
		if e := x.envs[s.Environment]; e != nil {
			e.services++
			tasks = append(tasks, s)
		}
	}
	return tasks, nil
}

// openSpill sets where pass 1 spills its records: memory when inMemory
// and the selection's records fit in memSpillMax, else a temporary file in
// spillDir (os.TempDir() when empty; made if missing). flush completes the
// writes before pass 2 reads; cleanup removes the file.
func (x *run) openSpill(spillDir string, inMemory bool) (flush func() error, cleanup func(), err error) {
	x.offs = map[int]int64{}
	noCleanup := func() {}
	if inMemory && x.total*int64(x.recLen) <= memSpillMax {
		buf := &memSpill{}
		x.spill, x.spillR = buf, buf
		return func() error { return nil }, noCleanup, nil
	}
	if spillDir == "" {
		spillDir = os.TempDir()
	} else if err := os.MkdirAll(spillDir, 0o755); err != nil {
		return nil, noCleanup, fmt.Errorf("extract: spill folder: %w", err)
	}
	spillF, err := os.CreateTemp(spillDir, ".extract-spill-*")
	if err != nil {
		return nil, noCleanup, fmt.Errorf("extract: spill file: %w", err)
	}
	bw := bufio.NewWriterSize(spillF, 1<<20)
	x.spill, x.spillR = bw, spillF
	return bw.Flush, func() { spillF.Close(); os.Remove(spillF.Name()) }, nil
}

// summary returns extract.json's content for the run's selection, with
// the files still to be listed and the row counts still to be made by
// pass 2.
func (x *run) summary(opt Options, streams int) *workdir.Extract {
	sum := &workdir.Extract{
		SchemaVersion: features.SchemaVersion, SchemaHash: features.SchemaHash(), ConfigHash: x.cfg.ConfigHash(),
		Features: features.NumFeatures, Deployments: x.total, Streams: streams,
	}
	if !opt.Range.From.IsZero() {
		sum.From = opt.Range.From.UTC().Format(time.RFC3339)
	}
	if !opt.Range.Until.IsZero() {
		sum.Until = opt.Range.Until.UTC().Format(time.RFC3339)
	}
	if opt.Shards > 1 {
		sum.Shard = fmt.Sprintf("%d/%d", opt.Shard, opt.Shards)
		sum.ShardStreams = map[string]int{}
		for env, e := range x.envs {
			sum.ShardStreams[env] = e.services
		}
	}
	for _, h := range x.hs {
		sum.Horizons = append(sum.Horizons, workdir.HorizonCount{Horizon: h, File: workdir.FeaturesFile(h)})
	}
	return sum
}

// memSpill is an in-memory spill: appended to, read at offsets.
type memSpill struct{ b []byte }

func (m *memSpill) Write(p []byte) (int, error) { m.b = append(m.b, p...); return len(p), nil }

func (m *memSpill) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// runStreams runs pass 1 over tasks with workers goroutines. The reads
// overlap the computation: each stream's first block is read ahead, up to
// workers streams before a worker takes it, and within a stream the next
// block is read while the current one is computed (readAhead).
func (x *run) runStreams(ctx context.Context, tasks []history.Stream, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan *streamJob, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				if err := x.stream(ctx, j); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, s := range tasks {
		j := x.startStream(ctx, s)
		select {
		case ch <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// streamJob is one stream of pass 1: its blocks, the first one being read.
type streamJob struct {
	st       history.Stream
	lookback int64
	plans    []blockPlan
	first    <-chan fetched
}

// blockPlan is one block of a stream: the deploys starting in minutes
// [T, Tn), of which the selected ones are sel[first:next]. A block with
// selected deploys also reads the stream's signatures from sigLo (where
// the previous such block left off, or the signature look-back before the
// block when that is later: the known fingerprints then start afresh).
type blockPlan struct {
	T, Tn       int64
	first, next int
	sigLo       int64
	fresh       bool
}

// fetched is a block as read ahead, with its signatures when it has
// selected deploys.
type fetched struct {
	b    *block
	sigs []history.Signature
	err  error
}

// startStream plans the blocks of stream st and starts reading the first.
func (x *run) startStream(ctx context.Context, st history.Stream) *streamJob {
	env := x.envs[st.Environment]
	sel := x.sel[st]
	B := int64(x.B)
	j := &streamJob{st: st, lookback: 2 * B}
	if len(sel) > 0 {
		j.lookback = max(j.lookback, int64(x.cfg.HistoryMinutes()))
	}
	blockLen := int64(x.cfg.BlockDays) * 1440
	from := int64(math.MinInt64) // minute up to which signatures were read
	next := 0                    // next selected deploy
	for T := env.lo; T < env.hi(); T += blockLen {
		p := blockPlan{T: T, Tn: min(T+blockLen, env.hi()), first: next}
		for next < len(sel) && x.start[sel[next]] < p.Tn {
			next++
		}
		p.next = next
		if p.first < p.next {
			p.sigLo = max(from, T-int64(x.cfg.SignatureLookbackMinutes))
			p.fresh = from == math.MinInt64 || p.sigLo > from
			from = p.Tn
		}
		j.plans = append(j.plans, p)
	}
	if len(j.plans) > 0 {
		j.first = x.readAhead(ctx, st, j.plans[0], j.lookback)
	}
	return j
}

// readAhead reads, in a goroutine, the block of plan p: its metrics, and
// when it has selected deploys its KPI values and signatures.
func (x *run) readAhead(ctx context.Context, st history.Stream, p blockPlan, lookback int64) <-chan fetched {
	ch := make(chan fetched, 1)
	go func() {
		var f fetched
		f.b, f.err = x.readBlock(ctx, st, p.T, p.Tn, lookback)
		if f.err == nil && p.first < p.next {
			f.err = x.readKPIs(ctx, st, f.b)
			if f.err == nil {
				f.sigs, f.err = x.r.Signatures(ctx, st, history.Range{From: history.MinuteTime(p.sigLo), Until: history.MinuteTime(f.b.readHi)})
				if f.err != nil {
					f.err = fmt.Errorf("extract: signatures of %s/%s: %w", st.Service, st.Environment, f.err)
				}
			}
		}
		ch <- f
	}()
	return ch
}

// stream processes one stream block by block: elevation for the fleet
// counts, and for its selected deploys the feature vectors. A block holds
// the deploys starting in block_days of minutes; its reads reach back by
// the look-back (the baseline's own baseline for elevation, and the
// history the features read — seasonal days, the before/after checks'
// pseudo-change points — when the stream has selected deploys) and forward
// by the largest horizon. The next block is read while one is computed.
func (x *run) stream(ctx context.Context, j *streamJob) error {
	env := x.envs[j.st.Environment]
	sel := x.sel[j.st]
	prints := priorPrints{from: math.MinInt64}
	ch := j.first
	for k, p := range j.plans {
		f := <-ch
		if f.err != nil {
			return f.err
		}
		if k+1 < len(j.plans) {
			if err := ctx.Err(); err != nil {
				return err
			}
			ch = x.readAhead(ctx, j.st, j.plans[k+1], j.lookback)
		}
		env.add(f.b)
		if p.first == p.next {
			continue
		}
		if err := x.blockDeploys(j.st, f.b, f.sigs, p.fresh, sel[p.first:p.next], &prints); err != nil {
			return err
		}
	}
	return nil
}

// block is what pass 1 reads of one stream for one block: the deploys
// starting in minutes [T, Tn), read over [readLo, readHi).
type block struct {
	T, Tn          int64
	readLo, readHi int64
	series         []features.Series    // every version's metrics over the read minutes
	kpis           []features.KPISeries // declared KPIs (aggregate series) over the read minutes
	el             []bool               // service elevation (features.Elevated) per read minute
	end            int64                // last minute with metrics; math.MinInt64 if none
}

// readBlock reads the metrics of stream st over [T-lookback, Tn+hmax) and
// marks the minutes at which the service is elevated.
func (x *run) readBlock(ctx context.Context, st history.Stream, T, Tn, lookback int64) (*block, error) {
	b := &block{T: T, Tn: Tn, readLo: T - lookback, readHi: Tn + int64(x.hmax), end: math.MinInt64}
	series, err := x.r.Metrics(ctx, st, history.Range{From: history.MinuteTime(b.readLo), Until: history.MinuteTime(b.readHi)})
	if err != nil {
		return nil, fmt.Errorf("extract: metrics of %s/%s: %w", st.Service, st.Environment, err)
	}
	n := b.readHi - b.readLo
	req, errs := make([]float64, n), make([]float64, n)
	b.series = make([]features.Series, len(series))
	for k, s := range series {
		b.series[k] = features.Series{Version: s.Version, Minutes: s.Minutes, Requests: s.Requests, Errors: s.Errors, P95: s.P95, P99: s.P99}
	}
	// The service per minute, as features sees it: the per-version rows,
	// or the aggregate series (version "", sorted first) where none.
	agg, perVersion := history.SplitAggregate(series)
	covered := make([]bool, n)
	for _, s := range perVersion {
		b.addService(&s, req, errs, covered, false)
	}
	if agg != nil {
		b.addService(agg, req, errs, covered, true)
	}
	b.el = make([]bool, n)
	features.Elevated(req, errs, x.B, &x.cfg, b.el)
	return b, nil
}

// readKPIs reads the block's KPI values of stream st over the block's
// read minutes, when the reader offers KPIs: the aggregate series of each
// KPI with a declaration in force for the stream (per-version KPI values
// are not features' input).
func (x *run) readKPIs(ctx context.Context, st history.Stream, b *block) error {
	if x.kr == nil {
		return nil
	}
	ks, err := x.kr.KPIValues(ctx, st, history.Range{From: history.MinuteTime(b.readLo), Until: history.MinuteTime(b.readHi)})
	if err != nil {
		return fmt.Errorf("extract: KPI values of %s/%s: %w", st.Service, st.Environment, err)
	}
	for _, k := range ks {
		d, ok := history.KPIOf(x.kpiDecls, st, k.Name)
		if !ok || k.Version != history.AggregateVersion {
			continue
		}
		b.kpis = append(b.kpis, features.KPISeries{Name: k.Name, Direction: features.Direction(d.Direction), Kind: features.KPIKind(d.Kind),
			Minutes: k.Minutes, Values: k.Values})
	}
	return nil
}

// addService adds the rows of series s within the block's read minutes to
// the service's requests and errors, marking them covered; an aggregate
// series adds only minutes not covered yet. It extends the block's data
// end.
func (b *block) addService(s *history.Series, req, errs []float64, covered []bool, aggregate bool) {
	for i, m := range s.Minutes {
		if m < b.readLo || m >= b.readHi {
			continue
		}
		j := m - b.readLo
		if aggregate && covered[j] {
			continue
		}
		covered[j] = true
		req[j] += s.Requests[i]
		errs[j] += s.Errors[i]
		b.end = max(b.end, m)
	}
}

// hi is the first minute after the environment's fleet counts.
func (e *envFleet) hi() int64 { return e.lo + int64(len(e.count)) }

// add counts the stream's elevated minutes of the block's [T, Tn) in the
// environment and extends its data end.
func (e *envFleet) add(b *block) {
	e.mu.Lock()
	for m := b.T; m < b.Tn; m++ {
		if b.el[m-b.readLo] {
			e.count[m-e.lo]++
		}
	}
	e.end = max(e.end, b.end)
	e.mu.Unlock()
}

// priorPrints tracks along one stream's blocks the last minute each error
// fingerprint was seen (features.Input.PriorFingerprints), so that known
// fingerprints need not be re-read for every deploy.
type priorPrints struct {
	last map[string]int64 // fingerprint → last minute seen
	from int64            // rows before this minute are applied; math.MinInt64 at first
}

// apply records the rows from index i on that are before minute until,
// and returns the index of the first row not applied.
func (p *priorPrints) apply(rows []features.SignatureRow, i int, until int64) int {
	for ; i < len(rows) && rows[i].Minute < until; i++ {
		p.last[rows[i].Fingerprint] = rows[i].Minute
	}
	return i
}

// blockDeploys computes and spills the records of the selected deploys dis
// (indices into x.all, by start) of block b, with the stream's signatures
// sigs read from where prints left off (or, when fresh, from the look-back
// before the block: prints then starts afresh) to the block's read end. It
// leaves prints applied up to the block's end.
func (x *run) blockDeploys(st history.Stream, b *block, sigs []history.Signature, fresh bool, dis []int, prints *priorPrints) error {
	if prints.last == nil || fresh {
		prints.last = map[string]int64{}
	}
	rows := make([]features.SignatureRow, len(sigs))
	for i, s := range sigs {
		rows[i] = features.SignatureRow{Minute: history.UnixMinute(s.Minute), Version: s.Version, Fingerprint: s.Fingerprint, Count: s.Count}
	}
	applied := 0
	rc := &recorder{rec: make([]byte, x.recLen), vec: make([]float64, features.NumFeatures)}
	for _, di := range dis {
		applied = prints.apply(rows, applied, x.start[di])
		in := x.input(st, di, b.series, rows, prints.last)
		in.KPIs = b.kpis
		rec, err := x.record(in, di, b, rc)
		if err != nil {
			return err
		}
		if err := x.emit(di, rec); err != nil {
			return err
		}
	}
	// Rows before the block's end are applied before the next block.
	prints.apply(rows, applied, b.Tn)
	prints.from = b.Tn
	return nil
}

// input is the features.Input of deploy di of stream st: its record, the
// block's series and signature rows, the known fingerprints, and its
// neighbours on the stream (the previous deploy, and the later ones that
// may overlap its largest window).
func (x *run) input(st history.Stream, di int, series []features.Series, rows []features.SignatureRow, prior map[string]int64) *features.Input {
	d := &x.all[di]
	in := &features.Input{
		Deploy: features.Deploy{
			ID: d.ID, Service: d.Service, Environment: d.Environment, Version: d.Version,
			StartedAt: d.StartedAt, FinishedAt: d.FinishedAt,
			FilesChanged: d.FilesChanged, LinesAdded: d.LinesAdded, LinesDeleted: d.LinesDeleted,
			Rollback: d.Kind == history.KindRollback,
		},
		Series:            series,
		Signatures:        rows,
		PriorFingerprints: prior,
	}
	streamDeps := x.byStr[st] // sorted by start
	pos := sort.Search(len(streamDeps), func(i int) bool { return !x.all[streamDeps[i]].StartedAt.Before(d.StartedAt) })
	if pos > 0 {
		in.PrevDeployAt = x.all[streamDeps[pos-1]].StartedAt
	}
	for _, oi := range streamDeps[pos:] {
		o := &x.all[oi]
		if o.StartedAt.Sub(d.StartedAt) > time.Duration(x.hmax)*time.Minute {
			break
		}
		if oi != di {
			in.OtherDeployStarts = append(in.OtherDeployStarts, o.StartedAt)
		}
	}
	return in
}

// recorder holds the buffers of the records of one block, reused from one
// deploy to the next.
type recorder struct {
	cut features.Cutter
	rec []byte    // the record, x.recLen bytes
	vec []float64 // one vector
}

// record is deploy di's spill record: its index (4 bytes), its vector at
// every horizon without the fleet columns (float64 bits), and one byte a
// minute of baseline and largest window, 1 where the service itself is
// elevated (finish subtracts it from the environment's count). The record
// is rc's buffer, valid until the next call.
func (x *run) record(in *features.Input, di int, b *block, rc *recorder) ([]byte, error) {
	rec := rc.rec
	binary.LittleEndian.PutUint32(rec, uint32(di))
	p := 4
	ws, err := rc.cut.Windows(in, x.hs, &x.cfg)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	for _, w := range ws {
		features.ComputeInto(rc.vec, w, &x.cfg)
		for _, f := range rc.vec {
			binary.LittleEndian.PutUint64(rec[p:], math.Float64bits(f))
			p += 8
		}
	}
	s := x.start[di]
	for m := s - int64(x.B); m < s+int64(x.hmax); m++ {
		rec[p] = 0
		if b.el[m-b.readLo] {
			rec[p] = 1
		}
		p++
	}
	return rec, nil
}

func (x *run) emit(di int, rec []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, err := x.spill.Write(rec); err != nil {
		return fmt.Errorf("extract: spill: %w", err)
	}
	x.offs[di] = x.off
	x.off += int64(len(rec))
	x.done++
	x.prog("extract", x.done, x.total)
	return nil
}

// write is pass 2 for Run: it completes the rows (finish) and writes the
// output files, each horizon's by its own goroutine (horizonWriter), so
// that encoding and compressing them overlaps finish.
func (x *run) write(ctx context.Context, dir string, selected []int, sum *workdir.Extract) error {
	hws := make([]*horizonWriter, 0, len(x.hs))
	// end ends every writer started: commit or abort each file, and
	// returns the first error in horizon order.
	end := func(commit bool) error {
		var first error
		for _, hw := range hws {
			if err := hw.end(commit); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	for i := range x.hs {
		w, err := workdir.CreateFeatures(filepath.Join(dir, sum.Horizons[i].File))
		if err != nil {
			end(false)
			return err
		}
		hws = append(hws, startHorizonWriter(w))
	}
	deploys, err := x.finish(ctx, selected, sum, func(i int, id string, vec []float64) error {
		return hws[i].add(id, vec)
	})
	if err != nil {
		end(false)
		return err
	}
	if err := end(true); err != nil {
		return err
	}
	for i := range x.hs {
		sum.Files = append(sum.Files, sum.Horizons[i].File)
	}
	if err := workdir.WriteDeploys(filepath.Join(dir, workdir.DeploysFile), deploys); err != nil {
		return err
	}
	sum.Files = append([]string{workdir.DeploysFile}, sum.Files...)
	sum.Files = append(sum.Files, workdir.ExtractFile)
	return workdir.WriteExtract(filepath.Join(dir, workdir.ExtractFile), sum)
}

// horizonWriter writes one features file in a goroutine, from batches of
// rows handed over in order.
type horizonWriter struct {
	fw     *workdir.FeatureWriter
	cur    *rowBatch
	full   chan *rowBatch // to the goroutine
	free   chan *rowBatch // back from it
	commit chan bool      // after full is closed: Close (true) or Abort
	done   chan error     // the goroutine's first error
	failed chan struct{}  // closed when Add failed
	err    error          // that error, set before failed is closed
}

// rowBatch is up to rowBatchLen rows: ids and their vectors end to end.
type rowBatch struct {
	ids  []string
	vals []float64
}

const rowBatchLen = 256

func startHorizonWriter(fw *workdir.FeatureWriter) *horizonWriter {
	const batches = 3
	hw := &horizonWriter{fw: fw, full: make(chan *rowBatch, batches), free: make(chan *rowBatch, batches),
		commit: make(chan bool, 1), done: make(chan error, 1), failed: make(chan struct{})}
	for range batches {
		hw.free <- &rowBatch{ids: make([]string, 0, rowBatchLen), vals: make([]float64, 0, rowBatchLen*features.NumFeatures)}
	}
	hw.cur = <-hw.free
	go hw.run()
	return hw
}

// run adds the rows of every batch to the file, then closes or aborts it.
func (hw *horizonWriter) run() {
	var err error
	for b := range hw.full {
		for k, id := range b.ids {
			if err == nil {
				if err = hw.fw.Add(id, b.vals[k*features.NumFeatures:(k+1)*features.NumFeatures]); err != nil {
					hw.err = err
					close(hw.failed)
				}
			}
		}
		b.ids, b.vals = b.ids[:0], b.vals[:0]
		hw.free <- b
	}
	if <-hw.commit && err == nil {
		err = hw.fw.Close()
	} else {
		hw.fw.Abort()
	}
	hw.done <- err
}

// add hands the row over (vec may be reused after it returns); it fails
// when the goroutine failed to add an earlier row.
func (hw *horizonWriter) add(id string, vec []float64) error {
	b := hw.cur
	b.ids = append(b.ids, id)
	b.vals = append(b.vals, vec...)
	if len(b.ids) < rowBatchLen {
		return nil
	}
	select {
	case <-hw.failed:
		return hw.err
	case hw.full <- b:
	}
	hw.cur = <-hw.free
	return nil
}

// end hands over the last rows, lets the goroutine close (commit) or abort
// the file, and returns its first error.
func (hw *horizonWriter) end(commit bool) error {
	if commit && len(hw.cur.ids) > 0 {
		hw.full <- hw.cur
	}
	close(hw.full)
	hw.commit <- commit
	return <-hw.done
}

// finish is pass 2: it reads the spilled vectors in deploy order, fills the
// fleet columns, counts rows and skips in sum.Horizons and passes each
// complete row to add (i indexes x.hs; vec is reused after add returns).
// It returns the selected deploys' rows.
func (x *run) finish(ctx context.Context, selected []int, sum *workdir.Extract, add func(i int, id string, vec []float64) error) ([]workdir.DeployRow, error) {
	cfg := &x.cfg
	B := int64(x.B)
	deploys := make([]workdir.DeployRow, 0, len(selected))
	rec := make([]byte, x.recLen)
	others := make([]int32, x.B+x.hmax)
	vec := make([]float64, features.NumFeatures)
	x.prog("write", 0, int64(len(selected)))
	for k, di := range selected {
		if k%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			x.prog("write", int64(k), int64(len(selected)))
		}
		d := &x.all[di]
		deploys = append(deploys, workdir.DeployRow{DeploymentID: d.ID, Service: d.Service, Environment: d.Environment,
			Version: d.Version, StartedAt: d.StartedAt.UTC(), Kind: string(d.Kind)})
		if _, err := x.spillR.ReadAt(rec, x.offs[di]); err != nil {
			return nil, fmt.Errorf("extract: read spill: %w", err)
		}
		env := x.envs[d.Environment]
		s := x.start[di]
		own := rec[len(rec)-len(others):]
		for j := range others {
			m := s - B + int64(j)
			others[j] = env.count[m-env.lo] - int32(own[j])
		}
		fleet := &features.Fleet{Start: s - B, Others: others, Services: env.services - 1}
		p := 4
		for i, h := range x.hs {
			for f := range vec {
				vec[f] = math.Float64frombits(binary.LittleEndian.Uint64(rec[p:]))
				p += 8
			}
			if s+int64(h)-1 > env.end {
				sum.Horizons[i].Skipped++
				continue
			}
			features.FillFleet(vec, s, h, fleet, cfg)
			if err := add(i, d.ID, vec); err != nil {
				return nil, err
			}
			sum.Horizons[i].Rows++
		}
	}
	x.prog("write", int64(len(selected)), int64(len(selected)))
	return deploys, nil
}
