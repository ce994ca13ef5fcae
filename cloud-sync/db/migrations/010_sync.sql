-- Cloud copy of what devices sync up (issue 8). Every upstream message is recorded once in
-- ingested_messages (message id = idempotency key); entity rows are upserted by id and version so a
-- retried or reordered message never moves a row backwards. Measurements and conversation turns are
-- range-partitioned by month; ensure_month_partitions() creates partitions ahead (ingest calls it at
-- start, daily, and for any month a batch touches).

ALTER TABLE devices
  ADD COLUMN protocol_version integer,
  ADD COLUMN status jsonb,
  ADD COLUMN status_at timestamptz,
  ADD COLUMN disabled_at timestamptz;

-- Every upstream message accepted by ingest, once. published_at is set after Kafka acknowledged it,
-- so a worker that crashed between PostgreSQL and Kafka republishes on the device's retry.
CREATE TABLE ingested_messages (
  message_id uuid PRIMARY KEY,
  device_id text NOT NULL,
  kind text NOT NULL,
  seq bigint NOT NULL,
  created_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX ingested_messages_device_seq ON ingested_messages (device_id, seq);
CREATE INDEX ingested_messages_unpublished ON ingested_messages (received_at) WHERE published_at IS NULL;

CREATE TABLE people (
  id uuid PRIMARY KEY,
  device_id text NOT NULL,
  name text NOT NULL,
  timezone text NOT NULL,
  locale text,
  units jsonb NOT NULL DEFAULT '{}'::jsonb,
  targets jsonb NOT NULL DEFAULT '{}'::jsonb,
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  version integer NOT NULL,
  updated_at timestamptz NOT NULL,
  message_id uuid NOT NULL
);
CREATE INDEX people_device ON people (device_id);

CREATE TABLE measurements (
  id uuid NOT NULL,
  device_id text NOT NULL,
  person_id uuid NOT NULL,
  type text NOT NULL,
  value double precision,
  value_json jsonb,
  unit text NOT NULL,
  input_unit text,
  taken_at timestamptz NOT NULL,
  source text,
  note text,
  deleted boolean NOT NULL DEFAULT false,
  version integer NOT NULL,
  updated_at timestamptz NOT NULL,
  message_id uuid NOT NULL,
  PRIMARY KEY (id, taken_at)
) PARTITION BY RANGE (taken_at);
CREATE INDEX measurements_person_type_time ON measurements (person_id, type, taken_at DESC);

CREATE TABLE medicines (
  id uuid PRIMARY KEY,
  device_id text NOT NULL,
  person_id uuid NOT NULL,
  name text NOT NULL,
  dose text,
  form text,
  instructions text,
  times jsonb NOT NULL,
  days jsonb,
  start_date date NOT NULL,
  end_date date,
  active boolean NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version integer NOT NULL,
  updated_at timestamptz NOT NULL,
  message_id uuid NOT NULL
);
CREATE INDEX medicines_person ON medicines (person_id);

CREATE TABLE doses (
  id uuid PRIMARY KEY,
  device_id text NOT NULL,
  person_id uuid NOT NULL,
  medication_id uuid NOT NULL,
  medication_name text,
  due_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('due', 'taken', 'skipped', 'missed')),
  confirmed_at timestamptz,
  confirmed_via text,
  version integer NOT NULL,
  updated_at timestamptz NOT NULL,
  message_id uuid NOT NULL
);
CREATE INDEX doses_person_due ON doses (person_id, due_at);

CREATE TABLE conversation_turns (
  id uuid NOT NULL,
  device_id text NOT NULL,
  person_id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  role text NOT NULL CHECK (role IN ('user', 'assistant')),
  text text NOT NULL,
  at timestamptz NOT NULL,
  actions jsonb,
  message_id uuid NOT NULL,
  PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX conversation_turns_person_time ON conversation_turns (person_id, at DESC);

CREATE TABLE alerts (
  id uuid PRIMARY KEY,
  device_id text NOT NULL,
  person_id uuid NOT NULL,
  type text NOT NULL,
  priority smallint NOT NULL CHECK (priority BETWEEN 0 AND 2),
  message text NOT NULL,
  at timestamptz NOT NULL,
  data jsonb,
  message_id uuid NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_person_time ON alerts (person_id, at DESC);

-- Commands down to a device (written by the caregiver API, issue 9; published by ingest workers until
-- the device acknowledges). kind: medicine_upsert | medicine_delete | settings | speak.
-- payload: medicine_* = the `medicine` sync payload (version = the version the device should end at);
-- settings = {version, values: {...}}; speak = {text, personId?}.
CREATE TABLE device_commands (
  id uuid PRIMARY KEY,
  device_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('medicine_upsert', 'medicine_delete', 'settings', 'speak')),
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid,
  attempts integer NOT NULL DEFAULT 0,
  last_sent_at timestamptz,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  acked_at timestamptz,
  -- what the device reported: applied | duplicate | stale | rejected
  result text,
  result_detail text,
  expires_at timestamptz
);
CREATE INDEX device_commands_pending ON device_commands (next_attempt_at) WHERE acked_at IS NULL;
CREATE INDEX device_commands_device ON device_commands (device_id, created_at);

-- Creates monthly partitions of a range-partitioned table from the month of `from_ts` for `months`
-- months. Serialized by an advisory lock so concurrent workers don't race on CREATE.
CREATE FUNCTION ensure_month_partitions(parent text, from_ts timestamptz, months integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  m date := date_trunc('month', from_ts AT TIME ZONE 'UTC')::date;
  made integer := 0;
  name text;
BEGIN
  PERFORM pg_advisory_xact_lock(7401042010);
  FOR i IN 0 .. months - 1 LOOP
    name := format('%s_%s', parent, to_char(m, 'YYYYMM'));
    IF to_regclass(name) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
        name, parent, (m::timestamp AT TIME ZONE 'UTC'), ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
      made := made + 1;
    END IF;
    m := (m + interval '1 month')::date;
  END LOOP;
  RETURN made;
END $$;

-- A year back (devices catching up) through three months ahead.
SELECT ensure_month_partitions('measurements', now() - interval '12 months', 16);
SELECT ensure_month_partitions('conversation_turns', now() - interval '12 months', 16);
