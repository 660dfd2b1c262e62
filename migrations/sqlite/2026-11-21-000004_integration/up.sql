-- Integration clients (each acts through a principal row in users, kind 'client') and
-- idempotency keys for REST writes.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';

CREATE TABLE api_clients (
    id TEXT PRIMARY KEY NOT NULL REFERENCES users(id),
    org_id TEXT NOT NULL REFERENCES organisations(id),
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    site_ids TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- The outcome of a REST write under an Idempotency-Key, stored in the write's transaction.
CREATE TABLE idempotency_keys (
    principal_id TEXT NOT NULL,
    key TEXT NOT NULL,
    org_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (principal_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_at);
