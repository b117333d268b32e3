-- Gates, visits, gate decisions and failure counters. One open visit per visitor is enforced by
-- the database itself (anti-passback cannot be raced by two terminals).

CREATE TABLE gates (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    directions TEXT NOT NULL,                 -- JSON list: "in", "out"
    roles      TEXT NOT NULL,                 -- JSON list of roles allowed through
    created_at TEXT NOT NULL
);

CREATE TABLE gate_events (
    id                  INTEGER PRIMARY KEY,
    gate_id             TEXT NOT NULL REFERENCES gates(id),
    at                  TEXT NOT NULL,
    passage             TEXT NOT NULL,        -- visitor_entry, visitor_exit, staff_in, staff_out, release, transfer_out, court_out, court_in
    direction           TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    result              TEXT NOT NULL CHECK (result IN ('admit', 'deny', 'alarm')),
    reason              TEXT NOT NULL,        -- a stable code
    claimed_identity_id TEXT,
    matched_identity_id TEXT,
    evidence            TEXT NOT NULL,        -- JSON: scores, candidates, thresholds and targets, pack, quality, liveness
    actor               TEXT NOT NULL,        -- device or operator who asked
    order_reference     TEXT,
    overrides_event_id  INTEGER REFERENCES gate_events(id),
    override_reason     TEXT,
    alarm_cleared_by    TEXT,
    alarm_cleared_at    TEXT,
    alarm_clear_reason  TEXT
);
CREATE INDEX gate_events_gate_at ON gate_events (gate_id, at);
CREATE INDEX gate_events_alarms ON gate_events (result) WHERE result = 'alarm';

CREATE TABLE visits (
    id             TEXT PRIMARY KEY,
    visitor_id     TEXT NOT NULL REFERENCES identities(id),
    inmate_id      TEXT REFERENCES identities(id),
    state          TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    entry_gate     TEXT NOT NULL,
    entry_at       TEXT NOT NULL,
    entry_event_id INTEGER NOT NULL REFERENCES gate_events(id),
    exit_gate      TEXT,
    exit_at        TEXT,
    exit_event_id  INTEGER REFERENCES gate_events(id)
);
CREATE UNIQUE INDEX visits_one_open ON visits (visitor_id) WHERE state = 'open';

CREATE TABLE presence (
    identity_id TEXT PRIMARY KEY REFERENCES identities(id),   -- staff, and inmates out at court
    inside      INTEGER NOT NULL,
    since       TEXT NOT NULL
);

CREATE TABLE gate_failures (
    subject    TEXT NOT NULL,                 -- identity id claimed (or 'unknown')
    gate_id    TEXT NOT NULL,
    failures   INTEGER NOT NULL,
    last_at    TEXT NOT NULL,
    PRIMARY KEY (subject, gate_id)
);
