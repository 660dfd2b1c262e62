-- Web console sign-ins: a cookie holds a random token, the database its SHA-256. Revoking a
-- row signs the browser out at once; idle and absolute limits are checked on every request.
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    org_id TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
