-- A delivery whose message was handed over in full and is about to be committed (SMTP: just before
-- the end-of-data "."). A worker killed while a row is 'sending' had not reached that point, so the
-- server cannot have accepted the message and re-sending it makes no duplicate; only 'submitting' rows
-- are uncertain (issue 9, duplicate emails after a kill).
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_status_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_status_check
  CHECK (status IN ('sending', 'submitting', 'sent', 'failed', 'skipped'));
