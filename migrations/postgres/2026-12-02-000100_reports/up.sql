-- Reports: the statutory period report, its sign-off and its deadlines.

-- What a rectification cost, when the rectifier said: TEXT JSON {"amount": 1250.5,
-- "currency": "CNY"} (hazardloop_sync::Money). The 五落实 funds amount lives in `five`.
ALTER TABLE hazards ADD COLUMN rectification_cost TEXT;

-- A period's report signed by the principal: the figures frozen as they were signed, with the
-- SHA-256 of their canonical JSON. One per organisation, scope ('' for the whole organisation,
-- else a site id) and period label (2026-Q1, 2026, 2026-03, 2026-01-01..2026-02-10).
CREATE TABLE report_signoffs (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    scope TEXT NOT NULL,
    period TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    snapshot_hash TEXT NOT NULL,
    signed_by TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    submitted_by TEXT,
    submitted_at BIGINT,
    submission_reference TEXT,
    UNIQUE (org_id, scope, period)
);

-- Statutory deadlines already announced (kind 'missed'), so each is announced once.
CREATE TABLE report_deadline_notices (
    org_id TEXT NOT NULL REFERENCES organisations(id),
    period TEXT NOT NULL,
    kind TEXT NOT NULL,
    notified_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, period, kind)
);
