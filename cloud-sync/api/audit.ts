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

/** The acting user as audit fields (a signed-in request's `req.auth`, or an actor passed down). */
export const auditActor = (a: { userId: string; role: string }) => ({
  actorUserId: a.userId,
  actorRole: a.role,
});

export interface AuditEntry extends AuditEvent {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

export interface AuditLog {
  /** Appends inside the caller's transaction (changes: the record and its audit entry commit together). */
  appendInTx(client: pg.PoolClient, events: AuditEvent[]): Promise<void>;
  /**
   * Stores a read's entry (audit_inbox) and resolves once it is committed: answer the read only after
   * this resolves. The entry joins the hash chain when the sealer next runs (within `sealMs`).
   */
  recordRead(event: AuditEvent): Promise<void>;
  /**
   * Tells the sealer that a statement of this process inserted into audit_inbox itself (the data routes
   * read and audit in one statement, see data/routes.ts): seals within `sealMs`.
   */
  inboxWritten(): void;
  /** Seals every entry waiting in audit_inbox (from any replica) into the chain. */
  flush(): Promise<void>;
  list(personId: string, opts: { limit: number; beforeSeq?: number }): Promise<AuditEntry[]>;
  /** Recomputes the chain; returns the first seq whose hash does not match, or null when intact. */
  verify(): Promise<{ ok: boolean; entries: number; brokenAt: number | null }>;
  close(): Promise<void>;
}

/** The event's columns, alike in audit_log and audit_inbox. */
interface EventColumns {
  actor_user_id: string | null;
  actor_role: string | null;
  action: string;
  person_id: string | null;
  resource: string | null;
  resource_id: string | null;
  break_glass: boolean;
}

/** An event as its columns (absent fields: NULL, not break-glass). */
function eventColumns(e: AuditEvent): EventColumns {
  return {
    actor_user_id: e.actorUserId,
    actor_role: e.actorRole ?? null,
    action: e.action,
    person_id: e.personId ?? null,
    resource: e.resource ?? null,
    resource_id: e.resourceId ?? null,
    break_glass: e.breakGlass ?? false,
  };
}

interface Row extends EventColumns {
  seq: number;
  at: Date;
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
function entryHash(
  prevHash: string,
  r: EventColumns & { seq: number; at: Date | string; detail: Record<string, unknown> },
): string {
  const content = JSON.stringify([
    r.seq,
    // ISO 8601 in UTC with milliseconds (Date#toISOString; the sealer has PostgreSQL format it alike).
    typeof r.at === 'string' ? r.at : r.at.toISOString(),
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

interface InboxRow extends EventColumns {
  id: string;
  /** `at` truncated to ms, formatted as toISOString does: hashed as is, no Date parsing. */
  at_iso: string;
  detail_text: string;
  last_seq: string | null;
  last_hash: string | null;
}

/** Columns of audit_inbox, in the order `inboxValues` gives them. */
export const INBOX_COLUMNS =
  'at, actor_user_id, actor_role, action, person_id, resource, resource_id, break_glass, detail';

export function createAuditLog(opts: {
  pool: pg.Pool;
  clock: Clock;
  log: Logger;
  /** How soon after a read its entry is sealed into the chain (default 200 ms: one transaction seals many). */
  sealMs?: number;
  /** How often a replica looks for entries other (e.g. crashed) replicas left unsealed (default 2 s). */
  pollMs?: number;
  /** Entries sealed per transaction (default 1000). */
  maxBatch?: number;
}): AuditLog {
  const { pool, clock, log } = opts;
  const sealMs = opts.sealMs ?? 200;
  const maxBatch = opts.maxBatch ?? 1000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sealing: Promise<void> = Promise.resolve();
  let closed = false;

  /** Appends entries after {seq, hash} (the chain's end, read under the lock). */
  async function insertChained(
    client: pg.PoolClient,
    last: { seq: number; hash: string },
    entries: (AuditEvent & { at: Date })[],
  ): Promise<void> {
    let seq = last.seq;
    let prev = last.hash;
    const cols: unknown[] = [];
    const values: string[] = [];
    for (const e of entries) {
      seq++;
      const row = { seq, at: e.at, ...eventColumns(e), detail: e.detail ?? {} };
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

  async function appendInTx(client: pg.PoolClient, events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
    const { rows } = await client.query<{ seq: string; hash: string }>(
      'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
    );
    const last = { seq: rows[0] ? Number(rows[0].seq) : 0, hash: rows[0]?.hash ?? GENESIS };
    const at = new Date(clock.now());
    await insertChained(
      client,
      last,
      events.map((e) => ({ ...e, at })),
    );
  }

  /**
   * Moves up to maxBatch inbox entries, oldest first, into the chain in one transaction: the entries'
   * hashes are computed here, their content is copied by PostgreSQL (4 arrays travel, not 12 values a row).
   */
  async function sealBatch(): Promise<number> {
    const client = await pool.connect();
    try {
      // One round trip: begin, take the chain's lock, allow this transaction to empty the inbox.
      await client.query(
        `BEGIN; SELECT pg_advisory_xact_lock(${AUDIT_LOCK}); SET LOCAL aide.audit_seal = 'on'`,
      );
      const { rows } = await client.query<InboxRow>(
        `SELECT i.id, to_char(date_trunc('milliseconds', i.at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at_iso,
                i.actor_user_id, i.actor_role, i.action, i.person_id, i.resource, i.resource_id, i.break_glass,
                i.detail::text AS detail_text, l.seq AS last_seq, l.hash AS last_hash
           FROM (SELECT * FROM audit_inbox ORDER BY id LIMIT $1) i
           LEFT JOIN (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) l ON true
          ORDER BY i.id`,
        [maxBatch],
      );
      if (rows.length > 0) {
        let seq = rows[0]!.last_seq ? Number(rows[0]!.last_seq) : 0;
        let prev = rows[0]!.last_hash ?? GENESIS;
        const ids: string[] = [];
        const seqs: number[] = [];
        const prevs: string[] = [];
        const hashes: string[] = [];
        for (const r of rows) {
          seq++;
          const detail = JSON.parse(r.detail_text) as Record<string, unknown>;
          const hash = entryHash(prev, { ...r, seq, at: r.at_iso, detail });
          ids.push(r.id);
          seqs.push(seq);
          prevs.push(prev);
          hashes.push(hash);
          prev = hash;
        }
        const moved = await client.query(
          `WITH h AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS h(id, seq, prev_hash, hash)),
                m AS (DELETE FROM audit_inbox i USING h WHERE i.id = h.id
                      RETURNING h.seq, date_trunc('milliseconds', i.at) AS at, i.actor_user_id, i.actor_role, i.action,
                                i.person_id, i.resource, i.resource_id, i.break_glass, i.detail, h.prev_hash, h.hash)
           INSERT INTO audit_log (seq, at, actor_user_id, actor_role, action, person_id, resource, resource_id, break_glass, detail, prev_hash, hash)
           SELECT * FROM m`,
          [ids, seqs, prevs, hashes],
        );
        if (moved.rowCount !== rows.length)
          throw new Error(`sealed ${moved.rowCount} of ${rows.length} audit entries; rolled back`);
      }
      await client.query('COMMIT');
      return rows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /** Seals until the inbox is empty; one sealing run at a time in this process. */
  function seal(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const run = sealing.then(async () => {
      while ((await sealBatch()) === maxBatch);
    });
    sealing = run.catch((err) => {
      // The entries stay in audit_inbox (committed): the next run seals them.
      log.error({ err: (err as Error).message }, 'sealing audit entries failed; will retry');
      if (!closed) timer ??= setTimeout(() => void seal(), 1_000);
    });
    return run;
  }

  function schedule() {
    if (!closed) timer ??= setTimeout(() => void seal(), sealMs);
  }

  // Entries another replica stored but did not seal (it crashed or stopped): picked up here.
  const poll = setInterval(() => {
    pool
      .query<{ waiting: boolean }>('SELECT EXISTS (SELECT 1 FROM audit_inbox) AS waiting')
      .then(({ rows }) => {
        if (rows[0]?.waiting) schedule();
      })
      .catch(() => {}); // the database is down: readiness reports it, the next poll retries
  }, opts.pollMs ?? 2_000);
  poll.unref();

  return {
    appendInTx,
    async recordRead(e) {
      const c = eventColumns(e);
      await pool.query(
        `INSERT INTO audit_inbox (${INBOX_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          new Date(clock.now()),
          c.actor_user_id,
          c.actor_role,
          c.action,
          c.person_id,
          c.resource,
          c.resource_id,
          c.break_glass,
          JSON.stringify(e.detail ?? {}),
        ],
      );
      schedule();
    },
    inboxWritten: schedule,
    flush: () => seal(),
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
      clearInterval(poll);
      await seal().catch(() => {});
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
