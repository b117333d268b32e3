-- A change counter for finger_templates, bumped by every insert, update and delete. Triggers
-- bump it, so no writer (enrolment, erasure, resealing, a future sync) can forget to. The 1:N
-- index (enrollment/fingers.py) reads this one row before each search and re-reads the table
-- only when it moved. Row ids alone could not tell: an id freed by deleting the newest row is
-- given to the next insert.
CREATE TABLE finger_changes (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO finger_changes (id, generation) VALUES (1, 1);

CREATE TRIGGER finger_templates_inserted AFTER INSERT ON finger_templates
BEGIN
    UPDATE finger_changes SET generation = generation + 1 WHERE id = 1;
END;

CREATE TRIGGER finger_templates_updated AFTER UPDATE ON finger_templates
BEGIN
    UPDATE finger_changes SET generation = generation + 1 WHERE id = 1;
END;

CREATE TRIGGER finger_templates_deleted AFTER DELETE ON finger_templates
BEGIN
    UPDATE finger_changes SET generation = generation + 1 WHERE id = 1;
END;
