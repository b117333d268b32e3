-- Registry replicas (issue 15): what every replica's in-memory state must learn from the others.
-- gallery_feed: each committed change to the national gallery (a person touched, the template
-- ids it gained), appended in the writer's transaction under the journal lock, so seqs commit in
-- the order drawn and a replica's cursor never skips one (registry/gallery_feed.py).
CREATE TABLE gallery_feed (
    seq           BIGSERIAL PRIMARY KEY,
    identity_id   TEXT NOT NULL,
    template_ids  JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- sign_in_failures: failed officer sign-ins per account and per source, shared by every replica
-- (kernel.access.SignInThrottle's rules; registry/sign_in_store.py).
CREATE TABLE sign_in_failures (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    locked_until  DOUBLE PRECISION NOT NULL,   -- seconds since the epoch
    last_failed   DOUBLE PRECISION NOT NULL
);
CREATE INDEX sign_in_failures_age ON sign_in_failures (last_failed);
