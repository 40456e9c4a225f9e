-- Deployments: one rollout of a version of a service to an environment.
-- deployment_id is the natural key given by the import.
CREATE TABLE deployments (
    deployment_id text PRIMARY KEY,
    service       text NOT NULL REFERENCES services (name),
    environment   text NOT NULL,
    version       text NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    commit_sha    text,
    author        text,
    files_changed bigint CHECK (files_changed >= 0),
    lines_added   bigint CHECK (lines_added >= 0),
    lines_deleted bigint CHECK (lines_deleted >= 0),
    kind          text NOT NULL CHECK (kind IN ('deploy', 'rollback')),
    -- true when kind was inferred at import (the file gave none)
    kind_inferred boolean NOT NULL DEFAULT false
);

-- Window queries: the deployments of one stream around a time.
CREATE INDEX deployments_stream_started_idx ON deployments (service, environment, started_at);
-- Range scans over the whole fleet (Reader.Deployments).
CREATE INDEX deployments_started_idx ON deployments (started_at, deployment_id);
-- Rollback inference: was this version deployed earlier to the same stream?
CREATE INDEX deployments_version_idx ON deployments (service, environment, version, started_at);
