-- Photos, their links to entities, resumable uploads, and the generic background job queue.
-- Ids are UUIDv7 text; times are unix milliseconds (BIGINT); JSON is TEXT.

-- One row per photo per organisation, named by the SHA-256 of the original bytes. A row with
-- status 'pending' was linked by an entity before its bytes arrived.
CREATE TABLE photos (
    org_id TEXT NOT NULL REFERENCES organisations(id),
    sha256 TEXT NOT NULL,
    -- pending (no bytes yet) | stored (bytes kept, renditions coming) | ready | failed
    status TEXT NOT NULL,
    size BIGINT,
    content_type TEXT,
    width INTEGER,
    height INTEGER,
    -- EXIF DateTimeOriginal as the camera wrote it (wall clock, "2026-06-01T09:14:33").
    captured_local TEXT,
    -- EXIF OffsetTimeOriginal in minutes east of UTC, when the camera wrote one.
    captured_offset_minutes INTEGER,
    -- The capture instant (UTC), known only when the offset is.
    captured_at BIGINT,
    gps_lat REAL,
    gps_lon REAL,
    uploaded_by TEXT REFERENCES users(id),
    received_at BIGINT,
    thumbnail_key TEXT,
    display_key TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, sha256)
);
CREATE INDEX photos_unlinked ON photos(status, received_at);

-- Everyone who proved they hold a photo's bytes (uploaded them); they may read it until it is
-- linked to an entity.
CREATE TABLE photo_uploaders (
    org_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, sha256, user_id),
    FOREIGN KEY (org_id, sha256) REFERENCES photos(org_id, sha256) ON DELETE CASCADE
);

-- Entities (hazards, inspections...) link photos with a role. Links only grow; the foreign key
-- (no cascade) makes deleting a linked photo impossible.
CREATE TABLE photo_links (
    org_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites(id),
    sha256 TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, entity_type, entity_id, sha256, role),
    FOREIGN KEY (org_id, sha256) REFERENCES photos(org_id, sha256)
);
CREATE INDEX photo_links_photo ON photo_links(org_id, sha256);

-- tus 1.0 resumable uploads. The state lives here so any node can take the next chunk.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    sha256 TEXT NOT NULL,
    -- The Upload-Metadata header as received, echoed on HEAD.
    metadata TEXT NOT NULL,
    length BIGINT NOT NULL,
    -- Bytes committed so far: the tus Upload-Offset.
    received BIGINT NOT NULL,
    -- Where the bytes are staged: 'local' (a file) or 's3' (multipart parts + a tail object).
    staging TEXT NOT NULL,
    multipart_id TEXT,
    -- JSON array of the e-tags of the committed multipart parts, in order.
    parts TEXT NOT NULL DEFAULT '[]',
    -- The object holding the bytes after the last full part.
    tail_key TEXT,
    -- A PATCH in progress holds the upload until locked_until.
    lock_token TEXT,
    locked_until BIGINT,
    completed_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX uploads_expiry ON uploads(expires_at);

-- Background work claimed through the database so each job runs once across nodes.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    -- NULL for jobs that span organisations (sweeps).
    org_id TEXT REFERENCES organisations(id),
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    -- At most one job per key (NULLs never collide).
    dedupe_key TEXT UNIQUE,
    -- queued | running | dead
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at BIGINT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, run_at);
