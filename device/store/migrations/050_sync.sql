-- Cloud sync (issue 8). Versions applied from cloud commands, per entity, so an older command never
-- overwrites a newer one even when the device's own edits have moved the row's version on; and records
-- the cloud rejected for good (ids and codes only, for `aide status` and support; never dropped silently).
CREATE TABLE sync_command_versions (
  entity TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (entity, entity_id)
);

CREATE TABLE sync_rejected (
  message_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  seq INTEGER NOT NULL,
  code TEXT NOT NULL,
  fields TEXT,
  rejected_at INTEGER NOT NULL
);
