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

	"github.com/faultline-dev/faultline/internal/history"
)

// Approximate in-memory sizes of staged rows, for the spill threshold.
const (
	metricRowBytes    = 96
	signatureRowBytes = 160
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
	services    map[string]history.Service
	deployments map[string]history.Deployment
	depOrder    []string
	incidents   map[string]history.Incident
	annotations map[[2]string]history.Annotation
	truth       map[string]history.Truth

	metrics   map[history.Stream][]metricRow
	sigs      map[history.Stream][]signatureRow
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
		metrics:     map[history.Stream][]metricRow{},
		sigs:        map[history.Stream][]signatureRow{},
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
	return ctx.Err()
}

func (t *importTx) AddServices(ctx context.Context, rows []history.Service) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Name == "" {
			return errors.New("embedded store: service with empty name")
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
		if r.ID == "" || r.Service == "" || r.Environment == "" || r.Version == "" {
			return fmt.Errorf("embedded store: deployment %q: id, service, environment and version are required", r.ID)
		}
		switch r.Kind {
		case "", history.KindDeploy, history.KindRollback:
		default:
			return fmt.Errorf("embedded store: deployment %s: kind %q is neither deploy nor rollback", r.ID, r.Kind)
		}
		if _, ok := t.deployments[r.ID]; !ok {
			t.depOrder = append(t.depOrder, r.ID)
		}
		r.StartedAt = r.StartedAt.UTC()
		if !r.FinishedAt.IsZero() {
			r.FinishedAt = r.FinishedAt.UTC()
		}
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
	for i := range rows {
		r := &rows[i]
		if r.Service == "" || r.Environment == "" || r.Version == "" {
			return errors.New("embedded store: metric row without service, environment or version")
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
		if r.Service == "" || r.Environment == "" || r.Version == "" || r.Fingerprint == "" {
			return errors.New("embedded store: signature row without service, environment, version or fingerprint")
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
		if r.ID == "" || r.Service == "" {
			return fmt.Errorf("embedded store: incident %q: id and service are required", r.ID)
		}
		t.incidents[r.ID] = r
	}
	return nil
}

func (t *importTx) AddAnnotations(ctx context.Context, rows []history.Annotation) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		if r.DeploymentID == "" {
			return errors.New("embedded store: annotation without deployment_id")
		}
		if r.Label != history.LabelFaulty && r.Label != history.LabelHealthy {
			return fmt.Errorf("embedded store: annotation of %s: label %q is neither faulty nor healthy", r.DeploymentID, r.Label)
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
		if r.DeploymentID == "" {
			return errors.New("embedded store: truth row without deployment_id")
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
	run, err := writeRun(t.tmp, len(t.runs), t.metrics, t.sigs)
	if err != nil {
		return fmt.Errorf("embedded store: %w", err)
	}
	t.runs = append(t.runs, run)
	t.metrics = map[history.Stream][]metricRow{}
	t.sigs = map[history.Stream][]signatureRow{}
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
	t.metrics, t.sigs, t.runs = nil, nil, nil
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
	if err := old.load(); err != nil {
		return sum, nil, err
	}
	m := &manifest{Format: formatVersion, Generation: gen, CreatedAt: now(), Tables: map[string]tableFile{}}
	for k, v := range t.base.Tables {
		m.Tables[k] = v
	}
	fileName := func(what string) string { return fmt.Sprintf("%s/g%06d-%s.parquet", dataDir, gen, what) }

	// Deployments: upsert, infer kinds, sort.
	deps := map[string]history.Deployment{}
	for _, d := range old.deployments {
		deps[d.ID] = d
	}
	for _, id := range t.depOrder {
		deps[id] = t.deployments[id]
	}
	sum.Deployments = int64(len(t.depOrder))
	sum.RollbacksInferred = inferKinds(deps, t.deployments)
	allDeps := make([]history.Deployment, 0, len(deps))
	for _, d := range deps {
		allDeps = append(allDeps, d)
	}
	slices.SortFunc(allDeps, func(a, b history.Deployment) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})

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
		if err := writeParquet(filepath.Join(dir, f), rows, nil); err != nil {
			return sum, nil, fmt.Errorf("embedded store: %w", err)
		}
		m.Tables[tblDeployments] = tableFile{File: f, Rows: int64(len(rows))}
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
			rows, err := readParquet[truthRow](old.path(t.base.Tables[tblTruth].File))
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
	counts := make([][2]int64, len(touched))
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
				sf, nm, ns, err := t.mergeStream(st, prev, hadPrev, gen, i)
				if err != nil {
					errs[w] = fmt.Errorf("embedded store: stream %s/%s: %w", st.Service, st.Environment, err)
					return
				}
				results[i], counts[i] = sf, [2]int64{nm, ns}
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
		sum.Metrics += counts[i][0]
		sum.Signatures += counts[i][1]
	}
	for _, sf := range streams {
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

// inferKinds sets the Kind of the staged deployments that have none: a
// deployment of a version deployed earlier (by StartedAt, then ID) to the
// same service and environment, in the store or in the import, is a
// rollback; otherwise a deploy. It returns the number of rollbacks inferred.
func inferKinds(all, staged map[string]history.Deployment) int64 {
	need := false
	for _, d := range staged {
		if d.Kind == "" {
			need = true
			break
		}
	}
	if !need {
		return 0
	}
	by := map[history.Stream][]history.Deployment{}
	for _, d := range all {
		st := history.Stream{Service: d.Service, Environment: d.Environment}
		by[st] = append(by[st], d)
	}
	var n int64
	for _, ds := range by {
		slices.SortFunc(ds, func(a, b history.Deployment) int {
			if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		seen := map[string]bool{}
		for _, d := range ds {
			if d.Kind == "" {
				if _, ok := staged[d.ID]; ok {
					d.Kind, d.KindInferred = history.KindDeploy, true
					if seen[d.Version] {
						d.Kind = history.KindRollback
						n++
					}
					all[d.ID] = d
				}
			}
			seen[d.Version] = true
		}
	}
	return n
}

// mergeStream writes the merged files of one touched stream. Staged rows
// win over stored rows with the same key, and later staged rows over
// earlier ones.
func (t *importTx) mergeStream(st history.Stream, prev streamFiles, hadPrev bool, gen int64, idx int) (streamFiles, int64, int64, error) {
	sf := streamFiles{Service: st.Service, Environment: st.Environment}
	if hadPrev {
		sf = prev
	}
	meta := map[string]string{"faultline.service": st.Service, "faultline.environment": st.Environment}
	lo, hi := int64(1<<62), int64(-1<<62)
	span := func(m int64) {
		lo, hi = min(lo, m), max(hi, m)
	}

	// Metrics, sorted by version, minute.
	n := len(t.metrics[st])
	for _, run := range t.runs {
		n += run.index[segKey{stream: st}].rows
	}
	staged := make([]metricRow, 0, n)
	for _, run := range t.runs {
		b, n, ok, err := run.readSegment(segKey{stream: st})
		if err != nil {
			return sf, 0, 0, err
		}
		if ok {
			if staged, err = decodeMetrics(b, n, staged); err != nil {
				return sf, 0, 0, fmt.Errorf("decode spill: %w", err)
			}
		}
	}
	staged = append(staged, t.metrics[st]...)
	var nMetrics int64
	if len(staged) > 0 {
		cmpM := func(a, b metricRow) int {
			if c := strings.Compare(a.Version, b.Version); c != 0 {
				return c
			}
			return cmp.Compare(a.Minute, b.Minute)
		}
		staged = dedupeLast(staged, cmpM)
		nMetrics = int64(len(staged))
		merged := staged
		if hadPrev && prev.Metrics != "" {
			e, err := loadMetrics(filepath.Join(t.s.dir, filepath.FromSlash(prev.Metrics)))
			if err != nil {
				return sf, 0, 0, err
			}
			old := make([]metricRow, 0, e.rows)
			for _, x := range e.series {
				for k := range x.Minutes {
					old = append(old, metricRow{Version: x.Version, Minute: x.Minutes[k], Requests: x.Requests[k], Errors: x.Errors[k], P50: x.P50[k], P95: x.P95[k], P99: x.P99[k]})
				}
			}
			merged = mergeSorted(old, staged, cmpM)
		}
		f := fmt.Sprintf("%s/g%06d-s%05d-metrics.parquet", dataDir, gen, idx)
		if err := writeParquet(filepath.Join(t.s.dir, f), merged, meta); err != nil {
			return sf, 0, 0, err
		}
		sf.Metrics, sf.MetricRows = f, int64(len(merged))
		for _, r := range merged {
			span(r.Minute)
		}
	} else if hadPrev && prev.Metrics != "" {
		span(prev.MinMinute)
		span(prev.MaxMinute)
	}

	// Signatures, sorted by minute, version, fingerprint.
	n = len(t.sigs[st])
	for _, run := range t.runs {
		n += run.index[segKey{stream: st, sigs: true}].rows
	}
	sstaged := make([]signatureRow, 0, n)
	for _, run := range t.runs {
		b, n, ok, err := run.readSegment(segKey{stream: st, sigs: true})
		if err != nil {
			return sf, 0, 0, err
		}
		if ok {
			if sstaged, err = decodeSignatures(b, n, sstaged); err != nil {
				return sf, 0, 0, fmt.Errorf("decode spill: %w", err)
			}
		}
	}
	sstaged = append(sstaged, t.sigs[st]...)
	var nSigs int64
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
		nSigs = int64(len(sstaged))
		merged := sstaged
		if hadPrev && prev.Signatures != "" {
			e, err := loadSignatures(filepath.Join(t.s.dir, filepath.FromSlash(prev.Signatures)))
			if err != nil {
				return sf, 0, 0, err
			}
			old := e.sigs
			merged = mergeSorted(old, sstaged, cmpS)
		}
		f := fmt.Sprintf("%s/g%06d-s%05d-signatures.parquet", dataDir, gen, idx)
		if err := writeParquet(filepath.Join(t.s.dir, f), merged, meta); err != nil {
			return sf, 0, 0, err
		}
		sf.Signatures, sf.SignatureRows = f, int64(len(merged))
		span(merged[0].Minute)
		span(merged[len(merged)-1].Minute)
	} else if hadPrev && prev.Signatures != "" {
		span(prev.MinMinute)
		span(prev.MaxMinute)
	}
	if lo <= hi {
		sf.MinMinute, sf.MaxMinute = lo, hi
	}
	return sf, nMetrics, nSigs, nil
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
