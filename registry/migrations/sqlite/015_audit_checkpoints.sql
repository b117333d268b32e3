-- Signed checkpoints of the registry's own audit chain (see the PostgreSQL twin).
CREATE TABLE audit_checkpoints (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TIMESTAMPTZ NOT NULL,
    event_id   BIGINT NOT NULL,
    events     BIGINT NOT NULL,
    head       TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
);
