-- Webhooks: per-organisation subscriptions and the delivery outbox. Deliveries are inserted in
-- the same transaction as the audit event they carry (storage/src/webhooks.rs) and sent by the
-- worker of any node (api/src/webhook_delivery.rs), which claims due rows with a lease.

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- JSON array of event type names; ["*"] is every event.
    event_types TEXT NOT NULL,
    -- Only events at this site or below it (NULL: every event, with or without a site).
    site_id TEXT REFERENCES sites(id),
    -- The signing secret, `whsec_<base64>`; needed in clear to sign, never shown after creation.
    secret TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason TEXT,
    disabled_at BIGINT,
    -- Deliveries that ended `failed` since the last one delivered.
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_org_active ON webhooks(org_id, active);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    -- The `webhook-id` header: the same on every attempt and on redeliveries.
    message_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- The exact JSON body sent.
    payload TEXT NOT NULL,
    -- pending, delivered or failed.
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- The lease of the worker sending it now (NULL: nobody).
    locked_until BIGINT,
    locked_by TEXT,
    last_attempt_at BIGINT,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_at BIGINT,
    -- The delivery this one redelivers, if any.
    redelivery_of TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, id);
