-- Agent memory per person: pending clarifications and read-backs ("At what time should I remind you?"),
-- the last subject ("and yesterday?"), the readings logged last turn (for corrections) and the current
-- conversation. Kept in SQLite so a follow-up still completes after a restart.
CREATE TABLE agent_state (
  person_id TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL,
  state TEXT NOT NULL,
  last_turn_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Answers from outside services (weather, calendar feeds) with when they were fetched, so the agent can
-- answer from the last good copy when offline and say how old it is.
CREATE TABLE agent_cache (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  fetched_at INTEGER NOT NULL
);
