-- When a person is erased, the site strips biometrics ('templates', 'iso_record_b64') from its
-- outbox rows not yet acknowledged. If the registry had applied such a row but its answer was
-- lost, the replay differs from what was applied only by that stripping: it must count as
-- already applied, not as a rewritten history. NULL: the change carried no biometrics.
ALTER TABLE applied_changes ADD COLUMN redacted_digest TEXT;

-- A site sends the ISO finger position code (1-10), a number.
ALTER TABLE national_fingers ALTER COLUMN position TYPE SMALLINT USING position::smallint;
ALTER TABLE national_fingers ADD CHECK (position BETWEEN 1 AND 10);
