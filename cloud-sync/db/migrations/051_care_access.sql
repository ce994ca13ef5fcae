-- Who may see and manage whose records (issue 9): device ownership by pairing, caregiver links with
-- permissions, admin break-glass grants, and the hash-chained audit log.

-- Short-lived codes a device shows or speaks; claiming one makes the caller the device's owner.
CREATE TABLE pairing_codes (
  code_hash text PRIMARY KEY,
  device_id text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  claimed_at timestamptz,
  claimed_by uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX pairing_codes_device ON pairing_codes (device_id);

CREATE TABLE device_owners (
  device_id text PRIMARY KEY,
  owner_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  claimed_at timestamptz NOT NULL
);
CREATE INDEX device_owners_owner ON device_owners (owner_user_id);

-- A caregiver invited to one person by the owner. The owner's own access comes from device_owners.
CREATE TABLE caregiver_links (
  person_id text NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  can_view_records boolean NOT NULL DEFAULT true,
  can_receive_alerts boolean NOT NULL DEFAULT true,
  can_manage_medicines boolean NOT NULL DEFAULT false,
  invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (person_id, user_id)
);
CREATE INDEX caregiver_links_user ON caregiver_links (user_id);

-- Admins read health data only through a time-limited, audited grant.
CREATE TABLE break_glass_grants (
  id uuid PRIMARY KEY,
  admin_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  person_id text NOT NULL,
  reason text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX break_glass_admin_person ON break_glass_grants (admin_user_id, person_id);

-- Append-only: each row's hash covers its content and the previous row's hash, so an edited or
-- deleted row breaks the chain from that point on.
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY,
  at timestamptz NOT NULL,
  actor_user_id uuid,
  actor_role text,
  action text NOT NULL,
  person_id text,
  resource text,
  resource_id text,
  break_glass boolean NOT NULL DEFAULT false,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX audit_log_person ON audit_log (person_id, seq);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
