-- What a site's enrolment officer decided about a national candidate shown before saving
-- (POST /v1/sync/search): 'same_person' (enrolled here anyway, but the officer says it is that
-- national identity) or 'different_person' with a reason. It arrives with the enrolment and is
-- shown on the duplicate case for the same pair, so the central adjudicator starts from it.
CREATE TABLE site_duplicate_decisions (
    identity_id    UUID NOT NULL REFERENCES national_identities (id),  -- enrolled by the site
    candidate_id   UUID NOT NULL,                     -- the national identity judged (as answered)
    site_id        TEXT NOT NULL REFERENCES sites (id),
    decision       TEXT NOT NULL CHECK (decision IN ('same_person', 'different_person')),
    reason         TEXT NOT NULL,
    officer        TEXT NOT NULL,
    score          DOUBLE PRECISION,
    threshold      DOUBLE PRECISION,
    decided_at     TEXT,                              -- the site's clock, as sent
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (identity_id, candidate_id)
);
CREATE INDEX site_duplicate_decisions_candidate ON site_duplicate_decisions (candidate_id);
