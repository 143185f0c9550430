-- Who made each promotion (issue 11, finding 14): the admin's principal id from the HTTP
-- API, or the CLI user (`efp models promote --by`, default $USER). NULL for older rows.
ALTER TABLE registry_production ADD COLUMN IF NOT EXISTS promoted_by text;
-- Optional API key expiry (`efp keys create --expires-in 30d`); NULL never expires.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS expires_at timestamptz;
