-- Received inter-agency transactions (ANSI/NIST-ITL) waiting for, or past, an officer's decision.
-- Nothing is created from one until the desk commits its capture session with a decision.
CREATE TABLE exchange_imports (
    id           TEXT PRIMARY KEY,                        -- UUID
    tcn          TEXT NOT NULL,                           -- the sender's transaction control number
    sender       TEXT NOT NULL,                           -- originating agency (Type-1 ORI)
    case_ref     TEXT,
    file_sha256  TEXT NOT NULL,
    transaction_data BLOB NOT NULL,                       -- the file as received, sealed
    draft        TEXT NOT NULL,                           -- JSON: the Type-2 content as a desk draft
    session_id   TEXT NOT NULL REFERENCES capture_sessions(id),
    candidates   TEXT NOT NULL DEFAULT '[]',              -- JSON: local duplicate candidates found
    state        TEXT NOT NULL DEFAULT 'awaiting_decision',
    imported_by  TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    UNIQUE (sender, tcn)
);
ALTER TABLE exchange_imports ADD COLUMN identity_id TEXT REFERENCES identities(id);  -- once decided
ALTER TABLE exchange_imports ADD COLUMN decided_by TEXT;
ALTER TABLE exchange_imports ADD COLUMN decided_at TEXT;
