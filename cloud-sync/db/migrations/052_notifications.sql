-- How each caregiver wants to be told (issue 9), their Web Push subscriptions, and every delivery.

CREATE TABLE notification_preferences (
  user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  email_enabled boolean NOT NULL DEFAULT true,
  push_enabled boolean NOT NULL DEFAULT true,
  sms_enabled boolean NOT NULL DEFAULT false,
  -- E.164, e.g. +447700900123
  phone text,
  -- local times HH:MM in `timezone`; both NULL = no quiet hours
  quiet_start text,
  quiet_end text,
  timezone text NOT NULL DEFAULT 'UTC',
  -- health values (readings) in SMS and push bodies only when the caregiver opts in
  include_values boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE push_subscriptions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  endpoint text NOT NULL UNIQUE,
  p256dh text NOT NULL,
  auth text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

-- One row per (event, channel, recipient): the idempotency key. A redelivered Kafka record finds its
-- row and does not send again. Channel `inapp` rows are the caregiver's in-app inbox.
CREATE TABLE notification_deliveries (
  event_id text NOT NULL,
  channel text NOT NULL CHECK (channel IN ('inapp', 'push', 'email', 'sms')),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  person_id uuid,
  kind text NOT NULL,
  priority smallint NOT NULL,
  -- sending: claimed, outcome not yet known; sent; failed (gave up on this channel); skipped (quiet hours / not configured)
  status text NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'skipped')),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  title text,
  body text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  sent_at timestamptz,
  read_at timestamptz,
  PRIMARY KEY (event_id, channel, user_id)
);
CREATE INDEX notification_deliveries_inbox ON notification_deliveries (user_id, created_at DESC) WHERE channel = 'inapp';

-- An event no channel could deliver to a recipient.
CREATE TABLE notification_dead_letters (
  event_id text NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  reason text NOT NULL,
  record jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (event_id, user_id)
);
