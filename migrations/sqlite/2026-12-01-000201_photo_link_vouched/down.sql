ALTER TABLE photo_links DROP COLUMN vouched;
