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
	"encoding/json"
	"errors"
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
	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/progress"
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

// HorizonCount counts the rows of one features_hH.parquet.
type HorizonCount struct {
	Horizon int    `json:"horizon"`
	File    string `json:"file"`
	Rows    int64  `json:"rows"`
	// Skipped counts deployments with fewer than H minutes of data after
	// their start (the environment's history ends too soon).
	Skipped int64 `json:"skipped"`
}

// Summary is what Run did; it is also written as extract.json.
type Summary struct {
	SchemaVersion string         `json:"schema_version"`
	SchemaHash    string         `json:"schema_hash"`
	ConfigHash    string         `json:"config_hash"`
	Features      int            `json:"features"`
	From          string         `json:"from,omitempty"`
	Until         string         `json:"until,omitempty"`
	Shard         string         `json:"shard,omitempty"`
	Deployments   int64          `json:"deployments"`
	Streams       int            `json:"streams_read"`
	Horizons      []HorizonCount `json:"horizons"`
	Files         []string       `json:"files"`
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

// Run extracts features for the deployments selected by opt into workdir.
func Run(ctx context.Context, r history.Reader, workdir string, opt Options) (*Summary, error) {
	if err := checkOptions(opt); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(workdir, 0o755); err != nil {
		return nil, fmt.Errorf("extract: work directory: %w", err)
	}
	x, selected, sum, cleanup, err := compute(ctx, r, opt, workdir, false)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if err := x.write(ctx, workdir, selected, sum); err != nil {
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
func compute(ctx context.Context, r history.Reader, opt Options, spillDir string, inMemory bool) (x *run, selected []int, sum *Summary, cleanup func(), err error) {
	cfg := opt.Config
	cleanup = func() {}
	defer func() {
		if err != nil {
			cleanup()
			cleanup = func() {}
		}
	}()
	x = &run{r: r, cfg: cfg, hs: cfg.SortedHorizons(), B: cfg.BaselineMinutes, prog: progress.Or(opt.Progress)}
	x.hmax = x.hs[len(x.hs)-1]
	x.recLen = 4 + len(x.hs)*features.NumFeatures*8 + x.B + x.hmax

	// Deployments: the selected ones plus their neighbours (previous deploy
	// within the cap, later deploys within the largest horizon).
	rr := history.Range{}
	if !opt.Range.From.IsZero() {
		rr.From = opt.Range.From.Add(-time.Duration(cfg.PrevDeployCapMinutes) * time.Minute)
	}
	if !opt.Range.Until.IsZero() {
		rr.Until = opt.Range.Until.Add(time.Duration(x.hmax) * time.Minute)
	}
	all, err := r.Deployments(ctx, rr)
	if err != nil {
		return nil, nil, nil, cleanup, fmt.Errorf("extract: read deployments: %w", err)
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
	fleetLo, fleetHi := int64(math.MaxInt64), int64(math.MinInt64)
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

	streams, err := r.Streams(ctx)
	if err != nil {
		return nil, nil, nil, cleanup, fmt.Errorf("extract: list streams: %w", err)
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
	// Every stream of an environment with selected deploys is read: the
	// fleet control needs them all.
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

	// Pass 1: per stream, features without the fleet, spilled to disk (or
	// memory).
	x.offs = map[int]int64{}
	var flush func() error
	if inMemory && x.total*int64(x.recLen) <= memSpillMax {
		buf := &memSpill{}
		x.spill, x.spillR, flush = buf, buf, func() error { return nil }
	} else {
		if spillDir == "" {
			spillDir = os.TempDir()
		} else if err := os.MkdirAll(spillDir, 0o755); err != nil {
			return nil, nil, nil, cleanup, fmt.Errorf("extract: spill folder: %w", err)
		}
		spillF, err := os.CreateTemp(spillDir, ".extract-spill-*")
		if err != nil {
			return nil, nil, nil, cleanup, fmt.Errorf("extract: spill file: %w", err)
		}
		cleanup = func() { spillF.Close(); os.Remove(spillF.Name()) }
		bw := bufio.NewWriterSize(spillF, 1<<20)
		x.spill, x.spillR, flush = bw, spillF, bw.Flush
	}
	x.prog("extract", 0, x.total)
	if err := x.runStreams(ctx, tasks, opt.Workers); err != nil {
		return nil, nil, nil, cleanup, err
	}
	if err := flush(); err != nil {
		return nil, nil, nil, cleanup, fmt.Errorf("extract: spill: %w", err)
	}

	sum = &Summary{
		SchemaVersion: features.SchemaVersion, SchemaHash: features.SchemaHash(), ConfigHash: cfg.ConfigHash(),
		Features: features.NumFeatures, Deployments: x.total, Streams: len(tasks),
	}
	if !opt.Range.From.IsZero() {
		sum.From = opt.Range.From.UTC().Format(time.RFC3339)
	}
	if !opt.Range.Until.IsZero() {
		sum.Until = opt.Range.Until.UTC().Format(time.RFC3339)
	}
	if opt.Shards > 1 {
		sum.Shard = fmt.Sprintf("%d/%d", opt.Shard, opt.Shards)
	}
	for _, h := range x.hs {
		sum.Horizons = append(sum.Horizons, HorizonCount{Horizon: h, File: fmt.Sprintf("features_h%d.parquet", h)})
	}
	return x, selected, sum, cleanup, nil
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

func (x *run) runStreams(ctx context.Context, tasks []history.Stream, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan history.Stream)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range ch {
				if err := x.stream(ctx, s); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, s := range tasks {
		select {
		case ch <- s:
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

// stream processes one stream block by block: elevation for the fleet
// counts, and for its selected deploys the feature vectors.
func (x *run) stream(ctx context.Context, st history.Stream) error {
	env := x.envs[st.Environment]
	sel := x.sel[st]
	cfg := &x.cfg
	B := int64(x.B)
	hmax := int64(x.hmax)
	lookback := 2 * B
	if len(sel) > 0 {
		lookback = max(lookback, int64(cfg.SeasonalDays)*1440+B)
	}
	block := int64(cfg.BlockDays) * 1440
	streamDeps := x.byStr[st]
	var prior map[string]int64
	sigFrom := int64(math.MinInt64)
	next := 0 // next selected deploy
	for T := env.lo; T < env.lo+int64(len(env.count)); T += block {
		if err := ctx.Err(); err != nil {
			return err
		}
		Tn := min(T+block, env.lo+int64(len(env.count)))
		readLo, readHi := T-lookback, Tn+hmax
		series, err := x.r.Metrics(ctx, st, history.Range{From: history.MinuteTime(readLo), Until: history.MinuteTime(readHi)})
		if err != nil {
			return fmt.Errorf("extract: metrics of %s/%s: %w", st.Service, st.Environment, err)
		}
		n := readHi - readLo
		req, errs := make([]float64, n), make([]float64, n)
		end := int64(math.MinInt64)
		fs := make([]features.Series, len(series))
		for k, s := range series {
			fs[k] = features.Series{Version: s.Version, Minutes: s.Minutes, Requests: s.Requests, Errors: s.Errors, P95: s.P95, P99: s.P99}
			for i, m := range s.Minutes {
				if m < readLo || m >= readHi {
					continue
				}
				req[m-readLo] += float64(s.Requests[i])
				errs[m-readLo] += float64(s.Errors[i])
				end = max(end, m)
			}
		}
		el := make([]bool, n)
		features.Elevated(req, errs, x.B, cfg, el)
		env.mu.Lock()
		for m := T; m < Tn; m++ {
			if el[m-readLo] {
				env.count[m-env.lo]++
			}
		}
		env.end = max(env.end, end)
		env.mu.Unlock()

		// Selected deploys starting in this block.
		first := next
		for next < len(sel) && x.start[sel[next]] < Tn {
			next++
		}
		if first == next {
			continue
		}
		sigLo := max(sigFrom, T-int64(cfg.SignatureLookbackMinutes))
		if prior == nil || sigLo > sigFrom {
			prior = map[string]int64{}
		}
		sigs, err := x.r.Signatures(ctx, st, history.Range{From: history.MinuteTime(sigLo), Until: history.MinuteTime(readHi)})
		if err != nil {
			return fmt.Errorf("extract: signatures of %s/%s: %w", st.Service, st.Environment, err)
		}
		rows := make([]features.SignatureRow, len(sigs))
		for i, s := range sigs {
			rows[i] = features.SignatureRow{Minute: history.UnixMinute(s.Minute), Version: s.Version, Fingerprint: s.Fingerprint, Count: s.Count}
		}
		applied := 0
		for _, di := range sel[first:next] {
			d := &x.all[di]
			s := x.start[di]
			for applied < len(rows) && rows[applied].Minute < s {
				prior[rows[applied].Fingerprint] = rows[applied].Minute
				applied++
			}
			in := &features.Input{
				Deploy: features.Deploy{
					ID: d.ID, Service: d.Service, Environment: d.Environment, Version: d.Version,
					StartedAt: d.StartedAt, FinishedAt: d.FinishedAt,
					FilesChanged: d.FilesChanged, LinesAdded: d.LinesAdded, LinesDeleted: d.LinesDeleted,
					Rollback: d.Kind == history.KindRollback,
				},
				Series:            fs,
				Signatures:        rows,
				PriorFingerprints: prior,
			}
			// Neighbours on the stream (sorted by start): the previous
			// deploy, and the later ones that may overlap the window.
			pos := sort.Search(len(streamDeps), func(i int) bool { return !x.all[streamDeps[i]].StartedAt.Before(d.StartedAt) })
			if pos > 0 {
				in.PrevDeployAt = x.all[streamDeps[pos-1]].StartedAt
			}
			for _, oi := range streamDeps[pos:] {
				o := &x.all[oi]
				if o.StartedAt.Sub(d.StartedAt) > time.Duration(hmax)*time.Minute {
					break
				}
				if oi != di {
					in.OtherDeployStarts = append(in.OtherDeployStarts, o.StartedAt)
				}
			}
			rec := make([]byte, x.recLen)
			binary.LittleEndian.PutUint32(rec, uint32(di))
			p := 4
			for _, h := range x.hs {
				w, err := features.NewWindow(in, h, cfg)
				if err != nil {
					return fmt.Errorf("extract: %w", err)
				}
				for _, f := range features.Compute(w, cfg) {
					binary.LittleEndian.PutUint64(rec[p:], math.Float64bits(f))
					p += 8
				}
			}
			for m := s - B; m < s+hmax; m++ {
				if el[m-readLo] {
					rec[p] = 1
				}
				p++
			}
			if err := x.emit(di, rec); err != nil {
				return err
			}
		}
		// Rows before the block's end are applied before the next block.
		for applied < len(rows) && rows[applied].Minute < Tn {
			prior[rows[applied].Fingerprint] = rows[applied].Minute
			applied++
		}
		sigFrom = Tn
	}
	return nil
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
// output files.
func (x *run) write(ctx context.Context, workdir string, selected []int, sum *Summary) error {
	writers := make([]*featureWriter, len(x.hs))
	abort := func() {
		for _, w := range writers {
			if w != nil {
				w.af.Abort()
			}
		}
	}
	for i := range x.hs {
		w, err := newFeatureWriter(filepath.Join(workdir, sum.Horizons[i].File))
		if err != nil {
			abort()
			return err
		}
		writers[i] = w
	}
	deploys, err := x.finish(ctx, selected, sum, func(i int, id string, vec []float64) error {
		return writers[i].add(id, vec)
	})
	if err != nil {
		abort()
		return err
	}
	for i, w := range writers {
		writers[i] = nil
		if err := w.close(); err != nil {
			abort()
			return err
		}
		sum.Files = append(sum.Files, sum.Horizons[i].File)
	}
	if err := writeDeploys(filepath.Join(workdir, "deploys.parquet"), deploys); err != nil {
		return err
	}
	sum.Files = append([]string{"deploys.parquet"}, sum.Files...)
	sum.Files = append(sum.Files, "extract.json")
	return writeJSON(filepath.Join(workdir, "extract.json"), sum)
}

// finish is pass 2: it reads the spilled vectors in deploy order, fills the
// fleet columns, counts rows and skips in sum.Horizons and passes each
// complete row to add (i indexes x.hs; vec is reused after add returns).
// It returns the selected deploys' rows.
func (x *run) finish(ctx context.Context, selected []int, sum *Summary, add func(i int, id string, vec []float64) error) ([]DeployRow, error) {
	cfg := &x.cfg
	B := int64(x.B)
	deploys := make([]DeployRow, 0, len(selected))
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
		deploys = append(deploys, DeployRow{DeploymentID: d.ID, Service: d.Service, Environment: d.Environment,
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

func writeJSON(path string, v any) error {
	af, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(af)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		af.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return af.Commit()
}

// ReadSummary reads extract.json from workdir.
func ReadSummary(workdir string) (*Summary, error) {
	b, err := os.ReadFile(filepath.Join(workdir, "extract.json"))
	if err != nil {
		return nil, fmt.Errorf("read extract summary: %w", err)
	}
	s, err := ParseSummary(b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(workdir, "extract.json"), err)
	}
	if s.SchemaVersion == "" {
		return nil, errors.New("read extract.json: no schema_version")
	}
	return s, nil
}
