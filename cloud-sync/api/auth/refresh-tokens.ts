import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Clock } from '../../../common/clock.js';
import { unauthenticated } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { inTx } from '../../db/tx.js';

export interface IssuedRefresh {
  token: string;
  familyId: string;
  userId: string;
  expiresAt: number;
}

export interface RefreshTokens {
  /** Starts a new session (family). */
  issue(userId: string): Promise<IssuedRefresh>;
  /**
   * Exchanges a refresh token for a new one in the same family. A token that was already used or
   * revoked means it leaked: the whole family is revoked and the call fails.
   */
  rotate(token: string): Promise<IssuedRefresh>;
  /**
   * Ends the session the token belongs to (idempotent; unknown tokens are ignored) and, through
   * `onRevoked`, its access tokens. Resolves once both are stored; rejects when the access tokens'
   * revocation could not be published (the refresh tokens are revoked all the same: retrying is safe).
   */
  revokeFamily(token: string, reason: string): Promise<void>;
  revokeAllForUser(userId: string, reason: string): Promise<void>;
  /** True when the session (family) was revoked: the database's answer, when Redis cannot give it. */
  isFamilyRevoked(familyId: string): Promise<boolean>;
}

export interface RevokedSession {
  userId: string;
  sessionId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const hashToken = (token: string) => createHash('sha256').update(token).digest();
/** 256 random bits, base64url, with a prefix so a leaked token is recognisable in secret scanners. */
const newToken = () => `aide_rt_${randomBytes(32).toString('base64url')}`;

export function createRefreshTokens(opts: {
  pool: pg.Pool;
  clock: Clock;
  ttlMs: number;
  log: Logger;
  /** Publishes revoked sessions so their access tokens stop working at once on every replica. */
  onRevoked?: (sessions: RevokedSession[]) => Promise<void>;
}): RefreshTokens {
  const { pool, clock, log } = opts;
  const publish = async (rows: { family_id: string; user_id: string }[]) => {
    const seen = new Map(rows.map((r) => [r.family_id, { userId: r.user_id, sessionId: r.family_id }]));
    if (seen.size > 0) await opts.onRevoked?.([...seen.values()]);
  };
  const invalid = () => unauthenticated('refresh token is invalid, expired or already used; sign in again');

  async function insert(
    client: pg.PoolClient | pg.Pool,
    userId: string,
    familyId: string,
  ): Promise<IssuedRefresh> {
    const token = newToken();
    const now = clock.now();
    const expiresAt = now + opts.ttlMs;
    await client.query(
      'INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [randomUUID(), familyId, userId, hashToken(token), new Date(now), new Date(expiresAt)],
    );
    return { token, familyId, userId, expiresAt };
  }

  return {
    issue: (userId) => insert(pool, userId, randomUUID()),

    async rotate(token) {
      if (typeof token !== 'string' || !token.startsWith('aide_rt_') || token.length > 200) throw invalid();
      const out = await inTx(pool, async (client) => {
        const { rows } = await client.query<{
          id: string;
          family_id: string;
          user_id: string;
          expires_at: Date;
          used_at: Date | null;
          revoked_at: Date | null;
          disabled_at: Date | null;
        }>(
          `SELECT t.id, t.family_id, t.user_id, t.expires_at, t.used_at, t.revoked_at, u.disabled_at
             FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 FOR UPDATE OF t`,
          [hashToken(token)],
        );
        const row = rows[0];
        if (!row) throw invalid();
        const now = clock.now();
        if (row.used_at || row.revoked_at) {
          // Reuse of a spent token: someone else holds a copy. End every token of the session.
          await client.query(
            `UPDATE refresh_tokens SET revoked_at = $2, revoke_reason = 'reuse detected' WHERE family_id = $1 AND revoked_at IS NULL`,
            [row.family_id, new Date(now)],
          );
          return { reused: row };
        }
        if (row.expires_at.getTime() <= now || row.disabled_at) throw invalid();
        await client.query('UPDATE refresh_tokens SET used_at = $2 WHERE id = $1', [row.id, new Date(now)]);
        return { next: await insert(client, row.user_id, row.family_id) };
      });
      if (out.next) return out.next;
      // A spent token was shown again: its session's refresh tokens are revoked (committed above).
      const { reused } = out;
      log.warn(
        { familyId: reused.family_id, userId: reused.user_id },
        'refresh token reuse detected; session revoked',
      );
      // The access tokens of the family too (the guard also asks the database when Redis is down).
      await publish([reused]).catch((err) =>
        log.error(
          { err: (err as Error).message, familyId: reused.family_id },
          'could not publish the revoked session; its access tokens stay valid until they expire',
        ),
      );
      throw invalid();
    },

    async revokeFamily(token, reason) {
      if (typeof token !== 'string') return;
      // The family's id and user even when it was revoked before: publishing again is harmless and
      // makes a retried logout (after a failed publish) effective.
      const { rows } = await pool.query<{ family_id: string; user_id: string }>(
        `WITH f AS (SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1),
              u AS (UPDATE refresh_tokens SET revoked_at = $2, revoke_reason = $3
                     WHERE family_id = (SELECT family_id FROM f) AND revoked_at IS NULL)
         SELECT family_id::text, user_id::text FROM f`,
        [hashToken(token), new Date(clock.now()), reason],
      );
      await publish(rows);
    },

    async revokeAllForUser(userId, reason) {
      const { rows } = await pool.query<{ family_id: string; user_id: string }>(
        `UPDATE refresh_tokens SET revoked_at = $2, revoke_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL
         RETURNING family_id::text, user_id::text`,
        [userId, new Date(clock.now()), reason],
      );
      await publish(rows);
    },

    async isFamilyRevoked(familyId) {
      // Access tokens carry their family as `sid`; a sid that is no family id cannot be revoked.
      if (!UUID.test(familyId)) return false;
      const { rows } = await pool.query<{ revoked: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL) AS revoked',
        [familyId],
      );
      return rows[0]!.revoked;
    },
  };
}
