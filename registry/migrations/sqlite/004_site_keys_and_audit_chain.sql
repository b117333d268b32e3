-- SQLite twin of ../004_site_keys_and_audit_chain.sql.
CREATE TABLE site_keys (
    public_key  TEXT PRIMARY KEY,
    site_id     TEXT NOT NULL REFERENCES sites (id),
    added_at    TIMESTAMPTZ NOT NULL,
    retired_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX site_keys_site ON site_keys (site_id);
CREATE UNIQUE INDEX site_keys_one_current ON site_keys (site_id)
    WHERE retired_at IS NULL AND revoked_at IS NULL;

ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;
