-- Error fingerprints: the stable id of an error kind, as the APM groups
-- errors. error_type, endpoint and status_code describe the fingerprint; the
-- latest import that gives them wins.
CREATE TABLE error_fingerprints (
    fingerprint_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint    text NOT NULL UNIQUE,
    error_type     text,
    endpoint       text,
    status_code    integer
);

-- Per-minute count of one fingerprint in one series. Partitioned by month
-- like metrics.
CREATE TABLE error_signatures (
    minute         timestamptz NOT NULL,
    count          bigint NOT NULL CHECK (count >= 1),
    series_id      integer NOT NULL, -- series.series_id (no FK: checked per row, too slow for COPY)
    fingerprint_id integer NOT NULL, -- error_fingerprints.fingerprint_id
    PRIMARY KEY (series_id, minute, fingerprint_id)
) PARTITION BY RANGE (minute);

CREATE TABLE error_signatures_default PARTITION OF error_signatures DEFAULT;
