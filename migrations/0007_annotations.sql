-- Human verdicts on deployments: gold labels for evaluation only. No feature
-- or labeling function reads this table. annotator is '' when not given so
-- that (deployment_id, annotator) can be the key.
CREATE TABLE annotations (
    deployment_id text NOT NULL REFERENCES deployments (deployment_id),
    annotator     text NOT NULL DEFAULT '',
    label         text NOT NULL CHECK (label IN ('faulty', 'healthy')),
    annotated_at  timestamptz,
    note          text,
    PRIMARY KEY (deployment_id, annotator)
);
