-- Model registry index: one row per registered version, and the per-city production
-- history (a promotion appends rows; a rollback marks the latest one rolled back).
-- registry_state.token changes on every promote/rollback so serving can poll one value.
CREATE TABLE IF NOT EXISTS registry_versions (
    version     text PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    cities      text[] NOT NULL,
    record      jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS registry_versions_cities_idx ON registry_versions USING gin (cities);

CREATE TABLE IF NOT EXISTS registry_production (
    id              bigserial PRIMARY KEY,
    city            text NOT NULL,
    version         text NOT NULL REFERENCES registry_versions (version),
    promoted_at     timestamptz NOT NULL DEFAULT now(),
    forced          boolean NOT NULL DEFAULT false,
    rolled_back_at  timestamptz
);
CREATE INDEX IF NOT EXISTS registry_production_active_idx
    ON registry_production (city, id DESC) WHERE rolled_back_at IS NULL;

CREATE TABLE IF NOT EXISTS registry_state (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    token      bigint NOT NULL DEFAULT 0
);
INSERT INTO registry_state (singleton, token) VALUES (true, 0) ON CONFLICT DO NOTHING;
