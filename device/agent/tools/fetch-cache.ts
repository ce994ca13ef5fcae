import type { Clock } from '../../../common/clock.js';
import type { Db } from '../../store/db.js';
import type { SealFields } from '../memory.js';

/**
 * A small SQLite-backed cache for answers from outside services. `get` returns the value with its age;
 * callers decide what is fresh (weather 30 min) and may still use a stale copy when offline.
 */
export interface FetchCache {
  get<T>(key: string): { value: T; fetchedAt: number } | undefined;
  put(key: string, value: unknown): void;
}

export function createFetchCache(deps: { db: Db; clock: Clock; crypto?: SealFields }): FetchCache {
  // Calendar feeds name appointments: sealed at rest like the rest of the store.
  const aad = (key: string) => `agent_cache:${key}`;
  const sel = deps.db.prepare('SELECT value, fetched_at FROM agent_cache WHERE key = ?');
  const ins = deps.db.prepare(
    'INSERT INTO agent_cache (key, value, fetched_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, fetched_at = excluded.fetched_at',
  );
  return {
    get<T>(key: string) {
      const row = sel.get(key) as { value: string | Buffer; fetched_at: number } | undefined;
      if (!row) return undefined;
      const text = Buffer.isBuffer(row.value)
        ? deps.crypto
          ? deps.crypto.decrypt(row.value, aad(key))
          : row.value.toString('utf8')
        : row.value;
      return { value: JSON.parse(text) as T, fetchedAt: row.fetched_at };
    },
    put(key, value) {
      const json = JSON.stringify(value);
      ins.run(key, deps.crypto ? deps.crypto.encrypt(json, aad(key)) : json, deps.clock.now());
    },
  };
}
