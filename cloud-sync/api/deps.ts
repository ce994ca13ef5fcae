import type { FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import type { CloudConfig } from '../config.js';
import type { AuditLog } from './audit.js';
import type { AccessTokens } from './auth/access-tokens.js';
import type { SigningKeys } from './auth/keys.js';
import type { LoginBackoff } from './auth/login-backoff.js';
import type { PasswordHasher } from './auth/passwords.js';
import type { RefreshTokens } from './auth/refresh-tokens.js';
import type { DeviceCredentials } from './devices/credentials.js';
import type { AccessControl } from './people/access.js';
import type { RateLimiter } from './ratelimit.js';

/** Everything the API's routes need, built once in service.ts. */
export interface ApiDeps {
  pool: pg.Pool;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  config: CloudConfig;
  keys: SigningKeys;
  tokens: AccessTokens;
  refresh: RefreshTokens;
  hasher: PasswordHasher;
  backoff: LoginBackoff;
  limiter: RateLimiter;
  access: AccessControl;
  audit: AuditLog;
  deviceCredentials: DeviceCredentials;
  /** preHandler: signed-in user + per-user rate limit. */
  requireUser: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
}
