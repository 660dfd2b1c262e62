-- A session signed in on a registered device: revoking the device revokes its refresh tokens,
-- and its access tokens can no longer push or pull.
ALTER TABLE refresh_tokens ADD COLUMN device_id TEXT NULL REFERENCES devices (id);
CREATE INDEX refresh_tokens_device ON refresh_tokens (device_id) WHERE device_id IS NOT NULL;
