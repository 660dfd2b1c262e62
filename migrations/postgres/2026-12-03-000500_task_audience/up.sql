-- Who alone pulls an entity: NULL for everyone who may read its site; a user id for an entity
-- that belongs to one person's phone (a check task goes to its assignee only).
ALTER TABLE entity_changes ADD COLUMN audience TEXT;
