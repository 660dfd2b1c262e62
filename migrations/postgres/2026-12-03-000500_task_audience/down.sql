ALTER TABLE entity_changes DROP COLUMN audience;
