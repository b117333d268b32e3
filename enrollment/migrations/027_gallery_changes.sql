-- A feed of the identities whose face-gallery projection may have changed: triggers append a
-- row for every template inserted, moved or deleted and every identity whose role, status or
-- merge changed, whichever process wrote it (the service, gerbang import, a sync agent
-- run on its own). Each process holding a gallery applies the rows after its cursor
-- (site_sync/follow.py: GalleryFeed), re-projecting just those people from the database.
-- AUTOINCREMENT: a seq is never reused, so a gap below the oldest row means rows were pruned
-- past a cursor, and that process rebuilds its gallery instead.
CREATE TABLE gallery_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_id TEXT NOT NULL
);

CREATE TRIGGER gallery_templates_inserted AFTER INSERT ON templates
BEGIN
    INSERT INTO gallery_changes (identity_id) VALUES (NEW.identity_id);
END;

CREATE TRIGGER gallery_templates_updated AFTER UPDATE OF identity_id, pack_id, vector ON templates
BEGIN
    INSERT INTO gallery_changes (identity_id) VALUES (OLD.identity_id);
    INSERT INTO gallery_changes (identity_id)
        SELECT NEW.identity_id WHERE NEW.identity_id <> OLD.identity_id;
END;

CREATE TRIGGER gallery_templates_deleted AFTER DELETE ON templates
BEGIN
    INSERT INTO gallery_changes (identity_id) VALUES (OLD.identity_id);
END;

CREATE TRIGGER gallery_identities_updated AFTER UPDATE OF role, status, merged_into ON identities
BEGIN
    INSERT INTO gallery_changes (identity_id) VALUES (NEW.id);
END;

CREATE TRIGGER gallery_identities_deleted AFTER DELETE ON identities
BEGIN
    INSERT INTO gallery_changes (identity_id) VALUES (OLD.id);
END;
