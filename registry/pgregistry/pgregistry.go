// Package pgregistry is the PostgreSQL backend of the model registry. Its
// tables (registry_*) come from migrations/0010_registry.sql, applied by the
// migrations package with the rest of the schema.
//
// Version numbers are taken by incrementing registry_models.last_version
// under its row lock; an alias move locks the alias row (SELECT … FOR
// UPDATE), reads the holder, runs the gate and appends to
// registry_alias_moves in the same transaction, so concurrent promotions are
// serialized and none is lost. A trigger refuses UPDATE and DELETE on the
// history.
package pgregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline-dev/faultline/registry"
)

// DB is the PostgreSQL registry backend.
type DB struct {
	pool *pgxpool.Pool
	desc string
	own  bool
}

var _ registry.Backend = (*DB)(nil)

// Open connects to dsn. The schema must have been migrated.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("registry database: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("registry database: %w", err)
	}
	db := &DB{pool: pool, own: true, desc: fmt.Sprintf("postgres://%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)}
	if err := db.check(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// New uses an existing pool (not closed by Close).
func New(ctx context.Context, pool *pgxpool.Pool) (*DB, error) {
	db := &DB{pool: pool, desc: "postgres"}
	if err := db.check(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

func (db *DB) check(ctx context.Context) error {
	var ok bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('registry_alias_moves') IS NOT NULL`).Scan(&ok); err != nil {
		return fmt.Errorf("registry database: %w", err)
	}
	if !ok {
		return errors.New("registry database: no registry tables; run 'faultline db migrate' first")
	}
	return nil
}

// Describe implements registry.Backend.
func (db *DB) Describe() string { return db.desc }

// Close implements registry.Backend.
func (db *DB) Close() error {
	if db.own {
		db.pool.Close()
	}
	return nil
}

// PutBlob implements registry.Backend.
func (db *DB) PutBlob(ctx context.Context, sha string, data []byte) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO registry_blobs (sha256, size, content) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING`,
		sha, len(data), data)
	if err != nil {
		return fmt.Errorf("store blob %s: %w", sha, err)
	}
	return nil
}

// Blob implements registry.Backend.
func (db *DB) Blob(ctx context.Context, sha string) ([]byte, error) {
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT content FROM registry_blobs WHERE sha256 = $1`, sha).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("blob %s: %w", sha, registry.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", sha, err)
	}
	return data, nil
}

func jsonOrNil(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// CreateVersion implements registry.Backend. The model row is locked
// (FOR UPDATE) before the run's earlier version is looked for and the next
// number taken, so that two registrations of one run cannot both create a
// version.
func (db *DB) CreateVersion(ctx context.Context, v *registry.Version) (int, bool, error) {
	if err := registry.ValidName("model", v.Name); err != nil {
		return 0, false, err
	}
	created := v.CreatedAt
	if created.IsZero() {
		created = time.Now().UTC()
	}
	th := map[string]float64{}
	for h, x := range v.Thresholds {
		th[strconv.Itoa(h)] = x
	}
	thJSON, _ := json.Marshal(th)
	metrics, err := json.Marshal(v.Metrics)
	if err != nil {
		return 0, false, fmt.Errorf("encode metrics: %w", err)
	}
	lineage, err := json.Marshal(v.Lineage)
	if err != nil {
		return 0, false, fmt.Errorf("encode lineage: %w", err)
	}
	var (
		n     int
		isNew bool
	)
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO registry_models (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, v.Name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM registry_models WHERE name = $1 FOR UPDATE`, v.Name); err != nil {
			return err
		}
		if v.Lineage.RunID != "" {
			err := tx.QueryRow(ctx, `SELECT version FROM registry_versions
				WHERE model = $1 AND lineage->>'run_id' = $2 AND coalesce(lineage->>'source', '') = $3
				ORDER BY version LIMIT 1`, v.Name, v.Lineage.RunID, v.Lineage.Source).Scan(&n)
			if err == nil {
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		isNew = true
		if err := tx.QueryRow(ctx, `UPDATE registry_models SET last_version = last_version + 1 WHERE name = $1 RETURNING last_version`, v.Name).Scan(&n); err != nil {
			return err
		}
		names := v.FeatureSchema.Names
		if names == nil {
			names = []string{}
		}
		hs := make([]int32, len(v.Horizons))
		for i, h := range v.Horizons {
			hs[i] = int32(h)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO registry_versions (model, version, created_at, created_by, description,
			feature_schema_version, feature_schema_hash, feature_names, horizons, thresholds, policy, params,
			eval_set_hash, metrics, lineage, feature_config_hash, feature_config)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`,
			v.Name, n, created, v.CreatedBy, v.Description, v.FeatureSchema.Version, v.FeatureSchema.Hash, names, hs,
			string(thJSON), jsonOrNil(v.Policy), jsonOrNil(v.Params), v.Metrics.EvalSetHash, string(metrics), string(lineage),
			v.FeatureSchema.ConfigHash, jsonOrNil(v.FeatureSchema.Config)); err != nil {
			return err
		}
		for i, a := range v.Artifacts {
			if _, err := tx.Exec(ctx, `INSERT INTO registry_artifacts (model, version, name, horizon, sha256, size, ord) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
				v.Name, n, a.Name, a.Horizon, a.SHA256, a.Size, i); err != nil {
				return fmt.Errorf("artifact %s: %w", a.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("create version of %s: %w", v.Name, err)
	}
	if isNew {
		v.Version, v.CreatedAt = n, created
	}
	return n, isNew, nil
}

const versionCols = `model, version, created_at, created_by, description, feature_schema_version, feature_schema_hash,
	feature_names, horizons, thresholds, policy, params, metrics, lineage, feature_config_hash, feature_config`

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func scanVersion(row pgx.Row) (*registry.Version, error) {
	var (
		v                                    registry.Version
		hs                                   []int32
		th                                   map[string]float64
		policy, params, metrics, lineage, fc []byte
	)
	if err := row.Scan(&v.Name, &v.Version, &v.CreatedAt, &v.CreatedBy, &v.Description, &v.FeatureSchema.Version,
		&v.FeatureSchema.Hash, &v.FeatureSchema.Names, &hs, &th, &policy, &params, &metrics, &lineage, &v.FeatureSchema.ConfigHash, &fc); err != nil {
		return nil, err
	}
	v.CreatedAt = v.CreatedAt.UTC()
	for _, h := range hs {
		v.Horizons = append(v.Horizons, int(h))
	}
	v.Thresholds = map[int]float64{}
	for k, x := range th {
		h, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("threshold key %q: %w", k, err)
		}
		v.Thresholds[h] = x
	}
	if fc != nil {
		v.FeatureSchema.Config = json.RawMessage(fc)
	}
	if policy != nil {
		v.Policy = json.RawMessage(policy)
	}
	if params != nil {
		v.Params = json.RawMessage(params)
	}
	if err := json.Unmarshal(metrics, &v.Metrics); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := json.Unmarshal(lineage, &v.Lineage); err != nil {
		return nil, fmt.Errorf("lineage: %w", err)
	}
	return &v, nil
}

func (db *DB) artifacts(ctx context.Context, q querier, vs []*registry.Version) error {
	if len(vs) == 0 {
		return nil
	}
	byVer := map[int]*registry.Version{}
	for _, v := range vs {
		byVer[v.Version] = v
	}
	rows, err := q.Query(ctx, `SELECT version, name, horizon, sha256, size FROM registry_artifacts WHERE model = $1 ORDER BY version, ord`, vs[0].Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			n int
			a registry.Artifact
		)
		if err := rows.Scan(&n, &a.Name, &a.Horizon, &a.SHA256, &a.Size); err != nil {
			return err
		}
		if v := byVer[n]; v != nil {
			v.Artifacts = append(v.Artifacts, a)
		}
	}
	return rows.Err()
}

// Version implements registry.Backend.
func (db *DB) Version(ctx context.Context, name string, version int) (*registry.Version, error) {
	return db.version(ctx, db.pool, name, version)
}

func (db *DB) version(ctx context.Context, q interface {
	querier
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, name string, version int) (*registry.Version, error) {
	v, err := scanVersion(q.QueryRow(ctx, `SELECT `+versionCols+` FROM registry_versions WHERE model = $1 AND version = $2`, name, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("model %s version %d: %w", name, version, registry.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s@%d: %w", name, version, err)
	}
	rows, err := q.Query(ctx, `SELECT name, horizon, sha256, size FROM registry_artifacts WHERE model = $1 AND version = $2 ORDER BY ord`, name, version)
	if err != nil {
		return nil, fmt.Errorf("read artifacts of %s@%d: %w", name, version, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a registry.Artifact
		if err := rows.Scan(&a.Name, &a.Horizon, &a.SHA256, &a.Size); err != nil {
			return nil, err
		}
		v.Artifacts = append(v.Artifacts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if v.Evaluations, err = evaluations(ctx, q, name, version); err != nil {
		return nil, fmt.Errorf("read evaluations of %s@%d: %w", name, version, err)
	}
	return v, nil
}

// Versions implements registry.Backend.
func (db *DB) Versions(ctx context.Context, name string) ([]registry.Version, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+versionCols+` FROM registry_versions WHERE model = $1 ORDER BY version`, name)
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", name, err)
	}
	var vs []*registry.Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list versions of %s: %w", name, err)
		}
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", name, err)
	}
	if err := db.artifacts(ctx, db.pool, vs); err != nil {
		return nil, fmt.Errorf("list artifacts of %s: %w", name, err)
	}
	out := make([]registry.Version, len(vs))
	for i, v := range vs {
		if v.Evaluations, err = evaluations(ctx, db.pool, name, v.Version); err != nil {
			return nil, fmt.Errorf("read evaluations of %s@%d: %w", name, v.Version, err)
		}
		out[i] = *v
	}
	return out, nil
}

// AddEvaluation implements registry.Backend.
func (db *DB) AddEvaluation(ctx context.Context, name string, version int, m registry.Metrics) error {
	if m.EvalSetHash == "" {
		return errors.New("add evaluation: no evaluation set hash")
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode evaluation: %w", err)
	}
	if _, err := db.Version(ctx, name, version); err != nil {
		return err
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO registry_evaluations (model, version, eval_set_hash, metrics) VALUES ($1, $2, $3, $4)
		ON CONFLICT (model, version, eval_set_hash) DO UPDATE SET metrics = EXCLUDED.metrics, added_at = now()`,
		name, version, m.EvalSetHash, string(data))
	if err != nil {
		return fmt.Errorf("add evaluation of %s@%d: %w", name, version, err)
	}
	return nil
}

func evaluations(ctx context.Context, q querier, name string, version int) ([]registry.Metrics, error) {
	rows, err := q.Query(ctx, `SELECT metrics FROM registry_evaluations WHERE model = $1 AND version = $2 ORDER BY added_at, eval_set_hash`, name, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []registry.Metrics
	for rows.Next() {
		var (
			b []byte
			m registry.Metrics
		)
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Models implements registry.Backend.
func (db *DB) Models(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT name FROM registry_models ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return out, nil
}

// Aliases implements registry.Backend.
func (db *DB) Aliases(ctx context.Context, name string) ([]registry.Alias, error) {
	rows, err := db.pool.Query(ctx, `SELECT model, alias, version, updated_at FROM registry_aliases
		WHERE model = $1 AND version IS NOT NULL ORDER BY alias`, name)
	if err != nil {
		return nil, fmt.Errorf("list aliases of %s: %w", name, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (registry.Alias, error) {
		var a registry.Alias
		err := r.Scan(&a.Name, &a.Alias, &a.Version, &a.UpdatedAt)
		a.UpdatedAt = a.UpdatedAt.UTC()
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("list aliases of %s: %w", name, err)
	}
	return out, nil
}

// History implements registry.Backend.
func (db *DB) History(ctx context.Context, name, alias string) ([]registry.Move, error) {
	rows, err := db.pool.Query(ctx, `SELECT model, alias, seq, coalesce(from_version, 0), to_version, moved_at, moved_by, reason, forced, decision
		FROM registry_alias_moves WHERE model = $1 AND ($2 = '' OR alias = $2) ORDER BY moved_at, alias, seq`, name, alias)
	if err != nil {
		return nil, fmt.Errorf("alias history of %s: %w", name, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (registry.Move, error) {
		var (
			m   registry.Move
			dec []byte
		)
		if err := r.Scan(&m.Name, &m.Alias, &m.Seq, &m.From, &m.To, &m.At, &m.By, &m.Reason, &m.Forced, &dec); err != nil {
			return m, err
		}
		m.At = m.At.UTC()
		if dec != nil {
			m.Decision = new(registry.Decision)
			if err := json.Unmarshal(dec, m.Decision); err != nil {
				return m, fmt.Errorf("decision of move %d: %w", m.Seq, err)
			}
		}
		return m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("alias history of %s: %w", name, err)
	}
	return out, nil
}

// MoveAlias implements registry.Backend. The alias row is created if
// needed and locked FOR UPDATE for the whole transaction: moves of one
// alias are serialized, and each sees the result of the previous one.
func (db *DB) MoveAlias(ctx context.Context, name, alias string, decide func(current *registry.Version) (*registry.Move, error)) (*registry.Move, error) {
	if err := registry.ValidName("model", name); err != nil {
		return nil, err
	}
	if err := registry.ValidName("alias", alias); err != nil {
		return nil, err
	}
	var mv *registry.Move
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO registry_aliases (model, alias) VALUES ($1, $2) ON CONFLICT (model, alias) DO NOTHING`, name, alias); err != nil {
			return err
		}
		var (
			cur *int
			seq int64
		)
		if err := tx.QueryRow(ctx, `SELECT version, last_seq FROM registry_aliases WHERE model = $1 AND alias = $2 FOR UPDATE`, name, alias).Scan(&cur, &seq); err != nil {
			return err
		}
		var holder *registry.Version
		from := 0
		if cur != nil {
			from = *cur
			v, err := db.version(ctx, tx, name, from)
			if err != nil {
				return fmt.Errorf("read current holder: %w", err)
			}
			holder = v
		}
		m, err := decide(holder)
		if err != nil {
			return err
		}
		if _, err := db.version(ctx, tx, name, m.To); err != nil {
			return err
		}
		m.Seq, m.Name, m.Alias, m.From = seq+1, name, alias, from
		if m.At.IsZero() {
			m.At = time.Now().UTC()
		}
		var dec any
		if m.Decision != nil {
			b, err := json.Marshal(m.Decision)
			if err != nil {
				return err
			}
			dec = string(b)
		}
		var fromArg any
		if from != 0 {
			fromArg = from
		}
		if _, err := tx.Exec(ctx, `INSERT INTO registry_alias_moves (model, alias, seq, from_version, to_version, moved_at, moved_by, reason, forced, decision)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, name, alias, m.Seq, fromArg, m.To, m.At, m.By, m.Reason, m.Forced, dec); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE registry_aliases SET version = $3, last_seq = $4, updated_at = $5 WHERE model = $1 AND alias = $2`,
			name, alias, m.To, m.Seq, m.At); err != nil {
			return err
		}
		mv = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	return mv, nil
}

// Pool returns the connection pool.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }
