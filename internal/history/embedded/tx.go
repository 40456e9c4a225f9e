package embedded

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// Approximate in-memory sizes of staged rows, for the spill threshold.
const (
	metricRowBytes    = 96
	signatureRowBytes = 160
	kpiValueRowBytes  = 64
)

// testHookBeforeInstall, when set, runs after every data file and the new
// manifest are written and before CURRENT is renamed; an error aborts the
// commit there (tests simulate a crash with it).
var testHookBeforeInstall func() error

// importTx is an open import. It holds the writer lock until Commit or
// Rollback.
type importTx struct {
	s    *Store
	lock *fileLock
	base *manifest // generation in force when the import began
	tmp  string    // staging folder

	mu          sync.Mutex
	done        bool
	err         error // sticky: an Add failed, the import can only be rolled back
	services    map[string]history.Service
	deployments map[string]history.Deployment
	depOrder    []string
	incidents   map[string]history.Incident
	annotations map[[2]string]history.Annotation
	truth       map[string]history.Truth
	kpis        map[[3]string]history.KPI // by service, environment, name

	metrics   map[history.Stream][]metricRow
	sigs      map[history.Stream][]signatureRow
	kvals     map[history.Stream][]kpiValueRow
	spans     history.KPISpans    // of the KPI values added
	seriesN   map[[3]string]int64 // metric rows added per (service, environment, version)
	memBytes  int64
	runs      []*spillRun
	touched   map[history.Stream]bool
	addedRows int64
}

// BeginImport starts an all-or-nothing import. It takes the store's writer
// lock; a second writer (in this or another process) gets an error wrapping
// ErrLocked.
func (s *Store) BeginImport(ctx context.Context) (history.ImportTx, error) {
	return s.begin(ctx)
}

func (s *Store) begin(ctx context.Context) (*importTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("embedded store: closed")
	}
	if s.active != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: an import of this store is already open", ErrLocked)
	}
	s.mu.Unlock()
	lock, err := acquireLock(s.dir)
	if err != nil {
		return nil, err
	}
	base, err := readCurrent(s.dir)
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	// Leftovers of a commit that died before installing CURRENT use the
	// next generation's names: remove them, and abandoned staging folders.
	if err := removeOrphans(s.dir, base.Generation+1); err != nil {
		lock.release()
		return nil, fmt.Errorf("embedded store: clean up after an interrupted import: %w", err)
	}
	tmp, err := os.MkdirTemp(s.dir, tmpPrefix)
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	tx := &importTx{
		s: s, lock: lock, base: base, tmp: tmp,
		services:    map[string]history.Service{},
		deployments: map[string]history.Deployment{},
		incidents:   map[string]history.Incident{},
		annotations: map[[2]string]history.Annotation{},
		kpis:        map[[3]string]history.KPI{},
		metrics:     map[history.Stream][]metricRow{},
		sigs:        map[history.Stream][]signatureRow{},
		kvals:       map[history.Stream][]kpiValueRow{},
		spans:       history.KPISpans{},
		seriesN:     map[[3]string]int64{},
		touched:     map[history.Stream]bool{},
	}
	s.mu.Lock()
	if s.active != nil || s.closed {
		s.mu.Unlock()
		os.RemoveAll(tmp)
		lock.release()
		return nil, fmt.Errorf("%w: an import of this store is already open", ErrLocked)
	}
	s.active = tx
	s.mu.Unlock()
	return tx, nil
}

func removeOrphans(dir string, gen int64) error {
	prefix := fmt.Sprintf("g%06d-", gen)
	entries, err := os.ReadDir(filepath.Join(dir, dataDir))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			if err := os.Remove(filepath.Join(dir, dataDir, e.Name())); err != nil {
				return err
			}
		}
	}
	top, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range top {
		if strings.HasPrefix(e.Name(), tmpPrefix) || e.Name() == manifestName(gen) || e.Name() == currentName+".tmp" {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

var errTxDone = errors.New("embedded store: import already committed or rolled back")

func (t *importTx) check(ctx context.Context) error {
	if t.done {
		return errTxDone
	}
	if t.err != nil {
		return fmt.Errorf("embedded store: import aborted by an earlier error: %w", t.err)
	}
	return ctx.Err()
}

// fail records err as the import's sticky error (a batch may be half
// staged) and returns it; t.mu is held.
func (t *importTx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

func (t *importTx) AddServices(ctx context.Context, rows []history.Service) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		if err := r.Validate(); err != nil {
			return t.fail(fmt.Errorf("embedded store: %w", err))
		}
		t.services[r.Name] = r
	}
	return nil
}

func (t *importTx) AddDeployments(ctx context.Context, rows []history.Deployment) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		if err := r.Validate(); err != nil {
			return t.fail(fmt.Errorf("embedded store: %w", err))
		}
		if _, ok := t.deployments[r.ID]; !ok {
			t.depOrder = append(t.depOrder, r.ID)
		}
		// Times as stored (microseconds, like PostgreSQL), so that kind
		// inference compares what readers will see.
		r.StartedAt = r.StartedAt.UTC().Truncate(time.Microsecond)
		if !r.FinishedAt.IsZero() {
			r.FinishedAt = r.FinishedAt.UTC().Truncate(time.Microsecond)
		}
		// A kind given is a given kind; an empty one asks for inference.
		r.KindInferred = r.Kind == ""
		t.deployments[r.ID] = r
	}
	return nil
}

func (t *importTx) AddMetrics(ctx context.Context, rows []history.Metric) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(ctx); err != nil {
		return err
	}
	var last history.Stream
	var buf []metricRow
	flush := func() {
		if buf != nil {
			t.metrics[last] = buf
		}
	}
	var key [3]string // series of the previous row, keys validated
	var keyRows int64
	for i := range rows {
		r := &rows[i]
		if i == 0 || r.Version != key[2] || r.Service != key[0] || r.Environment != key[1] {
			if i > 0 {
				t.seriesN[key] += keyRows
			}
			if err := r.ValidateKeys(); err != nil {
				flush()
				return t.fail(fmt.Errorf("embedded store: %w", err))
			}
			key, keyRows = [3]string{r.Service, r.Environment, r.Version}, 0
		}
		keyRows++
		if err := r.ValidateValues(); err != nil {
			flush()
			return t.fail(fmt.Errorf("embedded store: %w", err))
		}
		if buf == nil || r.Service != last.Service || r.Environment != last.Environment {
			flush()
			last = history.Stream{Service: r.Service, Environment: r.Environment}
			buf = t.metrics[last]
			if buf == nil {
				buf = make([]metricRow, 0, 64)
			}
			t.touched[last] = true
		}
		buf = append(buf, metricToRow(*r))
	}
	if len(rows) > 0 {
		t.seriesN[key] += keyRows
	}
	flush()
	t.memBytes += int64(len(rows)) * metricRowBytes
	t.addedRows += int64(len(rows))
	return t.maybeSpill()
}

func (t *importTx) AddSignatures(ctx context.Context, rows []history.Signature) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		if err := r.Validate(); err != nil {
			return t.fail(fmt.Errorf("embedded store: %w", err))
		}
		st := history.Stream{Service: r.Service, Environment: r.Environment}
		t.sigs[st] = append(t.sigs[st], signatureToRow(r))
		t.touched[st] = true
	}
	t.memBytes += int64(len(rows)) * signatureRowBytes
	return t.maybeSpill()
}

func (t *importTx) AddIncidents(ctx context.Context, rows []history.Incident) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		if err := r.Validate(); err != nil {
			return t.fail(fmt.Errorf("embedded store: %w", err))
		}
		t.incidents[r.ID] = r
	}
	return nil
}

func (t *importTx) AddKPIs(ctx context.Context, rows []history.KPI) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		if err := r.Validate(); err != nil {
			return t.fail(fmt.Errorf("embedded store: %w", err))
		}
		t.kpis[[3]string{r.Service, r.Environment, r.Name}] = r
	}
	return nil
}

func (t *importTx) AddKPIValues(ctx context.Context, rows []history.KPIValue) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(ctx); err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		if err := r.Validate(); err != nil {
			return t.fail(fmt.Errorf("embedded store: %w", err))
		}
		st := history.Stream{Service: r.Service, Environment: r.Environment}
		t.kvals[st] = append(t.kvals[st], kpiValueToRow(*r))
		t.touched[st] = true
		t.spans.Add(r)
	}
	t.memBytes += int64(len(rows)) * kpiValueRowBytes
	return t.maybeSpill()
}

func (t *importTx) AddAnnotations(ctx context.Context, rows []history.Annotation) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		if err := r.Validate(); err != nil {
			return t.fail(fmt.Errorf("embedded store: %w", err))
		}
		t.annotations[[2]string{r.DeploymentID, r.Annotator}] = r
	}
	return nil
}

func (t *importTx) addTruth(rows []history.Truth) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return errTxDone
	}
	if t.truth == nil {
		t.truth = map[string]history.Truth{}
	}
	for _, r := range rows {
		if err := r.Validate(); err != nil {
			return t.fail(fmt.Errorf("embedded store: %w", err))
		}
		t.truth[r.DeploymentID] = r
	}
	return nil
}

// maybeSpill writes staged stream rows to a run file past the threshold.
func (t *importTx) maybeSpill() error {
	if t.memBytes < t.s.opts.SpillBytes {
		return nil
	}
	run, err := writeRun(t.tmp, len(t.runs), t.metrics, t.sigs, t.kvals)
	if err != nil {
		return t.fail(fmt.Errorf("embedded store: %w", err))
	}
	t.runs = append(t.runs, run)
	t.metrics = map[history.Stream][]metricRow{}
	t.sigs = map[history.Stream][]signatureRow{}
	t.kvals = map[history.Stream][]kpiValueRow{}
	t.memBytes = 0
	return nil
}

// Rollback abandons the import; safe after Commit.
func (t *importTx) Rollback(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil
	}
	return t.finish()
}

// finish releases the staging folder and the lock; t.mu is held.
func (t *importTx) finish() error {
	t.done = true
	t.metrics, t.sigs, t.kvals, t.runs = nil, nil, nil, nil
	err := os.RemoveAll(t.tmp)
	if lerr := t.lock.release(); err == nil {
		err = lerr
	}
	t.s.mu.Lock()
	if t.s.active == t {
		t.s.active = nil
	}
	t.s.mu.Unlock()
	return err
}

// Commit merges the import with the generation in force and installs the
// result atomically; see history.ImportTx.
func (t *importTx) Commit(ctx context.Context) (history.ImportSummary, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return history.ImportSummary{}, errTxDone
	}
	if t.err != nil {
		t.finish()
		return history.ImportSummary{}, fmt.Errorf("embedded store: import aborted by an earlier error: %w", t.err)
	}
	sum, m, err := t.commit(ctx)
	if err != nil {
		t.finish()
		return history.ImportSummary{}, err
	}
	// Installed: from here on the import is durable; a failing clean-up
	// does not undo it.
	_ = collectGarbage(t.s.dir, m, t.base, "")
	sn := newSnapshot(t.s.dir, m)
	t.s.mu.Lock()
	t.s.snap = sn
	t.s.mu.Unlock()
	t.finish()
	return sum, nil
}

func (t *importTx) commit(ctx context.Context) (history.ImportSummary, *manifest, error) {
	var sum history.ImportSummary
	if err := ctx.Err(); err != nil {
		return sum, nil, err
	}
	dir := t.s.dir
	gen := t.base.Generation + 1
	old := newSnapshot(dir, t.base)
	if err := old.loadSmall(); err != nil {
		return sum, nil, err
	}
	oldDeps, err := old.deployments(history.Range{})
	if err != nil {
		return sum, nil, err
	}
	m := &manifest{Format: formatVersion, Generation: gen, CreatedAt: now(), Tables: map[string]tableFile{}}
	for k, v := range t.base.Tables {
		m.Tables[k] = v
	}
	fileName := func(what string) string { return fmt.Sprintf("%s/g%06d-%s.parquet", dataDir, gen, what) }

	// Deployments: upsert, re-infer kinds, sort.
	deps := map[string]history.Deployment{}
	for _, d := range oldDeps {
		deps[d.ID] = d
	}
	for _, id := range t.depOrder {
		deps[id] = t.deployments[id]
	}
	sum.Deployments = int64(len(t.depOrder))
	sum.RollbacksInferred = t.inferKinds(deps, oldDeps)
	allDeps := make([]history.Deployment, 0, len(deps))
	for _, d := range deps {
		allDeps = append(allDeps, d)
	}
	slices.SortFunc(allDeps, history.CompareDeployments)

	// Annotations must name a deployment.
	var missing []string
	for k := range t.annotations {
		if _, ok := deps[k[0]]; !ok {
			missing = append(missing, k[0])
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return sum, nil, &history.MissingDeploymentError{DeploymentIDs: slices.Compact(missing)}
	}

	// KPI declarations: upsert; then the values added must fit the
	// declarations in force.
	kpis := slices.Clone(old.kpis)
	if len(t.kpis) > 0 {
		byKey := map[[3]string]int{}
		for i, k := range kpis {
			byKey[[3]string{k.Service, k.Environment, k.Name}] = i
		}
		for key, k := range t.kpis {
			if i, ok := byKey[key]; ok {
				kpis[i] = k
			} else {
				kpis = append(kpis, k)
			}
		}
		slices.SortFunc(kpis, history.CompareKPIs)
		sum.KPIs = int64(len(t.kpis))
	}
	if err := history.CheckKPISpans(kpis, t.spans); err != nil {
		return sum, nil, err
	}

	// Per-version metric series of versions never deployed in their stream.
	deployed := map[[3]string]bool{}
	for _, d := range allDeps {
		deployed[[3]string{d.Service, d.Environment, d.Version}] = true
	}
	for k, n := range t.seriesN {
		if k[2] != history.AggregateVersion && !deployed[k] {
			sum.Undeployed = append(sum.Undeployed, history.UndeployedSeries{Service: k[0], Environment: k[1], Version: k[2], Rows: n})
			sum.UndeployedRows += n
		}
	}
	history.SortUndeployed(sum.Undeployed)

	// Services given, then those named but unknown.
	svcs := map[string]history.Service{}
	for _, s := range old.services {
		svcs[s.Name] = s
	}
	for _, s := range t.services {
		svcs[s.Name] = s
	}
	sum.Services = int64(len(t.services))
	create := func(name string) {
		if _, ok := svcs[name]; !ok {
			svcs[name] = history.Service{Name: name}
			sum.Services++
		}
	}
	for _, d := range t.deployments {
		create(d.Service)
	}
	for st := range t.touched {
		create(st.Service)
	}
	for _, in := range t.incidents {
		create(in.Service)
	}
	for _, k := range t.kpis {
		create(k.Service)
	}

	if len(t.services) > 0 || int64(len(svcs)) != int64(len(old.services)) {
		rows := make([]serviceRow, 0, len(svcs))
		for _, s := range svcs {
			rows = append(rows, serviceRow{Service: s.Name, Team: s.Team, Tier: s.Tier})
		}
		slices.SortFunc(rows, func(a, b serviceRow) int { return strings.Compare(a.Service, b.Service) })
		f := fileName(tblServices)
		if err := writeParquet(filepath.Join(dir, f), rows, nil); err != nil {
			return sum, nil, fmt.Errorf("embedded store: %w", err)
		}
		m.Tables[tblServices] = tableFile{File: f, Rows: int64(len(rows))}
	}
	if len(t.deployments) > 0 {
		rows := make([]deploymentRow, len(allDeps))
		for i, d := range allDeps {
			rows[i] = toDeploymentRow(d)
		}
		f := fileName(tblDeployments)
		if err := writeParquet(filepath.Join(dir, f), rows, map[string]string{layoutKey: layoutByDay}, deploymentDay); err != nil {
			return sum, nil, fmt.Errorf("embedded store: %w", err)
		}
		m.Tables[tblDeployments] = tableFile{File: f, Rows: int64(len(rows))}
	}
	if len(t.kpis) > 0 {
		rows := make([]kpiRow, len(kpis))
		for i, k := range kpis {
			rows[i] = toKPIRow(k)
		}
		f := fileName(tblKPIs)
		if err := writeParquet(filepath.Join(dir, f), rows, nil); err != nil {
			return sum, nil, fmt.Errorf("embedded store: %w", err)
		}
		m.Tables[tblKPIs] = tableFile{File: f, Rows: int64(len(rows))}
	}
	if len(t.incidents) > 0 {
		all := map[string]history.Incident{}
		for _, in := range old.incidents {
			all[in.ID] = in
		}
		for id, in := range t.incidents {
			all[id] = in
		}
		rows := make([]incidentRow, 0, len(all))
		for _, in := range all {
			rows = append(rows, toIncidentRow(in))
		}
		slices.SortFunc(rows, func(a, b incidentRow) int {
			if c := a.OpenedAt.Compare(b.OpenedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		f := fileName(tblIncidents)
		if err := writeParquet(filepath.Join(dir, f), rows, nil); err != nil {
			return sum, nil, fmt.Errorf("embedded store: %w", err)
		}
		m.Tables[tblIncidents] = tableFile{File: f, Rows: int64(len(rows))}
		sum.Incidents = int64(len(t.incidents))
	}
	if len(t.annotations) > 0 {
		all := map[[2]string]history.Annotation{}
		for _, a := range old.annotations {
			all[[2]string{a.DeploymentID, a.Annotator}] = a
		}
		for k, a := range t.annotations {
			all[k] = a
		}
		rows := make([]annotationRow, 0, len(all))
		for _, a := range all {
			rows = append(rows, toAnnotationRow(a))
		}
		slices.SortFunc(rows, func(a, b annotationRow) int {
			if c := strings.Compare(a.DeploymentID, b.DeploymentID); c != 0 {
				return c
			}
			return strings.Compare(a.Annotator, b.Annotator)
		})
		f := fileName(tblAnnotations)
		if err := writeParquet(filepath.Join(dir, f), rows, nil); err != nil {
			return sum, nil, fmt.Errorf("embedded store: %w", err)
		}
		m.Tables[tblAnnotations] = tableFile{File: f, Rows: int64(len(rows))}
		sum.Annotations = int64(len(t.annotations))
	}
	if len(t.truth) > 0 {
		all := map[string]history.Truth{}
		if _, ok := t.base.Tables[tblTruth]; ok {
			rows, err := readTruth(old.path(t.base.Tables[tblTruth].File))
			if err != nil {
				return sum, nil, fmt.Errorf("embedded store: truth: %w", err)
			}
			for _, r := range rows {
				all[r.DeploymentID] = r.toTruth()
			}
		}
		for id, tr := range t.truth {
			all[id] = tr
		}
		rows := make([]truthRow, 0, len(all))
		for _, tr := range all {
			rows = append(rows, toTruthRow(tr))
		}
		slices.SortFunc(rows, func(a, b truthRow) int { return strings.Compare(a.DeploymentID, b.DeploymentID) })
		f := fileName(tblTruth)
		if err := writeParquet(filepath.Join(dir, f), rows, nil); err != nil {
			return sum, nil, fmt.Errorf("embedded store: %w", err)
		}
		m.Tables[tblTruth] = tableFile{File: f, Rows: int64(len(rows))}
	}

	// Streams: rewrite the touched ones, keep the others.
	streams := map[history.Stream]streamFiles{}
	for _, sf := range t.base.Streams {
		streams[history.Stream{Service: sf.Service, Environment: sf.Environment}] = sf
	}
	touched := make([]history.Stream, 0, len(t.touched))
	for st := range t.touched {
		touched = append(touched, st)
	}
	sortStreams(touched)
	results := make([]streamFiles, len(touched))
	counts := make([]streamCounts, len(touched))
	workers := min(runtime.GOMAXPROCS(0), 4, max(len(touched), 1))
	errs := make([]error, workers)
	var next int64 = -1
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				mu.Lock()
				next++
				i := int(next)
				mu.Unlock()
				if i >= len(touched) || ctx.Err() != nil {
					return
				}
				st := touched[i]
				prev, hadPrev := streams[st]
				sf, n, err := t.mergeStream(st, prev, hadPrev, gen, i)
				if err != nil {
					errs[w] = fmt.Errorf("embedded store: stream %s/%s: %w", st.Service, st.Environment, err)
					return
				}
				results[i], counts[i] = sf, n
			}
		}(w)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return sum, nil, err
	}
	if err := ctx.Err(); err != nil {
		return sum, nil, err
	}
	for i, st := range touched {
		streams[st] = results[i]
		sum.Metrics += counts[i].metrics
		sum.Signatures += counts[i].signatures
		sum.KPIValues += counts[i].kpiValues
	}
	// Streams with deployments but no files are listed too (format 3), so
	// that readers list streams without reading the deployments.
	// A stream left with neither is dropped.
	deployedStream := map[history.Stream]bool{}
	for _, d := range allDeps {
		st := history.Stream{Service: d.Service, Environment: d.Environment}
		deployedStream[st] = true
		if _, ok := streams[st]; !ok {
			streams[st] = streamFiles{Service: st.Service, Environment: st.Environment}
		}
	}
	for st, sf := range streams {
		if sf.Metrics == "" && sf.Signatures == "" && sf.KPIValues == "" && !deployedStream[st] {
			continue
		}
		m.Streams = append(m.Streams, sf)
	}
	sort.Slice(m.Streams, func(i, j int) bool {
		a, b := m.Streams[i], m.Streams[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Environment < b.Environment
	})

	if err := syncDir(filepath.Join(dir, dataDir)); err != nil {
		return sum, nil, fmt.Errorf("embedded store: %w", err)
	}
	if err := writeManifest(dir, m); err != nil {
		return sum, nil, fmt.Errorf("embedded store: %w", err)
	}
	if testHookBeforeInstall != nil {
		if err := testHookBeforeInstall(); err != nil {
			return sum, nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return sum, nil, err
	}
	if err := installCurrent(dir, gen); err != nil {
		return sum, nil, fmt.Errorf("embedded store: %w", err)
	}
	return sum, m, nil
}

// inferKinds re-infers, with history.InferKinds, the kinds of the
// deployments of every stream that a staged deployment belongs to or leaves
// (its stored row was in another stream). all holds the merged deployments
// by ID and receives the new kinds; stored are those of the generation in
// force. It returns the number of staged deployments without a kind whose
// inferred kind is rollback.
func (t *importTx) inferKinds(all map[string]history.Deployment, stored []history.Deployment) int64 {
	if len(t.deployments) == 0 {
		return 0
	}
	streamOf := func(d history.Deployment) history.Stream {
		return history.Stream{Service: d.Service, Environment: d.Environment}
	}
	touched := map[history.Stream]bool{}
	for _, d := range t.deployments {
		touched[streamOf(d)] = true
	}
	for _, d := range stored {
		if _, ok := t.deployments[d.ID]; ok {
			touched[streamOf(d)] = true
		}
	}
	var ds []history.Deployment
	for _, d := range all {
		if touched[streamOf(d)] {
			ds = append(ds, d)
		}
	}
	for _, i := range history.InferKinds(ds) {
		all[ds[i].ID] = ds[i]
	}
	var n int64
	for id, d := range t.deployments {
		if d.Kind == "" && all[id].Kind == history.KindRollback {
			n++
		}
	}
	return n
}

// streamCounts are the rows an import added to one stream, by table.
type streamCounts struct {
	metrics, signatures, kpiValues int64
}

// stagedRows gathers the rows of one stream's table staged by the import:
// from every spill run in order, then from memory.
func stagedRows[T any](t *importTx, st history.Stream, table uint8, mem []T, decode func([]byte, int, []T) ([]T, error)) ([]T, error) {
	n := len(mem)
	for _, run := range t.runs {
		n += run.index[segKey{stream: st, table: table}].rows
	}
	out := make([]T, 0, n)
	for _, run := range t.runs {
		b, rows, ok, err := run.readSegment(segKey{stream: st, table: table})
		if err != nil {
			return nil, err
		}
		if ok {
			if out, err = decode(b, rows, out); err != nil {
				return nil, fmt.Errorf("decode spill: %w", err)
			}
		}
	}
	return append(out, mem...), nil
}

// mergeStream writes the merged files of one touched stream. Staged rows
// win over stored rows with the same key, and later staged rows over
// earlier ones.
func (t *importTx) mergeStream(st history.Stream, prev streamFiles, hadPrev bool, gen int64, idx int) (streamFiles, streamCounts, error) {
	var n streamCounts
	sf := streamFiles{Service: st.Service, Environment: st.Environment}
	if hadPrev {
		sf = prev
	}
	meta := streamMeta(st)
	lo, hi := int64(1<<62), int64(-1<<62)
	span := func(m int64) {
		lo, hi = min(lo, m), max(hi, m)
	}
	keepSpan := func(file string) {
		if hadPrev && file != "" {
			span(prev.MinMinute)
			span(prev.MaxMinute)
		}
	}
	path := func(what string) string { return fmt.Sprintf("%s/g%06d-s%05d-%s.parquet", dataDir, gen, idx, what) }

	// Metrics, sorted by version, minute.
	staged, err := stagedRows(t, st, segMetrics, t.metrics[st], decodeMetrics)
	if err != nil {
		return sf, n, err
	}
	if len(staged) > 0 {
		cmpM := func(a, b metricRow) int {
			if c := strings.Compare(a.Version, b.Version); c != 0 {
				return c
			}
			return cmp.Compare(a.Minute, b.Minute)
		}
		staged = dedupeLast(staged, cmpM)
		n.metrics = int64(len(staged))
		merged := staged
		if hadPrev && prev.Metrics != "" {
			units, err := readWhole(filepath.Join(t.s.dir, filepath.FromSlash(prev.Metrics)), kindMetrics)
			if err != nil {
				return sf, n, err
			}
			series := assembleSeries(units, -1<<62, 1<<62)
			old := make([]metricRow, 0, prev.MetricRows)
			for _, x := range series {
				for k := range x.Minutes {
					old = append(old, metricRow{Version: x.Version, Minute: x.Minutes[k], Requests: x.Requests[k], Errors: x.Errors[k], P50: x.P50[k], P95: x.P95[k], P99: x.P99[k]})
				}
			}
			merged = mergeSorted(old, staged, cmpM)
		}
		for _, r := range merged {
			span(r.Minute)
		}
		byDay(merged, metricDay)
		f := path("metrics")
		if err := writeParquet(filepath.Join(t.s.dir, f), merged, meta, metricDay); err != nil {
			return sf, n, err
		}
		sf.Metrics, sf.MetricRows = f, int64(len(merged))
	} else {
		keepSpan(prev.Metrics)
	}

	// Signatures, sorted by minute, version, fingerprint.
	sstaged, err := stagedRows(t, st, segSignatures, t.sigs[st], decodeSignatures)
	if err != nil {
		return sf, n, err
	}
	if len(sstaged) > 0 {
		cmpS := func(a, b signatureRow) int {
			if c := cmp.Compare(a.Minute, b.Minute); c != 0 {
				return c
			}
			if c := strings.Compare(a.Version, b.Version); c != 0 {
				return c
			}
			return strings.Compare(a.Fingerprint, b.Fingerprint)
		}
		sstaged = dedupeLast(sstaged, cmpS)
		n.signatures = int64(len(sstaged))
		merged := sstaged
		if hadPrev && prev.Signatures != "" {
			units, err := readWhole(filepath.Join(t.s.dir, filepath.FromSlash(prev.Signatures)), kindSignatures)
			if err != nil {
				return sf, n, err
			}
			old := make([]signatureRow, 0, prev.SignatureRows)
			for _, u := range units {
				old = append(old, u.sigs...)
			}
			merged = mergeSorted(old, sstaged, cmpS)
		}
		f := path("signatures")
		if err := writeParquet(filepath.Join(t.s.dir, f), merged, meta, signatureDay); err != nil {
			return sf, n, err
		}
		sf.Signatures, sf.SignatureRows = f, int64(len(merged))
		span(merged[0].Minute)
		span(merged[len(merged)-1].Minute)
	} else {
		keepSpan(prev.Signatures)
	}

	// KPI values, sorted by name, version, minute.
	kstaged, err := stagedRows(t, st, segKPIValues, t.kvals[st], decodeKPIValues)
	if err != nil {
		return sf, n, err
	}
	if len(kstaged) > 0 {
		cmpK := func(a, b kpiValueRow) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			if c := strings.Compare(a.Version, b.Version); c != 0 {
				return c
			}
			return cmp.Compare(a.Minute, b.Minute)
		}
		kstaged = dedupeLast(kstaged, cmpK)
		n.kpiValues = int64(len(kstaged))
		merged := kstaged
		if hadPrev && prev.KPIValues != "" {
			units, err := readWhole(filepath.Join(t.s.dir, filepath.FromSlash(prev.KPIValues)), kindKPIValues)
			if err != nil {
				return sf, n, err
			}
			old := make([]kpiValueRow, 0, prev.KPIValueRows)
			for _, x := range assembleKPIs(units, -1<<62, 1<<62) {
				for k := range x.Minutes {
					old = append(old, kpiValueRow{Name: x.Name, Version: x.Version, Minute: x.Minutes[k], Value: x.Values[k]})
				}
			}
			merged = mergeSorted(old, kstaged, cmpK)
		}
		for _, r := range merged {
			span(r.Minute)
		}
		byDay(merged, kpiValueDay)
		f := path("kpis")
		if err := writeParquet(filepath.Join(t.s.dir, f), merged, meta, kpiValueDay); err != nil {
			return sf, n, err
		}
		sf.KPIValues, sf.KPIValueRows = f, int64(len(merged))
	} else {
		keepSpan(prev.KPIValues)
	}
	if lo <= hi {
		sf.MinMinute, sf.MaxMinute = lo, hi
	}
	return sf, n, nil
}

// dedupeLast sorts rows stably by c and keeps the last of each run of equal
// keys (the row added last).
func dedupeLast[T any](rows []T, c func(a, b T) int) []T {
	if !slices.IsSortedFunc(rows, func(a, b T) int {
		// IsSortedFunc calls this with (x[i], x[i-1]): strictly ascending
		// means no duplicates and nothing to do.
		if c(a, b) > 0 {
			return 1
		}
		return -1
	}) {
		slices.SortStableFunc(rows, c)
		out := rows[:0]
		for i := range rows {
			if i+1 < len(rows) && c(rows[i], rows[i+1]) == 0 {
				continue
			}
			out = append(out, rows[i])
		}
		return out
	}
	return rows
}

// mergeSorted merges two sorted, duplicate-free slices; on equal keys the
// row of b wins.
func mergeSorted[T any](a, b []T, c func(x, y T) int) []T {
	out := make([]T, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch r := c(a[i], b[j]); {
		case r < 0:
			out = append(out, a[i])
			i++
		case r > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, b[j])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
