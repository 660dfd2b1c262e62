DROP INDEX hazards_org_id;
