-- Reads of health data are audited in the same SQL statement that reads them (issue 9, performance):
-- the statement inserts a row here, so a read is only answered once its audit entry is committed.
-- A sealer (any API replica, serialized by the audit advisory lock) then moves the rows, in id order,
-- into audit_log with seq and hash, a few milliseconds later. Rows leave this table only by being sealed.
CREATE TABLE audit_inbox (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL,
  actor_user_id uuid,
  actor_role text,
  action text NOT NULL,
  person_id text,
  resource text,
  resource_id text,
  break_glass boolean NOT NULL DEFAULT false,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE FUNCTION audit_inbox_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The sealer sets aide.audit_seal for its own transaction only (SET LOCAL).
  IF TG_OP = 'DELETE' AND current_setting('aide.audit_seal', true) = 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'audit_inbox rows are only removed by sealing them into audit_log';
END $$;
-- Per statement (not per row): the sealer's DELETE of a batch pays for one check. TRUNCATE too.
CREATE TRIGGER audit_inbox_no_update BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_inbox
  FOR EACH STATEMENT EXECUTE FUNCTION audit_inbox_guard();
