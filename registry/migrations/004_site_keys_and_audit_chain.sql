-- Every Ed25519 key a site has signed with. The current key has neither retired_at nor revoked_at;
-- a key retired by a rotation is still accepted for a grace window (REGISTRY_KEY_GRACE_SECONDS);
-- a revoked key never is. sites.public_key keeps naming the latest registered key.
CREATE TABLE site_keys (
    public_key  TEXT PRIMARY KEY,                   -- base64 raw Ed25519 key; never reused, by any site
    site_id     TEXT NOT NULL REFERENCES sites (id),
    added_at    TIMESTAMPTZ NOT NULL,
    retired_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX site_keys_site ON site_keys (site_id);
CREATE UNIQUE INDEX site_keys_one_current ON site_keys (site_id)
    WHERE retired_at IS NULL AND revoked_at IS NULL;

-- The audit trail becomes a hash chain (registry/audit_chain.py). Events written
-- before this migration keep NULL hashes: they precede the chain and cannot be checked.
ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;
