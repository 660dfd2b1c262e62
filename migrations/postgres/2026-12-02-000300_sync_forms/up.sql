-- Each entity's sync form next to its change-index row, written in the same transaction as
-- the change: `data` is the JSON text a pull sends as the item's `data` (NULL for tombstones
-- and for rows written before this column existed, which pulls still build from the entity's
-- tables), and `due_at` is the deadline of an open hazard (a hazard's `overdue` depends on
-- the time of the pull, so it is set when the page is made).
ALTER TABLE entity_changes ADD COLUMN data TEXT;
ALTER TABLE entity_changes ADD COLUMN due_at BIGINT;
