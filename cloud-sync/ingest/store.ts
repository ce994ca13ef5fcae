import type pg from 'pg';
import type { CommandAckPayload, Envelope, StatusPayload } from '../protocol/index.js';

/**
 * PostgreSQL side of ingest. One transaction per batch: the message ledger (message id = idempotency
 * key) and the entity rows commit together, so a retried message is recognised and never applied twice.
 * Entity upserts only move a row forward (`version` greater), so a late retry cannot undo a newer change.
 */
export interface StoreOutcome {
  /** Stored now, or stored earlier but not yet confirmed published to Kafka: publish these. */
  toPublish: Envelope[];
  /** Stored and published earlier: acknowledge as duplicates. */
  duplicates: Envelope[];
}

/** A batch written in an open transaction (see `begin`). */
export interface HeldBatch extends StoreOutcome {
  client: pg.PoolClient;
  /** The connection went back to the pool (committed, rolled back or failed). */
  released: boolean;
}

const month = (iso: string) => iso.slice(0, 7);

/** Keeps the newest version of each entity id in a batch (one row may change twice while offline). */
function newestById<T extends { id: string; version?: number }>(rows: T[]): T[] {
  const byId = new Map<string, T>();
  for (const r of rows) {
    const cur = byId.get(r.id);
    if (!cur || (r.version ?? 0) >= (cur.version ?? 0)) byId.set(r.id, r);
  }
  return [...byId.values()];
}

type Row = Record<string, unknown> & { id: string; version?: number };

function measurementRow(m: Row) {
  return {
    ...m,
    num: typeof m.value === 'number' ? m.value : null,
    obj: typeof m.value === 'object' ? m.value : null,
    deleted: m.deleted === true,
  };
}

/** Upsert of measurement rows read from `source` (a json_to_recordset call), optionally filtered. */
const MEASUREMENT_UPSERT = (source: string, where: string) =>
  `INSERT INTO measurements (id, device_id, person_id, type, value, value_json, unit, input_unit, taken_at, source, note, deleted, version, updated_at, message_id)
   SELECT x.id, x."deviceId", x."personId", x.type, x.num, x.obj, x.unit, x."inputUnit", x."takenAt", x.source, x.note, x.deleted, x.version, x."updatedAt", x."messageId"
     FROM ${source} AS x(id uuid, "deviceId" text, "personId" uuid, type text, num float8, obj jsonb, unit text,
          "inputUnit" text, "takenAt" timestamptz, source text, note text, deleted boolean, version int, "updatedAt" timestamptz, "messageId" uuid)
   ${where}
   ON CONFLICT (id, taken_at) DO UPDATE SET type = excluded.type, value = excluded.value, value_json = excluded.value_json,
     unit = excluded.unit, input_unit = excluded.input_unit, source = excluded.source, note = excluded.note,
     deleted = excluded.deleted, version = excluded.version, updated_at = excluded.updated_at, message_id = excluded.message_id
   WHERE measurements.version < excluded.version`;

const LEDGER_INSERT = `INSERT INTO ingested_messages (message_id, device_id, kind, seq, created_at, published_at)
  SELECT x.id, x.d, x.k, x.s, x.c, now() FROM json_to_recordset($1::json) AS x(id uuid, d text, k text, s bigint, c timestamptz)
  ON CONFLICT (message_id) DO NOTHING RETURNING message_id`;

const DEVICES_SEEN = (param: string) => `INSERT INTO devices (device_id, last_seen_at, last_seq)
  SELECT x.d, now(), x.s FROM json_to_recordset(${param}::json) AS x(d text, s bigint)
  ON CONFLICT (device_id) DO UPDATE SET last_seen_at = now(), last_seq = GREATEST(devices.last_seq, excluded.last_seq)`;

/**
 * The common batch (new readings only: first versions, distinct ids): ledger, measurements and the
 * devices' last-seen row in ONE statement; only readings whose message id the ledger took are written.
 */
const READINGS_FAST = `WITH led AS (${LEDGER_INSERT}),
  m AS (${MEASUREMENT_UPSERT('json_to_recordset($2::json)', 'WHERE x."messageId" IN (SELECT message_id FROM led)')}),
  d AS (${DEVICES_SEEN('$3')})
  SELECT message_id FROM led`;

/** Measurement rows for READINGS_FAST, or undefined when the batch needs the general path. */
function readingsOnly(records: Envelope[]) {
  const ids = new Set<string>();
  const rows = [];
  for (const r of records) {
    if (r.kind !== 'measurement') return undefined;
    const p = r.payload as Row;
    if ((p.version ?? 1) > 1 || ids.has(p.id)) return undefined;
    ids.add(p.id);
    rows.push(measurementRow({ ...p, deviceId: r.deviceId, messageId: r.id }));
  }
  return rows;
}

export function createIngestStore(pool: pg.Pool) {
  const knownMonths = new Set<string>();
  const guarded = new WeakSet<pg.PoolClient>();

  /** Partitions for every month a batch touches; the migration and a daily job create them ahead. */
  async function ensurePartitions(records: Envelope[]): Promise<void> {
    const needed = new Map<string, string>();
    for (const r of records) {
      const p = r.payload as Record<string, string>;
      const at = r.kind === 'measurement' ? p.takenAt : r.kind === 'conversation_turn' ? p.at : undefined;
      if (!at) continue;
      const table = r.kind === 'measurement' ? 'measurements' : 'conversation_turns';
      const utc = new Date(at).toISOString();
      const key = `${table}:${month(utc)}`;
      if (!knownMonths.has(key)) needed.set(key, utc);
    }
    for (const [key, at] of needed) {
      await pool.query('SELECT ensure_month_partitions($1, $2, 1)', [key.split(':')[0], at]);
      knownMonths.add(key);
    }
  }

  async function ensureAhead(now: Date, months = 3): Promise<void> {
    for (const t of ['measurements', 'conversation_turns']) {
      await pool.query('SELECT ensure_month_partitions($1, $2, $3)', [t, now.toISOString(), months + 1]);
    }
  }

  async function upsertEntities(client: pg.PoolClient, fresh: Envelope[]): Promise<void> {
    const of = (kind: string): Row[] =>
      newestById(
        fresh
          .filter((e) => e.kind === kind)
          .map((e) => ({ ...(e.payload as Row), deviceId: e.deviceId, messageId: e.id })),
      );
    const json = (rows: unknown[]) => JSON.stringify(rows);

    const people = of('person');
    if (people.length) {
      await client.query(
        `INSERT INTO people (id, device_id, name, timezone, locale, units, targets, data, version, updated_at, message_id)
         SELECT x.id, x."deviceId", x.name, x.timezone, x.locale, coalesce(x.units, '{}'), coalesce(x.targets, '{}'), r.doc, x.version, x."updatedAt", x."messageId"
           FROM jsonb_array_elements($1::jsonb) AS r(doc),
                jsonb_to_record(r.doc) AS x(id uuid, "deviceId" text, name text, timezone text, locale text, units jsonb, targets jsonb, version int, "updatedAt" timestamptz, "messageId" uuid)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, timezone = excluded.timezone, locale = excluded.locale,
           units = excluded.units, targets = excluded.targets, data = excluded.data, version = excluded.version,
           updated_at = excluded.updated_at, message_id = excluded.message_id
         WHERE people.version < excluded.version`,
        [json(people.map((p) => ({ ...p, data: undefined })))],
      );
    }

    const measurements = of('measurement');
    if (measurements.length) {
      const rows = measurements.map(measurementRow);
      // A reading whose time changed moves partition: drop the older copy first (only a later
      // version can have one, so first versions skip this probe of every partition).
      const changed = rows.filter((m) => (m.version ?? 1) > 1);
      if (changed.length)
        await client.query(
          `DELETE FROM measurements m USING json_to_recordset($1::json) AS x(id uuid, "takenAt" timestamptz, version int)
          WHERE m.id = x.id AND m.taken_at <> x."takenAt" AND m.version < x.version`,
          [json(changed)],
        );
      await client.query(MEASUREMENT_UPSERT('json_to_recordset($1::json)', ''), [json(rows)]);
    }

    const medicines = of('medicine');
    if (medicines.length) {
      await client.query(
        `INSERT INTO medicines (id, device_id, person_id, name, dose, form, instructions, times, days, start_date, end_date, active, deleted, version, updated_at, message_id)
         SELECT x.id, x."deviceId", x."personId", x.name, x.dose, x.form, x.instructions, x.times, x.days, x."startDate", x."endDate",
                x.active, coalesce(x.deleted, false), x.version, x."updatedAt", x."messageId"
           FROM json_to_recordset($1::json) AS x(id uuid, "deviceId" text, "personId" uuid, name text, dose text, form text, instructions text,
                times jsonb, days jsonb, "startDate" date, "endDate" date, active boolean, deleted boolean, version int, "updatedAt" timestamptz, "messageId" uuid)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, dose = excluded.dose, form = excluded.form, instructions = excluded.instructions,
           times = excluded.times, days = excluded.days, start_date = excluded.start_date, end_date = excluded.end_date,
           active = excluded.active, deleted = excluded.deleted, version = excluded.version, updated_at = excluded.updated_at,
           message_id = excluded.message_id
         WHERE medicines.version < excluded.version`,
        [json(medicines)],
      );
    }

    const doses = of('dose_event');
    if (doses.length) {
      await client.query(
        `INSERT INTO doses (id, device_id, person_id, medication_id, medication_name, due_at, status, confirmed_at, confirmed_via, version, updated_at, message_id)
         SELECT x.id, x."deviceId", x."personId", x."medicationId", x."medicationName", x."dueAt", x.status, x."confirmedAt", x."confirmedVia",
                x.version, x."updatedAt", x."messageId"
           FROM json_to_recordset($1::json) AS x(id uuid, "deviceId" text, "personId" uuid, "medicationId" uuid, "medicationName" text,
                "dueAt" timestamptz, status text, "confirmedAt" timestamptz, "confirmedVia" text, version int, "updatedAt" timestamptz, "messageId" uuid)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, confirmed_at = excluded.confirmed_at, confirmed_via = excluded.confirmed_via,
           medication_name = excluded.medication_name, due_at = excluded.due_at, version = excluded.version,
           updated_at = excluded.updated_at, message_id = excluded.message_id
         WHERE doses.version < excluded.version`,
        [json(doses)],
      );
    }

    const turns = of('conversation_turn');
    if (turns.length) {
      await client.query(
        `INSERT INTO conversation_turns (id, device_id, person_id, conversation_id, role, text, at, actions, message_id)
         SELECT x.id, x."deviceId", x."personId", x."conversationId", x.role, x.text, x.at, x.actions, x."messageId"
           FROM json_to_recordset($1::json) AS x(id uuid, "deviceId" text, "personId" uuid, "conversationId" uuid, role text, text text,
                at timestamptz, actions jsonb, "messageId" uuid)
         ON CONFLICT DO NOTHING`,
        [json(turns)],
      );
    }

    const alerts = of('alert');
    if (alerts.length) {
      await client.query(
        `INSERT INTO alerts (id, device_id, person_id, type, priority, message, at, data, message_id)
         SELECT x.id, x."deviceId", x."personId", x.type, x.priority, x.message, x.at, x.data, x."messageId"
           FROM json_to_recordset($1::json) AS x(id uuid, "deviceId" text, "personId" uuid, type text, priority int, message text,
                at timestamptz, data jsonb, "messageId" uuid)
         ON CONFLICT DO NOTHING`,
        [json(alerts)],
      );
    }
  }

  async function applyControls(client: pg.PoolClient, controls: Envelope[]): Promise<void> {
    for (const c of controls) {
      if (c.kind === 'status') {
        const s = c.payload as StatusPayload;
        await client.query(
          `INSERT INTO devices (device_id, last_seen_at, status, status_at, protocol_version) VALUES ($1, now(), $2, $3, $4)
           ON CONFLICT (device_id) DO UPDATE SET last_seen_at = now(), protocol_version = excluded.protocol_version,
             status = CASE WHEN devices.status_at IS NULL OR devices.status_at <= excluded.status_at THEN excluded.status ELSE devices.status END,
             status_at = GREATEST(devices.status_at, excluded.status_at)`,
          [c.deviceId, JSON.stringify(s), s.at, c.v],
        );
      } else if (c.kind === 'command_ack') {
        const a = c.payload as CommandAckPayload;
        // The device id condition: a device can only acknowledge its own commands.
        await client.query(
          `UPDATE device_commands SET acked_at = coalesce(acked_at, now()), result = coalesce(result, $3), result_detail = coalesce(result_detail, $4)
            WHERE id = $1 AND device_id = $2`,
          [a.commandId, c.deviceId, a.result, a.detail ?? null],
        );
      }
    }
  }

  /**
   * Writes a batch inside a transaction and leaves it OPEN: the caller publishes `toPublish` to Kafka
   * and only then commits (`commit`), so every committed ledger row is already in Kafka (its
   * published_at is set by the same insert) and one transaction per batch is all PostgreSQL sees.
   * A failure before the commit rolls back (`rollback`) and the batch is written again: a crash after
   * Kafka and before the commit only repeats a Kafka record, which consumers drop by message id.
   */
  async function begin(records: Envelope[], controls: Envelope[]): Promise<HeldBatch> {
    await ensurePartitions(records);
    const client = await pool.connect();
    if (!guarded.has(client)) {
      // A connection dying mid-transaction fails the batch (retried); it must not crash the worker.
      client.on('error', () => {});
      guarded.add(client);
    }
    try {
      await client.query('BEGIN');
      let fresh = new Set<string>();
      let published = new Set<string>();
      if (records.length) {
        const ledger = records.map((r) => ({ id: r.id, d: r.deviceId, k: r.kind, s: r.seq, c: r.createdAt }));
        const seen = new Map<string, number>();
        for (const r of records) seen.set(r.deviceId, Math.max(seen.get(r.deviceId) ?? 0, r.seq));
        const devices = JSON.stringify(
          [...seen].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([d, s]) => ({ d, s })),
        );
        const fast = readingsOnly(records);
        const ins = await client.query<{ message_id: string }>(
          fast ? READINGS_FAST : LEDGER_INSERT,
          fast ? [JSON.stringify(ledger), JSON.stringify(fast), devices] : [JSON.stringify(ledger)],
        );
        fresh = new Set(ins.rows.map((r) => r.message_id));
        const old = records.filter((r) => !fresh.has(r.id)).map((r) => r.id);
        if (old.length) {
          // Rows committed by this version are in Kafka; one left unmarked by an older version (crash
          // between its commit and its mark) is published again and marked in this transaction.
          const res = await client.query<{ message_id: string; published: boolean }>(
            'SELECT message_id, published_at IS NOT NULL AS published FROM ingested_messages WHERE message_id = ANY($1::uuid[])',
            [old],
          );
          published = new Set(res.rows.filter((r) => r.published).map((r) => r.message_id));
          const unmarked = res.rows.filter((r) => !r.published).map((r) => r.message_id);
          if (unmarked.length)
            await client.query(
              'UPDATE ingested_messages SET published_at = now() WHERE message_id = ANY($1::uuid[])',
              [unmarked],
            );
        }
        if (!fast) {
          await upsertEntities(
            client,
            records.filter((r) => fresh.has(r.id)),
          );
          await client.query(DEVICES_SEEN('$1'), [devices]);
        }
      }
      await applyControls(client, controls);
      // A record repeated inside one batch is published once.
      const toPublish: Envelope[] = [];
      const duplicates: Envelope[] = [];
      const queued = new Set<string>();
      for (const r of records) {
        if (published.has(r.id) || queued.has(r.id)) duplicates.push(r);
        else {
          toPublish.push(r);
          queued.add(r.id);
        }
      }
      return { client, toPublish, duplicates, released: false };
    } catch (err) {
      await client.query('ROLLBACK').then(
        () => client.release(),
        () => client.release(err as Error),
      );
      throw err;
    }
  }

  /** Returns the connection once; a connection that failed is discarded, not handed out again. */
  function release(held: HeldBatch, err?: Error): void {
    if (held.released) return;
    held.released = true;
    held.client.release(err);
  }

  async function commit(held: HeldBatch): Promise<void> {
    if (held.released) throw new Error('batch transaction already ended');
    try {
      await held.client.query('COMMIT');
    } catch (err) {
      release(held, err as Error);
      throw err;
    }
    release(held);
  }

  /** Ends the batch's transaction without committing; safe to call twice or after a failed commit. */
  async function rollback(held: HeldBatch): Promise<void> {
    if (held.released) return;
    try {
      await held.client.query('ROLLBACK');
      release(held);
    } catch (err) {
      release(held, err as Error);
    }
  }

  /** begin + commit: for a caller that has nothing to publish in between. */
  async function store(records: Envelope[], controls: Envelope[]): Promise<StoreOutcome> {
    const held = await begin(records, controls);
    await commit(held);
    return { toPublish: held.toPublish, duplicates: held.duplicates };
  }

  return { begin, commit, rollback, store, ensureAhead };
}
export type IngestStore = ReturnType<typeof createIngestStore>;
