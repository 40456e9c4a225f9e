-- Per-minute traffic served by one version (series) of a service in one
-- environment. Partitioned by month on minute: years of per-minute data stay
-- manageable (old months can be detached or dropped, indexes stay small,
-- queries for a window touch one or two partitions). Monthly partitions are
-- created on demand by the importer (faultline_metrics_partition); rows of a
-- month without a partition land in metrics_default.
CREATE TABLE metrics (
    minute         timestamptz NOT NULL,
    requests       bigint NOT NULL CHECK (requests >= 0),
    errors         bigint NOT NULL CHECK (errors >= 0 AND errors <= requests),
    latency_p50_ms double precision,
    latency_p95_ms double precision,
    latency_p99_ms double precision,
    series_id      integer NOT NULL, -- series.series_id (no FK: checked per row, too slow for COPY)
    PRIMARY KEY (series_id, minute)
) PARTITION BY RANGE (minute);

CREATE TABLE metrics_default PARTITION OF metrics DEFAULT;

-- faultline_month_partition makes sure the monthly partition of table
-- parent (metrics or error_signatures) covering month exists, moving any
-- rows of that month out of the default partition first. It returns the
-- partition's name. Partitions are named PARENT_YYYYMM.
CREATE FUNCTION faultline_month_partition(parent text, month timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_trunc('month', month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi   timestamptz := (date_trunc('month', month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    part text := parent || '_' || to_char(month AT TIME ZONE 'UTC', 'YYYYMM');
    moved bigint;
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    -- Serialise concurrent creators of the same partition.
    PERFORM pg_advisory_xact_lock(hashtext('faultline_partition:' || part));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (minute >= %L AND minute < %L)',
                   part, part || '_bound', lo, hi);
    EXECUTE format('WITH m AS (DELETE FROM %I WHERE minute >= %L AND minute < %L RETURNING *) INSERT INTO %I SELECT * FROM m',
                   parent || '_default', lo, hi, part);
    GET DIAGNOSTICS moved = ROW_COUNT;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, lo, hi);
    RETURN part;
END
$$;
