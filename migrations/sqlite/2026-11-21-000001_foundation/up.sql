-- Foundation: organisations, the site tree, users, memberships, refresh tokens, login throttling.
-- Ids are UUIDv7 text; times are unix milliseconds (BIGINT); JSON is TEXT.
CREATE TABLE organisations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

CREATE TABLE sites (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    parent_id TEXT REFERENCES sites(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- Materialised path of ancestor ids, "/root/child/self/", so subtree and ancestor
    -- queries are a prefix match on both backends.
    path TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sites_org_path ON sites(org_id, path);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_org ON users(org_id, id);

CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users(id),
    site_id TEXT NOT NULL REFERENCES sites(id),
    org_id TEXT NOT NULL REFERENCES organisations(id),
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, site_id)
);
CREATE INDEX memberships_site ON memberships(site_id);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    rotated_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

CREATE TABLE login_failures (
    email TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at BIGINT NOT NULL,
    locked_until BIGINT
);
