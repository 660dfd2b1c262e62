-- The per-organisation counters every write advances (under this row's lock, just before
-- commit) move out of `organisations` into a row of their own. The row is narrow, so many of
-- its versions fit in one page and PostgreSQL prunes them in place (HOT) even where autovacuum
-- is slow or off; the wide organisation row (name, settings) is no longer rewritten on every
-- write.
CREATE TABLE org_clocks (
    org_id TEXT PRIMARY KEY NOT NULL REFERENCES organisations(id),
    change_seq BIGINT NOT NULL DEFAULT 0,
    audit_seq BIGINT NOT NULL DEFAULT 0,
    audit_head TEXT NOT NULL
) WITH (fillfactor = 10, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
INSERT INTO org_clocks (org_id, change_seq, audit_seq, audit_head)
    SELECT id, change_seq, audit_seq, audit_head FROM organisations;
ALTER TABLE organisations DROP COLUMN change_seq;
ALTER TABLE organisations DROP COLUMN audit_seq;
ALTER TABLE organisations DROP COLUMN audit_head;
