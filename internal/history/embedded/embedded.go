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
	// CacheRows bounds the decoded metric and signature rows kept in memory
	// for repeated range reads of the same streams (default 4M rows, about
	// 300 MB; at least one stream is always kept).
	CacheRows int64
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
// loaded small tables.
type snapshot struct {
	dir string
	m   *manifest

	once        sync.Once
	err         error
	services    []history.Service
	deployments []history.Deployment // by StartedAt, ID
	incidents   []history.Incident   // by OpenedAt, ID
	annotations []history.Annotation // by DeploymentID, Annotator
	streams     []history.Stream
	byStream    map[history.Stream]*streamFiles

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
	return sn
}

func (sn *snapshot) path(rel string) string { return filepath.Join(sn.dir, filepath.FromSlash(rel)) }

// load reads the small tables once.
func (sn *snapshot) load() error {
	sn.once.Do(func() { sn.err = sn.doLoad() })
	return sn.err
}

func (sn *snapshot) doLoad() error {
	if t, ok := sn.m.Tables[tblServices]; ok {
		rows, err := readParquet[serviceRow](sn.path(t.File))
		if err != nil {
			return fmt.Errorf("embedded store: services: %w", err)
		}
		for _, r := range rows {
			sn.services = append(sn.services, history.Service{Name: r.Service, Team: r.Team, Tier: r.Tier})
		}
	}
	if t, ok := sn.m.Tables[tblDeployments]; ok {
		rows, err := readParquet[deploymentRow](sn.path(t.File))
		if err != nil {
			return fmt.Errorf("embedded store: deployments: %w", err)
		}
		sn.deployments = make([]history.Deployment, len(rows))
		for i, r := range rows {
			sn.deployments[i] = r.toDeployment()
		}
	}
	if t, ok := sn.m.Tables[tblIncidents]; ok {
		rows, err := readParquet[incidentRow](sn.path(t.File))
		if err != nil {
			return fmt.Errorf("embedded store: incidents: %w", err)
		}
		sn.incidents = make([]history.Incident, len(rows))
		for i, r := range rows {
			sn.incidents[i] = r.toIncident()
		}
	}
	if t, ok := sn.m.Tables[tblAnnotations]; ok {
		rows, err := readParquet[annotationRow](sn.path(t.File))
		if err != nil {
			return fmt.Errorf("embedded store: annotations: %w", err)
		}
		sn.annotations = make([]history.Annotation, len(rows))
		for i, r := range rows {
			sn.annotations[i] = r.toAnnotation()
		}
	}
	seen := map[history.Stream]bool{}
	for st := range sn.byStream {
		seen[st] = true
	}
	for _, d := range sn.deployments {
		seen[history.Stream{Service: d.Service, Environment: d.Environment}] = true
	}
	for st := range seen {
		sn.streams = append(sn.streams, st)
	}
	sortStreams(sn.streams)
	return nil
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
	if err := sn.load(); err != nil {
		return nil, err
	}
	return append([]history.Service(nil), sn.services...), nil
}

// Deployments returns the deployments started in r, by StartedAt, then ID.
func (s *Store) Deployments(ctx context.Context, r history.Range) ([]history.Deployment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	if err := sn.load(); err != nil {
		return nil, err
	}
	d := sn.deployments
	lo, hi := 0, len(d)
	if !r.From.IsZero() {
		lo = sort.Search(len(d), func(i int) bool { return !d[i].StartedAt.Before(r.From) })
	}
	if !r.Until.IsZero() {
		hi = sort.Search(len(d), func(i int) bool { return !d[i].StartedAt.Before(r.Until) })
	}
	if hi < lo {
		hi = lo
	}
	return append([]history.Deployment(nil), d[lo:hi]...), nil
}

// Streams lists the (service, environment) pairs with deployments or metrics.
func (s *Store) Streams(ctx context.Context) ([]history.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	if err := sn.load(); err != nil {
		return nil, err
	}
	return append([]history.Stream(nil), sn.streams...), nil
}

// Incidents returns the incidents opened in r, by OpenedAt, then ID.
func (s *Store) Incidents(ctx context.Context, r history.Range) ([]history.Incident, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sn := s.current()
	if err := sn.load(); err != nil {
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
	if err := sn.load(); err != nil {
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

// Metrics returns the series of every version of st with minutes in r,
// sorted by version. Only st's metrics file is read; decoded streams are
// cached, so that many windows over the same stream cost one read.
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
	if hi <= sf.MinMinute || lo > sf.MaxMinute {
		return nil, nil
	}
	full, err := s.cache.metrics(sn.path(sf.Metrics))
	if err != nil {
		return nil, fmt.Errorf("embedded store: metrics of %s/%s: %w", st.Service, st.Environment, err)
	}
	var out []history.Series
	for i := range full {
		f := &full[i]
		a := sort.Search(len(f.Minutes), func(j int) bool { return f.Minutes[j] >= lo })
		b := sort.Search(len(f.Minutes), func(j int) bool { return f.Minutes[j] >= hi })
		if a >= b {
			continue
		}
		out = append(out, history.Series{
			Version:  f.Version,
			Minutes:  append([]int64(nil), f.Minutes[a:b]...),
			Requests: append([]int64(nil), f.Requests[a:b]...),
			Errors:   append([]int64(nil), f.Errors[a:b]...),
			P50:      append([]float64(nil), f.P50[a:b]...),
			P95:      append([]float64(nil), f.P95[a:b]...),
			P99:      append([]float64(nil), f.P99[a:b]...),
		})
	}
	return out, nil
}

// Signatures returns the error-signature rows of st with minutes in r, by
// minute, version, fingerprint.
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
	if hi <= sf.MinMinute || lo > sf.MaxMinute {
		return nil, nil
	}
	rows, err := s.cache.signatures(sn.path(sf.Signatures))
	if err != nil {
		return nil, fmt.Errorf("embedded store: signatures of %s/%s: %w", st.Service, st.Environment, err)
	}
	a := sort.Search(len(rows), func(j int) bool { return rows[j].Minute >= lo })
	b := sort.Search(len(rows), func(j int) bool { return rows[j].Minute >= hi })
	if a >= b {
		return nil, nil
	}
	out := make([]history.Signature, b-a)
	for i, r := range rows[a:b] {
		out[i] = history.Signature{
			Service: st.Service, Environment: st.Environment, Version: r.Version,
			Minute: history.MinuteTime(r.Minute), Fingerprint: r.Fingerprint, Count: r.Count,
			ErrorType: r.ErrorType, Endpoint: r.Endpoint, StatusCode: r.StatusCode,
		}
	}
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
		rows, err := readParquet[truthRow](sn.path(t.File))
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
