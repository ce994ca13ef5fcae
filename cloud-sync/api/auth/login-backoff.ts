import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Clock } from '../../../common/clock.js';

export interface LoginBackoff {
  /** Seconds the caller must still wait before another attempt for this email, or 0. */
  waitSeconds(email: string): Promise<number>;
  recordFailure(email: string): Promise<void>;
  recordSuccess(email: string): Promise<void>;
}

export interface LoginBackoffOptions {
  pool: pg.Pool;
  clock: Clock;
  /** Failures allowed before waiting starts (default 5). */
  freeAttempts?: number;
  /** Longest wait (default 15 minutes). */
  maxLockMs?: number;
  /** Failures older than this are forgotten (default 1 hour). */
  forgetAfterMs?: number;
}

/**
 * Exponential back-off per account name, kept in PostgreSQL so every replica sees it. Keyed by a hash of
 * the email whether or not the account exists, so the answer never tells an attacker which emails are real.
 */
export function createLoginBackoff(opts: LoginBackoffOptions): LoginBackoff {
  const { pool, clock } = opts;
  const free = opts.freeAttempts ?? 5;
  const maxLockMs = opts.maxLockMs ?? 15 * 60_000;
  const forgetMs = opts.forgetAfterMs ?? 60 * 60_000;
  const key = (email: string) => createHash('sha256').update(email.trim().toLowerCase()).digest('hex');

  return {
    async waitSeconds(email) {
      const { rows } = await pool.query<{ locked_until: Date | null }>(
        'SELECT locked_until FROM login_failures WHERE key_hash = $1',
        [key(email)],
      );
      const until = rows[0]?.locked_until?.getTime() ?? 0;
      return Math.max(0, Math.ceil((until - clock.now()) / 1000));
    },
    async recordFailure(email) {
      const now = clock.now();
      const { rows } = await pool.query<{ failures: number }>(
        `INSERT INTO login_failures (key_hash, failures, last_failure_at) VALUES ($1, 1, $2)
         ON CONFLICT (key_hash) DO UPDATE SET
           failures = CASE WHEN login_failures.last_failure_at < $3 THEN 1 ELSE login_failures.failures + 1 END,
           last_failure_at = $2
         RETURNING failures`,
        [key(email), new Date(now), new Date(now - forgetMs)],
      );
      const failures = rows[0]!.failures;
      if (failures >= free) {
        const lockMs = Math.min(maxLockMs, 1000 * 2 ** (failures - free));
        await pool.query('UPDATE login_failures SET locked_until = $2 WHERE key_hash = $1', [
          key(email),
          new Date(now + lockMs),
        ]);
      }
    },
    async recordSuccess(email) {
      await pool.query('DELETE FROM login_failures WHERE key_hash = $1', [key(email)]);
    },
  };
}
