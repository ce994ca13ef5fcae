import pg from 'pg';
import { type Clock, systemClock } from '../common/clock.js';
import { createHttpServer } from '../common/http.js';
import { createLifecycle, startSystemdWatchdog } from '../common/lifecycle.js';
import { createLogger, type Logger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { connectWithBackoff, createReadiness } from '../common/readiness.js';
import { type CloudConfig, type CloudService, defaultCloudPorts } from './config.js';
import type { CloudContext } from './context.js';
import { migrateCloudDb } from './db/migrate.js';
import { serviceStarters } from './services.js';

export interface CloudHandle {
  url: string;
  ctx: CloudContext;
  close(): Promise<void>;
}

/**
 * Starts one cloud service process. It listens at once (health, readiness, metrics) and connects to
 * PostgreSQL in the background with backoff, so an unreachable database shows as 503 naming it
 * instead of a crash loop.
 */
export async function startCloudService(
  service: CloudService,
  config: CloudConfig,
  opts: { clock?: Clock; log?: Logger; handleSignals?: boolean } = {},
): Promise<CloudHandle> {
  const log = opts.log ?? createLogger({ level: config.AIDE_LOG_LEVEL, name: `aide-${service}` });
  const clock = opts.clock ?? systemClock;
  const metrics = createMetrics();
  const readiness = createReadiness();
  const lifecycle = createLifecycle({ log });
  const app = createHttpServer({ log, metrics, readiness, info: { service: `aide-${service}` } });

  const pool = new pg.Pool({
    connectionString: config.DATABASE_URL,
    max: config.AIDE_DB_POOL_SIZE,
    connectionTimeoutMillis: 5000,
  });
  pool.on('error', (err) => log.warn({ err: err.message }, 'idle database connection failed'));
  lifecycle.onShutdown('database', () => pool.end());

  const stopping = new AbortController();
  lifecycle.onShutdown('database-connect', () => stopping.abort());
  const databaseReady = connectWithBackoff(
    'database',
    async () => {
      const applied = await migrateCloudDb(pool);
      if (applied.length) log.info({ applied }, 'database migrated');
      return 'postgresql';
    },
    { readiness, log, clock, signal: stopping.signal },
  );

  const ctx: CloudContext = {
    service,
    config,
    log,
    metrics,
    readiness,
    clock,
    pool,
    app,
    lifecycle,
    databaseReady,
  };
  await (await serviceStarters[service]())(ctx);

  await app.listen({ host: config.AIDE_HOST, port: config.AIDE_PORT ?? defaultCloudPorts[service] });
  lifecycle.onShutdown('http', () => app.close());
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://${config.AIDE_HOST}:${port}`;

  const stopWatchdog = startSystemdWatchdog(() => true);
  lifecycle.onShutdown('watchdog', stopWatchdog);
  if (opts.handleSignals) lifecycle.handleSignals();
  log.info({ url, service }, 'aide cloud service listening');
  return { url, ctx, close: () => lifecycle.shutdown('close') };
}
