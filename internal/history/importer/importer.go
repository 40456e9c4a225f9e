// Package importer loads a folder of history files (CSV or Parquet, format
// in ../shared/spec/history-import.md and docs/history-import.md) into a
// history.ImportTx: it parses and validates every row, reports bad rows as
// `FILE:LINE: column: reason`, and commits only when everything is valid.
//
// Files are streamed: a reader cuts a CSV file into runs of whole records,
// parser goroutines turn runs into validated rows, and rows are handed to
// the transaction in batches while the next runs are parsed. Memory stays
// bounded whatever the file size (apart from the duplicate-key index, a
// bitmap of about one bit per (series, minute) of the metrics file's span).
package importer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/progress"
)

// Options tune an import. The zero value is valid.
type Options struct {
	// MaxErrors stops validation after this many problems. Default 20.
	MaxErrors int
	// IgnoreUnknownColumns skips columns the format does not define instead
	// of reporting them. Default false.
	IgnoreUnknownColumns bool
	// IgnoreUnknownFiles skips files of the folder that are not import
	// files instead of refusing the folder (CheckFolder). Default false.
	IgnoreUnknownFiles bool
	// BatchRows is about the number of rows handed to the transaction at
	// a time (a parsed run of at least half as many goes as it is).
	// Default 50000.
	BatchRows int
	// Workers is the number of parser goroutines. Default GOMAXPROCS.
	Workers int
	// Progress receives progress per file (bytes for CSV, rows for
	// Parquet). Default none.
	Progress progress.Func
	// HistoryExists says the store already holds a history, so that
	// deployments and metrics files may be absent: an import of only
	// annotations (the reviewed annotation queue) or incidents. Default
	// false: both are required.
	HistoryExists bool
}

func (o Options) withDefaults() Options {
	if o.MaxErrors <= 0 {
		o.MaxErrors = 20
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 50000
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	o.Progress = progress.Or(o.Progress)
	return o
}

// Problem is one reason a file was rejected.
type Problem struct {
	File   string `json:"file"`
	Line   int64  `json:"line,omitempty"` // CSV line, or Parquet row (1-based); 0 for a whole file
	Column string `json:"column,omitempty"`
	Reason string `json:"reason"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Column != "" {
		b.WriteString(": " + p.Column)
	}
	b.WriteString(": " + p.Reason)
	return b.String()
}

// ValidationError lists the problems that stopped an import. Nothing was
// committed.
type ValidationError struct {
	Problems []Problem
	// Truncated: validation stopped at MaxErrors; there may be more.
	Truncated bool
}

func (e *ValidationError) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	if e.Truncated {
		lines = append(lines, fmt.Sprintf("(stopped after %d errors; nothing was imported)", len(e.Problems)))
	} else {
		lines = append(lines, fmt.Sprintf("(%d errors; nothing was imported)", len(e.Problems)))
	}
	return strings.Join(lines, "\n")
}

// column is one column of an import table.
type column struct {
	name     string
	required bool
}

// Table names, in import order.
var tableOrder = []string{"services", "deployments", "metrics", "error_signatures", "kpis", "kpi_values", "incidents", "annotations"}

// requiredTables must be present in every import.
var requiredTables = map[string]bool{"deployments": true, "metrics": true}

// FindFiles finds the import files in dir: table name -> path. Exactly one
// of NAME.csv and NAME.parquet per table; deployments and metrics are
// required with requireHistory, otherwise at least one table must be
// present. Other files are not looked at here: Import refuses them
// (CheckFolder).
func FindFiles(dir string, requireHistory bool) (map[string]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("import folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("import folder %s: not a directory", dir)
	}
	out := map[string]string{}
	for _, t := range tableOrder {
		var found []string
		for _, ext := range fileExts {
			p := filepath.Join(dir, t+ext)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				found = append(found, p)
			}
		}
		switch {
		case len(found) == 2:
			return nil, fmt.Errorf("import folder %s: both %s.csv and %s.parquet: give one", dir, t, t)
		case len(found) == 1:
			out[t] = found[0]
		case requiredTables[t] && requireHistory:
			return nil, fmt.Errorf("import folder %s: %s.csv (or %s.parquet) is required", dir, t, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("import folder %s: no import files (want NAME.csv or NAME.parquet for %s)", dir, strings.Join(tableOrder, ", "))
	}
	return out, nil
}

// state is shared by the tables of one import.
type state struct {
	opts     Options
	tx       history.ImportTx
	problems []Problem
	trunc    bool
	// annotation lines by deployment ID, to place unknown-deployment errors
	annLines map[string][]int64
	annFile  string
	// metric series seen (first line of each), to place warnings about
	// versions without a deployment
	metricSet  *minuteSet
	metricFile string
	// lines of the KPI values of each KPI of each stream, to place the
	// errors of values that no declaration allows
	kpiLines map[history.KPISpanKey]*kpiLines
	kpiFile  string
}

// kpiLines are the lines of one KPI's values in kpi_values: the first,
// and those of the smallest and largest value.
type kpiLines struct {
	first, minLine, maxLine int64
	min, max                float64
}

// MaxExamples is the number of example rows a warning lists.
const MaxExamples = 5

// Summary is what an import wrote, by table, and what it noticed.
type Summary struct {
	history.ImportSummary
	// Warnings are facts about rows that were accepted but deserve a look,
	// each with a count and the first rows as examples.
	Warnings []Warning `json:"warnings,omitempty"`
}

// Warning is one kind of accepted but noteworthy rows.
type Warning struct {
	// What names the kind, e.g. "undeployed_versions".
	What string `json:"what"`
	// Message says in a line what was found and what it means.
	Message string `json:"message"`
	// Count is the number of items (e.g. series) concerned.
	Count int64 `json:"count"`
	// Examples are the first of them, by line, as FILE:LINE: column: reason.
	Examples []Problem `json:"examples"`
}

func (w Warning) String() string {
	var b strings.Builder
	b.WriteString("warning: " + w.Message)
	for _, e := range w.Examples {
		b.WriteString("\n  " + e.String())
	}
	if n := w.Count - int64(len(w.Examples)); n > 0 {
		fmt.Fprintf(&b, "\n  (and %d more)", n)
	}
	return b.String()
}

// add records a problem; it returns false once MaxErrors is exceeded.
func (s *state) add(p Problem) bool {
	if len(s.problems) >= s.opts.MaxErrors {
		s.trunc = true
		return false
	}
	s.problems = append(s.problems, p)
	return true
}

// Import validates and loads the files of dir into tx and commits it.
// On any problem it rolls tx back and returns a *ValidationError (bad
// rows, including annotations of unknown deployments and KPI values that
// no declaration allows) or another error.
func Import(ctx context.Context, dir string, tx history.ImportTx, opts Options) (Summary, error) {
	sum, err := doImport(ctx, dir, tx, opts.withDefaults())
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return Summary{}, err
	}
	return sum, nil
}

func doImport(ctx context.Context, dir string, tx history.ImportTx, opts Options) (Summary, error) {
	if err := checkFolder(dir, opts); err != nil {
		return Summary{}, err
	}
	files, err := FindFiles(dir, !opts.HistoryExists)
	if err != nil {
		return Summary{}, err
	}
	return importTables(ctx, tx, files, nil, opts)
}

// importTables imports the tables, in table order, each from its file or
// its records, and commits.
func importTables(ctx context.Context, tx history.ImportTx, files map[string]string, recs map[string]*Records, opts Options) (Summary, error) {
	st := &state{opts: opts, tx: tx, annLines: map[string][]int64{}, kpiLines: map[history.KPISpanKey]*kpiLines{}}
	for _, t := range tableOrder {
		var err error
		if r := recs[t]; r != nil {
			err = importTable(ctx, st, t, r.Name, r.open)
		} else if path, ok := files[t]; ok {
			err = importTable(ctx, st, t, filepath.Base(path), func() (*source, error) { return openSource(path) })
		} else {
			continue
		}
		if err != nil {
			return Summary{}, err
		}
		if st.trunc {
			break
		}
	}
	if len(st.problems) > 0 {
		return Summary{}, &ValidationError{Problems: st.problems, Truncated: st.trunc}
	}
	sum, err := tx.Commit(ctx)
	var md *history.MissingDeploymentError
	if errors.As(err, &md) {
		return Summary{}, st.unknownDeployments(md)
	}
	var ke *history.KPIValueError
	if errors.As(err, &ke) {
		return Summary{}, st.badKPIValues(ke)
	}
	if err != nil {
		return Summary{}, err
	}
	out := Summary{ImportSummary: sum}
	if w, ok := st.undeployedWarning(sum); ok {
		out.Warnings = append(out.Warnings, w)
	}
	return out, nil
}

// undeployedWarning describes the metric series of versions without a
// deployment (docs/history-import.md, "Versions without a deployment").
func (s *state) undeployedWarning(sum history.ImportSummary) (Warning, bool) {
	if len(sum.Undeployed) == 0 {
		return Warning{}, false
	}
	w := Warning{What: "undeployed_versions", Count: int64(len(sum.Undeployed)),
		Message: fmt.Sprintf("%d metric series (%d rows) of versions with no deployment in their stream: kept as the stream's traffic, but no deployment's window belongs to them (a version deployed before the history starts, or a deployment missing from deployments)",
			len(sum.Undeployed), sum.UndeployedRows)}
	for _, u := range sum.Undeployed {
		line := int64(0)
		if s.metricSet != nil {
			line = s.metricSet.firstLine([4]string{u.Service, u.Environment, u.Version, ""})
		}
		w.Examples = append(w.Examples, Problem{File: s.metricFile, Line: line, Column: "version",
			Reason: fmt.Sprintf("no deployment of version %q in %s/%s (%d %s)", u.Version, u.Service, u.Environment, u.Rows, plural(u.Rows, "row", "rows"))})
	}
	sort.SliceStable(w.Examples, func(i, j int) bool { return w.Examples[i].Line < w.Examples[j].Line })
	if len(w.Examples) > MaxExamples {
		w.Examples = w.Examples[:MaxExamples]
	}
	return w, true
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// badKPIValues maps a KPIValueError back to lines of kpi_values.
func (s *state) badKPIValues(ke *history.KPIValueError) error {
	var ps []Problem
	for _, p := range ke.Problems {
		l := s.kpiLines[history.KPISpanKey{Service: p.Service, Environment: p.Environment, Name: p.Name}]
		if l == nil { // not from this import's file: report as is
			return ke
		}
		if p.Undeclared {
			ps = append(ps, Problem{File: s.kpiFile, Line: l.first, Column: "name",
				Reason: fmt.Sprintf("KPI %q is not declared for service %q in environment %q (declare it in kpis.csv)", p.Name, p.Service, p.Environment)})
			continue
		}
		line := l.maxLine
		if p.Value == l.min {
			line = l.minLine
		}
		ps = append(ps, Problem{File: s.kpiFile, Line: line, Column: "value", Reason: fmt.Sprintf("KPI %q: %s", p.Name, p.Reason)})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	ve := &ValidationError{Problems: ps}
	if len(ps) > s.opts.MaxErrors {
		ve.Problems, ve.Truncated = ps[:s.opts.MaxErrors], true
	}
	return ve
}

// unknownDeployments maps a MissingDeploymentError back to annotation lines.
func (s *state) unknownDeployments(md *history.MissingDeploymentError) error {
	var ps []Problem
	for _, id := range md.DeploymentIDs {
		for _, l := range s.annLines[id] {
			ps = append(ps, Problem{File: s.annFile, Line: l, Column: "deployment_id", Reason: fmt.Sprintf("unknown deployment %q", id)})
		}
	}
	if len(ps) == 0 { // not from this import's annotations: report as is
		return md
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	ve := &ValidationError{Problems: ps}
	if len(ps) > s.opts.MaxErrors {
		ve.Problems, ve.Truncated = ps[:s.opts.MaxErrors], true
	}
	return ve
}

// importTable imports one table from the source that open opens; file
// names it in problems.
func importTable(ctx context.Context, st *state, table, file string, open func() (*source, error)) error {
	switch table {
	case "services":
		names := map[string]int64{}
		return run(ctx, st, file, open, servicesCols, buildService,
			func(ctx context.Context, rows []history.Service) error { return st.tx.AddServices(ctx, rows) },
			func(v *history.Service, line int64) (int, string) {
				return firstSeen(names, v.Name, line, svcService)
			})
	case "deployments":
		ids := map[string]int64{}
		return run(ctx, st, file, open, deploymentsCols, buildDeployment,
			func(ctx context.Context, rows []history.Deployment) error { return st.tx.AddDeployments(ctx, rows) },
			func(v *history.Deployment, line int64) (int, string) {
				return firstSeen(ids, v.ID, line, depID)
			})
	case "metrics":
		d := newMinuteSet()
		st.metricSet, st.metricFile = d, file
		return run(ctx, st, file, open, metricsCols, buildMetric,
			func(ctx context.Context, rows []history.Metric) error { return st.tx.AddMetrics(ctx, rows) },
			func(v *history.Metric, line int64) (int, string) {
				if ok, prev := d.add([4]string{v.Service, v.Environment, v.Version, ""}, history.UnixMinute(v.Minute), line); !ok {
					return metMinute, duplicateMinute("service, environment, version and minute", v.Minute, prev)
				}
				return 0, ""
			})
	case "error_signatures":
		// A bitmap per fingerprint series, not a map entry per row: signature
		// files have tens of millions of rows.
		d := newMinuteSet()
		return run(ctx, st, file, open, signaturesCols, buildSignature,
			func(ctx context.Context, rows []history.Signature) error { return st.tx.AddSignatures(ctx, rows) },
			func(v *history.Signature, line int64) (int, string) {
				if ok, prev := d.add([4]string{v.Service, v.Environment, v.Version, v.Fingerprint}, history.UnixMinute(v.Minute), line); !ok {
					return sigMinute, duplicateMinute("service, environment, version, minute and fingerprint", v.Minute, prev)
				}
				return 0, ""
			})
	case "kpis":
		type key struct{ service, environment, name string }
		seen := map[key]int64{}
		return run(ctx, st, file, open, kpisCols, buildKPI,
			func(ctx context.Context, rows []history.KPI) error { return st.tx.AddKPIs(ctx, rows) },
			func(v *history.KPI, line int64) (int, string) {
				k := key{v.Service, v.Environment, v.Name}
				if first, dup := seen[k]; dup {
					return kpiName, fmt.Sprintf("duplicate key (service, environment, name) (first at line %d)", first)
				}
				seen[k] = line
				return 0, ""
			})
	case "kpi_values":
		d := newMinuteSet()
		st.kpiFile = file
		return run(ctx, st, file, open, kpiValuesCols, buildKPIValue,
			func(ctx context.Context, rows []history.KPIValue) error { return st.tx.AddKPIValues(ctx, rows) },
			func(v *history.KPIValue, line int64) (int, string) {
				if ok, prev := d.add([4]string{v.Service, v.Environment, v.Version, v.Name}, history.UnixMinute(v.Minute), line); !ok {
					return kvMinute, duplicateMinute("service, environment, version, name and minute", v.Minute, prev)
				}
				k := history.KPISpanKey{Service: v.Service, Environment: v.Environment, Name: v.Name}
				l := st.kpiLines[k]
				switch {
				case l == nil:
					st.kpiLines[k] = &kpiLines{first: line, minLine: line, maxLine: line, min: v.Value, max: v.Value}
				case v.Value < l.min:
					l.min, l.minLine = v.Value, line
				case v.Value > l.max:
					l.max, l.maxLine = v.Value, line
				}
				return 0, ""
			})
	case "incidents":
		ids := map[string]int64{}
		return run(ctx, st, file, open, incidentsCols, buildIncident,
			func(ctx context.Context, rows []history.Incident) error { return st.tx.AddIncidents(ctx, rows) },
			func(v *history.Incident, line int64) (int, string) {
				return firstSeen(ids, v.ID, line, incID)
			})
	case "annotations":
		type key struct{ dep, annotator string }
		seen := map[key]int64{}
		st.annFile = file
		return run(ctx, st, file, open, annotationsCols, buildAnnotation,
			func(ctx context.Context, rows []history.Annotation) error { return st.tx.AddAnnotations(ctx, rows) },
			func(v *history.Annotation, line int64) (int, string) {
				k := key{v.DeploymentID, v.Annotator}
				if first, dup := seen[k]; dup {
					return annAnnotator, fmt.Sprintf("duplicate key (deployment_id %q, annotator %q) (first at line %d)", v.DeploymentID, v.Annotator, first)
				}
				seen[k] = line
				st.annLines[v.DeploymentID] = append(st.annLines[v.DeploymentID], line)
				return 0, ""
			})
	}
	return fmt.Errorf("unknown table %s", table)
}

// duplicateMinute is the reason given for a per-minute row whose key
// (named by what) an earlier row has, at line first when known.
// Timestamps were floored to their minute, so two rows stamped within one
// minute share it.
func duplicateMinute(what string, minute time.Time, first int64) string {
	at := minute.UTC().Format(time.RFC3339)
	if first > 0 {
		return fmt.Sprintf("duplicate key: line %d has the same %s %s (timestamps are floored to the minute: give one row per minute)", first, what, at)
	}
	return fmt.Sprintf("duplicate key: an earlier row has the same %s %s (timestamps are floored to the minute: give one row per minute)", what, at)
}

func firstSeen(m map[string]int64, k string, line int64, col int) (int, string) {
	if first, dup := m[k]; dup {
		return col, fmt.Sprintf("duplicate key %q (first at line %d)", k, first)
	}
	m[k] = line
	return 0, ""
}

// job is a run of records for a parser goroutine.
type job struct {
	seq  int
	csv  csvChunk   // CSV: whole records
	recs [][]string // Parquet: records already split
	row0 int64      // Parquet: row number of recs[0]
	done int64      // progress after this job
}

type result[T any] struct {
	seq      int
	rows     []T
	lines    []int64
	problems []Problem
	done     int64
}

// source is an opened import file, or records.
type source struct {
	header []string
	// headerLine is the line of the header, for problems (1 for CSV, 0
	// when the header is not a line).
	headerLine int64
	// where, when set, names the place of a record in problems instead of
	// the file name.
	where func(rec []string) string
	total int64 // progress total
	// produce sends jobs (numbered from 0) until the file ends.
	produce func(ctx context.Context, out chan<- job) error
	close   func() error
}

// run streams one file through parsing, validation, duplicate detection
// and, while no problem has been found, into the transaction.
func run[T any](ctx context.Context, st *state, file string, open func() (*source, error), cols []column, build func(*rowReader, *T),
	add func(context.Context, []T) error, dedup func(*T, int64) (int, string)) error {
	src, err := open()
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer src.close()

	// Header: map columns to field positions.
	idx, headerOK := mapHeader(st, file, src.headerLine, src.header, cols)
	if !headerOK {
		return nil // problems recorded; rows cannot be read
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	headerLen := len(src.header)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var prodErr, sendErr error

	jobs := make(chan job, st.opts.Workers)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		prodErr = src.produce(ctx, jobs)
	}()

	results := parseJobs(ctx, st.opts.Workers, jobs, file, names, idx, src.where, build, headerLen)

	// Sender: hands batches to the transaction while parsing goes on.
	batches := make(chan []T, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := range batches {
			if sendErr != nil {
				continue
			}
			if err := add(ctx, b); err != nil {
				sendErr = err
				cancel()
			}
		}
	}()

	// Collector: restore file order, check keys, batch.
	stage := "import " + file
	pending := map[int]result[T]{}
	next := 0
	var batch []T
	stop := false
	flush := func() {
		if len(batch) > 0 && len(st.problems) == 0 {
			select {
			case batches <- batch:
			case <-ctx.Done():
			}
		}
		batch = nil
	}
	for res := range results {
		if stop {
			continue
		}
		pending[res.seq] = res
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if !recordProblems(st, file, names, &r, dedup) {
				stop = true
			}
			// Once a problem is found nothing more is sent: the
			// transaction will be rolled back.
			if len(st.problems) == 0 && len(r.rows) > 0 {
				if len(batch) == 0 && len(r.rows) >= st.opts.BatchRows/2 {
					batch = r.rows // a big run goes as is, without copying
					flush()
				} else {
					batch = append(batch, r.rows...)
					if len(batch) >= st.opts.BatchRows {
						flush()
					}
				}
			}
			st.opts.Progress(stage, r.done, src.total)
			if stop {
				cancel()
				break
			}
		}
	}
	if !stop {
		flush()
	}
	close(batches)
	wg.Wait()
	if sendErr != nil {
		return fmt.Errorf("%s: %w", file, sendErr)
	}
	if prodErr != nil && !errors.Is(prodErr, context.Canceled) {
		return fmt.Errorf("%s: %w", file, prodErr)
	}
	if err := ctx.Err(); err != nil && !stop {
		return err
	}
	return nil
}

// openSource opens a CSV or Parquet import file, by its extension.
func openSource(path string) (*source, error) {
	if strings.HasSuffix(path, ".parquet") {
		return openParquet(path)
	}
	return openCSV(path)
}

// parseJobs parses the jobs with workers goroutines, each with its own row
// reader of the file's columns (names, at record positions idx), and sends
// each job's result; the channel closes once every job is parsed or ctx is
// done. Results come in any order (result.seq numbers them).
func parseJobs[T any](ctx context.Context, workers int, jobs <-chan job, file string, names []string, idx []int, where func([]string) string,
	build func(*rowReader, *T), headerLen int) <-chan result[T] {
	results := make(chan result[T], workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rr := &rowReader{file: file, cols: names, idx: idx, intern: map[string]string{}, where: where}
			for j := range jobs {
				res := parseJob(rr, j, build, headerLen)
				select {
				case results <- res:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	return results
}

// recordProblems records the row problems of r and the key problems dedup
// finds in its rows, merged in line order. It returns false when st took
// its last problem (Options.MaxErrors reached).
func recordProblems[T any](st *state, file string, names []string, r *result[T], dedup func(*T, int64) (int, string)) bool {
	ok := true
	pi := 0
	for i := range r.rows {
		for pi < len(r.problems) && r.problems[pi].Line < r.lines[i] {
			if !st.add(r.problems[pi]) {
				ok = false
			}
			pi++
		}
		if col, reason := dedup(&r.rows[i], r.lines[i]); reason != "" {
			if !st.add(Problem{File: file, Line: r.lines[i], Column: names[col], Reason: reason}) {
				ok = false
			}
		}
	}
	for ; pi < len(r.problems); pi++ {
		if !st.add(r.problems[pi]) {
			ok = false
		}
	}
	return ok
}

// mapHeader maps table columns to positions in header and records header
// problems. It returns false when rows cannot be read.
func mapHeader(st *state, file string, line int64, header []string, cols []column) ([]int, bool) {
	idx := make([]int, len(cols))
	for i := range idx {
		idx[i] = -1
	}
	byName := map[string]int{}
	for i, c := range cols {
		byName[c.name] = i
	}
	ok := true
	seen := map[string]bool{}
	for pos, h := range header {
		if seen[h] {
			st.add(Problem{File: file, Line: line, Column: h, Reason: "duplicate column"})
			ok = false
			continue
		}
		seen[h] = true
		c, known := byName[h]
		if !known {
			if !st.opts.IgnoreUnknownColumns {
				st.add(Problem{File: file, Line: line, Column: h, Reason: "unknown column (--ignore-unknown-columns skips it)"})
				ok = false
			}
			continue
		}
		idx[c] = pos
	}
	for i, c := range cols {
		if c.required && idx[i] < 0 {
			st.add(Problem{File: file, Line: line, Column: c.name, Reason: "required column missing"})
			ok = false
		}
	}
	return idx, ok
}

// parseJob turns one job into rows and problems.
func parseJob[T any](rr *rowReader, j job, build func(*rowReader, *T), headerLen int) result[T] {
	res := result[T]{seq: j.seq, done: j.done}
	rr.problems = rr.problems[:0]
	one := func(fields []string, line int64) {
		if len(fields) != headerLen {
			rr.problems = append(rr.problems, Problem{File: rr.file, Line: line, Column: "(row)",
				Reason: fmt.Sprintf("%d fields, header has %d", len(fields), headerLen)})
			return
		}
		rr.fields, rr.line = fields, line
		if rr.where != nil {
			rr.file = rr.where(fields)
		}
		n := len(rr.problems)
		// Build in place: a local would escape to the heap (one
		// allocation per row).
		var zero T
		res.rows = append(res.rows, zero)
		build(rr, &res.rows[len(res.rows)-1])
		if len(rr.problems) == n {
			res.lines = append(res.lines, line)
		} else {
			res.rows = res.rows[:len(res.rows)-1]
		}
	}
	if j.recs != nil {
		res.rows = make([]T, 0, len(j.recs))
		res.lines = make([]int64, 0, len(j.recs))
		for i, rec := range j.recs {
			one(rec, j.row0+int64(i))
		}
	} else {
		s := j.csv.text
		line := j.csv.startLine
		est := strings.Count(s, "\n") + 1
		res.rows = make([]T, 0, est)
		res.lines = make([]int64, 0, est)
		var buf []string
		for len(s) > 0 {
			fields, n, err := parseCSVRow(s, buf)
			rec := s[:n]
			s = s[n:]
			buf = fields
			switch {
			case err != nil:
				col := "(row)"
				var ce *csvError
				if errors.As(err, &ce) {
					col = fmt.Sprintf("field %d", ce.Field+1)
				}
				msg := err.Error()
				if ce != nil {
					msg = ce.Msg
				}
				rr.problems = append(rr.problems, Problem{File: rr.file, Line: line, Column: col, Reason: msg})
			case len(fields) == 1 && fields[0] == "" && (rec == "\n" || rec == "\r\n" || rec == ""):
				// blank line
			default:
				one(fields, line)
			}
			line += int64(strings.Count(rec, "\n"))
		}
	}
	res.problems = append([]Problem(nil), rr.problems...)
	return res
}

// openCSV opens a CSV file and reads its header.
func openCSV(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	head, err := br.ReadString('\n')
	if err != nil && head == "" {
		f.Close()
		return nil, errors.New("empty file: a header row is required")
	}
	offset := int64(len(head))
	head = strings.TrimPrefix(head, "\ufeff")
	fields, _, perr := parseCSVRow(head, nil)
	if perr != nil {
		f.Close()
		return nil, fmt.Errorf("line 1: header: %v", perr)
	}
	header := make([]string, len(fields))
	for i, h := range fields {
		header[i] = strings.TrimSpace(h)
	}
	return &source{
		header:     header,
		headerLine: 1,
		total:      fi.Size(),
		produce: func(ctx context.Context, out chan<- job) error {
			chunks := make(chan csvChunk)
			errc := make(chan error, 1)
			go func() {
				defer close(chunks)
				errc <- chunkCSV(ctx, br, csvChunkSize, 2, offset, chunks)
			}()
			seq := 0
			for c := range chunks {
				select {
				case out <- job{seq: seq, csv: c, done: c.endOffset}:
				case <-ctx.Done():
				}
				seq++
			}
			return <-errc
		},
		close: f.Close,
	}, nil
}
