import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';

/** Arbitrary constant: one writer at a time extends the chain, across replicas. */
const AUDIT_LOCK = 7_401_090_051;
const GENESIS = '0'.repeat(64);

export interface AuditEvent {
  actorUserId: string | null;
  actorRole?: string | null;
  /** e.g. `read`, `create`, `update`, `delete`, `claim`, `break_glass`. */
  action: string;
  personId?: string | null;
  /** e.g. `measurements`, `medications`, `caregivers`. */
  resource?: string | null;
  resourceId?: string | null;
  breakGlass?: boolean;
  /** Ids and counts only: never health values or personal text. */
  detail?: Record<string, unknown>;
}

export interface AuditEntry extends AuditEvent {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

export interface AuditLog {
  /** Appends inside the caller's transaction (changes: the record and its audit entry commit together). */
  appendInTx(client: pg.PoolClient, events: AuditEvent[]): Promise<void>;
  /** Queues a read for the next batch (written within ~50 ms; flushed on shutdown). */
  recordRead(event: AuditEvent): void;
  flush(): Promise<void>;
  list(personId: string, opts: { limit: number; beforeSeq?: number }): Promise<AuditEntry[]>;
  /** Recomputes the chain; returns the first seq whose hash does not match, or null when intact. */
  verify(): Promise<{ ok: boolean; entries: number; brokenAt: number | null }>;
  close(): Promise<void>;
}

interface Row {
  seq: number;
  at: Date;
  actor_user_id: string | null;
  actor_role: string | null;
  action: string;
  person_id: string | null;
  resource: string | null;
  resource_id: string | null;
  break_glass: boolean;
  detail: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** JSON with object keys sorted at every level: jsonb does not keep key order, the hash must not depend on it. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  return v;
}

/** The hashed content: a fixed field order so the hash is reproducible. */
function entryHash(prevHash: string, r: Omit<Row, 'hash' | 'prev_hash'>): string {
  const content = JSON.stringify([
    r.seq,
    r.at.toISOString(),
    r.actor_user_id,
    r.actor_role,
    r.action,
    r.person_id,
    r.resource,
    r.resource_id,
    r.break_glass,
    canonical(r.detail),
  ]);
  return createHash('sha256').update(prevHash).update('\n').update(content).digest('hex');
}

export function createAuditLog(opts: {
  pool: pg.Pool;
  clock: Clock;
  log: Logger;
  flushMs?: number;
  maxBatch?: number;
}): AuditLog {
  const { pool, clock, log } = opts;
  let queue: AuditEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let flushing: Promise<void> = Promise.resolve();

  async function appendInTx(client: pg.PoolClient, events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
    const { rows } = await client.query<{ seq: string; hash: string }>(
      'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
    );
    let seq = rows[0] ? Number(rows[0].seq) : 0;
    let prev = rows[0]?.hash ?? GENESIS;
    const at = new Date(clock.now());
    const cols: unknown[] = [];
    const values: string[] = [];
    for (const e of events) {
      seq++;
      const row = {
        seq,
        at,
        actor_user_id: e.actorUserId,
        actor_role: e.actorRole ?? null,
        action: e.action,
        person_id: e.personId ?? null,
        resource: e.resource ?? null,
        resource_id: e.resourceId ?? null,
        break_glass: e.breakGlass ?? false,
        detail: e.detail ?? {},
      };
      const hash = entryHash(prev, row);
      const base = cols.length;
      values.push(`(${Array.from({ length: 12 }, (_, i) => `$${base + i + 1}`).join(', ')})`);
      cols.push(
        row.seq,
        row.at,
        row.actor_user_id,
        row.actor_role,
        row.action,
        row.person_id,
        row.resource,
        row.resource_id,
        row.break_glass,
        JSON.stringify(row.detail),
        prev,
        hash,
      );
      prev = hash;
    }
    await client.query(
      `INSERT INTO audit_log (seq, at, actor_user_id, actor_role, action, person_id, resource, resource_id, break_glass, detail, prev_hash, hash) VALUES ${values.join(', ')}`,
      cols,
    );
  }

  async function writeBatch(batch: AuditEvent[]): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await appendInTx(client, batch);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return flushing;
    flushing = flushing.then(() =>
      writeBatch(batch).catch((err) => {
        // Keep the entries: they go out with the next batch.
        queue = batch.concat(queue);
        log.error({ err: (err as Error).message, entries: batch.length }, 'audit batch failed; will retry');
        schedule();
      }),
    );
    return flushing;
  }

  function schedule() {
    timer ??= setTimeout(() => void flush(), opts.flushMs ?? 50);
  }

  return {
    appendInTx,
    recordRead(event) {
      queue.push(event);
      if (queue.length >= (opts.maxBatch ?? 200)) void flush();
      else schedule();
    },
    flush,
    async list(personId, o) {
      const { rows } = await pool.query<Row>(
        `SELECT * FROM audit_log WHERE person_id = $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3`,
        [personId, o.beforeSeq ?? null, o.limit],
      );
      return rows.map((r) => ({
        seq: Number(r.seq),
        at: r.at.toISOString(),
        actorUserId: r.actor_user_id,
        actorRole: r.actor_role,
        action: r.action,
        personId: r.person_id,
        resource: r.resource,
        resourceId: r.resource_id,
        breakGlass: r.break_glass,
        detail: r.detail,
        prevHash: r.prev_hash,
        hash: r.hash,
      }));
    },
    async verify() {
      const client = await pool.connect();
      try {
        let prev = GENESIS;
        let entries = 0;
        let expectedSeq = 1;
        const cursorSize = 5000;
        for (let from = 0; ; ) {
          const { rows } = await client.query<Row>(
            'SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2',
            [from, cursorSize],
          );
          for (const r of rows) {
            const seq = Number(r.seq);
            const row = { ...r, seq };
            if (seq !== expectedSeq || r.prev_hash !== prev || entryHash(prev, row) !== r.hash)
              return { ok: false, entries, brokenAt: seq };
            prev = r.hash;
            entries++;
            expectedSeq++;
          }
          if (rows.length < cursorSize) break;
          from = Number(rows[rows.length - 1]!.seq);
        }
        return { ok: true, entries, brokenAt: null };
      } finally {
        client.release();
      }
    },
    async close() {
      await flush();
    },
  };
}
