-- Identity of a per-version series: (service, environment, version) gets a
-- small integer id so that the large per-minute tables repeat 4 bytes per
-- row instead of three strings.
CREATE TABLE series (
    series_id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service     text NOT NULL REFERENCES services (name),
    environment text NOT NULL,
    version     text NOT NULL,
    UNIQUE (service, environment, version)
);
