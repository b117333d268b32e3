-- Signed checkpoints of the registry's own audit chain (registry/audit_checkpoints.py): the
-- newest event's id and hash and the count of events, signed with the registry's audit key.
-- An auditor exports and keeps them; `gerbang registry audit verify --checkpoints FILE` then
-- finds the newest events deleted, or the chain rewritten and re-hashed, after a checkpoint.
CREATE TABLE audit_checkpoints (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    event_id   BIGINT NOT NULL,
    events     BIGINT NOT NULL,
    head       TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
);
