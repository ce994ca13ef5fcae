import type { Clock } from '../common/clock.js';
import type { Lifecycle } from '../common/lifecycle.js';
import type { Logger } from '../common/log.js';
import type { Metrics } from '../common/metrics.js';
import type { Readiness } from '../common/readiness.js';
import type { Agent } from './agent/turn.js';
import type { DeviceConfig } from './config.js';
import type { Reminders } from './reminders/index.js';
import type { Cache } from './store/cache.js';
import type { Db } from './store/db.js';
import type { HealthStore } from './store/health.js';
import type { Outbox } from './store/outbox.js';
import type { Voice } from './voice/service.js';

/** What every device subsystem is given: configuration, observability, time and the store. */
export interface DeviceContext {
  config: DeviceConfig;
  deviceId: string;
  log: Logger;
  metrics: Metrics;
  readiness: Readiness;
  clock: Clock;
  db: Db;
  outbox: Outbox;
  /** The health store: people, measurements, medicines, doses, conversations (device/store/index.ts). */
  store: HealthStore;
  /** The Redis-style cache (Redis when REDIS_URL is set, in-process otherwise). */
  cache: Cache;
  lifecycle: Lifecycle;
  /** The conversational agent: `agent.runTurn({text, personId})`, `agent.expect(...)` (device/agent/turn.ts). */
  agent?: Agent;
  /** Medicine reminders: the scheduler, the dialogue and console routes (device/reminders/index.ts). */
  reminders?: Reminders;
  /** The voice pipeline; `voice.speak(text, {personId, emergency})` is the device's spoken output (reminders use it). */
  voice?: Voice;
}
