-- Metadata beside the time series: the city catalogue, ingestion runs and their
-- quarantined rows, each series' resolution, Grid-India daily supply position, and
-- alerts raised by the monitoring job.

CREATE TABLE IF NOT EXISTS cities (
    code text PRIMARY KEY,
    name text NOT NULL,
    country text NOT NULL,
    subdivision text,
    latitude double precision NOT NULL,
    longitude double precision NOT NULL,
    timezone text NOT NULL,
    peak_mw double precision NOT NULL CHECK (peak_mw > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ingestion_runs (
    run_id text PRIMARY KEY,
    source text NOT NULL,
    path text,
    cities text[] NOT NULL DEFAULT '{}',
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    input_rows integer NOT NULL,
    accepted integer NOT NULL,
    repaired integer NOT NULL,
    rejected integer NOT NULL,
    inserted integer NOT NULL,
    unchanged integer NOT NULL,
    updated integer NOT NULL,
    summary jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS ingestion_runs_started_idx ON ingestion_runs (started_at DESC);

CREATE TABLE IF NOT EXISTS quarantine (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL REFERENCES ingestion_runs (run_id) ON DELETE CASCADE,
    line integer,
    city text,
    ts timestamptz,
    field text,
    reason text NOT NULL,
    raw text
);
CREATE INDEX IF NOT EXISTS quarantine_city_idx ON quarantine (city, id DESC);

CREATE TABLE IF NOT EXISTS series_resolution (
    city text PRIMARY KEY,
    minutes integer NOT NULL CHECK (minutes IN (15, 30, 60)),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS supply_position (
    region text NOT NULL,
    date date NOT NULL,
    max_demand_met_mw double precision,
    energy_met_mu double precision,
    shortage_mu double precision,
    PRIMARY KEY (region, date)
);

CREATE TABLE IF NOT EXISTS alerts (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    city text,
    kind text NOT NULL,
    severity text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
    message text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    acknowledged boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS alerts_created_idx ON alerts (created_at DESC);
