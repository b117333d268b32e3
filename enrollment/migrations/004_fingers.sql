-- Fingerprints: the lossless master image of every impression (kept so a better matcher can
-- re-extract later) and its minutiae template as a portable ISO/IEC 19794-2:2005 record.

CREATE TABLE finger_images (
    id             INTEGER PRIMARY KEY,
    identity_id    TEXT NOT NULL REFERENCES identities(id),
    position       INTEGER NOT NULL CHECK (position BETWEEN 1 AND 10),   -- ISO finger code
    impression     INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    data           BLOB,                                                 -- PNG, sealed; NULL once erased
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    resolution_ppi INTEGER NOT NULL,
    captured_at    TEXT NOT NULL,
    UNIQUE (identity_id, position, impression)
);

CREATE TABLE finger_templates (
    id          INTEGER PRIMARY KEY,
    image_id    INTEGER NOT NULL REFERENCES finger_images(id),
    identity_id TEXT NOT NULL REFERENCES identities(id),
    position    INTEGER NOT NULL,
    extractor   TEXT NOT NULL,                                           -- name and version
    iso_record  BLOB NOT NULL,                                           -- sealed
    minutiae    INTEGER NOT NULL,
    quality     REAL NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX finger_templates_identity ON finger_templates (identity_id, position);
