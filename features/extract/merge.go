package extract

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// MergeOptions are Merge's settings.
type MergeOptions struct {
	// Progress receives progress ("merge", deployments written, total);
	// may be nil.
	Progress progress.Func
}

// Merge joins the work directories of the shards of one extraction (Run
// with Shard 0 … Shards-1 of the same Shards, range, configuration and
// build), given in any order, into the work directory out. The files it
// writes — deploys.parquet, features_hH.parquet and extract.json — are
// byte-identical to those of one unsharded Run over the same range, so the
// stages after extract, and the checksums they record, cannot tell the
// difference. It returns what it wrote to extract.json.
//
// Before writing anything it checks that the folders hold every shard
// exactly once, of the same extraction (schema version and hash,
// configuration hash, feature count, range, horizons), with the row counts
// their extract.json records; while merging, that every deployment belongs
// to its folder's shard and appears once. Errors name the shard folder.
// One folder holding an unsharded extraction is accepted as the whole (a
// job run with a single shard).
//
// Memory is bounded by the number of shards and horizons, not by the
// number of deployments: the files are streamed. The unsharded order is
// the history's deployment order, by start time then id; shards are merged
// on deploys.parquet's started_at (milliseconds) then id, which is that
// order unless two deployments of different shards start within the same
// millisecond but not at the same microsecond.
//
// extract.json is written last, after any older one in out was removed: a
// folder with extract.json holds a complete extraction. out must not be
// one of the shard folders.
func Merge(ctx context.Context, out string, shardDirs []string, opt MergeOptions) (*workdir.Extract, error) {
	shards, err := readShards(shardDirs)
	if err != nil {
		return nil, err
	}
	if err := checkOut(out, shards); err != nil {
		return nil, err
	}
	sum, err := mergedSummary(shards)
	if err != nil {
		return nil, err
	}
	m := &merger{shards: shards, sum: sum, n: len(shards), prog: progress.Or(opt.Progress)}
	defer m.close()
	if err := m.open(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("merge: work directory: %w", err)
	}
	if err := m.create(out); err != nil {
		return nil, err
	}
	if err := m.run(ctx); err != nil {
		return nil, err
	}
	if err := m.commit(out); err != nil {
		return nil, err
	}
	return sum, nil
}

// shard is one shard folder and its extract.json.
type shard struct {
	dir   string
	index int // 0-based
	sum   *workdir.Extract
}

// name names the shard in errors: its folder and its part.
func (s *shard) name() string {
	if s.sum.Shard == "" {
		return s.dir
	}
	return fmt.Sprintf("%s (shard %s)", s.dir, s.sum.Shard)
}

// readShards reads every folder's extract.json and returns the shards by
// index, after checking that they are the parts 0 … n-1 of one
// extraction, each once.
func readShards(dirs []string) ([]*shard, error) {
	if len(dirs) == 0 {
		return nil, errors.New("merge: no shard folders given")
	}
	var all []*shard
	n := 0
	for _, dir := range dirs {
		sum, err := workdir.ReadExtract(filepath.Join(dir, workdir.ExtractFile))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("merge: shard folder %s has no %s: its extraction did not finish (or this is not a work directory)", dir, workdir.ExtractFile)
			}
			return nil, fmt.Errorf("merge: shard folder %s: %w", dir, err)
		}
		s := &shard{dir: dir, sum: sum}
		sn := 1
		if sum.Shard == "" {
			if len(dirs) > 1 {
				return nil, fmt.Errorf("merge: %s is not a shard: its %s has no \"shard\" (an unsharded extraction needs no merge)", dir, workdir.ExtractFile)
			}
		} else if s.index, sn, err = ParseShard(sum.Shard); err != nil {
			return nil, fmt.Errorf("merge: %s: %s: %w", dir, workdir.ExtractFile, err)
		}
		if len(all) == 0 {
			n = sn
		} else if sn != n {
			return nil, fmt.Errorf("merge: %s is shard %s but %s is shard %s: every folder must come from the same --shard i/%d", dir, sum.Shard, all[0].dir, all[0].sum.Shard, n)
		}
		all = append(all, s)
	}
	byIndex := make([]*shard, n)
	for _, s := range all {
		if o := byIndex[s.index]; o != nil {
			return nil, fmt.Errorf("merge: %s and %s are both shard %s", o.dir, s.dir, s.sum.Shard)
		}
		byIndex[s.index] = s
	}
	var missing []string
	for i, s := range byIndex {
		if s == nil {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("merge: shard %s missing: %d folders given for %d shards", strings.Join(missing, ", "), len(dirs), n)
	}
	first := byIndex[0]
	for _, s := range byIndex[1:] {
		if err := sameExtraction(first, s); err != nil {
			return nil, err
		}
	}
	return byIndex, nil
}

// sameExtraction checks that shard s was extracted like shard a: same
// build's schema, same configuration, range and horizons.
func sameExtraction(a, s *shard) error {
	x, y := a.sum, s.sum
	differ := func(field, hint string, got, want any) error {
		return fmt.Errorf("merge: %s: %s %v differs from %v in %s%s", s.name(), field, got, want, a.name(), hint)
	}
	const build = "; extract every shard with the same build"
	switch {
	case y.SchemaVersion != x.SchemaVersion:
		return differ("schema_version", build, y.SchemaVersion, x.SchemaVersion)
	case y.SchemaHash != x.SchemaHash:
		return differ("schema_hash", build, y.SchemaHash, x.SchemaHash)
	case y.Features != x.Features:
		return differ("features", build, y.Features, x.Features)
	case y.ConfigHash != x.ConfigHash:
		return differ("config_hash", `; extract every shard with the same "features" configuration`, y.ConfigHash, x.ConfigHash)
	case y.From != x.From:
		return differ("from", "; extract every shard with the same --from", quoted(y.From), quoted(x.From))
	case y.Until != x.Until:
		return differ("until", "; extract every shard with the same --until", quoted(y.Until), quoted(x.Until))
	}
	if hx, hy := horizonsOf(x), horizonsOf(y); hx != hy {
		return differ("horizons", `; extract every shard with the same "features" configuration`, hy, hx)
	}
	return nil
}

func quoted(s string) string { return fmt.Sprintf("%q", s) }

// horizonsOf describes a summary's horizons and their files.
func horizonsOf(e *workdir.Extract) string {
	var b strings.Builder
	b.WriteString("[")
	for i, h := range e.Horizons {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%d:%s", h.Horizon, h.File)
	}
	b.WriteString("]")
	return b.String()
}

// checkOut refuses an output folder that is one of the shards'.
func checkOut(out string, shards []*shard) error {
	o, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	for _, s := range shards {
		d, err := filepath.Abs(s.dir)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		if d == o {
			return fmt.Errorf("merge: the output folder %s is %s: write the merge to another folder", out, s.name())
		}
	}
	return nil
}

// mergedSummary is the extract.json of the unsharded run: the shards'
// common fields, their summed counts, and the streams the unsharded run
// reads (every stream of each environment some shard extracted).
func mergedSummary(shards []*shard) (*workdir.Extract, error) {
	first := shards[0].sum
	sum := &workdir.Extract{
		SchemaVersion: first.SchemaVersion, SchemaHash: first.SchemaHash, ConfigHash: first.ConfigHash,
		Features: first.Features, From: first.From, Until: first.Until,
	}
	for _, h := range first.Horizons {
		sum.Horizons = append(sum.Horizons, workdir.HorizonCount{Horizon: h.Horizon, File: h.File})
	}
	streams := map[string]int{}
	owner := map[string]*shard{}
	for _, s := range shards {
		sum.Deployments += s.sum.Deployments
		for i, h := range s.sum.Horizons {
			sum.Horizons[i].Rows += h.Rows
			sum.Horizons[i].Skipped += h.Skipped
		}
		if len(shards) == 1 {
			sum.Streams = s.sum.Streams
			break
		}
		total := 0
		for env, k := range s.sum.ShardStreams {
			total += k
			if o, seen := owner[env]; seen && streams[env] != k {
				return nil, fmt.Errorf("merge: %s read %d streams of environment %s but %s read %d: the shards were extracted from different histories",
					s.name(), k, env, o.name(), streams[env])
			}
			streams[env], owner[env] = k, s
		}
		if total != s.sum.Streams {
			return nil, fmt.Errorf("merge: %s: %s says streams_read %d but its shard_streams add up to %d (a shard extracted by an older build? extract it again)",
				s.name(), workdir.ExtractFile, s.sum.Streams, total)
		}
	}
	for _, k := range streams {
		sum.Streams += k
	}
	sum.Files = append(sum.Files, workdir.DeploysFile)
	for _, h := range sum.Horizons {
		sum.Files = append(sum.Files, h.File)
	}
	sum.Files = append(sum.Files, workdir.ExtractFile)
	return sum, nil
}

// merger streams the shards' files into the merged ones.
type merger struct {
	shards []*shard
	sum    *workdir.Extract
	n      int
	prog   progress.Func

	deploys []*workdir.DeployReader
	feats   [][]*workdir.FeatureReader // [shard][horizon]
	peek    [][]peeked                 // [shard][horizon]: the next row not yet written

	dw *workdir.DeployWriter
	fw []*workdir.FeatureWriter // by horizon
}

// peeked is the next row of one shard's features file.
type peeked struct {
	id  string // "" at the end of the file
	vec []float64
	row int64 // its row number, from 1
}

// open opens every shard's files and checks their row counts against
// their extract.json.
func (m *merger) open() error {
	m.deploys = make([]*workdir.DeployReader, m.n)
	m.feats = make([][]*workdir.FeatureReader, m.n)
	m.peek = make([][]peeked, m.n)
	for k, s := range m.shards {
		dr, err := workdir.OpenDeploys(filepath.Join(s.dir, workdir.DeploysFile))
		if err != nil {
			return fmt.Errorf("merge: %s: %w", s.name(), err)
		}
		m.deploys[k] = dr
		if dr.Rows() != s.sum.Deployments {
			return fmt.Errorf("merge: %s: %s has %d rows, its %s says %d deployments", s.name(), workdir.DeploysFile, dr.Rows(), workdir.ExtractFile, s.sum.Deployments)
		}
		m.feats[k] = make([]*workdir.FeatureReader, len(s.sum.Horizons))
		m.peek[k] = make([]peeked, len(s.sum.Horizons))
		for i, h := range s.sum.Horizons {
			fr, err := workdir.OpenFeatures(filepath.Join(s.dir, h.File))
			if err != nil {
				return fmt.Errorf("merge: %s: %w", s.name(), err)
			}
			m.feats[k][i] = fr
			if fr.Rows() != h.Rows {
				return fmt.Errorf("merge: %s: %s has %d rows, its %s says %d", s.name(), h.File, fr.Rows(), workdir.ExtractFile, h.Rows)
			}
			m.peek[k][i].vec = make([]float64, features.NumFeatures)
			if err := m.advance(k, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// advance reads the next row of shard k's features file i into m.peek.
func (m *merger) advance(k, i int) error {
	p := &m.peek[k][i]
	id, err := m.feats[k][i].Next(p.vec)
	if errors.Is(err, io.EOF) {
		p.id = ""
		return nil
	}
	if err != nil {
		return fmt.Errorf("merge: %s: %w", m.shards[k].name(), err)
	}
	p.id = id
	p.row++
	return nil
}

// create starts the output files in out.
func (m *merger) create(out string) error {
	for _, h := range m.sum.Horizons {
		w, err := workdir.CreateFeatures(filepath.Join(out, h.File))
		if err != nil {
			return err
		}
		m.fw = append(m.fw, w)
	}
	dw, err := workdir.CreateDeploys(filepath.Join(out, workdir.DeploysFile))
	if err != nil {
		return err
	}
	m.dw = dw
	return nil
}

// close closes the readers and drops the outputs not committed.
func (m *merger) close() {
	for _, dr := range m.deploys {
		if dr != nil {
			dr.Close()
		}
	}
	for _, frs := range m.feats {
		for _, fr := range frs {
			if fr != nil {
				fr.Close()
			}
		}
	}
	for _, w := range m.fw {
		if w != nil {
			w.Abort()
		}
	}
	if m.dw != nil {
		m.dw.Abort()
	}
}

// head is the next deployment of one shard.
type head struct {
	row   workdir.DeployRow
	shard int
	n     int64 // its row number in the shard's deploys.parquet, from 1
}

// before orders deployments as the history does: by start, then id.
func before(a, b *workdir.DeployRow) bool {
	if !a.StartedAt.Equal(b.StartedAt) {
		return a.StartedAt.Before(b.StartedAt)
	}
	return a.DeploymentID < b.DeploymentID
}

type heads []head

func (h heads) Len() int           { return len(h) }
func (h heads) Less(i, j int) bool { return before(&h[i].row, &h[j].row) }
func (h heads) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heads) Push(x any)        { *h = append(*h, x.(head)) }
func (h *heads) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// next reads shard k's next deployment after prev (nil at first) and
// checks that it belongs to the shard and comes in order. ok is false at
// the end of the file.
func (m *merger) next(k int, prev *head) (h head, ok bool, err error) {
	s := m.shards[k]
	row, err := m.deploys[k].Next()
	if errors.Is(err, io.EOF) {
		return head{}, false, nil
	}
	if err != nil {
		return head{}, false, fmt.Errorf("merge: %s: %w", s.name(), err)
	}
	h = head{row: row, shard: k, n: 1}
	path := m.deploys[k].Path()
	if prev != nil {
		h.n = prev.n + 1
		if row.StartedAt.Before(prev.row.StartedAt) {
			return head{}, false, fmt.Errorf("merge: %s: %s: row %d: deployment %q starts before the row above: the file is not in extraction order", s.name(), path, h.n, row.DeploymentID)
		}
	}
	if m.n > 1 {
		st := history.Stream{Service: row.Service, Environment: row.Environment}
		if got := ShardOf(st, m.n); got != s.index {
			return head{}, false, fmt.Errorf("merge: %s: %s: row %d: deployment %q of %s/%s belongs to shard %d/%d, not to this folder's", s.name(), path, h.n, row.DeploymentID, row.Service, row.Environment, got, m.n)
		}
	}
	return h, true, nil
}

// run merges the deployments of the shards in history order, and with
// each the features rows it has.
func (m *merger) run(ctx context.Context) error {
	h := make(heads, 0, m.n)
	for k := range m.shards {
		x, ok, err := m.next(k, nil)
		if err != nil {
			return err
		}
		if ok {
			h = append(h, x)
		}
	}
	heap.Init(&h)
	total := m.sum.Deployments
	var done int64
	var last head
	m.prog("merge", 0, total)
	for len(h) > 0 {
		if done%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			m.prog("merge", done, total)
		}
		cur := h[0]
		if done > 0 && !before(&last.row, &cur.row) && !before(&cur.row, &last.row) {
			return fmt.Errorf("merge: deployment %q is in %s and in %s", cur.row.DeploymentID, m.shards[last.shard].name(), m.shards[cur.shard].name())
		}
		if err := m.emit(&cur); err != nil {
			return err
		}
		done++
		nx, ok, err := m.next(cur.shard, &cur)
		if err != nil {
			return err
		}
		if ok {
			h[0] = nx
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
		last = cur
	}
	m.prog("merge", done, total)
	// Every features row must have gone out with its deployment.
	for k, ps := range m.peek {
		for i, p := range ps {
			if p.id != "" {
				return fmt.Errorf("merge: %s: %s: row %d: deployment %q is not in %s, or not in its order",
					m.shards[k].name(), m.feats[k][i].Path(), p.row, p.id, workdir.DeploysFile)
			}
		}
	}
	return nil
}

// emit writes deployment h and, for each horizon, its features row when
// its shard has one (the row is absent when the deployment was skipped).
func (m *merger) emit(h *head) error {
	if err := m.dw.Add(h.row); err != nil {
		return err
	}
	for i := range m.fw {
		p := &m.peek[h.shard][i]
		if p.id != h.row.DeploymentID {
			continue
		}
		if err := m.fw[i].Add(p.id, p.vec); err != nil {
			return err
		}
		if err := m.advance(h.shard, i); err != nil {
			return err
		}
	}
	return nil
}

// commit installs the outputs: an older extract.json first removed, the
// features files, deploys.parquet, then extract.json.
func (m *merger) commit(out string) error {
	ex := filepath.Join(out, workdir.ExtractFile)
	if err := os.Remove(ex); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("merge: %w", err)
	}
	for i, w := range m.fw {
		m.fw[i] = nil
		if err := w.Close(); err != nil {
			return err
		}
	}
	dw := m.dw
	m.dw = nil
	if err := dw.Close(); err != nil {
		return err
	}
	return workdir.WriteExtract(ex, m.sum)
}
