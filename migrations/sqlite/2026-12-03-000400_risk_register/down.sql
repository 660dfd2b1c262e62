DROP TABLE check_tasks;
DROP TABLE risk_pauses;
DROP TABLE check_duties;
DROP TABLE control_measures;
DROP TABLE risk_assessments;
DROP TABLE risk_events;
DROP TABLE risk_units;
