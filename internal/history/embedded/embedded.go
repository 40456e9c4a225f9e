// Package embedded is the serverless history store: Parquet tables in a
// local folder, HOME/history (layout in docs/embedded-store.md).
//
// Every commit writes new immutable data files and a new manifest, then
// atomically renames CURRENT to point at it, so a crash at any moment leaves
// either the old or the new generation in force, never a mix. Metrics and
// error signatures are stored one file per (service, environment) stream,
// sorted, so that reading a stream touches only its own files. Writers are
// serialised by an flock(2) on HOME/history/LOCK.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// Options tune the embedded store. The zero value means the defaults.
type Options struct {
	// SpillBytes is the size of staged metric and signature rows an import
	// holds in memory before spilling them to temporary files in the history
	// folder (default 64 MiB).
	SpillBytes int64
	// CacheRows bounds the decoded metric, signature and KPI value rows
	// kept in memory for repeated range reads of the same streams (default
	// 4M rows, about 300 MB; the last row group read is always kept).
	CacheRows int64
	// WholeFiles decodes every row group of a stream file that a read
	// touches, whatever its range, as builds before layout format 3 did:
	// a reference for benchmarks. The default reads only the row groups
	// whose minutes meet the range.
	WholeFiles bool
}

func (o Options) withDefaults() Options {
	if o.SpillBytes <= 0 {
		o.SpillBytes = 64 << 20
	}
	if o.CacheRows <= 0 {
		o.CacheRows = 4 << 20
	}
	return o
}

// Store is the embedded history store. Its reads see the generation that
// was current when it was opened, or that its own last commit installed.
// It is safe for concurrent use.
type Store struct {
	home string // as given
	dir  string // HOME/history
	opts Options

	mu     sync.Mutex
	snap   *snapshot
	active *importTx // open import of this Store, if any
	closed bool

	cache *streamCache
}

var _ history.Store = (*Store)(nil)

// Open opens (creating when absent) the embedded store under home.
func Open(ctx context.Context, home string) (history.Store, error) {
	return OpenOptions(ctx, home, Options{})
}

// OpenOptions is Open with tuning options.
func OpenOptions(ctx context.Context, home string, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := filepath.Join(home, "history")
	if err := os.MkdirAll(filepath.Join(dir, dataDir), 0o755); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	m, err := readCurrent(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	opts = opts.withDefaults()
	return &Store{home: home, dir: dir, opts: opts, snap: newSnapshot(dir, m), cache: newStreamCache(opts.CacheRows)}, nil
}

// Describe names the store, e.g. "embedded:./faultline-data".
func (s *Store) Describe() string { return "embedded:" + s.home }

// Close releases the store. An import still open is rolled back.
func (s *Store) Close() error {
	s.mu.Lock()
	tx := s.active
	s.closed = true
	s.mu.Unlock()
	if tx != nil {
		return tx.Rollback(context.Background())
	}
	return nil
}

// Generation returns the generation number of the manifest the store reads
// (0 for an empty store).
func (s *Store) Generation() int64 {
	return s.current().m.Generation
}

func (s *Store) current() *snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

// snapshot is one generation as seen by readers: the manifest and lazily
// loaded tables: the deployments table by row group (deployTable), each
// other table at its first read.
type snapshot struct {
	dir string
	m   *manifest

	servicesOnce, incidentsOnce, annotationsOnce, kpisOnce tableOnce
	services                                               []history.Service
	incidents                                              []history.Incident   // by OpenedAt, ID
	annotations                                            []history.Annotation // by DeploymentID, Annotator
	kpis                                                   []history.KPI        // by service, environment, name
	byStream                                               map[history.Stream]*streamFiles

	deps *deployTable // nil when the table is empty

	streamsOnce sync.Once
	streamsErr  error
	streams     []history.Stream

	truthOnce sync.Once
	truthErr  error
	truth     []history.Truth
}

func newSnapshot(dir string, m *manifest) *snapshot {
	sn := &snapshot{dir: dir, m: m, byStream: map[history.Stream]*streamFiles{}}
	for i := range m.Streams {
		sf := &m.Streams[i]
		sn.byStream[history.Stream{Service: sf.Service, Environment: sf.Environment}] = sf
	}
	if t, ok := m.Tables[tblDeployments]; ok {
		sn.deps = newDeployTable(sn.path(t.File))
	}
	return sn
}

func (sn *snapshot) path(rel string) string { return filepath.Join(sn.dir, filepath.FromSlash(rel)) }

// tableOnce loads one small table once.
type tableOnce struct {
	once sync.Once
	err  error
}

// table runs read on the file of table name once (not at all when the
// table is empty).
func (sn *snapshot) table(o *tableOnce, name string, read func(path string) error) error {
	o.once.Do(func() {
		if t, ok := sn.m.Tables[name]; ok {
			if err := read(sn.path(t.File)); err != nil {
				o.err = fmt.Errorf("embedded store: %s: %w", name, err)
			}
		}
	})
	return o.err
}

func (sn *snapshot) loadServices() error {
	return sn.table(&sn.servicesOnce, tblServices, func(path string) error {
		rows, err := readParquet[serviceRow](path)
		for _, r := range rows {
			sn.services = append(sn.services, history.Service{Name: r.Service, Team: r.Team, Tier: r.Tier})
		}
		return err
	})
}

func (sn *snapshot) loadIncidents() error {
	return sn.table(&sn.incidentsOnce, tblIncidents, func(path string) error {
		rows, err := readParquet[incidentRow](path)
		for _, r := range rows {
			sn.incidents = append(sn.incidents, r.toIncident())
		}
		return err
	})
}

func (sn *snapshot) loadAnnotations() error {
	return sn.table(&sn.annotationsOnce, tblAnnotations, func(path string) error {
		rows, err := readParquet[annotationRow](path)
		for _, r := range rows {
			sn.annotations = append(sn.annotations, r.toAnnotation())
		}
		return err
	})
}

func (sn *snapshot) loadKPIs() error {
	return sn.table(&sn.kpisOnce, tblKPIs, func(path string) error {
		rows, err := readParquet[kpiRow](path)
		for _, r := range rows {
			sn.kpis = append(sn.kpis, r.toKPI())
		}
		return err
	})
}

// loadSmall reads every small table other than deployments.
func (sn *snapshot) loadSmall() error {
	return errors.Join(sn.loadServices(), sn.loadIncidents(), sn.loadAnnotations(), sn.loadKPIs())
}

// deployments returns the deployments started in r, by StartedAt, then ID
// (a new slice).
func (sn *snapshot) deployments(r history.Range) ([]history.Deployment, error) {
	if sn.deps == nil {
		return nil, nil
	}
	return sn.deps.inRange(r)
}

// streamList returns every stream with files or deployments, sorted.
func (sn *snapshot) streamList() ([]history.Stream, error) {
	sn.streamsOnce.Do(func() {
		seen := map[history.Stream]bool{}
		for st := range sn.byStream {
			seen[st] = true
		}
		// Manifests of format 3 list the streams with deployments; older
		// ones only those with files.
		if sn.deps != nil && sn.m.Format < 3 {
			ds, err := sn.deps.streamsOf()
			if err != nil {
				sn.streamsErr = err
				return
			}
			for _, st := range ds {
				seen[st] = true
			}
		}
		for st := range seen {
			sn.streams = append(sn.streams, st)
		}
		sortStreams(sn.streams)
	})
	return sn.streams, sn.streamsErr
}

func sortStreams(s []history.Stream) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Service != s[j].Service {
			return s[i].Service < s[j].Service
		}
		return s[i].Environment < s[j].Environment
	})
}

// Services lists the services, sorted by name.
func (s *Store) Services(ctx context.Context) ([]history.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	if err := sn.loadServices(); err != nil {
		return nil, err
	}
	return append([]history.Service(nil), sn.services...), nil
}

// Deployments returns the deployments started in r, by StartedAt, then ID.
// Only the row groups of the deployments table whose started_at
// statistics meet r are decoded (and kept for later reads).
func (s *Store) Deployments(ctx context.Context, r history.Range) ([]history.Deployment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.current().deployments(r)
}

// DeploymentByID returns the deployment with the id; ok is false when
// there is none. It scans the deployment_id column and decodes only the
// row group that holds the id.
func (s *Store) DeploymentByID(ctx context.Context, id string) (history.Deployment, bool, error) {
	if err := ctx.Err(); err != nil {
		return history.Deployment{}, false, err
	}
	sn := s.current()
	if sn.deps == nil {
		return history.Deployment{}, false, nil
	}
	return sn.deps.byID(id)
}

// Streams lists the (service, environment) pairs with deployments or
// files (metrics, signatures, KPI values).
func (s *Store) Streams(ctx context.Context) ([]history.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := s.current().streamList()
	if err != nil {
		return nil, err
	}
	return append([]history.Stream(nil), st...), nil
}

// Incidents returns the incidents opened in r, by OpenedAt, then ID.
func (s *Store) Incidents(ctx context.Context, r history.Range) ([]history.Incident, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	if err := sn.loadIncidents(); err != nil {
		return nil, err
	}
	var out []history.Incident
	for _, in := range sn.incidents {
		if r.Contains(in.OpenedAt) {
			out = append(out, in)
		}
	}
	return out, nil
}

// Annotations returns every annotation, by deployment, then annotator.
func (s *Store) Annotations(ctx context.Context) ([]history.Annotation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	if err := sn.loadAnnotations(); err != nil {
		return nil, err
	}
	return append([]history.Annotation(nil), sn.annotations...), nil
}

// minuteBounds converts r to Unix minutes [lo, hi); open sides are the
// extremes. A From inside a minute starts at the next whole minute, since
// a minute's row is stamped with its start.
func minuteBounds(r history.Range) (lo, hi int64) {
	lo, hi = -1<<62, 1<<62
	if !r.From.IsZero() {
		lo = history.UnixMinute(r.From)
		if history.MinuteTime(lo).Before(r.From) {
			lo++
		}
	}
	if !r.Until.IsZero() {
		hi = history.UnixMinute(r.Until)
		if history.MinuteTime(hi).Before(r.Until) {
			hi++
		}
	}
	return lo, hi
}

// streamRead returns the decoded units of the stream file rel that may
// hold minutes in [lo, hi).
func (s *Store) streamRead(sn *snapshot, rel string, kind fileKind, lo, hi int64) ([]*cacheEntry, error) {
	return s.cache.read(sn.path(rel), kind, lo, hi, s.opts.WholeFiles)
}

// Metrics returns the series of every version of st with minutes in r,
// sorted by version. Only st's metrics file is read, and of it only the
// row groups whose minutes meet r (layout format 3; older files are
// decoded whole); decoded row groups are cached, so that many windows
// over the same stream cost one decode.
func (s *Store) Metrics(ctx context.Context, st history.Stream, r history.Range) ([]history.Series, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	sf := sn.byStream[st]
	if sf == nil || sf.Metrics == "" {
		return nil, nil
	}
	lo, hi := minuteBounds(r)
	if hi <= lo || hi <= sf.MinMinute || lo > sf.MaxMinute {
		return nil, nil
	}
	units, err := s.streamRead(sn, sf.Metrics, kindMetrics, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("embedded store: metrics of %s/%s: %w", st.Service, st.Environment, err)
	}
	return assembleSeries(units, lo, hi), nil
}

// KPIs returns every KPI declaration, by service, environment, name.
func (s *Store) KPIs(ctx context.Context) ([]history.KPI, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	if err := sn.loadKPIs(); err != nil {
		return nil, err
	}
	return append([]history.KPI(nil), sn.kpis...), nil
}

// KPIValues returns the KPI series of st with minutes in r, by name, then
// version. Only the row groups of st's KPI values file that meet r are
// read (and cached, like metrics).
func (s *Store) KPIValues(ctx context.Context, st history.Stream, r history.Range) ([]history.KPISeries, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	sf := sn.byStream[st]
	if sf == nil || sf.KPIValues == "" {
		return nil, nil
	}
	lo, hi := minuteBounds(r)
	if hi <= lo || hi <= sf.MinMinute || lo > sf.MaxMinute {
		return nil, nil
	}
	units, err := s.streamRead(sn, sf.KPIValues, kindKPIValues, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("embedded store: KPI values of %s/%s: %w", st.Service, st.Environment, err)
	}
	return assembleKPIs(units, lo, hi), nil
}

// Signatures returns the error-signature rows of st with minutes in r, by
// minute, version, fingerprint. Only the row groups of st's signatures
// file that meet r are read (and cached).
func (s *Store) Signatures(ctx context.Context, st history.Stream, r history.Range) ([]history.Signature, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	sf := sn.byStream[st]
	if sf == nil || sf.Signatures == "" {
		return nil, nil
	}
	lo, hi := minuteBounds(r)
	if hi <= lo || hi <= sf.MinMinute || lo > sf.MaxMinute {
		return nil, nil
	}
	units, err := s.streamRead(sn, sf.Signatures, kindSignatures, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("embedded store: signatures of %s/%s: %w", st.Service, st.Environment, err)
	}
	n := signatureRows(units, lo, hi, nil)
	if n == 0 {
		return nil, nil
	}
	out := make([]history.Signature, 0, n)
	var lastM int64
	var minute time.Time
	signatureRows(units, lo, hi, func(r *signatureRow) {
		if len(out) == 0 || r.Minute != lastM {
			lastM, minute = r.Minute, history.MinuteTime(r.Minute)
		}
		out = append(out, history.Signature{
			Service: st.Service, Environment: st.Environment, Version: r.Version,
			Minute: minute, Fingerprint: r.Fingerprint, Count: r.Count,
			ErrorType: r.ErrorType, Endpoint: r.Endpoint, StatusCode: r.StatusCode,
		})
	})
	return out, nil
}

// PutTruth stores simulator ground truth, upserting by deployment ID. While
// an import of this Store is open, the truth joins that import and becomes
// visible with it (and is dropped if it rolls back); otherwise PutTruth
// commits a generation of its own.
func (s *Store) PutTruth(ctx context.Context, rows []history.Truth) error {
	s.mu.Lock()
	tx := s.active
	s.mu.Unlock()
	if tx != nil {
		return tx.addTruth(rows)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return err
	}
	if err := t.addTruth(rows); err != nil {
		t.Rollback(ctx)
		return err
	}
	_, err = t.Commit(ctx)
	return err
}

// Truth returns the stored ground truth by deployment ID, or
// history.ErrNoTruth when the history was not simulated.
func (s *Store) Truth(ctx context.Context) ([]history.Truth, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	sn.truthOnce.Do(func() {
		t, ok := sn.m.Tables[tblTruth]
		if !ok {
			sn.truthErr = history.ErrNoTruth
			return
		}
		rows, err := readTruth(sn.path(t.File))
		if err != nil {
			sn.truthErr = fmt.Errorf("embedded store: truth: %w", err)
			return
		}
		sn.truth = make([]history.Truth, len(rows))
		for i, r := range rows {
			sn.truth[i] = r.toTruth()
		}
	})
	if sn.truthErr != nil {
		return nil, sn.truthErr
	}
	return append([]history.Truth(nil), sn.truth...), nil
}

// now is replaced in tests.
var now = func() time.Time { return time.Now().UTC() }
