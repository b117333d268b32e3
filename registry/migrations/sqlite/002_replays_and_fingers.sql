-- SQLite twin of ../002_replays_and_fingers.sql. The finger position's type and range are
-- already right in this file set's 001 (there was no earlier SQLite registry to convert).
ALTER TABLE applied_changes ADD COLUMN redacted_digest TEXT;
