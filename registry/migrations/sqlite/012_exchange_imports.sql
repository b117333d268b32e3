-- SQLite twin of ../012_exchange_imports.sql.

CREATE TABLE exchange_imports (
    id           UUID PRIMARY KEY,
    sender       TEXT NOT NULL,
    tcn          TEXT NOT NULL,
    case_ref     TEXT,
    file_sha256  TEXT NOT NULL,
    person       TEXT NOT NULL,
    candidates   TEXT NOT NULL,
    imported_by  TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    decision     TEXT CHECK (decision IN ('same', 'none')),
    identity_id  UUID REFERENCES national_identities (id),
    reason       TEXT,
    decided_by   TEXT,
    decided_at   TIMESTAMPTZ,
    UNIQUE (sender, tcn)
);
