-- Ground truth written by the fleet simulator beside a simulated history.
-- NEVER read by the pipeline as input (features, labels, training); only
-- evaluation reads it, to check itself on simulated history. No foreign key:
-- truth may be written before or after the history it describes.
CREATE TABLE simulation_truth (
    deployment_id text PRIMARY KEY,
    faulty        boolean NOT NULL,
    shape         text NOT NULL DEFAULT '',
    onset_minute  bigint NOT NULL DEFAULT -1,
    confounders   text NOT NULL DEFAULT '',
    severity      double precision NOT NULL DEFAULT 0
);

COMMENT ON TABLE simulation_truth IS
    'Simulator ground truth. Never an input of the pipeline; evaluation-only.';
