-- Photos travel only when a central officer asks for one (photo.requested down to the owning
-- site, photo.provided or photo.unavailable back up in its signed outbox).

CREATE TABLE photo_requests (
    id            BIGSERIAL PRIMARY KEY,            -- travels as request_id, both ways
    identity_id   UUID NOT NULL REFERENCES national_identities (id),
    site_id       TEXT NOT NULL REFERENCES sites (id),  -- the site asked: the owner at the time
    requested_by  TEXT NOT NULL,
    reason        TEXT,
    state         TEXT NOT NULL DEFAULT 'requested'
                  CHECK (state IN ('requested', 'delivered', 'unavailable')),
    note          TEXT,                             -- why unavailable, as the site said
    change_seq    BIGINT,                           -- the change_log entry that carried the request
    requested_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    answered_at   TIMESTAMPTZ
);
CREATE INDEX photo_requests_identity ON photo_requests (identity_id, id);

-- The newest delivered photo of a person; deleted when the owning site erases them.
CREATE TABLE national_photos (
    identity_id   UUID PRIMARY KEY REFERENCES national_identities (id),
    request_id    BIGINT NOT NULL REFERENCES photo_requests (id),
    site_id       TEXT NOT NULL REFERENCES sites (id),
    content_type  TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    sha256        TEXT NOT NULL,
    image         BYTEA NOT NULL,
    source        TEXT,                             -- photo_of_record or best_capture
    received_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
