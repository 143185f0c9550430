-- Audit log of admin actions (data/stores/audit.py): API keys created and revoked, model
-- versions promoted and rolled back. Rows are only inserted, never updated or deleted.
CREATE TABLE IF NOT EXISTS audit_log (
    id bigserial PRIMARY KEY,
    time timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL CHECK (action IN ('key.create', 'key.revoke', 'model.promote', 'model.rollback')),
    target text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log (time DESC);
