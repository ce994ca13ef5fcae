-- Invitations by email for someone who has no account yet (issue 9). Only the SHA-256 of the emailed
-- token is kept; accepting it (signed in with the invited email) grants the listed permissions once.
CREATE TABLE caregiver_invitations (
  id uuid PRIMARY KEY,
  person_id text NOT NULL,
  email text NOT NULL,
  token_hash bytea NOT NULL UNIQUE,
  can_view_records boolean NOT NULL,
  can_receive_alerts boolean NOT NULL,
  can_manage_medicines boolean NOT NULL,
  invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by uuid REFERENCES users (id) ON DELETE SET NULL,
  revoked_at timestamptz
);
CREATE INDEX caregiver_invitations_person ON caregiver_invitations (person_id, created_at DESC);
-- one open invitation per person and address: a new one replaces (revokes) the old
CREATE UNIQUE INDEX caregiver_invitations_open ON caregiver_invitations (person_id, lower(email))
  WHERE accepted_at IS NULL AND revoked_at IS NULL;
