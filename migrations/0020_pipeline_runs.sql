-- Run records of `faultline run` (package pipeline). The whole record is
-- kept as JSON; the columns beside it serve listing and the running check.
CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id      text PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    status      text NOT NULL,
    record      jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS pipeline_runs_started ON pipeline_runs (started_at DESC);
