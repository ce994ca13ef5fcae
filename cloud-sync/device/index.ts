import type { DeviceContext } from '../../device/context.js';
import { createCommandApplier, createStoreCommandTarget } from './commands.js';
import { createSyncEngine, type SyncEngine } from './engine.js';
import { createCloudSettings } from './settings.js';

export { createCommandApplier, createStoreCommandTarget } from './commands.js';
export { createSyncEngine, type SyncEngine, type SyncEngineOptions } from './engine.js';
export { createCloudSettings, readCloudSettings } from './settings.js';

/**
 * Starts cloud sync for a device (MQTT_URL set): the outbox goes up, commands come down and apply
 * through the health store. `speak` is how a voice subsystem says caregiver messages aloud.
 */
export function startSync(
  ctx: DeviceContext,
  opts: { speak?: (text: string, personId?: string) => void } = {},
): SyncEngine {
  const { config } = ctx;
  if (!config.MQTT_URL) throw new Error('startSync needs MQTT_URL');
  // Settings the cloud set earlier apply before the voice pipeline and the reminders start.
  const settings = createCloudSettings(ctx);
  settings.start();
  const applier = createCommandApplier({
    db: ctx.db,
    clock: ctx.clock,
    target: createStoreCommandTarget({
      db: ctx.db,
      medications: ctx.store.medications,
      speak: opts.speak,
      settings: { settingsToStore: settings.applyToStore, settingsApplied: settings.applyRuntime },
    }),
  });
  const engine = createSyncEngine({
    url: config.MQTT_URL,
    deviceId: ctx.deviceId,
    username: config.AIDE_MQTT_USERNAME,
    password: config.AIDE_MQTT_PASSWORD,
    caFile: config.AIDE_MQTT_CA_FILE,
    db: ctx.db,
    outbox: ctx.outbox,
    clock: ctx.clock,
    log: ctx.log,
    metrics: ctx.metrics,
    readiness: ctx.readiness,
    applyCommand: applier.apply,
  });
  engine.start();
  ctx.lifecycle.onShutdown('sync', () => engine.stop());
  return engine;
}
