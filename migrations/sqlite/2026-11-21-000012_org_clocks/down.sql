ALTER TABLE organisations ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organisations ADD COLUMN audit_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organisations ADD COLUMN audit_head TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000';
UPDATE organisations SET
    change_seq = (SELECT change_seq FROM org_clocks WHERE org_clocks.org_id = organisations.id),
    audit_seq = (SELECT audit_seq FROM org_clocks WHERE org_clocks.org_id = organisations.id),
    audit_head = (SELECT audit_head FROM org_clocks WHERE org_clocks.org_id = organisations.id)
    WHERE id IN (SELECT org_id FROM org_clocks);
DROP TABLE org_clocks;
