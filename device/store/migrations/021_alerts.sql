-- Every caregiver alert the device raised outside the reminders (agent emergencies, out-of-range
-- readings, messages to the family), recorded in the transaction that queued it, so the console can
-- show what was raised and whether the cloud acknowledged it after its outbox row is gone. Ids only:
-- the message (with names and values) exists only in the sealed outbox payload.
CREATE TABLE device_alerts (
  id TEXT PRIMARY KEY,          -- = the outbox message id
  person_id TEXT NOT NULL,
  type TEXT NOT NULL,           -- emergency | out_of_range | caregiver_message | device | missed_dose
  priority INTEGER NOT NULL,
  raised_at INTEGER NOT NULL
);
CREATE INDEX device_alerts_raised ON device_alerts (raised_at);
