-- SQLite twin of ../005_site_decisions.sql.
CREATE TABLE site_duplicate_decisions (
    identity_id    UUID NOT NULL REFERENCES national_identities (id),
    candidate_id   UUID NOT NULL,
    site_id        TEXT NOT NULL REFERENCES sites (id),
    decision       TEXT NOT NULL CHECK (decision IN ('same_person', 'different_person')),
    reason         TEXT NOT NULL,
    officer        TEXT NOT NULL,
    score          REAL,
    threshold      REAL,
    decided_at     TEXT,
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    PRIMARY KEY (identity_id, candidate_id)
);
CREATE INDEX site_duplicate_decisions_candidate ON site_duplicate_decisions (candidate_id);
