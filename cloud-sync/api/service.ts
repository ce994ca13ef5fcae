import { Redis } from 'ioredis';
import type { CloudContext } from '../context.js';
import { createAuditLog } from './audit.js';
import { CLOCK_TOLERANCE_S, createAccessTokens } from './auth/access-tokens.js';
import { createAuthGuard } from './auth/guard.js';
import { createKeySealer, parseKeyEncryptionKeys } from './auth/key-sealing.js';
import { createSigningKeys, KEY_CACHE_MS } from './auth/keys.js';
import { createLoginBackoff } from './auth/login-backoff.js';
import { createPasswordHasher } from './auth/passwords.js';
import { createRefreshTokens, type RevokedSession } from './auth/refresh-tokens.js';
import { registerAuthRoutes } from './auth/routes.js';
import { registerDataRoutes } from './data/routes.js';
import type { ApiDeps } from './deps.js';
import { createDeviceCredentials } from './devices/credentials.js';
import { registerDeviceRoutes } from './devices/routes.js';
import { createMemoryCache, createRedisCache, type ResponseCache, registerLlmProxy } from './llm/proxy.js';
import { registerNotificationRoutes } from './notifications/routes.js';
import { registerOidcRoutes } from './oidc/routes.js';
import { createAccessControl } from './people/access.js';
import { registerInvitationRoutes } from './people/invitations.js';
import { registerPeopleRoutes } from './people/routes.js';
import { createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from './ratelimit.js';
import { registerWebApp } from './web.js';

const DAY_MS = 86_400_000;

/** `aide cloud api`: the caregiver REST API. */
export async function start(ctx: CloudContext): Promise<void> {
  const { config, pool, clock, log, metrics, readiness, lifecycle } = ctx;
  const ttl = config.AIDE_ACCESS_TOKEN_TTL_S;

  const keys = createSigningKeys({
    pool,
    clock,
    rotateAfterMs: config.AIDE_JWT_ROTATE_DAYS * DAY_MS,
    verifyGraceMs: (ttl + CLOCK_TOLERANCE_S) * 1000 + KEY_CACHE_MS,
    sealer: config.AIDE_JWT_KEY_ENCRYPTION_KEYS
      ? createKeySealer(parseKeyEncryptionKeys(config.AIDE_JWT_KEY_ENCRYPTION_KEYS))
      : undefined,
  });
  const tokens = createAccessTokens({
    keys,
    clock,
    issuer: config.AIDE_API_ISSUER,
    audience: config.AIDE_API_AUDIENCE,
    ttlSeconds: ttl,
  });

  let limiter: RateLimiter;
  let llmCache: ResponseCache;
  if (config.REDIS_URL) {
    const redis = new Redis(config.REDIS_URL, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: false,
      // No auto-pipelining: profiled, its per-batch Pipeline objects cost more node CPU than the writes
      // they save at the tens of concurrent requests one replica sees.
    });
    redis.on('error', () => {}); // reported by the limiter (fails open) and readiness
    redis.on('ready', () =>
      readiness.set('redis', { ready: true, detail: 'rate limits shared', optional: true }),
    );
    redis.on('end', () =>
      readiness.set('redis', { ready: false, detail: 'unreachable: rate limits fail open', optional: true }),
    );
    lifecycle.onShutdown('redis', () => void redis.disconnect());
    limiter = createRedisRateLimiter({ redis, log, metrics });
    llmCache = createRedisCache(redis);
  } else {
    limiter = createMemoryRateLimiter(clock);
    llmCache = createMemoryCache();
    readiness.set('redis', {
      ready: true,
      detail: 'not configured: rate limits per process',
      optional: true,
    });
  }

  // A revoked session's mark must outlive every access token it signed in with (lifetime + tolerances).
  const revokedMarkMs = (ttl + 2 * CLOCK_TOLERANCE_S) * 1000;
  // Marks that could not be stored (Redis unreachable) are retried every second until they are, or until
  // no token they concern can still be valid. Meanwhile replicas that cannot reach Redis ask the database.
  const unpublished = new Map<string, { s: RevokedSession; until: number }>();
  const publishRevoked = async (sessions: RevokedSession[]) => {
    try {
      await limiter.revokeSessions(sessions, revokedMarkMs);
    } catch (err) {
      for (const s of sessions) unpublished.set(s.sessionId, { s, until: clock.now() + revokedMarkMs });
      throw err;
    }
  };
  const republish = setInterval(() => {
    if (unpublished.size === 0) return;
    const now = clock.now();
    for (const [k, v] of unpublished) if (v.until <= now) unpublished.delete(k);
    const batch = [...unpublished.values()];
    limiter
      .revokeSessions(
        batch.map((v) => v.s),
        revokedMarkMs,
      )
      .then(
        () => {
          for (const v of batch) unpublished.delete(v.s.sessionId);
          log.info({ sessions: batch.length }, 'revoked sessions published');
        },
        () => {},
      );
  }, 1_000);
  republish.unref();
  lifecycle.onShutdown('revocation-retry', () => clearInterval(republish));
  const refresh = createRefreshTokens({
    pool,
    clock,
    ttlMs: config.AIDE_REFRESH_TOKEN_TTL_DAYS * DAY_MS,
    log,
    onRevoked: publishRevoked,
  });

  const deps: ApiDeps = {
    pool,
    clock,
    log,
    metrics,
    config,
    keys,
    tokens,
    refresh,
    hasher: createPasswordHasher({ memoryKib: config.AIDE_ARGON2_MEMORY_KIB }),
    backoff: createLoginBackoff({ pool, clock }),
    limiter,
    access: createAccessControl({ pool, clock }),
    audit: createAuditLog({ pool, clock, log }),
    deviceCredentials: createDeviceCredentials({ passwordFile: config.AIDE_DEVICE_PASSWORD_FILE }),
    requireUser: createAuthGuard({
      tokens,
      limiter,
      perUserPerMin: config.AIDE_RATE_LIMIT_PER_MIN,
      isSessionRevoked: (sid) => refresh.isFamilyRevoked(sid),
    }),
  };

  registerAuthRoutes(ctx.app, deps);
  registerOidcRoutes(ctx.app, deps);
  registerPeopleRoutes(ctx.app, deps);
  registerInvitationRoutes(ctx.app, deps);
  registerDataRoutes(ctx.app, deps);
  registerNotificationRoutes(ctx.app, deps);
  registerDeviceRoutes(ctx.app, deps);
  registerWebApp(ctx.app);
  registerLlmProxy(ctx.app, deps, llmCache);
  // Registered after the pool's shutdown step, so it runs before it: queued audit entries are written first.
  lifecycle.onShutdown('audit', () => deps.audit.close());

  readiness.set('signing-keys', { ready: false, detail: 'waiting for database' });
  ctx.databaseReady
    .then(async () => {
      await keys.rotate();
      readiness.set('signing-keys', {
        ready: true,
        detail: config.AIDE_JWT_KEY_ENCRYPTION_KEYS
          ? 'EdDSA (Ed25519), encrypted at rest'
          : 'EdDSA (Ed25519), NOT encrypted at rest: set AIDE_JWT_KEY_ENCRYPTION_KEYS',
      });
    })
    .catch((err) =>
      readiness.set('signing-keys', { ready: false, detail: `failed: ${(err as Error).message}` }),
    );
  // Hourly: make a new key once the current one reaches its rotation age (replicas serialize on a lock).
  const rotateTimer = setInterval(
    () => void keys.rotate().catch((err) => log.warn({ err: (err as Error).message }, 'key rotation failed')),
    3_600_000,
  );
  rotateTimer.unref();
  lifecycle.onShutdown('key-rotation', () => clearInterval(rotateTimer));
}
