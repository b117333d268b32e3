-- SQLite twin of ../017_watchlist_fingers.sql. SQLite cannot drop a NOT NULL, so the table is
-- rebuilt with the same columns and indexes (no table refers to national_fingers).
CREATE TABLE national_fingers_017 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id      TEXT REFERENCES sites (id),
    site_seq     INTEGER,
    identity_id  UUID NOT NULL REFERENCES national_identities (id),
    position     INTEGER NOT NULL CHECK (position BETWEEN 1 AND 10),
    impression   INTEGER NOT NULL,
    extractor    TEXT NOT NULL,
    iso_record   BLOB NOT NULL,
    quality      REAL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    searched_at  TIMESTAMPTZ,
    UNIQUE (site_id, site_seq),
    CHECK ((site_id IS NULL) = (site_seq IS NULL))
);
INSERT INTO national_fingers_017 (id, site_id, site_seq, identity_id, position, impression,
    extractor, iso_record, quality, created_at, searched_at)
    SELECT id, site_id, site_seq, identity_id, position, impression, extractor, iso_record,
           quality, created_at, searched_at FROM national_fingers;
DROP TABLE national_fingers;
ALTER TABLE national_fingers_017 RENAME TO national_fingers;
CREATE INDEX national_fingers_unsearched ON national_fingers (id) WHERE searched_at IS NULL;
CREATE INDEX national_fingers_identity ON national_fingers (identity_id);
