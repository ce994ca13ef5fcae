import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { conflict, resourceExhausted, unauthenticated, unavailable } from '../../../common/errors.js';
import { type FastifyInstance, parse } from '../../../common/http.js';
import type { ApiDeps } from '../deps.js';
import { findUserByEmail, findUserById, normalizeEmail, toUser, type UserRow } from '../users.js';
import { perIpAuthRate } from './guard.js';
import { newSession, sessionReply } from './session.js';

const email = z.string().trim().max(254, 'must be at most 254 characters').email('must be an email address');
const password = z
  .string()
  .min(10, 'must be at least 10 characters')
  .max(256, 'must be at most 256 characters');
const registerBody = z
  .object({ email, password, displayName: z.string().trim().min(1).max(100).optional() })
  .strict();
const loginBody = z.object({ email: z.string().max(254), password: z.string().max(256) }).strict();
const refreshBody = z.object({ refreshToken: z.string().min(1, 'is required').max(200) }).strict();

/** The same words whether the email is unknown or the password is wrong. */
const WRONG_LOGIN = 'email or password is not right';

export function registerAuthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { pool, refresh, hasher, backoff, log, metrics } = deps;
  const logins = metrics.counter('aide_api_logins_total', 'Sign-in attempts by outcome', ['outcome']);

  // Per-IP budget on every auth route, before any password work.
  const perIp = perIpAuthRate(deps);

  app.post('/v1/auth/register', { preHandler: perIp }, async (req, reply) => {
    const body = parse(registerBody, req.body);
    const passwordHash = await hasher.hash(body.password);
    const id = randomUUID();
    const { rows } = await pool.query<UserRow>(
      `INSERT INTO users (id, email, password_hash, display_name, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING RETURNING *`,
      [id, normalizeEmail(body.email), passwordHash, body.displayName ?? null, new Date(deps.clock.now())],
    );
    if (!rows[0])
      throw conflict('email: an account with this email already exists; sign in instead', {
        details: [{ field: 'email', rule: 'unique', message: 'already registered' }],
      });
    log.info({ userId: id }, 'account registered');
    reply.code(201);
    return newSession(deps, rows[0]);
  });

  app.post('/v1/auth/login', { preHandler: perIp }, async (req) => {
    const body = parse(loginBody, req.body);
    const wait = await backoff.waitSeconds(body.email);
    if (wait > 0) {
      logins.inc({ outcome: 'locked' });
      throw resourceExhausted(`too many failed sign-ins for this account; try again in ${wait} s`, {
        retryAfter: wait,
      });
    }
    const user = await findUserByEmail(pool, body.email);
    let ok = false;
    if (user?.password_hash && !user.disabled_at) ok = await hasher.verify(user.password_hash, body.password);
    else await hasher.verifyDummy(body.password); // same time whether or not the account exists
    if (!ok || !user) {
      await backoff.recordFailure(body.email);
      logins.inc({ outcome: 'failed' });
      throw unauthenticated(WRONG_LOGIN);
    }
    await backoff.recordSuccess(body.email);
    logins.inc({ outcome: 'ok' });
    log.info({ userId: user.id }, 'signed in');
    return newSession(deps, user);
  });

  app.post('/v1/auth/refresh', { preHandler: perIp }, async (req) => {
    const body = parse(refreshBody, req.body);
    const rt = await refresh.rotate(body.refreshToken);
    const user = await findUserById(pool, rt.userId);
    if (!user || user.disabled_at) throw unauthenticated('account is disabled');
    return sessionReply(deps, user, rt);
  });

  app.post('/v1/auth/logout', { preHandler: perIp }, async (req, reply) => {
    const body = parse(refreshBody, req.body);
    // Revokes the refresh tokens and, on every replica at once, the session's access tokens.
    await refresh.revokeFamily(body.refreshToken, 'logout').catch((err) => {
      log.error({ err: (err as Error).message }, 'logout: access-token revocation not published');
      throw unavailable(
        'signed out, but the access token could not be revoked right now; send the same logout again',
        { retryAfter: 1 },
      );
    });
    reply.code(204);
  });

  app.get('/v1/me', { preHandler: deps.requireUser }, async (req) => {
    const user = await findUserById(pool, req.auth!.userId);
    if (!user || user.disabled_at) throw unauthenticated('account is disabled');
    return { user: toUser(user) };
  });

  app.get('/.well-known/jwks.json', async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return deps.keys.jwks();
  });
}
