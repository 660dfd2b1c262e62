-- A link grants the readers of its entity's site the photo only once someone who holds or
-- may read the bytes stood behind it: a link to a photo the linker could not read (another
-- site's, known only by its id) stays unvouched, shows as pending and grants nothing until
-- someone who sees the entity's site uploads the bytes. Existing links were made under the
-- earlier rule and stay trusted.
ALTER TABLE photo_links ADD COLUMN vouched BOOLEAN NOT NULL DEFAULT TRUE;
