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

export interface SessionDecision extends RateDecision {
  /**
   * Whether the sign-in session (the access token's `sid`) was revoked (logout, refresh-token reuse);
   * `unknown` when this limiter cannot tell (no Redis, or Redis unreachable): the caller asks the database.
   */
  revoked: boolean | 'unknown';
}

export interface RateLimiter {
  /** Counts one request against `key` (e.g. `ip:<addr>`) with `limit` per `windowMs`. */
  hit(key: string, limit: number, windowMs: number): Promise<RateDecision>;
  /**
   * The signed-in request's check, in one round trip: is the session revoked (then nothing is counted),
   * else count one request against the user's budget.
   */
  hitSession(
    s: { userId: string; sessionId: string },
    limit: number,
    windowMs: number,
  ): Promise<SessionDecision>;
  /**
   * Marks sessions revoked on every replica for `ttlMs` (the longest an access token of theirs lives).
   * Throws when the mark cannot be stored (the caller reports it: tokens would stay usable).
   */
  revokeSessions(sessions: { userId: string; sessionId: string }[], ttlMs: number): Promise<void>;
}

// One round trip: increment the window's counter and read its remaining lifetime atomically.
const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

// The same, after checking the session's revocation mark (KEYS[2]); -1 = revoked, nothing counted.
const SESSION_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1, 0} end
${HIT_SCRIPT}`;

/**
 * Fixed-window counters in Redis, so every API replica shares one budget per user or IP. When Redis
 * cannot be reached the request is allowed (an outage of the limiter must not lock caregivers out of
 * alerts) and the failure is counted in `aide_ratelimit_errors_total`; a session's revocation is then
 * `unknown` and the guard asks the database. Revoked sessions are marks `aide:rv:{<user>}:<sid>` that
 * expire with the last access token they could concern.
 */
export function createRedisRateLimiter(opts: {
  redis: Redis;
  prefix?: string;
  revokedPrefix?: string;
  log: Logger;
  metrics: Metrics;
}): RateLimiter {
  const prefix = opts.prefix ?? 'aide:rl:';
  const errors = opts.metrics.counter(
    'aide_ratelimit_errors_total',
    'Rate-limit checks that failed open because Redis was unreachable',
  );
  let lastWarn = 0;
  const revokedPrefix = opts.revokedPrefix ?? 'aide:rv:';
  opts.redis.defineCommand('aideRateHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
  opts.redis.defineCommand('aideSessionHit', { numberOfKeys: 2, lua: SESSION_SCRIPT });
  const redis = opts.redis as Redis & {
    aideRateHit(key: string, windowMs: number): Promise<[number, number]>;
    aideSessionHit(rateKey: string, revokedKey: string, windowMs: number): Promise<[number, number]>;
  };
  const decide = (count: number, ttl: number, limit: number): RateDecision => ({
    allowed: count <= limit,
    remaining: Math.max(0, limit - count),
    resetSeconds: Math.max(1, Math.ceil(ttl / 1000)),
  });
  const failedOpen = (err: unknown, limit: number, windowMs: number): RateDecision => {
    errors.inc();
    if (Date.now() - lastWarn > 10_000) {
      lastWarn = Date.now();
      opts.log.warn({ err: (err as Error).message }, 'rate limiter unavailable; allowing requests');
    }
    return { allowed: true, remaining: limit, resetSeconds: Math.ceil(windowMs / 1000) };
  };
  // Both keys of a session check share the user's hash tag, so they live on one Redis Cluster slot.
  const sessionKeys = (s: { userId: string; sessionId: string }) =>
    [`${prefix}user:{${s.userId}}`, `${revokedPrefix}{${s.userId}}:${s.sessionId}`] as const;
  return {
    async hit(key, limit, windowMs) {
      try {
        const [count, ttl] = await redis.aideRateHit(prefix + key, windowMs);
        return decide(count, ttl, limit);
      } catch (err) {
        return failedOpen(err, limit, windowMs);
      }
    },
    async hitSession(s, limit, windowMs) {
      const [rateKey, revokedKey] = sessionKeys(s);
      try {
        const [count, ttl] = await redis.aideSessionHit(rateKey, revokedKey, windowMs);
        if (count < 0) return { allowed: true, remaining: limit, resetSeconds: 1, revoked: true };
        return { ...decide(count, ttl, limit), revoked: false };
      } catch (err) {
        return { ...failedOpen(err, limit, windowMs), revoked: 'unknown' };
      }
    },
    async revokeSessions(sessions, ttlMs) {
      if (sessions.length === 0) return;
      const multi = redis.multi();
      for (const s of sessions) multi.set(sessionKeys(s)[1], '1', 'PX', Math.max(1, Math.ceil(ttlMs)));
      const results = await multi.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw failed?.[0] ?? new Error('revocation not stored');
    },
  };
}

/**
 * The same windows in process memory, for a single replica without Redis. It knows nothing of revoked
 * sessions (`unknown`): the guard asks the database, the source of truth, on every request.
 */
export function createMemoryRateLimiter(clock: Clock): RateLimiter {
  const windows = new Map<string, { count: number; resetAt: number }>();
  const limiter: RateLimiter = {
    async hitSession(s, limit, windowMs) {
      return { ...(await limiter.hit(`user:${s.userId}`, limit, windowMs)), revoked: 'unknown' };
    },
    async revokeSessions() {},
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
  return limiter;
}
