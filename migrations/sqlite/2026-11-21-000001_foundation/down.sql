DROP TABLE login_failures;
DROP TABLE refresh_tokens;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE sites;
DROP TABLE organisations;
