-- SPPT-TI transactions received at the registry (registry/exchange.py): searched against the
-- national gallery and held for an adjudicator's answer. Nothing biometric is kept: the file's
-- sha256, its descriptive text and the candidates found.
CREATE TABLE exchange_imports (
    id           UUID PRIMARY KEY,
    sender       TEXT NOT NULL,                     -- 1.008 ORI of the sending agency
    tcn          TEXT NOT NULL,                     -- 1.009 its transaction control number
    case_ref     TEXT,
    file_sha256  TEXT NOT NULL,
    person       TEXT NOT NULL,                     -- JSON: name, role, birth date, NIK, number
    candidates   TEXT NOT NULL,                     -- JSON: [{identity_id, score}], best first
    imported_by  TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    decision     TEXT CHECK (decision IN ('same', 'none')),
    identity_id  UUID REFERENCES national_identities (id),
    reason       TEXT,
    decided_by   TEXT,
    decided_at   TIMESTAMPTZ,
    UNIQUE (sender, tcn)
);
