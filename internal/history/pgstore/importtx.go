package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline-dev/faultline/internal/history"
)

// stagingDDL creates the per-import staging tables. They are temporary
// (no WAL, private to the session), carry no index or constraint, and
// vanish at the end of the transaction.
const stagingDDL = `
CREATE TEMP TABLE stage_services (name text, team text, tier text) ON COMMIT DROP;
CREATE TEMP TABLE stage_deployments (
    deployment_id text, service text, environment text, version text, started_at timestamptz,
    finished_at timestamptz, commit_sha text, author text, files_changed bigint, lines_added bigint,
    lines_deleted bigint, kind text) ON COMMIT DROP;
CREATE TEMP TABLE stage_metrics (LIKE metrics) ON COMMIT DROP;
CREATE TEMP TABLE stage_signatures (LIKE error_signatures) ON COMMIT DROP;
CREATE TEMP TABLE stage_incidents (
    incident_id text, service text, environment text, opened_at timestamptz, resolved_at timestamptz,
    severity text, deployment_id text) ON COMMIT DROP;
CREATE TEMP TABLE stage_annotations (
    deployment_id text, annotator text, label text, annotated_at timestamptz, note text) ON COMMIT DROP;
CREATE TEMP TABLE stage_kpis (
    service text, environment text, name text, direction text, kind text, unit text) ON COMMIT DROP;
CREATE TEMP TABLE stage_kpi_values (LIKE kpi_values) ON COMMIT DROP;
`

type seriesKey struct{ service, environment, version string }

type kpiSeriesKey struct{ service, environment, version, name string }

// partState says where the rows of one month of a partitioned table go.
type partState struct {
	parent string
	name   string // partition table name
	fresh  bool   // created by this import, unattached, unindexed: COPY straight in
	lo     time.Time
	hi     time.Time
}

type partKey struct {
	parent string
	month  int // year*12 + month-1
}

type importTx struct {
	conn *pgxpool.Conn
	tx   pgx.Tx
	done bool
	err  error // sticky: the transaction is aborted

	series   map[seriesKey]int32
	kseries  map[kpiSeriesKey]int32
	seriesN  map[seriesKey]int64 // metric rows added per series
	spans    history.KPISpans    // of the KPI values added
	fps      map[string]int32
	services map[string]bool // service rows known to exist in this tx
	given    map[string]bool // services given with AddServices
	created  map[string]bool // services created because named
	parts    map[partKey]*partState
	staged   map[string]bool // partitioned tables with rows in staging

	buf copyBuf
	sum history.ImportSummary
}

// BeginImport starts an all-or-nothing import on one connection.
func (s *Store) BeginImport(ctx context.Context) (history.ImportTx, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin import: %w", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("begin import: %w", err)
	}
	t := &importTx{
		conn: conn, tx: tx,
		series:   map[seriesKey]int32{},
		kseries:  map[kpiSeriesKey]int32{},
		seriesN:  map[seriesKey]int64{},
		spans:    history.KPISpans{},
		fps:      map[string]int32{},
		services: map[string]bool{},
		given:    map[string]bool{},
		created:  map[string]bool{},
		parts:    map[partKey]*partState{},
		staged:   map[string]bool{},
	}
	if _, err := tx.Exec(ctx, stagingDDL, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.abort(ctx)
		return nil, fmt.Errorf("begin import: staging tables: %w", err)
	}
	// Index builds when attaching new partitions sort in memory.
	// Merges of staged rows join large tables: hash in memory.
	if _, err := tx.Exec(ctx, `SET LOCAL maintenance_work_mem = '256MB'; SET LOCAL work_mem = '256MB'`, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.abort(ctx)
		return nil, fmt.Errorf("begin import: %w", err)
	}
	return t, nil
}

func (t *importTx) abort(ctx context.Context) {
	if t.done {
		return
	}
	t.done = true
	_ = t.tx.Rollback(context.WithoutCancel(ctx))
	t.conn.Release()
}

// check returns an error when the tx can take no more work.
func (t *importTx) check() error {
	if t.err != nil {
		return fmt.Errorf("import aborted by an earlier error: %w", t.err)
	}
	if t.done {
		return errors.New("import already committed or rolled back")
	}
	return nil
}

// fail records err as the tx's sticky error and returns it.
func (t *importTx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(tm time.Time) any {
	if tm.IsZero() {
		return nil
	}
	return tm
}

func nullCount(n int64) any {
	if n < 0 {
		return nil
	}
	return n
}

func (t *importTx) copyRows(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error {
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		return row(i), nil
	}))
	return err
}

// stage is the frame of every Add method: it refuses work once the import
// failed or ended (check), runs add, makes add's error the import's sticky
// error under "add WHAT" (fail), and adds the n rows to *count (nil: not
// counted).
func (t *importTx) stage(what string, count *int64, n int, add func() error) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := add(); err != nil {
		return t.fail(fmt.Errorf("add %s: %w", what, err))
	}
	if count != nil {
		*count += int64(n)
	}
	return nil
}

// validateRows validates every row with its history Validate method.
func validateRows[T any, P interface {
	*T
	Validate() error
}](rows []T) error {
	for i := range rows {
		if err := P(&rows[i]).Validate(); err != nil {
			return err
		}
	}
	return nil
}

// AddServices stages services; they replace stored ones with the same name.
func (t *importTx) AddServices(ctx context.Context, rows []history.Service) error {
	return t.stage("services", nil, len(rows), func() error {
		if err := validateRows(rows); err != nil {
			return err
		}
		for i := range rows {
			t.given[rows[i].Name] = true
		}
		return t.copyRows(ctx, "stage_services", []string{"name", "team", "tier"}, len(rows), func(i int) []any {
			return []any{rows[i].Name, nullStr(rows[i].Team), nullStr(rows[i].Tier)}
		})
	})
}

// AddDeployments stages deployments.
func (t *importTx) AddDeployments(ctx context.Context, rows []history.Deployment) error {
	return t.stage("deployments", &t.sum.Deployments, len(rows), func() error {
		if err := validateRows(rows); err != nil {
			return err
		}
		cols := []string{"deployment_id", "service", "environment", "version", "started_at", "finished_at",
			"commit_sha", "author", "files_changed", "lines_added", "lines_deleted", "kind"}
		return t.copyRows(ctx, "stage_deployments", cols, len(rows), func(i int) []any {
			d := &rows[i]
			return []any{d.ID, d.Service, d.Environment, d.Version, d.StartedAt, nullTime(d.FinishedAt),
				nullStr(d.CommitSHA), nullStr(d.Author), nullCount(d.FilesChanged), nullCount(d.LinesAdded),
				nullCount(d.LinesDeleted), nullStr(string(d.Kind))}
		})
	})
}

// AddIncidents stages incidents.
func (t *importTx) AddIncidents(ctx context.Context, rows []history.Incident) error {
	return t.stage("incidents", &t.sum.Incidents, len(rows), func() error {
		if err := validateRows(rows); err != nil {
			return err
		}
		cols := []string{"incident_id", "service", "environment", "opened_at", "resolved_at", "severity", "deployment_id"}
		return t.copyRows(ctx, "stage_incidents", cols, len(rows), func(i int) []any {
			r := &rows[i]
			return []any{r.ID, r.Service, nullStr(r.Environment), r.OpenedAt, nullTime(r.ResolvedAt),
				nullStr(r.Severity), nullStr(r.DeploymentID)}
		})
	})
}

// AddAnnotations stages annotations; Commit checks their deployments.
func (t *importTx) AddAnnotations(ctx context.Context, rows []history.Annotation) error {
	return t.stage("annotations", &t.sum.Annotations, len(rows), func() error {
		if err := validateRows(rows); err != nil {
			return err
		}
		cols := []string{"deployment_id", "annotator", "label", "annotated_at", "note"}
		return t.copyRows(ctx, "stage_annotations", cols, len(rows), func(i int) []any {
			r := &rows[i]
			return []any{r.DeploymentID, r.Annotator, r.Label, nullTime(r.AnnotatedAt), nullStr(r.Note)}
		})
	})
}

// ensureServices creates the named services that do not exist yet, so that
// series may reference them.
func (t *importTx) ensureServices(ctx context.Context, names []string) error {
	var missing []string
	for _, n := range names {
		if !t.services[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	rows, err := t.tx.Query(ctx, `INSERT INTO services (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING name`, missing)
	if err != nil {
		return err
	}
	created, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range created {
		t.created[n] = true
	}
	for _, n := range missing {
		t.services[n] = true
	}
	return nil
}

// resolveSeries makes sure every key has a series id in t.series.
func (t *importTx) resolveSeries(ctx context.Context, keys map[seriesKey]struct{}) error {
	var svc, env, ver []string
	names := map[string]bool{}
	for k := range keys {
		if _, ok := t.series[k]; ok {
			continue
		}
		m := history.Metric{Service: k.service, Environment: k.environment, Version: k.version}
		if err := m.ValidateKeys(); err != nil {
			return err
		}
		svc, env, ver = append(svc, k.service), append(env, k.environment), append(ver, k.version)
		names[k.service] = true
	}
	if len(svc) == 0 {
		return nil
	}
	var list []string
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	if err := t.ensureServices(ctx, list); err != nil {
		return err
	}
	if _, err := t.tx.Exec(ctx, `
		INSERT INTO series (service, environment, version)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
		ON CONFLICT DO NOTHING`, svc, env, ver); err != nil {
		return err
	}
	rows, err := t.tx.Query(ctx, `
		SELECT s.series_id, s.service, s.environment, s.version
		FROM series s JOIN unnest($1::text[], $2::text[], $3::text[]) AS k (service, environment, version)
		  ON s.service = k.service AND s.environment = k.environment AND s.version = k.version`, svc, env, ver)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int32
		var k seriesKey
		if err := rows.Scan(&id, &k.service, &k.environment, &k.version); err != nil {
			return err
		}
		t.series[k] = id
	}
	return rows.Err()
}

func monthIndex(tm time.Time) int {
	u := tm.UTC()
	return u.Year()*12 + int(u.Month()) - 1
}

// partition decides where rows of one month of parent go: a partition this
// import created (fresh: unattached and unindexed until Commit, so rows are
// COPYed straight in and the index is built once, by sorting), or an
// existing partition (rows are staged and merged at Commit).
func (t *importTx) partition(ctx context.Context, parent string, month int) (*partState, error) {
	k := partKey{parent, month}
	if p, ok := t.parts[k]; ok {
		return p, nil
	}
	lo := time.Date(month/12, time.Month(month%12+1), 1, 0, 0, 0, 0, time.UTC)
	hi := lo.AddDate(0, 1, 0)
	p := &partState{parent: parent, name: fmt.Sprintf("%s_%04d%02d", parent, lo.Year(), int(lo.Month())), lo: lo, hi: hi}
	// Same lock as faultline_month_partition: one creator per partition.
	if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('faultline_partition:' || $1))`, p.name); err != nil {
		return nil, err
	}
	var exists, inDefault bool
	if err := t.tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, p.name).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		q := fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE minute >= $1 AND minute < $2)`,
			pgx.Identifier{parent + "_default"}.Sanitize())
		if err := t.tx.QueryRow(ctx, q, lo, hi).Scan(&inDefault); err != nil {
			return nil, err
		}
	}
	switch {
	case exists:
	case inDefault:
		// Rows of this month sit in the default partition: let the SQL
		// function move them into a new, attached partition; merge after.
		if _, err := t.tx.Exec(ctx, `SELECT faultline_month_partition($1, $2)`, parent, lo); err != nil {
			return nil, err
		}
	default:
		id := pgx.Identifier{p.name}.Sanitize()
		ddl := fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
			ALTER TABLE %s ADD CONSTRAINT %s CHECK (minute >= '%s' AND minute < '%s')`,
			id, pgx.Identifier{parent}.Sanitize(), id, pgx.Identifier{p.name + "_bound"}.Sanitize(),
			lo.Format(time.RFC3339), hi.Format(time.RFC3339))
		if _, err := t.tx.Exec(ctx, ddl, pgx.QueryExecModeSimpleProtocol); err != nil {
			return nil, err
		}
		p.fresh = true
	}
	t.parts[k] = p
	return p, nil
}

// copyBinary sends one binary COPY stream into table. freeze writes the
// rows frozen (allowed for tables created in this transaction): no hint-bit
// rewrites or anti-wraparound vacuum of these pages later.
func (t *importTx) copyBinary(ctx context.Context, table string, cols string, data []byte, freeze bool) error {
	opts := "FORMAT binary"
	if freeze {
		opts += ", FREEZE"
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN (%s)", pgx.Identifier{table}.Sanitize(), cols, opts)
	_, err := t.conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data), sql)
	return err
}

const metricCols = "minute, requests, errors, latency_p50_ms, latency_p95_ms, latency_p99_ms, series_id"

// AddMetrics sends metric rows with binary COPY.
func (t *importTx) AddMetrics(ctx context.Context, rows []history.Metric) error {
	return t.stage("metrics", &t.sum.Metrics, len(rows), func() error { return t.addMetrics(ctx, rows) })
}

func (t *importTx) addMetrics(ctx context.Context, rows []history.Metric) error {
	if len(rows) == 0 {
		return nil
	}
	// Series ids for keys not seen yet in this import; rows per series.
	keys := map[seriesKey]struct{}{}
	var last seriesKey
	var lastN int64
	for i := range rows {
		if err := rows[i].ValidateValues(); err != nil {
			return err
		}
		k := seriesKey{rows[i].Service, rows[i].Environment, rows[i].Version}
		if i > 0 && k == last {
			lastN++
			continue
		}
		if i > 0 {
			t.seriesN[last] += lastN
		}
		last, lastN = k, 1
		if _, ok := t.series[k]; !ok {
			keys[k] = struct{}{}
		}
	}
	t.seriesN[last] += lastN
	if err := t.resolveSeries(ctx, keys); err != nil {
		return err
	}
	// Group by destination (month), preserving order inside each group.
	var lastKey seriesKey
	var lastID int32 = -1
	return t.byMonth(ctx, "metrics", len(rows), func(i int) time.Time { return rows[i].Minute },
		func(dst *copyBuf, i int) {
			m := &rows[i]
			if lastID < 0 || m.Service != lastKey.service || m.Version != lastKey.version || m.Environment != lastKey.environment {
				lastKey = seriesKey{m.Service, m.Environment, m.Version}
				lastID = t.series[lastKey]
			}
			dst.fields(7)
			dst.timestamptz(history.FloorMinute(m.Minute))
			dst.float8(m.Requests)
			dst.float8(m.Errors)
			dst.float8(m.LatencyP50)
			dst.float8(m.LatencyP95)
			dst.float8(m.LatencyP99)
			dst.int4(lastID)
		}, "stage_metrics", metricCols)
}

// byMonth encodes rows month by month and COPYs each month's rows into its
// fresh partition or into the staging table.
func (t *importTx) byMonth(ctx context.Context, parent string, n int, minute func(int) time.Time,
	encode func(*copyBuf, int), stage, cols string) error {
	// Most batches fall in one month: find the months first.
	months := map[int][]int{}
	first := monthIndex(minute(0))
	same := true
	for i := 1; i < n && same; i++ {
		same = monthIndex(minute(i)) == first
	}
	if same {
		months[first] = nil // nil: all rows
	} else {
		for i := range n {
			m := monthIndex(minute(i))
			months[m] = append(months[m], i)
		}
	}
	order := make([]int, 0, len(months))
	for m := range months {
		order = append(order, m)
	}
	sort.Ints(order)
	for _, m := range order {
		p, err := t.partition(ctx, parent, m)
		if err != nil {
			return fmt.Errorf("partition %s month %d: %w", parent, m, err)
		}
		t.buf.reset()
		if idx := months[m]; idx == nil {
			for i := range n {
				encode(&t.buf, i)
			}
		} else {
			for _, i := range idx {
				encode(&t.buf, i)
			}
		}
		table := stage
		if p.fresh {
			table = p.name
		} else {
			t.staged[parent] = true
		}
		if err := t.copyBinary(ctx, table, cols, t.buf.finish(), p.fresh); err != nil {
			return fmt.Errorf("copy into %s: %w", table, err)
		}
	}
	return nil
}

const signatureCols = "minute, count, series_id, fingerprint_id"

// AddSignatures sends error-signature rows with binary COPY.
func (t *importTx) AddSignatures(ctx context.Context, rows []history.Signature) error {
	return t.stage("error signatures", &t.sum.Signatures, len(rows), func() error { return t.addSignatures(ctx, rows) })
}

func (t *importTx) addSignatures(ctx context.Context, rows []history.Signature) error {
	if len(rows) == 0 {
		return nil
	}
	keys := map[seriesKey]struct{}{}
	newFP := map[string]int{} // fingerprint -> first row
	for i := range rows {
		r := &rows[i]
		if err := r.Validate(); err != nil {
			return err
		}
		k := seriesKey{r.Service, r.Environment, r.Version}
		if _, ok := t.series[k]; !ok {
			keys[k] = struct{}{}
		}
		if r.Fingerprint == "" {
			return fmt.Errorf("empty fingerprint")
		}
		if _, ok := t.fps[r.Fingerprint]; !ok {
			if _, seen := newFP[r.Fingerprint]; !seen {
				newFP[r.Fingerprint] = i
			}
		}
	}
	if err := t.resolveSeries(ctx, keys); err != nil {
		return err
	}
	if len(newFP) > 0 {
		var fp []string
		var et, ep []*string
		var sc []*int32
		for f, i := range newFP {
			r := &rows[i]
			fp = append(fp, f)
			et = append(et, strPtr(r.ErrorType))
			ep = append(ep, strPtr(r.Endpoint))
			if r.StatusCode != 0 {
				c := r.StatusCode
				sc = append(sc, &c)
			} else {
				sc = append(sc, nil)
			}
		}
		res, err := t.tx.Query(ctx, `
			INSERT INTO error_fingerprints AS f (fingerprint, error_type, endpoint, status_code)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[])
			ON CONFLICT (fingerprint) DO UPDATE SET
			  error_type = coalesce(EXCLUDED.error_type, f.error_type),
			  endpoint = coalesce(EXCLUDED.endpoint, f.endpoint),
			  status_code = coalesce(EXCLUDED.status_code, f.status_code)
			RETURNING fingerprint_id, fingerprint`, fp, et, ep, sc)
		if err != nil {
			return err
		}
		for res.Next() {
			var id int32
			var f string
			if err := res.Scan(&id, &f); err != nil {
				res.Close()
				return err
			}
			t.fps[f] = id
		}
		res.Close()
		if err := res.Err(); err != nil {
			return err
		}
	}
	return t.byMonth(ctx, "error_signatures", len(rows), func(i int) time.Time { return rows[i].Minute },
		func(dst *copyBuf, i int) {
			r := &rows[i]
			dst.fields(4)
			dst.timestamptz(history.FloorMinute(r.Minute))
			dst.int8(r.Count)
			dst.int4(t.series[seriesKey{r.Service, r.Environment, r.Version}])
			dst.int4(t.fps[r.Fingerprint])
		}, "stage_signatures", signatureCols)
}

// AddKPIs stages KPI declarations.
func (t *importTx) AddKPIs(ctx context.Context, rows []history.KPI) error {
	return t.stage("KPIs", &t.sum.KPIs, len(rows), func() error {
		if err := validateRows(rows); err != nil {
			return err
		}
		return t.copyRows(ctx, "stage_kpis", []string{"service", "environment", "name", "direction", "kind", "unit"}, len(rows), func(i int) []any {
			k := &rows[i]
			return []any{k.Service, k.Environment, k.Name, string(k.Direction), string(k.Kind), k.Unit}
		})
	})
}

const kpiValueCols = "minute, value, kpi_series_id"

// AddKPIValues sends KPI value rows with binary COPY, like metrics.
func (t *importTx) AddKPIValues(ctx context.Context, rows []history.KPIValue) error {
	return t.stage("KPI values", &t.sum.KPIValues, len(rows), func() error { return t.addKPIValues(ctx, rows) })
}

func (t *importTx) addKPIValues(ctx context.Context, rows []history.KPIValue) error {
	if len(rows) == 0 {
		return nil
	}
	keys := map[kpiSeriesKey]struct{}{}
	for i := range rows {
		r := &rows[i]
		if err := r.Validate(); err != nil {
			return err
		}
		t.spans.Add(r)
		k := kpiSeriesKey{r.Service, r.Environment, r.Version, r.Name}
		if _, ok := t.kseries[k]; !ok {
			keys[k] = struct{}{}
		}
	}
	if err := t.resolveKPISeries(ctx, keys); err != nil {
		return err
	}
	return t.byMonth(ctx, "kpi_values", len(rows), func(i int) time.Time { return rows[i].Minute },
		func(dst *copyBuf, i int) {
			r := &rows[i]
			dst.fields(3)
			dst.timestamptz(history.FloorMinute(r.Minute))
			dst.float8(r.Value)
			dst.int4(t.kseries[kpiSeriesKey{r.Service, r.Environment, r.Version, r.Name}])
		}, "stage_kpi_values", kpiValueCols)
}

// resolveKPISeries makes sure every key has a KPI series id in t.kseries.
func (t *importTx) resolveKPISeries(ctx context.Context, keys map[kpiSeriesKey]struct{}) error {
	var svc, env, ver, name []string
	names := map[string]bool{}
	for k := range keys {
		svc, env, ver, name = append(svc, k.service), append(env, k.environment), append(ver, k.version), append(name, k.name)
		names[k.service] = true
	}
	if len(svc) == 0 {
		return nil
	}
	var list []string
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	if err := t.ensureServices(ctx, list); err != nil {
		return err
	}
	if _, err := t.tx.Exec(ctx, `
		INSERT INTO kpi_series (service, environment, version, name)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
		ON CONFLICT DO NOTHING`, svc, env, ver, name); err != nil {
		return err
	}
	rows, err := t.tx.Query(ctx, `
		SELECT s.kpi_series_id, s.service, s.environment, s.version, s.name
		FROM kpi_series s JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k (service, environment, version, name)
		  ON s.service = k.service AND s.environment = k.environment AND s.version = k.version AND s.name = k.name`, svc, env, ver, name)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int32
		var k kpiSeriesKey
		if err := rows.Scan(&id, &k.service, &k.environment, &k.version, &k.name); err != nil {
			return err
		}
		t.kseries[k] = id
	}
	return rows.Err()
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Commit merges the staged rows, infers rollbacks, checks annotations and
// commits. On error the import is rolled back.
func (t *importTx) Commit(ctx context.Context) (history.ImportSummary, error) {
	if err := t.check(); err != nil {
		t.abort(ctx)
		return history.ImportSummary{}, err
	}
	sum, err := t.commit(ctx)
	if err != nil {
		t.abort(ctx)
		return history.ImportSummary{}, err
	}
	return sum, nil
}

func (t *importTx) exec(ctx context.Context, what, sql string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("commit import: %s: %w", what, err)
	}
	return tag.RowsAffected(), nil
}

// commit merges the staged rows in dependency order: services,
// deployments (with rollback inference), incidents, KPIs, annotations,
// then the series rows.
func (t *importTx) commit(ctx context.Context) (history.ImportSummary, error) {
	sum := t.sum
	n, err := t.commitServices(ctx)
	if err != nil {
		return sum, err
	}
	sum.Services = n

	// Deployments, then rollback inference over the streams they touch.
	if sum.Deployments > 0 {
		n, err := t.upsertDeployments(ctx)
		if err != nil {
			return sum, err
		}
		sum.RollbacksInferred = n
	}

	if _, err = t.exec(ctx, "incidents", `
		INSERT INTO incidents SELECT incident_id, service, environment, opened_at, resolved_at, severity, deployment_id
		FROM stage_incidents
		ON CONFLICT (incident_id) DO UPDATE SET service = EXCLUDED.service, environment = EXCLUDED.environment,
		  opened_at = EXCLUDED.opened_at, resolved_at = EXCLUDED.resolved_at, severity = EXCLUDED.severity,
		  deployment_id = EXCLUDED.deployment_id
		WHERE (incidents.service, incidents.environment, incidents.opened_at, incidents.resolved_at,
		  incidents.severity, incidents.deployment_id) IS DISTINCT FROM (EXCLUDED.service, EXCLUDED.environment,
		  EXCLUDED.opened_at, EXCLUDED.resolved_at, EXCLUDED.severity, EXCLUDED.deployment_id)`); err != nil {
		return sum, err
	}

	if err := t.commitKPIs(ctx); err != nil {
		return sum, err
	}
	if err := t.undeployed(ctx, &sum); err != nil {
		return sum, err
	}
	if err := t.commitAnnotations(ctx); err != nil {
		return sum, err
	}
	if err := t.commitSeries(ctx); err != nil {
		return sum, err
	}
	if err := t.tx.Commit(ctx); err != nil {
		return sum, fmt.Errorf("commit import: %w", err)
	}
	t.done = true
	t.conn.Release()
	return sum, nil
}

// commitServices upserts the services: given ones replace stored ones;
// named ones are created. It returns how many services the import gave or
// created.
func (t *importTx) commitServices(ctx context.Context) (int64, error) {
	if _, err := t.exec(ctx, "services", `
		INSERT INTO services AS s (name, team, tier)
		SELECT DISTINCT ON (name) name, team, tier FROM stage_services ORDER BY name
		ON CONFLICT (name) DO UPDATE SET team = EXCLUDED.team, tier = EXCLUDED.tier
		WHERE (s.team, s.tier) IS DISTINCT FROM (EXCLUDED.team, EXCLUDED.tier)`); err != nil {
		return 0, err
	}
	rows, err := t.tx.Query(ctx, `
		INSERT INTO services (name)
		SELECT service FROM stage_deployments UNION SELECT service FROM stage_incidents
		UNION SELECT service FROM stage_kpis
		ON CONFLICT DO NOTHING RETURNING name`)
	if err != nil {
		return 0, fmt.Errorf("commit import: services: %w", err)
	}
	created, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("commit import: services: %w", err)
	}
	for _, n := range created {
		t.created[n] = true
	}
	names := map[string]bool{}
	for n := range t.given {
		names[n] = true
	}
	for n := range t.created {
		names[n] = true
	}
	return int64(len(names)), nil
}

// commitAnnotations upserts the staged annotations, which must name
// existing deployments (else a *history.MissingDeploymentError).
func (t *importTx) commitAnnotations(ctx context.Context) error {
	rows, err := t.tx.Query(ctx, `
		SELECT DISTINCT a.deployment_id FROM stage_annotations a
		WHERE NOT EXISTS (SELECT 1 FROM deployments d WHERE d.deployment_id = a.deployment_id)
		ORDER BY 1`)
	if err != nil {
		return fmt.Errorf("commit import: check annotations: %w", err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("commit import: check annotations: %w", err)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return &history.MissingDeploymentError{DeploymentIDs: missing}
	}
	_, err = t.exec(ctx, "annotations", `
		INSERT INTO annotations (deployment_id, annotator, label, annotated_at, note)
		SELECT deployment_id, coalesce(annotator, ''), label, annotated_at, note FROM stage_annotations
		ON CONFLICT (deployment_id, annotator) DO UPDATE SET label = EXCLUDED.label,
		  annotated_at = EXCLUDED.annotated_at, note = EXCLUDED.note
		WHERE (annotations.label, annotations.annotated_at, annotations.note)
		  IS DISTINCT FROM (EXCLUDED.label, EXCLUDED.annotated_at, EXCLUDED.note)`)
	return err
}

// commitSeries attaches the fresh partitions and merges the staged rows of
// metrics, KPI values and error signatures into the months that already had
// a partition.
func (t *importTx) commitSeries(ctx context.Context) error {
	// Fresh partitions: attach (builds their primary-key index by sorting;
	// the CHECK constraint added at creation spares the validation scan).
	var fresh []*partState
	for _, p := range t.parts {
		if p.fresh {
			fresh = append(fresh, p)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].name < fresh[j].name })
	for _, p := range fresh {
		q := fmt.Sprintf(`ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`,
			pgx.Identifier{p.parent}.Sanitize(), pgx.Identifier{p.name}.Sanitize(),
			p.lo.Format(time.RFC3339), p.hi.Format(time.RFC3339))
		if _, err := t.exec(ctx, "attach partition "+p.name, q); err != nil {
			return duplicateHint(err)
		}
	}
	// Rows for months that already had a partition: merge. Rows equal to
	// stored ones are dropped from staging first, by a join (no row locks,
	// no writes to the stored table): a re-import of unchanged files then
	// writes nothing.
	if t.staged["metrics"] {
		if _, err := t.exec(ctx, "metrics", `ANALYZE stage_metrics`); err != nil {
			return err
		}
		if _, err := t.exec(ctx, "metrics", `
			DELETE FROM stage_metrics s USING metrics m
			WHERE m.series_id = s.series_id AND m.minute = s.minute
			  AND (m.requests, m.errors, m.latency_p50_ms, m.latency_p95_ms, m.latency_p99_ms)
			      IS NOT DISTINCT FROM (s.requests, s.errors, s.latency_p50_ms, s.latency_p95_ms, s.latency_p99_ms)`); err != nil {
			return err
		}
	}
	if t.staged["kpi_values"] {
		if _, err := t.exec(ctx, "KPI values", `ANALYZE stage_kpi_values`); err != nil {
			return err
		}
		if _, err := t.exec(ctx, "KPI values", `
			DELETE FROM stage_kpi_values s USING kpi_values v
			WHERE v.kpi_series_id = s.kpi_series_id AND v.minute = s.minute AND v.value = s.value`); err != nil {
			return err
		}
	}
	if t.staged["error_signatures"] {
		if _, err := t.exec(ctx, "error signatures", `ANALYZE stage_signatures`); err != nil {
			return err
		}
		if _, err := t.exec(ctx, "error signatures", `
			DELETE FROM stage_signatures s USING error_signatures g
			WHERE g.series_id = s.series_id AND g.minute = s.minute AND g.fingerprint_id = s.fingerprint_id
			  AND g.count = s.count`); err != nil {
			return err
		}
	}
	if _, err := t.exec(ctx, "metrics", `
		INSERT INTO metrics SELECT * FROM stage_metrics
		ON CONFLICT (series_id, minute) DO UPDATE SET requests = EXCLUDED.requests, errors = EXCLUDED.errors,
		  latency_p50_ms = EXCLUDED.latency_p50_ms, latency_p95_ms = EXCLUDED.latency_p95_ms,
		  latency_p99_ms = EXCLUDED.latency_p99_ms
		WHERE (metrics.requests, metrics.errors, metrics.latency_p50_ms, metrics.latency_p95_ms, metrics.latency_p99_ms)
		  IS DISTINCT FROM (EXCLUDED.requests, EXCLUDED.errors, EXCLUDED.latency_p50_ms, EXCLUDED.latency_p95_ms,
		  EXCLUDED.latency_p99_ms)`); err != nil {
		return duplicateHint(err)
	}
	if _, err := t.exec(ctx, "KPI values", `
		INSERT INTO kpi_values SELECT * FROM stage_kpi_values
		ON CONFLICT (kpi_series_id, minute) DO UPDATE SET value = EXCLUDED.value
		WHERE kpi_values.value <> EXCLUDED.value`); err != nil {
		return duplicateHint(err)
	}
	if _, err := t.exec(ctx, "error signatures", `
		INSERT INTO error_signatures SELECT * FROM stage_signatures
		ON CONFLICT (series_id, minute, fingerprint_id) DO UPDATE SET count = EXCLUDED.count
		WHERE error_signatures.count <> EXCLUDED.count`); err != nil {
		return duplicateHint(err)
	}
	return nil
}

// commitKPIs upserts the staged KPI declarations, then checks the spans of
// the KPI values added against the declarations in force for their
// services (history.CheckKPISpans: the same rule as the embedded store).
func (t *importTx) commitKPIs(ctx context.Context) error {
	if t.sum.KPIs > 0 {
		if _, err := t.exec(ctx, "KPIs", `
			INSERT INTO kpis AS k (service, environment, name, direction, kind, unit)
			SELECT DISTINCT ON (service, environment, name) service, environment, name, direction, kind, unit
			FROM stage_kpis ORDER BY service, environment, name
			ON CONFLICT (service, environment, name) DO UPDATE SET direction = EXCLUDED.direction,
			  kind = EXCLUDED.kind, unit = EXCLUDED.unit
			WHERE (k.direction, k.kind, k.unit) IS DISTINCT FROM (EXCLUDED.direction, EXCLUDED.kind, EXCLUDED.unit)`); err != nil {
			return err
		}
	}
	if len(t.spans) == 0 {
		return nil
	}
	svcs := map[string]bool{}
	for k := range t.spans {
		svcs[k.Service] = true
	}
	list := make([]string, 0, len(svcs))
	for s := range svcs {
		list = append(list, s)
	}
	rows, err := t.tx.Query(ctx, `SELECT service, environment, name, direction, kind, unit FROM kpis WHERE service = ANY($1)`, list)
	if err != nil {
		return fmt.Errorf("commit import: KPIs: %w", err)
	}
	decls, err := pgx.CollectRows(rows, scanKPI)
	if err != nil {
		return fmt.Errorf("commit import: KPIs: %w", err)
	}
	return history.CheckKPISpans(decls, t.spans)
}

// undeployed lists in sum the per-version metric series this import added
// rows to whose version has no deployment in its stream (after the
// deployments of this import were upserted).
func (t *importTx) undeployed(ctx context.Context, sum *history.ImportSummary) error {
	var svc, env, ver []string
	for k := range t.seriesN {
		if k.version != history.AggregateVersion {
			svc, env, ver = append(svc, k.service), append(env, k.environment), append(ver, k.version)
		}
	}
	if len(svc) == 0 {
		return nil
	}
	rows, err := t.tx.Query(ctx, `
		SELECT k.service, k.environment, k.version FROM unnest($1::text[], $2::text[], $3::text[]) AS k (service, environment, version)
		WHERE NOT EXISTS (SELECT 1 FROM deployments d
		  WHERE d.service = k.service AND d.environment = k.environment AND d.version = k.version)`, svc, env, ver)
	if err != nil {
		return fmt.Errorf("commit import: versions without deployment: %w", err)
	}
	var k seriesKey
	_, err = pgx.ForEachRow(rows, []any{&k.service, &k.environment, &k.version}, func() error {
		n := t.seriesN[k]
		sum.Undeployed = append(sum.Undeployed, history.UndeployedSeries{Service: k.service, Environment: k.environment, Version: k.version, Rows: n})
		sum.UndeployedRows += n
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit import: versions without deployment: %w", err)
	}
	history.SortUndeployed(sum.Undeployed)
	return nil
}

// upsertDeployments upserts the staged deployments, then re-infers with
// history.InferKinds the kinds of every deployment of the streams that the
// staged rows belong to or leave (their stored row was in another stream),
// and stores the kinds that changed. It returns the number of staged
// deployments without a kind whose inferred kind is rollback.
func (t *importTx) upsertDeployments(ctx context.Context) (int64, error) {
	// The streams to re-infer, read before the upsert moves any row.
	rows, err := t.tx.Query(ctx, `
		SELECT service, environment FROM stage_deployments
		UNION
		SELECT d.service, d.environment FROM deployments d JOIN stage_deployments s USING (deployment_id)`)
	if err != nil {
		return 0, fmt.Errorf("commit import: deployments: %w", err)
	}
	streams, err := pgx.CollectRows(rows, pgx.RowToStructByPos[history.Stream])
	if err != nil {
		return 0, fmt.Errorf("commit import: deployments: %w", err)
	}
	svc, env := make([]string, len(streams)), make([]string, len(streams))
	for i, st := range streams {
		svc[i], env[i] = st.Service, st.Environment
	}

	// A row given without kind keeps the stored inferred kind until
	// re-inference decides, so that re-importing unchanged files writes
	// nothing.
	if _, err := t.exec(ctx, "deployments", `
		INSERT INTO deployments AS d (deployment_id, service, environment, version, started_at, finished_at,
		  commit_sha, author, files_changed, lines_added, lines_deleted, kind, kind_inferred)
		SELECT deployment_id, service, environment, version, started_at, finished_at, commit_sha, author,
		  files_changed, lines_added, lines_deleted, coalesce(kind, 'deploy'), kind IS NULL
		FROM stage_deployments
		ON CONFLICT (deployment_id) DO UPDATE SET service = EXCLUDED.service, environment = EXCLUDED.environment,
		  version = EXCLUDED.version, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
		  commit_sha = EXCLUDED.commit_sha, author = EXCLUDED.author, files_changed = EXCLUDED.files_changed,
		  lines_added = EXCLUDED.lines_added, lines_deleted = EXCLUDED.lines_deleted,
		  kind = CASE WHEN d.kind_inferred AND EXCLUDED.kind_inferred THEN d.kind ELSE EXCLUDED.kind END,
		  kind_inferred = EXCLUDED.kind_inferred
		WHERE (d.service, d.environment, d.version, d.started_at, d.finished_at, d.commit_sha, d.author,
		  d.files_changed, d.lines_added, d.lines_deleted, d.kind, d.kind_inferred)
		  IS DISTINCT FROM (EXCLUDED.service, EXCLUDED.environment, EXCLUDED.version, EXCLUDED.started_at,
		  EXCLUDED.finished_at, EXCLUDED.commit_sha, EXCLUDED.author, EXCLUDED.files_changed,
		  EXCLUDED.lines_added, EXCLUDED.lines_deleted,
		  CASE WHEN d.kind_inferred AND EXCLUDED.kind_inferred THEN d.kind ELSE EXCLUDED.kind END,
		  EXCLUDED.kind_inferred)`); err != nil {
		return 0, err
	}

	// Every deployment of those streams, in the order InferKinds wants.
	rows, err = t.tx.Query(ctx, `
		SELECT d.deployment_id, d.service, d.environment, d.version, d.started_at, d.kind, d.kind_inferred,
		  d.deployment_id IN (SELECT deployment_id FROM stage_deployments WHERE kind IS NULL)
		FROM deployments d JOIN unnest($1::text[], $2::text[]) AS k (service, environment)
		  ON d.service = k.service AND d.environment = k.environment
		ORDER BY d.service COLLATE "C", d.environment COLLATE "C", d.started_at, d.deployment_id COLLATE "C"`, svc, env)
	if err != nil {
		return 0, fmt.Errorf("commit import: infer rollbacks: %w", err)
	}
	var ds []history.Deployment
	kindless := map[string]bool{} // staged without kind
	var d history.Deployment
	var kind string
	var noKind bool
	_, err = pgx.ForEachRow(rows, []any{&d.ID, &d.Service, &d.Environment, &d.Version, &d.StartedAt, &kind, &d.KindInferred, &noKind},
		func() error {
			d.Kind = history.Kind(kind)
			ds = append(ds, d)
			if noKind {
				kindless[d.ID] = true
			}
			return nil
		})
	if err != nil {
		return 0, fmt.Errorf("commit import: infer rollbacks: %w", err)
	}
	changed := history.InferKinds(ds)
	var n int64
	for _, d := range ds {
		if kindless[d.ID] && d.Kind == history.KindRollback {
			n++
		}
	}
	if len(changed) == 0 {
		return n, nil
	}
	ids, kinds := make([]string, len(changed)), make([]string, len(changed))
	for i, c := range changed {
		ids[i], kinds[i] = ds[c].ID, string(ds[c].Kind)
	}
	if _, err := t.exec(ctx, "infer rollbacks", `
		UPDATE deployments d SET kind = u.kind, kind_inferred = true
		FROM unnest($1::text[], $2::text[]) AS u (deployment_id, kind)
		WHERE d.deployment_id = u.deployment_id`, ids, kinds); err != nil {
		return 0, err
	}
	return n, nil
}

// duplicateHint explains the errors that a key given twice in one import
// causes.
func duplicateHint(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "21000") {
		return fmt.Errorf("%w (a key was given twice in this import)", err)
	}
	return err
}

// Rollback abandons the import; safe after Commit.
func (t *importTx) Rollback(ctx context.Context) error {
	t.abort(ctx)
	return nil
}
