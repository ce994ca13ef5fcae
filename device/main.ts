import { join, resolve } from 'node:path';
import { type Clock, systemClock } from '../common/clock.js';
import { createLifecycle, startSystemdWatchdog } from '../common/lifecycle.js';
import { createLogger, type Logger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { createReadiness } from '../common/readiness.js';
import { createAgent } from './agent/turn.js';
import type { DeviceConfig } from './config.js';
import { checkConsoleExposure } from './console/access.js';
import { createConsole } from './console/server.js';
import type { DeviceContext } from './context.js';
import { fakeNowClock } from './reminders/fake-now.js';
import { startReminders } from './reminders/index.js';
import { migrateDeviceDb, openDeviceDb } from './store/db.js';
import { openStoreRuntime } from './store/runtime.js';
import { ensureDeviceId } from './store/settings.js';
import { startVoice } from './voice/index.js';

export interface DeviceHandle {
  url: string;
  ctx: DeviceContext;
  close(): Promise<void>;
}

export function deviceDbPath(config: DeviceConfig): string {
  return join(resolve(config.AIDE_DATA_DIR), 'aide.db');
}

/**
 * Starts the device agent: opens and migrates the store, starts each subsystem, then serves the
 * console. Nothing here needs the internet.
 */
export async function startDevice(
  config: DeviceConfig,
  opts: { clock?: Clock; log?: Logger; handleSignals?: boolean } = {},
): Promise<DeviceHandle> {
  const log = opts.log ?? createLogger({ level: config.AIDE_LOG_LEVEL, name: 'aide-device' });
  const clock = opts.clock ?? fakeNowClock() ?? systemClock;
  const metrics = createMetrics();
  const readiness = createReadiness();
  const lifecycle = createLifecycle({ log });

  checkConsoleExposure(config.AIDE_HOST, config.AIDE_CONSOLE_TOKEN);
  const db = openDeviceDb(deviceDbPath(config));
  const applied = migrateDeviceDb(db);
  if (applied.length) log.info({ applied }, 'store migrated');
  lifecycle.onShutdown('store', () => void db.close());
  readiness.set('store', { ready: true, detail: 'sqlite (wal)' });

  const deviceId = ensureDeviceId(db, clock, config.AIDE_DEVICE_ID);
  const { outbox, store, cache } = openStoreRuntime({ db, clock, log, metrics, config, deviceId });
  lifecycle.onShutdown('cache', () => cache.close());
  readiness.set('cache', {
    ready: true,
    optional: true,
    detail: cache.kind === 'redis' ? 'redis (falls back to SQLite)' : 'in-process',
  });
  lifecycle.onShutdown('dose-horizon', store.startHorizon());
  const ctx: DeviceContext = {
    config,
    deviceId,
    log,
    metrics,
    readiness,
    clock,
    db,
    outbox,
    store,
    cache,
    lifecycle,
  };
  ctx.agent = createAgent(ctx);

  if (config.MQTT_URL) {
    // Caregivers' messages arrive as commands and are said aloud once the voice pipeline is up.
    const speak = (text: string, personId?: string) =>
      void ctx.voice
        ?.speak(text, { personId })
        .catch((err) => log.warn({ err: (err as Error).message }, 'speaking a caregiver message failed'));
    (await import('../cloud-sync/device/index.js')).startSync(ctx, { speak });
  } else {
    readiness.set('sync', { ready: true, optional: true, detail: 'off (no MQTT_URL)' });
    // Settings a caregiver set while sync was on (speech rate, volume and voice, quiet hours, time zone) keep
    // applying with sync turned off; startSync applies them itself, before the voice and the reminders start.
    (await import('../cloud-sync/device/settings.js')).createCloudSettings(ctx).start();
  }

  const voice = await startVoice(ctx);
  ctx.voice = voice.voice;

  // Reminders answer "yes / later / skip it" inside the agent's turn function (device/reminders/dialogue.ts).
  const reminders = startReminders(ctx);
  lifecycle.onShutdown('reminders', reminders.stop);
  ctx.reminders = reminders;
  ctx.agent = reminders.wrap(ctx.agent);

  const app = createConsole(ctx);
  reminders.register(app);
  await voice.register(app);
  await app.listen({ host: config.AIDE_HOST, port: config.AIDE_PORT });
  lifecycle.onShutdown('console', () => app.close());
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.AIDE_PORT;
  const url = `http://${config.AIDE_HOST.includes(':') ? `[${config.AIDE_HOST}]` : config.AIDE_HOST}:${port}`;

  const stopWatchdog = startSystemdWatchdog(() => readiness.snapshot().ready);
  lifecycle.onShutdown('watchdog', stopWatchdog);
  if (opts.handleSignals) lifecycle.handleSignals();
  log.info({ url, deviceId }, 'aide device ready');
  return { url, ctx, close: () => lifecycle.shutdown('close') };
}
