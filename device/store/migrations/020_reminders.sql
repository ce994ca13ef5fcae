-- Reminders (issue 7). What the scheduler did for each dose, durable across restarts, power cuts and
-- wall-clock steps: a dose gets at most one first announcement because its row here is written in the
-- same transaction that decides to announce it. Times are INTEGER epoch milliseconds (UTC).
CREATE TABLE reminder_state (
  dose_id TEXT PRIMARY KEY REFERENCES doses(id) ON DELETE CASCADE,
  person_id TEXT NOT NULL,
  due_at INTEGER NOT NULL,
  -- waiting: not yet announced (snoozed before its time, or held by quiet hours)
  -- announced → final (last reminder spoken) → alerted (caregiver alert queued) → closed
  -- snoozed: announced, asked again at snoozed_until
  stage TEXT NOT NULL CHECK (stage IN ('waiting', 'announced', 'snoozed', 'final', 'alerted', 'closed')),
  first_announced_at INTEGER,
  last_announced_at INTEGER,
  announcements INTEGER NOT NULL DEFAULT 0,
  late INTEGER NOT NULL DEFAULT 0,
  snoozes INTEGER NOT NULL DEFAULT 0,
  snoozed_until INTEGER,
  final_at INTEGER,
  alert_id TEXT,
  -- When the scheduler must next act on this dose; NULL once closed.
  next_at INTEGER,
  -- taken | skipped | missed (closed after escalation) | missed_unannounced (older than the grace window)
  -- | cancelled (the medicine was stopped or deleted)
  outcome TEXT,
  updated_at INTEGER NOT NULL
);
CREATE INDEX reminder_state_next ON reminder_state (next_at) WHERE next_at IS NOT NULL;
CREATE INDEX reminder_state_person ON reminder_state (person_id, due_at);

-- The last thing a reminder asked each person, so a bare "yes" answers it (until the agent speaks).
CREATE TABLE reminder_prompts (
  person_id TEXT PRIMARY KEY,
  dose_ids TEXT NOT NULL,          -- JSON array
  conversation_id TEXT NOT NULL,
  mode TEXT NOT NULL DEFAULT 'ask', -- ask: "have you taken it?"; offer_snooze: "shall I remind you again?"
  asked_at INTEGER NOT NULL,
  superseded INTEGER NOT NULL DEFAULT 0
);

-- Caregiver alerts raised by reminders. The payload (with the person's name) lives only in the sealed
-- outbox; an alert is acknowledged by the cloud once its outbox row (message_id = id) is gone.
CREATE TABLE reminder_alerts (
  id TEXT PRIMARY KEY,
  person_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('dose', 'summary')),
  medication_ids TEXT NOT NULL,    -- JSON array
  dose_ids TEXT NOT NULL,          -- JSON array
  priority INTEGER NOT NULL,
  raised_at INTEGER NOT NULL
);
CREATE INDEX reminder_alerts_person ON reminder_alerts (person_id, raised_at);

-- Misses of a medicine that already raised an alert within the summary window: held here and sent as
-- one summary alert when the window ends, instead of one alert each.
CREATE TABLE reminder_alert_backlog (
  dose_id TEXT PRIMARY KEY,
  person_id TEXT NOT NULL,
  medication_id TEXT NOT NULL,
  due_at INTEGER NOT NULL,
  release_at INTEGER NOT NULL
);
CREATE INDEX reminder_alert_backlog_release ON reminder_alert_backlog (release_at);
