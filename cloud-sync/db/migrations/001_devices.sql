-- Devices known to the cloud. Sync (issue 8) and the caregiver side (issue 9) add their tables in later files.
CREATE TABLE devices (
  device_id text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz,
  last_seq bigint NOT NULL DEFAULT 0
);
