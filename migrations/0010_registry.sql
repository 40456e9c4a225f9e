-- Model registry (package registry/pgregistry): versions, content-addressed
-- artifacts, aliases and their append-only history of moves.

CREATE TABLE registry_blobs (
    sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size       bigint NOT NULL CHECK (size >= 0),
    content    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per model name; last_version is bumped under the row lock, so
-- version numbers are monotonic and never reused.
CREATE TABLE registry_models (
    name         text PRIMARY KEY,
    last_version integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE registry_versions (
    model                  text NOT NULL REFERENCES registry_models (name),
    version                integer NOT NULL CHECK (version > 0),
    created_at             timestamptz NOT NULL,
    created_by             text NOT NULL DEFAULT '',
    description            text NOT NULL DEFAULT '',
    feature_schema_version text NOT NULL,
    feature_schema_hash    text NOT NULL DEFAULT '',
    feature_names          text[] NOT NULL,
    feature_config_hash    text NOT NULL DEFAULT '',
    feature_config         jsonb,
    horizons               integer[] NOT NULL,
    thresholds             jsonb NOT NULL,
    policy                 jsonb,
    params                 jsonb,
    eval_set_hash          text NOT NULL DEFAULT '',
    metrics                jsonb NOT NULL,
    lineage                jsonb NOT NULL,
    PRIMARY KEY (model, version)
);

CREATE TABLE registry_artifacts (
    model   text NOT NULL,
    version integer NOT NULL,
    name    text NOT NULL,
    horizon integer NOT NULL DEFAULT 0,
    sha256  text NOT NULL REFERENCES registry_blobs (sha256),
    size    bigint NOT NULL,
    ord     integer NOT NULL,
    PRIMARY KEY (model, version, name),
    FOREIGN KEY (model, version) REFERENCES registry_versions (model, version)
);

-- Evaluations of a version on evaluation sets other than the one recorded
-- at registration (e.g. the production model re-evaluated beside a new
-- candidate), one per set.
CREATE TABLE registry_evaluations (
    model         text NOT NULL,
    version       integer NOT NULL,
    eval_set_hash text NOT NULL,
    metrics       jsonb NOT NULL,
    added_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version, eval_set_hash),
    FOREIGN KEY (model, version) REFERENCES registry_versions (model, version)
);

-- Current position of each alias; moved only together with an insert into
-- registry_alias_moves, in one transaction holding this row's lock.
CREATE TABLE registry_aliases (
    model      text NOT NULL,
    alias      text NOT NULL,
    version    integer,          -- NULL until the first move
    last_seq   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, alias),
    FOREIGN KEY (model, version) REFERENCES registry_versions (model, version)
);

CREATE TABLE registry_alias_moves (
    model        text NOT NULL,
    alias        text NOT NULL,
    seq          bigint NOT NULL CHECK (seq > 0),
    from_version integer,        -- NULL: the alias pointed nowhere
    to_version   integer NOT NULL,
    moved_at     timestamptz NOT NULL,
    moved_by     text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    forced       boolean NOT NULL DEFAULT false,
    decision     jsonb,
    PRIMARY KEY (model, alias, seq),
    FOREIGN KEY (model, alias) REFERENCES registry_aliases (model, alias),
    FOREIGN KEY (model, to_version) REFERENCES registry_versions (model, version)
);

CREATE INDEX registry_alias_moves_at ON registry_alias_moves (model, moved_at);

-- The history is append-only: refuse updates and deletes.
CREATE FUNCTION registry_alias_moves_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'registry_alias_moves is append-only (% refused)', TG_OP;
END;
$$;

CREATE TRIGGER registry_alias_moves_append_only
    BEFORE UPDATE OR DELETE ON registry_alias_moves
    FOR EACH ROW EXECUTE FUNCTION registry_alias_moves_append_only();
