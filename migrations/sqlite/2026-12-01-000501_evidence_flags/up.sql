-- Evidence that is not taken at face value (issue: photo evidence trusted too much).
-- Flags are TEXT JSON arrays of {"code": ..., facts...} (hazardloop_sync::evidence::Flag).

-- A site's optional circle: photos and reports from further than radius_m (metres) from
-- (latitude, longitude) are flagged. A site without one uses its nearest ancestor's.
ALTER TABLE sites ADD COLUMN latitude REAL;
ALTER TABLE sites ADD COLUMN longitude REAL;
ALTER TABLE sites ADD COLUMN radius_m REAL;

-- The photo's own flags (capture_time_in_future), set when its bytes arrive.
ALTER TABLE photos ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';

-- The linking entity's report (or start) time by the device clock, and the link's flags
-- (captured_long_before_report, outside_site_radius), set once both link and bytes are known.
ALTER TABLE photo_links ADD COLUMN reported_at BIGINT;
ALTER TABLE photo_links ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';

-- A hazard report's flags (outside_site_radius for its GPS).
ALTER TABLE hazards ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';
