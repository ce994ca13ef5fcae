import type { FastifyReply, FastifyRequest } from 'fastify';
import { resourceExhausted, unauthenticated } from '../../../common/errors.js';
import type { ApiDeps } from '../deps.js';
import type { RateDecision, RateLimiter } from '../ratelimit.js';
import type { AccessClaims, AccessTokens } from './access-tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth guard on routes that need a signed-in user. */
    auth?: AccessClaims;
  }
}

export interface GuardOptions {
  tokens: AccessTokens;
  limiter: RateLimiter;
  /** Requests per minute per user. */
  perUserPerMin: number;
  /** The database's word on a session, asked only when the limiter cannot tell (no Redis, Redis down). */
  isSessionRevoked: (sessionId: string) => Promise<boolean>;
}

export function bearerToken(req: FastifyRequest): string {
  const header = req.headers.authorization;
  if (!header) throw unauthenticated('authorization: a Bearer access token is required');
  const m = /^Bearer ([A-Za-z0-9_\-.]{1,4096})$/.exec(header);
  if (!m) throw unauthenticated('authorization: must be "Bearer <access token>"');
  return m[1]!;
}

/**
 * A preHandler: verifies the access token (signature checked once per token, then cached), then in one
 * Redis round trip checks that its session was not signed out or revoked and charges the user's
 * rate-limit budget (429 + Retry-After).
 */
export function createAuthGuard(opts: GuardOptions) {
  return async function requireUser(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const claims = await opts.tokens.verify(bearerToken(req));
    const d = await opts.limiter.hitSession(claims, opts.perUserPerMin, 60_000);
    if (d.revoked === true || (d.revoked === 'unknown' && (await opts.isSessionRevoked(claims.sessionId))))
      throw unauthenticated('access token rejected: its session was signed out or revoked; sign in again');
    req.auth = claims;
    applyRate(d, opts.perUserPerMin, reply);
  };
}

export async function enforceRate(
  limiter: RateLimiter,
  key: string,
  perMin: number,
  reply: FastifyReply,
): Promise<void> {
  applyRate(await limiter.hit(key, perMin, 60_000), perMin, reply);
}

/** The per-IP budget of the sign-in and device routes, spent before any password or token work. */
export function perIpAuthRate(deps: Pick<ApiDeps, 'limiter' | 'config'>) {
  return (req: FastifyRequest, reply: FastifyReply): Promise<void> =>
    enforceRate(
      deps.limiter,
      `ip:${clientIp(req, deps.config.AIDE_TRUST_PROXY)}`,
      deps.config.AIDE_AUTH_RATE_LIMIT_PER_MIN,
      reply,
    );
}

function applyRate(d: RateDecision, perMin: number, reply: FastifyReply): void {
  reply.header('ratelimit-limit', String(perMin));
  reply.header('ratelimit-remaining', String(d.remaining));
  reply.header('ratelimit-reset', String(d.resetSeconds));
  if (!d.allowed) {
    throw resourceExhausted(
      `rate limit: more than ${perMin} requests per minute; retry in ${d.resetSeconds} s`,
      { retryAfter: d.resetSeconds },
    );
  }
}

/** The caller's IP: the socket peer, or the proxy-appended (right-most) X-Forwarded-For entry behind a trusted proxy. */
export function clientIp(req: FastifyRequest, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    const last = (Array.isArray(xff) ? xff.join(',') : (xff ?? ''))
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .pop();
    if (last) return last;
  }
  return req.socket.remoteAddress ?? 'unknown';
}
