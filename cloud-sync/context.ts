import type pg from 'pg';
import type { Clock } from '../common/clock.js';
import type { FastifyInstance } from '../common/http.js';
import type { Lifecycle } from '../common/lifecycle.js';
import type { Logger } from '../common/log.js';
import type { Metrics } from '../common/metrics.js';
import type { Readiness } from '../common/readiness.js';
import type { CloudConfig, CloudService } from './config.js';

/** What each cloud service is given. `pool` is usable once readiness reports `database` ready. */
export interface CloudContext {
  service: CloudService;
  config: CloudConfig;
  log: Logger;
  metrics: Metrics;
  readiness: Readiness;
  clock: Clock;
  pool: pg.Pool;
  app: FastifyInstance;
  lifecycle: Lifecycle;
  /** Resolves once the database is reachable and migrated. */
  databaseReady: Promise<void>;
}
