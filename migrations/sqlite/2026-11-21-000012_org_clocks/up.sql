-- The per-organisation counters every write advances move out of `organisations` into a row
-- of their own (narrow, and the only row each write rewrites; see the PostgreSQL migration).
CREATE TABLE org_clocks (
    org_id TEXT PRIMARY KEY NOT NULL REFERENCES organisations(id),
    change_seq BIGINT NOT NULL DEFAULT 0,
    audit_seq BIGINT NOT NULL DEFAULT 0,
    audit_head TEXT NOT NULL
);
INSERT INTO org_clocks (org_id, change_seq, audit_seq, audit_head)
    SELECT id, change_seq, audit_seq, audit_head FROM organisations;
ALTER TABLE organisations DROP COLUMN change_seq;
ALTER TABLE organisations DROP COLUMN audit_seq;
ALTER TABLE organisations DROP COLUMN audit_head;
