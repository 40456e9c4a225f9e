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
`

type seriesKey struct{ service, environment, version string }

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

// AddServices stages services; they replace stored ones with the same name.
func (t *importTx) AddServices(ctx context.Context, rows []history.Service) error {
	if err := t.check(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Name == "" {
			return t.fail(errors.New("add services: empty service name"))
		}
		t.given[r.Name] = true
	}
	err := t.copyRows(ctx, "stage_services", []string{"name", "team", "tier"}, len(rows), func(i int) []any {
		return []any{rows[i].Name, nullStr(rows[i].Team), nullStr(rows[i].Tier)}
	})
	if err != nil {
		return t.fail(fmt.Errorf("add services: %w", err))
	}
	return nil
}

// AddDeployments stages deployments.
func (t *importTx) AddDeployments(ctx context.Context, rows []history.Deployment) error {
	if err := t.check(); err != nil {
		return err
	}
	cols := []string{"deployment_id", "service", "environment", "version", "started_at", "finished_at",
		"commit_sha", "author", "files_changed", "lines_added", "lines_deleted", "kind"}
	err := t.copyRows(ctx, "stage_deployments", cols, len(rows), func(i int) []any {
		d := &rows[i]
		return []any{d.ID, d.Service, d.Environment, d.Version, d.StartedAt, nullTime(d.FinishedAt),
			nullStr(d.CommitSHA), nullStr(d.Author), nullCount(d.FilesChanged), nullCount(d.LinesAdded),
			nullCount(d.LinesDeleted), nullStr(string(d.Kind))}
	})
	if err != nil {
		return t.fail(fmt.Errorf("add deployments: %w", err))
	}
	t.sum.Deployments += int64(len(rows))
	return nil
}

// AddIncidents stages incidents.
func (t *importTx) AddIncidents(ctx context.Context, rows []history.Incident) error {
	if err := t.check(); err != nil {
		return err
	}
	cols := []string{"incident_id", "service", "environment", "opened_at", "resolved_at", "severity", "deployment_id"}
	err := t.copyRows(ctx, "stage_incidents", cols, len(rows), func(i int) []any {
		r := &rows[i]
		return []any{r.ID, r.Service, nullStr(r.Environment), r.OpenedAt, nullTime(r.ResolvedAt),
			nullStr(r.Severity), nullStr(r.DeploymentID)}
	})
	if err != nil {
		return t.fail(fmt.Errorf("add incidents: %w", err))
	}
	t.sum.Incidents += int64(len(rows))
	return nil
}

// AddAnnotations stages annotations; Commit checks their deployments.
func (t *importTx) AddAnnotations(ctx context.Context, rows []history.Annotation) error {
	if err := t.check(); err != nil {
		return err
	}
	cols := []string{"deployment_id", "annotator", "label", "annotated_at", "note"}
	err := t.copyRows(ctx, "stage_annotations", cols, len(rows), func(i int) []any {
		r := &rows[i]
		return []any{r.DeploymentID, r.Annotator, r.Label, nullTime(r.AnnotatedAt), nullStr(r.Note)}
	})
	if err != nil {
		return t.fail(fmt.Errorf("add annotations: %w", err))
	}
	t.sum.Annotations += int64(len(rows))
	return nil
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
	if err := t.check(); err != nil {
		return err
	}
	if err := t.addMetrics(ctx, rows); err != nil {
		return t.fail(fmt.Errorf("add metrics: %w", err))
	}
	t.sum.Metrics += int64(len(rows))
	return nil
}

func (t *importTx) addMetrics(ctx context.Context, rows []history.Metric) error {
	if len(rows) == 0 {
		return nil
	}
	// Series ids for keys not seen yet in this import.
	keys := map[seriesKey]struct{}{}
	var last seriesKey
	for i := range rows {
		k := seriesKey{rows[i].Service, rows[i].Environment, rows[i].Version}
		if i > 0 && k == last {
			continue
		}
		last = k
		if _, ok := t.series[k]; !ok {
			keys[k] = struct{}{}
		}
	}
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
			dst.timestamptz(m.Minute)
			dst.int8(m.Requests)
			dst.int8(m.Errors)
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
	if err := t.check(); err != nil {
		return err
	}
	if err := t.addSignatures(ctx, rows); err != nil {
		return t.fail(fmt.Errorf("add error signatures: %w", err))
	}
	t.sum.Signatures += int64(len(rows))
	return nil
}

func (t *importTx) addSignatures(ctx context.Context, rows []history.Signature) error {
	if len(rows) == 0 {
		return nil
	}
	keys := map[seriesKey]struct{}{}
	newFP := map[string]int{} // fingerprint -> first row
	for i := range rows {
		r := &rows[i]
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
			dst.timestamptz(r.Minute)
			dst.int8(r.Count)
			dst.int4(t.series[seriesKey{r.Service, r.Environment, r.Version}])
			dst.int4(t.fps[r.Fingerprint])
		}, "stage_signatures", signatureCols)
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

func (t *importTx) commit(ctx context.Context) (history.ImportSummary, error) {
	sum := t.sum
	// Services: given ones replace stored ones; named ones are created.
	if _, err := t.exec(ctx, "services", `
		INSERT INTO services AS s (name, team, tier)
		SELECT DISTINCT ON (name) name, team, tier FROM stage_services ORDER BY name
		ON CONFLICT (name) DO UPDATE SET team = EXCLUDED.team, tier = EXCLUDED.tier
		WHERE (s.team, s.tier) IS DISTINCT FROM (EXCLUDED.team, EXCLUDED.tier)`); err != nil {
		return sum, err
	}
	rows, err := t.tx.Query(ctx, `
		INSERT INTO services (name)
		SELECT service FROM stage_deployments UNION SELECT service FROM stage_incidents
		ON CONFLICT DO NOTHING RETURNING name`)
	if err != nil {
		return sum, fmt.Errorf("commit import: services: %w", err)
	}
	created, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return sum, fmt.Errorf("commit import: services: %w", err)
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
	sum.Services = int64(len(names))

	// Deployments, then rollback inference over the streams they touch,
	// existing rows included: an earlier deployment of the same version
	// (imported now or before) makes a deployment without kind a rollback.
	if _, err = t.exec(ctx, "deployments", `
		INSERT INTO deployments (deployment_id, service, environment, version, started_at, finished_at,
		  commit_sha, author, files_changed, lines_added, lines_deleted, kind, kind_inferred)
		SELECT deployment_id, service, environment, version, started_at, finished_at, commit_sha, author,
		  files_changed, lines_added, lines_deleted, coalesce(kind, 'deploy'), kind IS NULL
		FROM stage_deployments
		ON CONFLICT (deployment_id) DO UPDATE SET service = EXCLUDED.service, environment = EXCLUDED.environment,
		  version = EXCLUDED.version, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
		  commit_sha = EXCLUDED.commit_sha, author = EXCLUDED.author, files_changed = EXCLUDED.files_changed,
		  lines_added = EXCLUDED.lines_added, lines_deleted = EXCLUDED.lines_deleted, kind = EXCLUDED.kind,
		  kind_inferred = EXCLUDED.kind_inferred
		WHERE (deployments.service, deployments.environment, deployments.version, deployments.started_at,
		  deployments.finished_at, deployments.commit_sha, deployments.author, deployments.files_changed,
		  deployments.lines_added, deployments.lines_deleted, deployments.kind, deployments.kind_inferred)
		  IS DISTINCT FROM (EXCLUDED.service, EXCLUDED.environment, EXCLUDED.version, EXCLUDED.started_at,
		  EXCLUDED.finished_at, EXCLUDED.commit_sha, EXCLUDED.author, EXCLUDED.files_changed,
		  EXCLUDED.lines_added, EXCLUDED.lines_deleted, EXCLUDED.kind, EXCLUDED.kind_inferred)`); err != nil {
		return sum, err
	}
	if sum.Deployments > 0 {
		// Only streams with deployments in this import are re-inferred.
		if err := t.tx.QueryRow(ctx, `
			WITH k AS (
			  SELECT d.deployment_id, d.kind AS old, CASE WHEN EXISTS (
			      SELECT 1 FROM deployments e
			      WHERE e.service = d.service AND e.environment = d.environment AND e.version = d.version
			        AND (e.started_at < d.started_at OR
			             (e.started_at = d.started_at AND e.deployment_id COLLATE "C" < d.deployment_id COLLATE "C")))
			    THEN 'rollback' ELSE 'deploy' END AS kind
			  FROM deployments d
			  WHERE d.kind_inferred
			    AND (d.service, d.environment) IN (SELECT service, environment FROM stage_deployments)
			), upd AS (
			  UPDATE deployments d SET kind = k.kind FROM k
			  WHERE d.deployment_id = k.deployment_id AND k.kind <> k.old
			)
			SELECT count(*) FROM k JOIN stage_deployments s USING (deployment_id)
			WHERE k.kind = 'rollback' AND s.kind IS NULL`).Scan(&sum.RollbacksInferred); err != nil {
			return sum, fmt.Errorf("commit import: infer rollbacks: %w", err)
		}
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

	// Annotations must name existing deployments.
	rows, err = t.tx.Query(ctx, `
		SELECT DISTINCT a.deployment_id FROM stage_annotations a
		WHERE NOT EXISTS (SELECT 1 FROM deployments d WHERE d.deployment_id = a.deployment_id)
		ORDER BY 1`)
	if err != nil {
		return sum, fmt.Errorf("commit import: check annotations: %w", err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return sum, fmt.Errorf("commit import: check annotations: %w", err)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return sum, &history.MissingDeploymentError{DeploymentIDs: missing}
	}
	if _, err = t.exec(ctx, "annotations", `
		INSERT INTO annotations (deployment_id, annotator, label, annotated_at, note)
		SELECT deployment_id, coalesce(annotator, ''), label, annotated_at, note FROM stage_annotations
		ON CONFLICT (deployment_id, annotator) DO UPDATE SET label = EXCLUDED.label,
		  annotated_at = EXCLUDED.annotated_at, note = EXCLUDED.note
		WHERE (annotations.label, annotations.annotated_at, annotations.note)
		  IS DISTINCT FROM (EXCLUDED.label, EXCLUDED.annotated_at, EXCLUDED.note)`); err != nil {
		return sum, err
	}

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
			return sum, duplicateHint(err)
		}
	}
	// Rows for months that already had a partition: merge. Rows equal to
	// stored ones are dropped from staging first, by a join (no row locks,
	// no writes to the stored table): a re-import of unchanged files then
	// writes nothing.
	if t.staged["metrics"] {
		if _, err := t.exec(ctx, "metrics", `ANALYZE stage_metrics`); err != nil {
			return sum, err
		}
		if _, err := t.exec(ctx, "metrics", `
			DELETE FROM stage_metrics s USING metrics m
			WHERE m.series_id = s.series_id AND m.minute = s.minute
			  AND (m.requests, m.errors, m.latency_p50_ms, m.latency_p95_ms, m.latency_p99_ms)
			      IS NOT DISTINCT FROM (s.requests, s.errors, s.latency_p50_ms, s.latency_p95_ms, s.latency_p99_ms)`); err != nil {
			return sum, err
		}
	}
	if t.staged["error_signatures"] {
		if _, err := t.exec(ctx, "error signatures", `ANALYZE stage_signatures`); err != nil {
			return sum, err
		}
		if _, err := t.exec(ctx, "error signatures", `
			DELETE FROM stage_signatures s USING error_signatures g
			WHERE g.series_id = s.series_id AND g.minute = s.minute AND g.fingerprint_id = s.fingerprint_id
			  AND g.count = s.count`); err != nil {
			return sum, err
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
		return sum, duplicateHint(err)
	}
	if _, err := t.exec(ctx, "error signatures", `
		INSERT INTO error_signatures SELECT * FROM stage_signatures
		ON CONFLICT (series_id, minute, fingerprint_id) DO UPDATE SET count = EXCLUDED.count
		WHERE error_signatures.count <> EXCLUDED.count`); err != nil {
		return sum, duplicateHint(err)
	}
	if err := t.tx.Commit(ctx); err != nil {
		return sum, fmt.Errorf("commit import: %w", err)
	}
	t.done = true
	t.conn.Release()
	return sum, nil
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
