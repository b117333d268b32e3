-- Bulk import of a prison-database export (`gerbang import`): one row per person and per run.
-- `import_id` is the sha256 of the CSV bytes, so running the same file again resumes it: rows in
-- a final state (imported, rejected, flagged) are skipped. A row is `pending` while its capture
-- session is open; a crash leaves it pending, and the next run abandons that session and redoes
-- the row. Flagged rows keep their session open for the officer who resolves them at the desk.

CREATE TABLE import_rows (
    import_id   TEXT NOT NULL,                            -- sha256 of the CSV file
    row_id      TEXT NOT NULL,                            -- the export's own key
    state       TEXT NOT NULL CHECK (state IN ('pending', 'imported', 'rejected', 'flagged')),
    identity_id TEXT REFERENCES identities(id),           -- set when imported
    session_id  TEXT REFERENCES capture_sessions(id),
    code        TEXT,                                     -- error code when rejected or flagged
    reason      TEXT,                                     -- English message
    reason_id   TEXT,                                     -- Indonesian message
    details     TEXT NOT NULL DEFAULT '{}',               -- JSON: candidates, photo, first row...
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (import_id, row_id)
);
CREATE INDEX import_rows_state ON import_rows (import_id, state);
