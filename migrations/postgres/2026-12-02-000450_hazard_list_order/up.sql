-- The hazard list (REST and console) pages through an organisation's hazards in id order
-- (`WHERE org_id = ? [AND id > cursor] ORDER BY id LIMIT n`): with this index both databases
-- read the page's rows in order and stop, instead of sorting every hazard of the organisation
-- for each page.
CREATE INDEX hazards_org_id ON hazards(org_id, id);
