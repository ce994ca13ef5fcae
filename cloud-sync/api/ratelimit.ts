import type { Redis } from 'ioredis';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';

export interface RateDecision {
  allowed: boolean;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

export interface RateLimiter {
  /** Counts one request against `key` (e.g. `user:<id>` or `ip:<addr>`) with `limit` per `windowMs`. */
  hit(key: string, limit: number, windowMs: number): Promise<RateDecision>;
}

// One round trip: increment the window's counter and read its remaining lifetime atomically.
const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

/**
 * Fixed-window counters in Redis, so every API replica shares one budget per user or IP. When Redis
 * cannot be reached the request is allowed (an outage of the limiter must not lock caregivers out of
 * alerts) and the failure is counted in `aide_ratelimit_errors_total`.
 */
export function createRedisRateLimiter(opts: {
  redis: Redis;
  prefix?: string;
  log: Logger;
  metrics: Metrics;
}): RateLimiter {
  const prefix = opts.prefix ?? 'aide:rl:';
  const errors = opts.metrics.counter(
    'aide_ratelimit_errors_total',
    'Rate-limit checks that failed open because Redis was unreachable',
  );
  let lastWarn = 0;
  opts.redis.defineCommand('aideRateHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
  const redis = opts.redis as Redis & {
    aideRateHit(key: string, windowMs: number): Promise<[number, number]>;
  };
  return {
    async hit(key, limit, windowMs) {
      try {
        const [count, ttl] = await redis.aideRateHit(prefix + key, windowMs);
        return {
          allowed: count <= limit,
          remaining: Math.max(0, limit - count),
          resetSeconds: Math.max(1, Math.ceil(ttl / 1000)),
        };
      } catch (err) {
        errors.inc();
        if (Date.now() - lastWarn > 10_000) {
          lastWarn = Date.now();
          opts.log.warn({ err: (err as Error).message }, 'rate limiter unavailable; allowing requests');
        }
        return { allowed: true, remaining: limit, resetSeconds: Math.ceil(windowMs / 1000) };
      }
    },
  };
}

/** The same windows in process memory, for a single replica without Redis. */
export function createMemoryRateLimiter(clock: Clock): RateLimiter {
  const windows = new Map<string, { count: number; resetAt: number }>();
  return {
    async hit(key, limit, windowMs) {
      const now = clock.now();
      let w = windows.get(key);
      if (!w || w.resetAt <= now) {
        if (windows.size > 100_000) for (const [k, v] of windows) if (v.resetAt <= now) windows.delete(k);
        w = { count: 0, resetAt: now + windowMs };
        windows.set(key, w);
      }
      w.count++;
      return {
        allowed: w.count <= limit,
        remaining: Math.max(0, limit - w.count),
        resetSeconds: Math.max(1, Math.ceil((w.resetAt - now) / 1000)),
      };
    },
  };
}
