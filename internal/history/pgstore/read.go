package pgstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/internal/history"
)

// pgEpochUnix is 2000-01-01T00:00:00Z in Unix seconds: PostgreSQL's epoch
// for binary timestamps (microseconds since then).
const pgEpochUnix = 946684800

// rangeWhere appends "AND col >= $n" / "AND col < $n" for the bounds of r that
// are set. Separate SQL texts per shape keep plans index-friendly and let
// partition pruning work.
func rangeWhere(col string, r history.Range, args []any) (string, []any) {
	var b strings.Builder
	if !r.From.IsZero() {
		args = append(args, r.From)
		fmt.Fprintf(&b, " AND %s >= $%d", col, len(args))
	}
	if !r.Until.IsZero() {
		args = append(args, r.Until)
		fmt.Fprintf(&b, " AND %s < $%d", col, len(args))
	}
	return b.String(), args
}

// Services lists the services, sorted by name.
func (s *Store) Services(ctx context.Context) ([]history.Service, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, coalesce(team, ''), coalesce(tier, '') FROM services ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("read services: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (history.Service, error) {
		var v history.Service
		err := r.Scan(&v.Name, &v.Team, &v.Tier)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("read services: %w", err)
	}
	return out, nil
}

const deploymentCols = `deployment_id, service, environment, version, started_at, finished_at,
	coalesce(commit_sha, ''), coalesce(author, ''), coalesce(files_changed, -1), coalesce(lines_added, -1),
	coalesce(lines_deleted, -1), kind, kind_inferred`

func scanDeployment(r pgx.CollectableRow) (history.Deployment, error) {
	var d history.Deployment
	var fin *time.Time
	var kind string
	err := r.Scan(&d.ID, &d.Service, &d.Environment, &d.Version, &d.StartedAt, &fin, &d.CommitSHA, &d.Author,
		&d.FilesChanged, &d.LinesAdded, &d.LinesDeleted, &kind, &d.KindInferred)
	d.StartedAt = d.StartedAt.UTC()
	if fin != nil {
		d.FinishedAt = fin.UTC()
	}
	d.Kind = history.Kind(kind)
	return d, err
}

// Deployments returns the deployments whose StartedAt lies in r, ordered by
// StartedAt, then ID.
func (s *Store) Deployments(ctx context.Context, r history.Range) ([]history.Deployment, error) {
	where, args := rangeWhere("started_at", r, nil)
	rows, err := s.pool.Query(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE true`+where+
		` ORDER BY started_at, deployment_id COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("read deployments: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanDeployment)
	if err != nil {
		return nil, fmt.Errorf("read deployments: %w", err)
	}
	return out, nil
}

// DeploymentByID returns the deployment with the id, read by primary key;
// ok is false when there is none.
func (s *Store) DeploymentByID(ctx context.Context, id string) (history.Deployment, bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE deployment_id = $1`, id)
	if err != nil {
		return history.Deployment{}, false, fmt.Errorf("read deployment %q: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, scanDeployment)
	if err != nil {
		return history.Deployment{}, false, fmt.Errorf("read deployment %q: %w", id, err)
	}
	if len(out) == 0 {
		return history.Deployment{}, false, nil
	}
	return out[0], true, nil
}

// Streams lists every (service, environment) pair that has deployments,
// metrics or KPI values, sorted by service, then environment.
func (s *Store) Streams(ctx context.Context) ([]history.Stream, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT service, environment FROM (
			SELECT DISTINCT service, environment FROM deployments
			UNION
			SELECT se.service, se.environment FROM series se
			WHERE EXISTS (SELECT 1 FROM metrics m WHERE m.series_id = se.series_id)
			UNION
			SELECT ks.service, ks.environment FROM kpi_series ks
			WHERE EXISTS (SELECT 1 FROM kpi_values v WHERE v.kpi_series_id = ks.kpi_series_id)
		) x ORDER BY service COLLATE "C", environment COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("read streams: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (history.Stream, error) {
		var v history.Stream
		err := r.Scan(&v.Service, &v.Environment)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("read streams: %w", err)
	}
	return out, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func int8At(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("want 8 bytes, got %d", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// float8At decodes a binary float8; NULL (nil) is NaN.
func float8At(b []byte) float64 {
	if len(b) != 8 {
		return math.NaN()
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b))
}

func scanKPI(r pgx.CollectableRow) (history.KPI, error) {
	var k history.KPI
	var dir, kind string
	err := r.Scan(&k.Service, &k.Environment, &k.Name, &dir, &kind, &k.Unit)
	k.Direction, k.Kind = history.Direction(dir), history.KPIKind(kind)
	return k, err
}

// KPIs returns every KPI declaration, ordered by service, environment, name.
func (s *Store) KPIs(ctx context.Context) ([]history.KPI, error) {
	rows, err := s.pool.Query(ctx, `SELECT service, environment, name, direction, kind, unit FROM kpis
		ORDER BY service COLLATE "C", environment COLLATE "C", name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("read KPIs: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanKPI)
	if err != nil {
		return nil, fmt.Errorf("read KPIs: %w", err)
	}
	return out, nil
}

// Incidents returns the incidents opened in r, ordered by OpenedAt, ID.
func (s *Store) Incidents(ctx context.Context, r history.Range) ([]history.Incident, error) {
	where, args := rangeWhere("opened_at", r, nil)
	rows, err := s.pool.Query(ctx, `
		SELECT incident_id, service, coalesce(environment, ''), opened_at, resolved_at, coalesce(severity, ''),
		       coalesce(deployment_id, '')
		FROM incidents WHERE true`+where+` ORDER BY opened_at, incident_id COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (history.Incident, error) {
		var v history.Incident
		var res *time.Time
		err := r.Scan(&v.ID, &v.Service, &v.Environment, &v.OpenedAt, &res, &v.Severity, &v.DeploymentID)
		v.OpenedAt = v.OpenedAt.UTC()
		if res != nil {
			v.ResolvedAt = res.UTC()
		}
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	return out, nil
}

// Annotations returns every annotation, ordered by deployment, annotator.
func (s *Store) Annotations(ctx context.Context) ([]history.Annotation, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT deployment_id, label, annotator, annotated_at, coalesce(note, '')
		FROM annotations ORDER BY deployment_id COLLATE "C", annotator COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("read annotations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (history.Annotation, error) {
		var v history.Annotation
		var at *time.Time
		err := r.Scan(&v.DeploymentID, &v.Label, &v.Annotator, &at, &v.Note)
		if at != nil {
			v.AnnotatedAt = at.UTC()
		}
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("read annotations: %w", err)
	}
	return out, nil
}

// PutTruth upserts simulator ground truth by deployment ID, in one
// transaction.
func (s *Store) PutTruth(ctx context.Context, rows []history.Truth) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("put truth: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	for i := range rows {
		if err := rows[i].Validate(); err != nil {
			return fmt.Errorf("put truth: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE stage_truth (LIKE simulation_truth) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("put truth: %w", err)
	}
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		t := rows[i]
		return []any{t.DeploymentID, t.Faulty, t.Shape, t.OnsetMinute, t.Confounders, t.Severity, t.KPI, t.Direction}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_truth"},
		[]string{"deployment_id", "faulty", "shape", "onset_minute", "confounders", "severity", "kpi", "direction"}, src); err != nil {
		return fmt.Errorf("put truth: copy: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO simulation_truth SELECT DISTINCT ON (deployment_id) * FROM stage_truth
		ON CONFLICT (deployment_id) DO UPDATE SET faulty = EXCLUDED.faulty, shape = EXCLUDED.shape,
		  onset_minute = EXCLUDED.onset_minute, confounders = EXCLUDED.confounders, severity = EXCLUDED.severity,
		  kpi = EXCLUDED.kpi, direction = EXCLUDED.direction`); err != nil {
		return fmt.Errorf("put truth: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("put truth: commit: %w", err)
	}
	return nil
}

// Truth returns the stored ground truth ordered by deployment ID, or
// history.ErrNoTruth when there is none.
func (s *Store) Truth(ctx context.Context) ([]history.Truth, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT deployment_id, faulty, shape, onset_minute, confounders, severity, kpi, direction
		FROM simulation_truth ORDER BY deployment_id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("read truth: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (history.Truth, error) {
		var v history.Truth
		err := r.Scan(&v.DeploymentID, &v.Faulty, &v.Shape, &v.OnsetMinute, &v.Confounders, &v.Severity, &v.KPI, &v.Direction)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("read truth: %w", err)
	}
	if len(out) == 0 {
		return nil, history.ErrNoTruth
	}
	return out, nil
}
