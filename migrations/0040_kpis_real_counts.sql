-- Data as teams have it (issue 13; docs/schema.md, docs/history-import.md).
--
-- 1. Real-valued counts. requests and errors of metrics become double
--    precision: Prometheus increase() and rate() give floats. Integer values
--    convert exactly (every integer below 2^53 is a double). The ALTER
--    rewrites every metrics partition under an exclusive lock: on a large
--    history it takes about as long as importing it again, so run
--    `faultline db migrate` when no import or run is going on.
ALTER TABLE metrics
    ALTER COLUMN requests TYPE double precision,
    ALTER COLUMN errors TYPE double precision;

-- In PostgreSQL NaN sorts above every number and 'Infinity' passes
-- "requests >= 0": the integer-era CHECKs (requests >= 0, 0 <= errors <=
-- requests) would let both in. "< 'Infinity'" refuses NaN and infinity.
ALTER TABLE metrics ADD CONSTRAINT metrics_counts_finite
    CHECK (requests < 'Infinity' AND errors < 'Infinity');

-- 2. Aggregate series: a series whose version is '' holds the metrics (or
--    KPI values) of all versions of the service in the environment. No
--    schema change: version stays NOT NULL and '' is a value.
COMMENT ON COLUMN series.version IS 'the version; '''' for the aggregate series of all versions';

-- 3. Named KPIs. A declaration says what a KPI measures (kind) and which
--    way is worse (direction); environment '' declares it for every
--    environment of the service, and a declaration for one environment
--    overrides that one there.
CREATE TABLE kpis (
    service     text NOT NULL REFERENCES services (name),
    environment text NOT NULL DEFAULT '',
    name        text NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('higher_is_worse', 'lower_is_worse', 'both')),
    kind        text NOT NULL CHECK (kind IN ('rate', 'ratio', 'latency', 'gauge')),
    unit        text NOT NULL DEFAULT '',
    PRIMARY KEY (service, environment, name)
);

-- Identity of one KPI series: (service, environment, version, name), as
-- series is for metrics; version '' is the aggregate of all versions.
CREATE TABLE kpi_series (
    kpi_series_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service       text NOT NULL REFERENCES services (name),
    environment   text NOT NULL,
    version       text NOT NULL,
    name          text NOT NULL,
    UNIQUE (service, environment, version, name)
);

-- Per-minute KPI values, partitioned by month like metrics (partitions
-- kpi_values_YYYYMM created on demand by the importer or by
-- faultline_month_partition('kpi_values', month)).
CREATE TABLE kpi_values (
    minute        timestamptz NOT NULL,
    value         double precision NOT NULL CHECK (value > '-Infinity' AND value < 'Infinity'),
    kpi_series_id integer NOT NULL, -- kpi_series.kpi_series_id (no FK: checked per row, too slow for COPY)
    PRIMARY KEY (kpi_series_id, minute)
) PARTITION BY RANGE (minute);

CREATE TABLE kpi_values_default PARTITION OF kpi_values DEFAULT;

-- 4. Simulator ground truth of KPI faults: the KPI a "shift" or "burst"
--    fault shows in and which way it moves it.
ALTER TABLE simulation_truth
    ADD COLUMN kpi text NOT NULL DEFAULT '',
    ADD COLUMN direction text NOT NULL DEFAULT '';
