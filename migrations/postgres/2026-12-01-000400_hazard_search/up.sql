-- The folded text that `q=` searches (title, description, location lower-cased by the server,
-- the same way on both backends). NULL until filled: the write path keeps it current, and
-- `migrate::run_pending` fills rows written before it existed (or by an older node).
ALTER TABLE hazards ADD COLUMN search_text TEXT;
