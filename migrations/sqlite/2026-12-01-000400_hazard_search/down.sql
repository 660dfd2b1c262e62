ALTER TABLE hazards DROP COLUMN search_text;
