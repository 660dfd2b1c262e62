ALTER TABLE entity_changes DROP COLUMN due_at;
ALTER TABLE entity_changes DROP COLUMN data;
