-- SQLite twin of ../001_registry.sql for the one-machine demo: same tables, columns and rules.
-- Types: UUID, TIMESTAMPTZ, JSONB and BOOLEAN are names the registry's SQLite connection converts
-- on the way out (db_sqlite.py); timestamps are UTC ISO 8601 text with milliseconds.

CREATE TABLE sites (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    region        TEXT NOT NULL,
    public_key    TEXT NOT NULL UNIQUE,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    audit_head    JSONB,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    last_contact  TIMESTAMPTZ
);

CREATE TABLE applied_changes (
    site_id     TEXT NOT NULL REFERENCES sites (id),
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    digest      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('applied', 'ignored', 'refused')),
    note        TEXT,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    PRIMARY KEY (site_id, seq)
);
CREATE INDEX applied_changes_site_time ON applied_changes (site_id, applied_at);

CREATE TABLE quarantine (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id      TEXT,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    signature    TEXT,
    body         BLOB NOT NULL
);
CREATE INDEX quarantine_site ON quarantine (site_id, received_at);

CREATE TABLE national_identities (
    id           UUID PRIMARY KEY,
    site_id      TEXT REFERENCES sites (id),
    origin_site  TEXT,
    role         TEXT NOT NULL CHECK (role IN ('inmate', 'staff', 'visitor')),
    status       TEXT NOT NULL CHECK (status IN ('active', 'released', 'transferred_out', 'banned', 'merged', 'erased')),
    merged_into  UUID REFERENCES national_identities (id),
    record       JSONB NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CHECK ((status = 'merged') = (merged_into IS NOT NULL))
);
CREATE INDEX national_identities_site ON national_identities (site_id);

CREATE TABLE identity_holders (
    identity_id  UUID NOT NULL REFERENCES national_identities (id),
    site_id      TEXT NOT NULL REFERENCES sites (id),
    since        TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    PRIMARY KEY (identity_id, site_id)
);

CREATE TABLE national_templates (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id           TEXT REFERENCES sites (id),
    site_template_id  INTEGER,
    identity_id       UUID NOT NULL REFERENCES national_identities (id),
    pack_id           TEXT NOT NULL,
    vector            BLOB NOT NULL,
    quality           REAL,
    searched_at       TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (site_id, site_template_id)
);
CREATE INDEX national_templates_identity ON national_templates (identity_id);
CREATE INDEX national_templates_unsearched ON national_templates (id) WHERE searched_at IS NULL;

CREATE TABLE national_fingers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id      TEXT NOT NULL REFERENCES sites (id),
    site_seq     INTEGER NOT NULL,
    identity_id  UUID NOT NULL REFERENCES national_identities (id),
    position     INTEGER NOT NULL CHECK (position BETWEEN 1 AND 10),
    impression   INTEGER NOT NULL,
    extractor    TEXT NOT NULL,
    iso_record   BLOB NOT NULL,
    quality      REAL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (site_id, site_seq)
);

CREATE TABLE site_events (
    site_id     TEXT NOT NULL REFERENCES sites (id),
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    payload     JSONB NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (site_id, seq)
);

CREATE TABLE duplicate_cases (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_a   UUID NOT NULL REFERENCES national_identities (id),
    identity_b   UUID NOT NULL REFERENCES national_identities (id),
    score        REAL NOT NULL,
    threshold    REAL NOT NULL,
    pack_id      TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'same', 'not_same')),
    opened_at    TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    survivor_id  UUID REFERENCES national_identities (id),
    decided_by   TEXT,
    decided_at   TIMESTAMPTZ,
    reason       TEXT,
    CHECK (identity_a < identity_b),
    UNIQUE (identity_a, identity_b)
);
CREATE INDEX duplicate_cases_open ON duplicate_cases (state) WHERE state = 'open';

CREATE TABLE change_log (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    target_site  TEXT REFERENCES sites (id),
    kind         TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX change_log_target ON change_log (target_site, seq);

CREATE TABLE accounts (
    username       TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('central_admin', 'adjudicator', 'kanwil_monitor')),
    region         TEXT,
    password_hash  TEXT NOT NULL,
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CHECK ((role = 'kanwil_monitor') = (region IS NOT NULL))
);

CREATE TABLE auth_tokens (
    token_sha256  TEXT PRIMARY KEY,
    username      TEXT NOT NULL REFERENCES accounts (username),
    expires_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    details  JSONB NOT NULL
);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit table is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit table is append-only');
END;
