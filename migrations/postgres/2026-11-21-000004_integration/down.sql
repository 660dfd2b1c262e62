DROP TABLE idempotency_keys;
DROP TABLE api_clients;
ALTER TABLE users DROP COLUMN kind;
