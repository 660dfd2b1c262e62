ALTER TABLE hazards DROP COLUMN flags;
ALTER TABLE photo_links DROP COLUMN flags;
ALTER TABLE photo_links DROP COLUMN reported_at;
ALTER TABLE photos DROP COLUMN flags;
ALTER TABLE sites DROP COLUMN radius_m;
ALTER TABLE sites DROP COLUMN longitude;
ALTER TABLE sites DROP COLUMN latitude;
