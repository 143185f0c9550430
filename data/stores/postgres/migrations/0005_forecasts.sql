-- Forecasts as issued (served by the HTTP service or made by the daily job), kept so the
-- monitor can score them against the actuals that arrive later; and the resolution time
-- of an alert, so a condition is raised once and resolved when it clears.

CREATE TABLE IF NOT EXISTS forecasts (
    id bigserial PRIMARY KEY,
    city text NOT NULL,
    target_day date NOT NULL,
    as_of timestamptz NOT NULL,
    model_version text NOT NULL,
    issued_at timestamptz NOT NULL,
    lead_hours double precision NOT NULL,
    degraded boolean NOT NULL,
    source text NOT NULL CHECK (source IN ('served', 'scheduled')),
    UNIQUE (city, target_day, as_of, model_version)
);
CREATE INDEX IF NOT EXISTS forecasts_city_day_idx ON forecasts (city, target_day DESC);

CREATE TABLE IF NOT EXISTS forecast_points (
    forecast_id bigint NOT NULL REFERENCES forecasts (id) ON DELETE CASCADE,
    ts timestamptz NOT NULL,
    p10 double precision NOT NULL,
    p50 double precision NOT NULL,
    p90 double precision NOT NULL,
    PRIMARY KEY (forecast_id, ts)
);

ALTER TABLE alerts ADD COLUMN IF NOT EXISTS resolved_at timestamptz;
CREATE INDEX IF NOT EXISTS alerts_open_idx ON alerts (kind, city) WHERE resolved_at IS NULL;
