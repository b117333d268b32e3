-- An officer's answer to a candidate the national registry found before the save (a person
-- held at another site, so not in `identities` and not in `duplicate_decisions`). 'same_person'
-- still enrols the person here: the row records which national identity the officer says it is,
-- and the same facts travel in the enrolment's outbox row to the registry's duplicate case.
CREATE TABLE national_decisions (
    id                    INTEGER PRIMARY KEY,
    session_id            TEXT NOT NULL REFERENCES capture_sessions(id),
    identity_id           TEXT NOT NULL REFERENCES identities(id),   -- enrolled (or re-enrolled) here
    national_identity_id  TEXT NOT NULL,                              -- the registry's identity id
    owning_site           TEXT,                                       -- NULL: a central watchlist entry
    score                 REAL NOT NULL,
    threshold             REAL NOT NULL,                              -- the registry's, as answered
    decision              TEXT NOT NULL CHECK (decision IN ('same_person', 'different_person')),
    reason                TEXT NOT NULL,
    officer               TEXT NOT NULL,
    decided_at            TEXT NOT NULL
);
CREATE INDEX national_decisions_identity ON national_decisions (identity_id);
CREATE INDEX national_decisions_national ON national_decisions (national_identity_id);
