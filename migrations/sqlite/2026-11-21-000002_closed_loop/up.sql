-- The closed loop: templates, inspections, answers, hazards, the audit chain and leases.

-- Per-organisation counters, bumped under the organisation row's lock by every write
-- transaction: `change_seq` orders changes for pulls and feeds, `audit_seq`/`audit_head` extend
-- the tamper-evident chain.
ALTER TABLE organisations ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organisations ADD COLUMN audit_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organisations ADD COLUMN audit_head TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000';

CREATE TABLE templates (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, key, version)
);

CREATE TABLE inspections (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    site_id TEXT NOT NULL REFERENCES sites(id),
    template_id TEXT NOT NULL REFERENCES templates(id),
    inspector_id TEXT NOT NULL REFERENCES users(id),
    status TEXT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    started_at_device BIGINT,
    finished_at_device BIGINT,
    gps TEXT,
    submitted_at BIGINT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX inspections_org_site ON inspections(org_id, site_id);

CREATE TABLE answers (
    inspection_id TEXT NOT NULL REFERENCES inspections(id),
    item_key TEXT NOT NULL,
    value TEXT NOT NULL,
    hlc TEXT NOT NULL,
    answered_by TEXT NOT NULL,
    device_time BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (inspection_id, item_key)
);

-- Overwritten answers are kept, never lost.
CREATE TABLE answer_history (
    id TEXT PRIMARY KEY NOT NULL,
    inspection_id TEXT NOT NULL REFERENCES inspections(id),
    item_key TEXT NOT NULL,
    value TEXT NOT NULL,
    hlc TEXT NOT NULL,
    answered_by TEXT NOT NULL,
    replaced_by_hlc TEXT NOT NULL,
    replaced_at BIGINT NOT NULL
);
CREATE INDEX answer_history_inspection ON answer_history(inspection_id, item_key);

CREATE TABLE hazards (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    site_id TEXT NOT NULL REFERENCES sites(id),
    state TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    location TEXT NOT NULL,
    gps TEXT,
    category TEXT NOT NULL,
    grade TEXT NOT NULL,
    risk TEXT NOT NULL,
    reporter_id TEXT NOT NULL REFERENCES users(id),
    owner_id TEXT REFERENCES users(id),
    verifier_id TEXT REFERENCES users(id),
    rectified_by TEXT REFERENCES users(id),
    measures TEXT,
    deadline BIGINT,
    five TEXT,
    inspection_id TEXT REFERENCES inspections(id),
    item_key TEXT,
    reported_at_device BIGINT NOT NULL,
    reported_at BIGINT NOT NULL,
    closed_at BIGINT,
    overdue_notified_deadline BIGINT,
    field_clocks TEXT NOT NULL DEFAULT '{}',
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (inspection_id, item_key)
);
CREATE INDEX hazards_org_site_state ON hazards(org_id, site_id, state);
CREATE INDEX hazards_org_deadline ON hazards(org_id, deadline);

CREATE TABLE audit_events (
    org_id TEXT NOT NULL REFERENCES organisations(id),
    seq BIGINT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    change_seq BIGINT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    hazard_id TEXT,
    site_id TEXT,
    actor_id TEXT,
    device_id TEXT,
    device_time BIGINT,
    server_time BIGINT NOT NULL,
    event TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX audit_events_entity ON audit_events(entity_id, seq);

-- Named leases: a background task runs on the one node that holds its lease.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
