-- API keys of the forecast service (serving/keys.py). Only a SHA-256 hash of the secret
-- is stored; the key itself is printed once by `efp keys create`.
CREATE TABLE IF NOT EXISTS api_keys (
    id text PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('viewer', 'forecaster', 'admin')),
    key_hash text NOT NULL,
    rate_limit_per_minute integer CHECK (rate_limit_per_minute IS NULL OR rate_limit_per_minute > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_name ON api_keys (name);
