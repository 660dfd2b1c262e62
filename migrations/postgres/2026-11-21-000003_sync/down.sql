DROP TABLE conflicts;
DROP TABLE entity_changes;
DROP TABLE device_mutations;
DROP TABLE devices;
ALTER TABLE organisations DROP COLUMN pruned_seq;
