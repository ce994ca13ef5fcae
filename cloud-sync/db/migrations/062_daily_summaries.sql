-- Daily summaries (issue 9): each caregiver picks a local time; one row per (caregiver, person, local
-- day) is the claim that makes several notify replicas send it once.
ALTER TABLE notification_preferences ADD COLUMN daily_summary_at text;

CREATE TABLE daily_summaries (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  person_id uuid NOT NULL,
  -- the caregiver's local date the summary belongs to
  local_day date NOT NULL,
  event_id text NOT NULL UNIQUE,
  -- the 24 hours the summary covers, ending at the chosen time
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  -- a replica working on it; another one takes over when the claim is older than the lease
  claimed_at timestamptz NOT NULL,
  -- put on notification_queue
  published_at timestamptz,
  -- delivered to the caregiver's channels
  delivered_at timestamptz,
  PRIMARY KEY (user_id, person_id, local_day)
);
CREATE INDEX daily_summaries_unpublished ON daily_summaries (claimed_at) WHERE published_at IS NULL;
