import { Redis } from 'ioredis';
import { Gauge } from 'prom-client';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import { type Breaker, createBreaker } from '../../common/resilience.js';
import type { PayloadSealer } from './outbox.js';

/**
 * A Redis-style cache: get/set with a TTL/del. Redis when REDIS_URL is set (a hub), an in-process LRU
 * otherwise. Every call is best effort: Redis down or slow → the breaker opens, calls answer "miss" at
 * once, and the store reads SQLite. `aide_cache_requests_total{result=hit|miss|error}` shows it.
 */
export interface Cache {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, ttlMs: number): Promise<void>;
  del(...keys: string[]): Promise<void>;
  kind: 'memory' | 'redis';
  close(): Promise<void>;
}

export interface CacheOptions {
  redisUrl?: string;
  metrics: Metrics;
  log: Logger;
  /** Entries kept by the in-process cache. */
  maxEntries?: number;
  /** Deadline for one Redis command before it counts as an error (default 200 ms). */
  redisTimeoutMs?: number;
  /** Values leave the process sealed (the hub's Redis is outside the database's encryption). */
  sealer?: PayloadSealer;
  /** Prefix for Redis keys (one Redis may serve several devices on a hub). */
  prefix?: string;
  now?: () => number;
}

export function createCache(opts: CacheOptions): Cache {
  const requests = opts.metrics.counter('aide_cache_requests_total', 'Cache lookups by result', [
    'backend',
    'result',
  ]);
  // Hit rate since start, for dashboards that do not compute it from the counter.
  if (!opts.metrics.registry.getSingleMetric('aide_cache_hit_ratio')) {
    new Gauge({
      name: 'aide_cache_hit_ratio',
      help: 'Cache hits / lookups since start (errors count as lookups)',
      registers: [opts.metrics.registry],
      async collect() {
        const values = (await requests.get()).values;
        const total = values.reduce((a, v) => a + v.value, 0);
        const hits = values.filter((v) => v.labels.result === 'hit').reduce((a, v) => a + v.value, 0);
        this.set(total ? hits / total : 0);
      },
    });
  }
  if (opts.redisUrl) return createRedisCache(opts.redisUrl, opts, requests);
  return createMemoryCache(opts, requests);
}

type Counter = ReturnType<Metrics['counter']>;

/** An LRU over a Map (insertion order = recency), with per-entry expiry. */
export function createMemoryCache(
  opts: { maxEntries?: number; now?: () => number },
  requests?: Counter,
): Cache {
  const max = opts.maxEntries ?? 5000;
  const now = opts.now ?? Date.now;
  // Values are kept as JSON, like Redis keeps them: a caller that sorts or edits what it got cannot change
  // what the next caller gets, and both backends behave the same.
  const map = new Map<string, { json: string; expires: number }>();
  const count = (result: string) => requests?.inc({ backend: 'memory', result });
  return {
    kind: 'memory',
    async get<T>(key: string) {
      const e = map.get(key);
      if (!e || e.expires <= now()) {
        if (e) map.delete(key);
        count('miss');
        return undefined;
      }
      map.delete(key);
      map.set(key, e);
      count('hit');
      return JSON.parse(e.json) as T;
    },
    async set(key, value, ttlMs) {
      map.delete(key);
      map.set(key, { json: JSON.stringify(value), expires: now() + ttlMs });
      while (map.size > max) map.delete(map.keys().next().value as string);
    },
    async del(...keys) {
      for (const k of keys) map.delete(k);
    },
    async close() {
      map.clear();
    },
  };
}

function createRedisCache(url: string, opts: CacheOptions, requests: Counter): Cache {
  const prefix = opts.prefix ?? 'aide:';
  const timeoutMs = opts.redisTimeoutMs ?? 200;
  const redis = new Redis(url, {
    lazyConnect: false,
    // Commands wait for a (re)connection at most commandTimeout; the breaker then stops sending them.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    commandTimeout: timeoutMs,
    connectTimeout: 1000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  let lastErrorLog = 0;
  redis.on('error', (err) => {
    // ioredis emits an error per reconnect attempt; log at most every 30 s.
    if (Date.now() - lastErrorLog > 30_000) {
      lastErrorLog = Date.now();
      opts.log.warn({ err: err.message }, 'redis cache unavailable, reading from SQLite');
    }
  });
  const breaker: Breaker = createBreaker('cache_redis', {
    metrics: opts.metrics,
    failures: 3,
    halfOpenAfterMs: 2000,
  });
  const sealer = opts.sealer;
  const encode = (key: string, value: unknown) => {
    const json = Buffer.from(JSON.stringify(value));
    return sealer ? sealer.seal(json, key) : json;
  };
  const decode = (key: string, raw: Buffer) =>
    JSON.parse((sealer ? sealer.open(raw, key) : raw).toString('utf8'));
  // Any Redis failure counts against the breaker (ioredis errors are not AppErrors, so they are retryable).
  const run = <T>(fn: () => Promise<T>) => breaker.execute(fn);

  return {
    kind: 'redis',
    async get<T>(key: string) {
      try {
        const raw = await run(() => redis.getBuffer(prefix + key));
        if (!raw) {
          requests.inc({ backend: 'redis', result: 'miss' });
          return undefined;
        }
        requests.inc({ backend: 'redis', result: 'hit' });
        return decode(prefix + key, raw) as T;
      } catch {
        requests.inc({ backend: 'redis', result: 'error' });
        return undefined;
      }
    },
    async set(key, value, ttlMs) {
      try {
        await run(() =>
          redis.set(prefix + key, encode(prefix + key, value), 'PX', Math.max(1, Math.round(ttlMs))),
        );
      } catch {
        requests.inc({ backend: 'redis', result: 'error' });
      }
    },
    async del(...keys) {
      if (!keys.length) return;
      try {
        await run(() => redis.del(...keys.map((k) => prefix + k)));
      } catch {
        requests.inc({ backend: 'redis', result: 'error' });
      }
    },
    async close() {
      redis.disconnect();
    },
  };
}
