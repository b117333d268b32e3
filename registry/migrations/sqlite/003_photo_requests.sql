-- SQLite twin of ../003_photo_requests.sql.

CREATE TABLE photo_requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_id   UUID NOT NULL REFERENCES national_identities (id),
    site_id       TEXT NOT NULL REFERENCES sites (id),
    requested_by  TEXT NOT NULL,
    reason        TEXT,
    state         TEXT NOT NULL DEFAULT 'requested'
                  CHECK (state IN ('requested', 'delivered', 'unavailable')),
    note          TEXT,
    change_seq    INTEGER,
    requested_at  TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    answered_at   TIMESTAMPTZ
);
CREATE INDEX photo_requests_identity ON photo_requests (identity_id, id);

CREATE TABLE national_photos (
    identity_id   UUID PRIMARY KEY REFERENCES national_identities (id),
    request_id    INTEGER NOT NULL REFERENCES photo_requests (id),
    site_id       TEXT NOT NULL REFERENCES sites (id),
    content_type  TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    sha256        TEXT NOT NULL,
    image         BLOB NOT NULL,
    source        TEXT,
    received_at   TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
