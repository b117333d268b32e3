-- Encryption at rest (registry/vault.py): see the PostgreSQL twin.
CREATE TABLE vault_keys (
    id         INTEGER PRIMARY KEY,
    salt       BYTEA NOT NULL,
    wrapped    BYTEA NOT NULL,
    kek_kind   TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('active', 'retiring')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
