import { randomUUID } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { conflict } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import type { FieldCrypto } from '../crypto/fields.js';
import type { Cache } from './cache.js';
import type { Db } from './db.js';
import type { Outbox } from './outbox.js';

/** What every repository of the health store is given. */
export interface StoreDeps {
  db: Db;
  clock: Clock;
  outbox: Outbox;
  cache: Cache;
  crypto: FieldCrypto;
  log: Logger;
  metrics: Metrics;
  newId?: () => string;
}

export const ttl = {
  profile: 2 * 3600_000,
  medicines: 3600_000,
  upcomingDoses: 30 * 60_000,
  conversation: 3600_000,
} as const;

export const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Cache-aside with generation keys. Each (namespace, person) has a generation number kept in this
 * process; a write bumps it before returning, so the next read uses a new key and can never see a stale
 * entry, even when the old key's delete did not reach Redis. The epoch (per process start) makes entries
 * written by an earlier run unreachable.
 */
export interface CachedReads {
  read<T>(ns: string, scope: string, ttlMs: number, load: () => T, suffix?: string): Promise<T>;
  invalidate(ns: string, scope: string): void;
}

export function createCachedReads(cache: Cache): CachedReads {
  const epoch = randomUUID().slice(0, 8);
  const gens = new Map<string, number>();
  const key = (ns: string, scope: string, suffix = '') =>
    `${epoch}:${ns}:${scope}:${gens.get(`${ns}:${scope}`) ?? 0}${suffix}`;
  return {
    async read(ns, scope, ttlMs, load, suffix) {
      const k = key(ns, scope, suffix ? `:${suffix}` : '');
      const hit = await cache.get<unknown>(k);
      if (hit !== undefined) return hit as ReturnType<typeof load>;
      const before = gens.get(`${ns}:${scope}`) ?? 0;
      const value = load();
      // Only fill if no write happened while we awaited (keeps a slow Redis from caching old data).
      if ((gens.get(`${ns}:${scope}`) ?? 0) === before) await cache.set(k, value, ttlMs);
      return value;
    },
    invalidate(ns, scope) {
      const old = key(ns, scope);
      gens.set(`${ns}:${scope}`, (gens.get(`${ns}:${scope}`) ?? 0) + 1);
      void cache.del(old).catch(() => {});
    },
  };
}

/** Runs a write; a duplicate id becomes a conflict naming the id (callers may choose ids, e.g. sync). */
export function uniqueId<T>(what: string, id: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      throw conflict(`${what} ${id} already exists`, {
        details: [{ field: 'id', rule: 'unique', message: `${what} ${id} already exists` }],
      });
    }
    throw err;
  }
}
