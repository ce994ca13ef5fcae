-- Device runtime tables: key/value settings, the sync outbox (changes the cloud must hear about, written
-- in the same transaction as the change) and the inbox (cloud commands already applied, for idempotency).
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  payload BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_sent_at INTEGER
);
CREATE INDEX outbox_priority ON outbox (priority DESC, seq);

CREATE TABLE inbox (
  message_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  result TEXT
);
