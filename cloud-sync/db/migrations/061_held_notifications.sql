-- Normal notifications that arrived in a caregiver's quiet hours (issue 9): held here and delivered
-- when the quiet hours end (release_at). Emergencies are never held. The in-app record is written at once.
CREATE TABLE notification_held (
  event_id text NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  person_id uuid NOT NULL,
  -- the event as the dispatcher received it (type, priority, message, at)
  event jsonb NOT NULL,
  held_at timestamptz NOT NULL,
  release_at timestamptz NOT NULL,
  released_at timestamptz,
  PRIMARY KEY (event_id, user_id)
);
CREATE INDEX notification_held_due ON notification_held (release_at) WHERE released_at IS NULL;
