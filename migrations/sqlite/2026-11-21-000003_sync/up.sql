-- Offline sync: devices, the exactly-once record of every pushed mutation, the change index
-- that pulls read, and the conflict log.

ALTER TABLE organisations ADD COLUMN pruned_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    platform TEXT NOT NULL,
    app_version TEXT NOT NULL,
    last_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX devices_user ON devices(user_id);

-- (device, seq) -> result, written in the same transaction as the mutation's effects.
CREATE TABLE device_mutations (
    device_id TEXT NOT NULL REFERENCES devices(id),
    seq BIGINT NOT NULL,
    mutation_id TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, seq)
);

-- One row per entity: the change sequence of its latest write. Pulls read `seq > cursor`.
CREATE TABLE entity_changes (
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    site_id TEXT,
    seq BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (entity_type, entity_id)
);
CREATE INDEX entity_changes_org_seq ON entity_changes(org_id, seq, entity_type, entity_id);

CREATE TABLE conflicts (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    site_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    field TEXT,
    winning_value TEXT,
    winning_hlc TEXT,
    losing_value TEXT,
    losing_hlc TEXT,
    losing_actor TEXT,
    losing_device TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    resolved_by TEXT,
    resolved_at BIGINT,
    resolution TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX conflicts_org_status ON conflicts(org_id, status, created_at);
CREATE INDEX conflicts_entity ON conflicts(entity_id);
