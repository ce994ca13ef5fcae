import type { Clock } from '../../../common/clock.js';
import type { Db } from '../../store/db.js';

/**
 * A small SQLite-backed cache for answers from outside services. `get` returns the value with its age;
 * callers decide what is fresh (weather 30 min) and may still use a stale copy when offline.
 */
export interface FetchCache {
  get<T>(key: string): { value: T; fetchedAt: number } | undefined;
  put(key: string, value: unknown): void;
}

export function createFetchCache(deps: { db: Db; clock: Clock }): FetchCache {
  const sel = deps.db.prepare('SELECT value, fetched_at FROM agent_cache WHERE key = ?');
  const ins = deps.db.prepare(
    'INSERT INTO agent_cache (key, value, fetched_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, fetched_at = excluded.fetched_at',
  );
  return {
    get<T>(key: string) {
      const row = sel.get(key) as { value: string; fetched_at: number } | undefined;
      return row ? { value: JSON.parse(row.value) as T, fetchedAt: row.fetched_at } : undefined;
    },
    put(key, value) {
      ins.run(key, JSON.stringify(value), deps.clock.now());
    },
  };
}
