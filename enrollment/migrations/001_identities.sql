-- Identities, their face templates and enrolment images, officer decisions, outbox and audit.
-- Role-specific fields that are searched or must be unique have columns; the rest live in
-- `details` (JSON). Images and templates are BLOBs passed through the vault seam, so encryption
-- at rest changes the bytes stored here, not the schema.

CREATE TABLE identities (
    id                  TEXT PRIMARY KEY,                 -- UUID
    role                TEXT NOT NULL CHECK (role IN ('inmate', 'staff', 'visitor')),
    status              TEXT NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'released', 'transferred_out', 'banned', 'merged', 'erased')),
    merged_into         TEXT REFERENCES identities(id),
    full_name           TEXT NOT NULL,
    aliases             TEXT NOT NULL DEFAULT '[]',       -- JSON list of strings
    birth_date          TEXT,                             -- ISO date
    sex                 TEXT CHECK (sex IN ('F', 'M')),
    nik                 TEXT UNIQUE,                      -- visitors: 16 digits
    nip                 TEXT UNIQUE,                      -- staff: 18 digits
    registration_number TEXT UNIQUE,                      -- inmates
    details             TEXT NOT NULL DEFAULT '{}',       -- JSON: admission date, case, cell, phone...
    photo_image_id      INTEGER,
    origin_site         TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    version             INTEGER NOT NULL DEFAULT 1,
    CHECK ((status = 'merged') = (merged_into IS NOT NULL))
);
CREATE INDEX identities_role_status ON identities (role, status);
CREATE INDEX identities_name ON identities (full_name COLLATE NOCASE);

CREATE TABLE visitor_links (
    visitor_id   TEXT NOT NULL REFERENCES identities(id),
    inmate_id    TEXT NOT NULL REFERENCES identities(id),
    relationship TEXT NOT NULL,
    PRIMARY KEY (visitor_id, inmate_id)
);

CREATE TABLE consents (
    id          INTEGER PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities(id),
    purpose     TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    given_at    TEXT NOT NULL
);

CREATE TABLE images (
    id          INTEGER PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities(id),
    sha256      TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    data        BLOB,                                     -- NULL once erased
    captured_at TEXT NOT NULL
);
CREATE INDEX images_identity ON images (identity_id);

CREATE TABLE templates (
    id           INTEGER PRIMARY KEY,
    identity_id  TEXT NOT NULL REFERENCES identities(id),
    image_id     INTEGER REFERENCES images(id),
    image_sha256 TEXT NOT NULL,
    pack_id      TEXT NOT NULL,
    vector       BLOB NOT NULL,                           -- float32 little-endian, L2-normalised
    quality      REAL NOT NULL,
    captured_at  TEXT NOT NULL,
    UNIQUE (image_id, pack_id)
);
CREATE INDEX templates_pack_identity ON templates (pack_id, identity_id);

CREATE TABLE capture_sessions (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('inmate', 'staff', 'visitor')),
    operator    TEXT NOT NULL,
    target_identity_id TEXT REFERENCES identities(id),   -- set when re-enrolling a known person
    state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'committed', 'abandoned')),
    created_at  TEXT NOT NULL
);

CREATE TABLE captures (
    id          INTEGER PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES capture_sessions(id),
    sha256      TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    data        BLOB NOT NULL,
    vector      BLOB NOT NULL,
    pack_id     TEXT NOT NULL,
    quality     REAL NOT NULL,
    live_score  REAL,
    captured_at TEXT NOT NULL
);
CREATE INDEX captures_session ON captures (session_id);

CREATE TABLE duplicate_decisions (
    id                    INTEGER PRIMARY KEY,
    session_id            TEXT NOT NULL REFERENCES capture_sessions(id),
    candidate_identity_id TEXT NOT NULL REFERENCES identities(id),
    score                 REAL NOT NULL,
    threshold             REAL NOT NULL,
    decision              TEXT NOT NULL CHECK (decision IN ('same_person', 'different_person')),
    reason                TEXT NOT NULL,
    officer               TEXT NOT NULL,
    decided_at            TEXT NOT NULL
);

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,         -- the site's sync sequence number
    kind       TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    payload    TEXT NOT NULL,                             -- JSON
    created_at TEXT NOT NULL,
    sent_at    TEXT
);

CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,                              -- JSON
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    full_name     TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('enrolment_officer', 'gate_officer', 'supervisor', 'site_admin')),
    password_hash TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    gate_id    TEXT NOT NULL,
    key_hash   TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);

CREATE TABLE auth_tokens (
    token_sha256 TEXT PRIMARY KEY,                         -- the token itself is never stored
    operator_id  TEXT NOT NULL REFERENCES operators(id),
    expires_at   TEXT NOT NULL
);

CREATE TABLE site_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
