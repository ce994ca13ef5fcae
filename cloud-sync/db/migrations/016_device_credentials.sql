-- Per-device MQTT credentials issued at provisioning by `aide cloud devices add` (issue 8). The password
-- itself is kept only as a salted hash in the broker's password file and in the device's bundle; this is
-- the record of issue and revocation. disabled_at (010) is the revocation time.
ALTER TABLE devices ADD COLUMN credentials_issued_at timestamptz;
COMMENT ON COLUMN devices.disabled_at IS 'credentials revoked (aide cloud devices revoke); the broker refuses the device';
