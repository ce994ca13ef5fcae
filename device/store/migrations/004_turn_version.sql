-- Every row has created/updated times and a version; turns are written once, so version stays 1.
ALTER TABLE conversation_turns ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE conversation_turns ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE conversation_turns SET updated_at = created_at;
