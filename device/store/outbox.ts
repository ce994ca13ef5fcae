import { randomUUID } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import type { Db } from './db.js';

/** 0 normal, 1 high (missed-dose alerts), 2 emergency: higher goes first. */
export type OutboxPriority = 0 | 1 | 2;

export interface OutboxMessage {
  seq: number;
  messageId: string;
  kind: string;
  priority: OutboxPriority;
  payload: unknown;
  createdAt: number;
  attempts: number;
}

/** Encrypts payloads at rest (the store wires AES-GCM in); identity when no key is configured. */
export interface PayloadSealer {
  seal(plain: Buffer, aad: string): Buffer;
  open(sealed: Buffer, aad: string): Buffer;
}

const identity: PayloadSealer = { seal: (b) => b, open: (b) => b };

export interface Outbox {
  /**
   * Queues a change for the cloud. Call it inside the transaction that makes the change
   * (better-sqlite3 transactions are synchronous), so both commit or neither does.
   */
  enqueue(kind: string, payload: unknown, opts?: { priority?: OutboxPriority; messageId?: string }): string;
  /** Oldest first within priority, highest priority first. */
  peek(limit: number): OutboxMessage[];
  markSent(messageIds: string[]): void;
  /** Deletes messages the cloud acknowledged; returns how many were removed. */
  ack(messageIds: string[]): number;
  size(): number;
}

export function createOutbox(deps: { db: Db; clock: Clock; sealer?: PayloadSealer }): Outbox {
  const { db, clock } = deps;
  const sealer = deps.sealer ?? identity;
  const insert = db.prepare(
    'INSERT INTO outbox (message_id, kind, priority, payload, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const select = db.prepare(
    'SELECT seq, message_id, kind, priority, payload, created_at, attempts FROM outbox ORDER BY priority DESC, seq LIMIT ?',
  );
  const sent = db.prepare('UPDATE outbox SET attempts = attempts + 1, last_sent_at = ? WHERE message_id = ?');
  const del = db.prepare('DELETE FROM outbox WHERE message_id = ?');
  const count = db.prepare('SELECT count(*) AS n FROM outbox');

  return {
    enqueue(kind, payload, opts = {}) {
      const messageId = opts.messageId ?? randomUUID();
      const sealed = sealer.seal(Buffer.from(JSON.stringify(payload)), messageId);
      insert.run(messageId, kind, opts.priority ?? 0, sealed, clock.now());
      return messageId;
    },
    peek(limit) {
      return (select.all(limit) as Record<string, any>[]).map((r) => ({
        seq: r.seq,
        messageId: r.message_id,
        kind: r.kind,
        priority: r.priority,
        payload: JSON.parse(sealer.open(r.payload as Buffer, r.message_id).toString('utf8')),
        createdAt: r.created_at,
        attempts: r.attempts,
      }));
    },
    markSent(ids) {
      const now = clock.now();
      db.transaction(() => {
        for (const id of ids) sent.run(now, id);
      })();
    },
    ack(ids) {
      let n = 0;
      db.transaction(() => {
        for (const id of ids) n += del.run(id).changes;
      })();
      return n;
    },
    size: () => (count.get() as { n: number }).n,
  };
}
