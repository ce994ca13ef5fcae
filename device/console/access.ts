import { timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../../common/config.js';
import { unauthenticated } from '../../common/errors.js';
import type { FastifyInstance, FastifyRequest } from '../../common/http.js';

const COOKIE = 'aide_console';
/** Liveness, readiness and metrics carry no health data; supervisors and Prometheus reach them freely. */
const openPaths = new Set(['/healthz', '/readyz', '/metrics']);

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * The console shows health records, so listening beyond this machine needs a secret. Fails at start-up,
 * like any other configuration problem, when the console would be open to the network without one.
 */
export function checkConsoleExposure(host: string, token: string | undefined): void {
  if (!isLoopbackHost(host) && !token) {
    throw new ConfigError([
      `AIDE_CONSOLE_TOKEN: required when AIDE_HOST is not a loopback address (got AIDE_HOST=${host}); the console shows health records`,
    ]);
  }
}

/**
 * Requests from this machine pass (aide status, doctor, a local browser). Others must present the token:
 * `Authorization: Bearer <token>`, or `?token=` once from the URL the installer printed, after which an
 * HttpOnly cookie carries it.
 */
export function requireConsoleToken(app: FastifyInstance, token: string): void {
  const expected = Buffer.from(token);
  const matches = (candidate: string | undefined) => {
    if (!candidate) return false;
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (openPaths.has(path) || isLoopbackHost(req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? ''))
      return;
    const fromQuery = new URL(req.url, 'http://console').searchParams.get('token') ?? undefined;
    if (matches(fromQuery)) {
      reply.header('set-cookie', `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000`);
      return;
    }
    if (matches(bearer(req)) || matches(cookie(req, COOKIE))) return;
    throw unauthenticated('the console needs its access token: open the console URL the installer printed');
  });
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7) : undefined;
}

function cookie(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}
