-- Outbox changes the registry refused one by one (a NUL in a name, a field too large): set aside
-- with the reason so the rest of the outbox flows, and shown as an alarm until an officer resolves
-- each (retried as a new outbox row, or dropped), with who did it and why.
CREATE TABLE sync_dead_letters (
    seq               INTEGER PRIMARY KEY REFERENCES outbox(seq),
    kind              TEXT NOT NULL,
    entity_id         TEXT NOT NULL,
    code              TEXT NOT NULL,                 -- the registry's error code, or the agent's
    reason            TEXT NOT NULL,                 -- JSON: what the registry said
    dead_at           TEXT NOT NULL,
    resolution        TEXT CHECK (resolution IN ('retried', 'dropped')),
    resolved_by       TEXT,
    resolved_reason   TEXT,
    resolved_at       TEXT,
    retried_as        INTEGER                        -- the new outbox seq of a retry
);
CREATE INDEX sync_dead_letters_open ON sync_dead_letters (resolution) WHERE resolution IS NULL;
