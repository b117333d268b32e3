-- The central registry's first schema: sites and what they sent, the national gallery,
-- duplicate cases, the change log sites pull from, officer accounts and the audit trail.

CREATE TABLE sites (
    id            TEXT PRIMARY KEY,                 -- the UPT code the site stamps on batches
    name          TEXT NOT NULL,
    region        TEXT NOT NULL,                    -- Kanwil code; a regional monitor sees only its own
    public_key    TEXT NOT NULL UNIQUE,             -- base64 raw Ed25519 key
    last_seq      BIGINT NOT NULL DEFAULT 0,        -- highest contiguous seq applied
    audit_head    JSONB,                            -- the site's audit chain head with its last batch
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_contact  TIMESTAMPTZ
);

-- The idempotency key: a replayed (site, seq) with the same digest is a no-op.
CREATE TABLE applied_changes (
    site_id     TEXT NOT NULL REFERENCES sites (id),
    seq         BIGINT NOT NULL CHECK (seq >= 1),
    digest      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('applied', 'ignored', 'refused')),
    note        TEXT,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, seq)
);
CREATE INDEX applied_changes_site_time ON applied_changes (site_id, applied_at);

-- Batches refused whole; site_id is as claimed, so no foreign key (an unknown site lands here too).
CREATE TABLE quarantine (
    id           BIGSERIAL PRIMARY KEY,
    site_id      TEXT,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    reason       TEXT NOT NULL,                     -- the error code returned
    detail       TEXT NOT NULL,
    signature    TEXT,
    body         BYTEA NOT NULL
);
CREATE INDEX quarantine_site ON quarantine (site_id, received_at);

CREATE TABLE national_identities (
    id           UUID PRIMARY KEY,                  -- the id the enrolling site gave it
    site_id      TEXT REFERENCES sites (id),        -- the owning site; NULL for central watchlist entries
    origin_site  TEXT,
    role         TEXT NOT NULL CHECK (role IN ('inmate', 'staff', 'visitor')),
    status       TEXT NOT NULL CHECK (status IN ('active', 'released', 'transferred_out', 'banned', 'merged', 'erased')),
    merged_into  UUID REFERENCES national_identities (id),
    record       JSONB NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,        -- the owning site's record version
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((status = 'merged') = (merged_into IS NOT NULL))
);
CREATE INDEX national_identities_site ON national_identities (site_id);

-- Which sites hold a copy of an identity (enrolled there, transferred in): where decisions go.
CREATE TABLE identity_holders (
    identity_id  UUID NOT NULL REFERENCES national_identities (id),
    site_id      TEXT NOT NULL REFERENCES sites (id),
    since        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (identity_id, site_id)
);

-- id is the FAISS id of the template in the national gallery.
CREATE TABLE national_templates (
    id                BIGSERIAL PRIMARY KEY,
    site_id           TEXT REFERENCES sites (id),   -- NULL for templates added centrally
    site_template_id  BIGINT,
    identity_id       UUID NOT NULL REFERENCES national_identities (id),
    pack_id           TEXT NOT NULL,
    vector            BYTEA NOT NULL,               -- float32 little-endian
    quality           DOUBLE PRECISION,
    searched_at       TIMESTAMPTZ,                  -- NULL until the duplicate search has run
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (site_id, site_template_id)
);
CREATE INDEX national_templates_identity ON national_templates (identity_id);
CREATE INDEX national_templates_unsearched ON national_templates (id) WHERE searched_at IS NULL;

CREATE TABLE national_fingers (
    id           BIGSERIAL PRIMARY KEY,
    site_id      TEXT NOT NULL REFERENCES sites (id),
    site_seq     BIGINT NOT NULL,
    identity_id  UUID NOT NULL REFERENCES national_identities (id),
    position     TEXT NOT NULL,
    impression   INTEGER NOT NULL,
    extractor    TEXT NOT NULL,
    iso_record   BYTEA NOT NULL,
    quality      DOUBLE PRECISION,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (site_id, site_seq)
);

-- Gate events and other site facts kept for reports, as sent.
CREATE TABLE site_events (
    site_id     TEXT NOT NULL REFERENCES sites (id),
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    payload     JSONB NOT NULL,
    created_at  TEXT NOT NULL,                      -- the site's clock, as sent
    PRIMARY KEY (site_id, seq)
);

-- identity_a < identity_b, so one pair has at most one case whatever order it was found in.
CREATE TABLE duplicate_cases (
    id           BIGSERIAL PRIMARY KEY,
    identity_a   UUID NOT NULL REFERENCES national_identities (id),
    identity_b   UUID NOT NULL REFERENCES national_identities (id),
    score        DOUBLE PRECISION NOT NULL,
    threshold    DOUBLE PRECISION NOT NULL,
    pack_id      TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'same', 'not_same')),
    opened_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    survivor_id  UUID REFERENCES national_identities (id),
    decided_by   TEXT,
    decided_at   TIMESTAMPTZ,
    reason       TEXT,
    CHECK (identity_a < identity_b),
    UNIQUE (identity_a, identity_b)
);
CREATE INDEX duplicate_cases_open ON duplicate_cases (state) WHERE state = 'open';

-- What sites pull. seq is global; target_site NULL means every site.
CREATE TABLE change_log (
    seq          BIGSERIAL PRIMARY KEY,
    target_site  TEXT REFERENCES sites (id),
    kind         TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX change_log_target ON change_log (target_site, seq);

CREATE TABLE accounts (
    username       TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('central_admin', 'adjudicator', 'kanwil_monitor')),
    region         TEXT,
    password_hash  TEXT NOT NULL,
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((role = 'kanwil_monitor') = (region IS NOT NULL))
);

CREATE TABLE auth_tokens (
    token_sha256  TEXT PRIMARY KEY,
    username      TEXT NOT NULL REFERENCES accounts (username),
    expires_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit (
    id       BIGSERIAL PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    details  JSONB NOT NULL
);

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit table is append-only';
END
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();
