-- Health store: people, measurements, medicines, doses and conversations. Times are INTEGER epoch
-- milliseconds (UTC). Free text and names are AES-256-GCM ciphertext (BLOB, key id inside the blob,
-- row id bound as associated data); see device/crypto/fields.ts.

-- Data keys, each wrapped by the master key kept outside the database. Exactly one is active.
CREATE TABLE data_keys (
  id INTEGER PRIMARY KEY,
  wrapped BLOB NOT NULL,
  active INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  retired_at INTEGER
);

CREATE TABLE people (
  id TEXT PRIMARY KEY,
  name_enc BLOB NOT NULL,
  timezone TEXT NOT NULL,
  locale TEXT NOT NULL,
  units TEXT NOT NULL,          -- JSON {glucose, weight, temperature}
  targets TEXT NOT NULL,        -- JSON target ranges in canonical units
  is_primary INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE measurements (
  id TEXT PRIMARY KEY,
  person_id TEXT NOT NULL REFERENCES people(id),
  type TEXT NOT NULL,
  value REAL NOT NULL,          -- canonical unit; systolic for blood pressure
  value2 REAL,                  -- diastolic
  value3 REAL,                  -- pulse
  input_unit TEXT NOT NULL,
  taken_at INTEGER NOT NULL,
  source TEXT NOT NULL,
  note_enc BLOB,
  deleted INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
-- Newest first per person and type; the id breaks ties so cursors are stable under concurrent inserts.
CREATE INDEX measurements_person_type_time ON measurements (person_id, type, taken_at DESC, id DESC);
CREATE INDEX measurements_person_time ON measurements (person_id, taken_at DESC, id DESC);

CREATE TABLE medications (
  id TEXT PRIMARY KEY,
  person_id TEXT NOT NULL REFERENCES people(id),
  name_enc BLOB NOT NULL,
  dose_enc BLOB,
  form TEXT,
  instructions_enc BLOB,
  times TEXT NOT NULL,          -- JSON ["08:00", ...] local wall-clock times
  days TEXT,                    -- JSON ["mon", ...] or NULL for every day
  start_date TEXT NOT NULL,     -- YYYY-MM-DD local
  end_date TEXT,
  active INTEGER NOT NULL DEFAULT 1,
  -- Doses are planned from this instant with the current schedule; earlier doses keep the old one.
  schedule_since INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX medications_person ON medications (person_id);

CREATE TABLE doses (
  id TEXT PRIMARY KEY,
  person_id TEXT NOT NULL REFERENCES people(id),
  medication_id TEXT NOT NULL REFERENCES medications(id),
  due_at INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'due' CHECK (status IN ('due', 'taken', 'skipped', 'missed')),
  confirmed_at INTEGER,
  confirmed_via TEXT,
  version INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (medication_id, due_at)
);
CREATE INDEX doses_person_due ON doses (person_id, due_at);
CREATE INDEX doses_due ON doses (due_at);

CREATE TABLE conversation_turns (
  id TEXT PRIMARY KEY,
  person_id TEXT NOT NULL REFERENCES people(id),
  conversation_id TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
  text_enc BLOB NOT NULL,
  actions TEXT,                 -- JSON [{tool, ok}] (tool names only, no values)
  at INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX conversation_turns_person_at ON conversation_turns (person_id, at DESC);
CREATE INDEX conversation_turns_conversation ON conversation_turns (conversation_id, at);
