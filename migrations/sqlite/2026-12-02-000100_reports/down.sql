DROP TABLE report_deadline_notices;
DROP TABLE report_signoffs;
ALTER TABLE hazards DROP COLUMN rectification_cost;
