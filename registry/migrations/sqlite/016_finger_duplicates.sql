-- The national duplicate search by fingers (see the PostgreSQL twin).
ALTER TABLE national_fingers ADD COLUMN searched_at TIMESTAMPTZ;
CREATE INDEX national_fingers_unsearched ON national_fingers (id) WHERE searched_at IS NULL;
CREATE INDEX national_fingers_identity ON national_fingers (identity_id);

ALTER TABLE duplicate_cases ADD COLUMN modality TEXT NOT NULL DEFAULT 'face'
    CHECK (modality IN ('face', 'finger'));
ALTER TABLE duplicate_cases ADD COLUMN target_fpir DOUBLE PRECISION;
ALTER TABLE duplicate_cases ADD COLUMN templates_searched BIGINT;
