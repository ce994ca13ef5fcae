import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import type { Clock, ManualClock } from '../common/clock.js';
import { createManualClock } from '../common/clock.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';
import type { ReminderEvent } from '../device/reminders/index.js';

/** A whole device on a manual clock in a temp folder, with every reminder event recorded. */
export interface TestDevice {
  dev: DeviceHandle;
  clock: ManualClock;
  dir: string;
  events: ReminderEvent[];
  announcements(): Extract<ReminderEvent, { type: 'announce' }>[];
  alerts(): Extract<ReminderEvent, { type: 'alert' }>[];
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  restart(at: number, env?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export async function startTestDevice(opts: {
  timezone: string;
  start: number;
  env?: Record<string, string>;
  clock?: Clock;
  dir?: string;
}): Promise<TestDevice> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'aide-reminders-'));
  let clock = createManualClock(opts.start);
  const events: ReminderEvent[] = [];
  const boot = async (c: Clock, env: Record<string, string> = {}) => {
    const config = loadDeviceConfig({
      // No speech synthesis unless a test asks for it (each announcement would run espeak-ng).
      env: {
        AIDE_DATA_DIR: dir,
        AIDE_PORT: '0',
        AIDE_LOG_LEVEL: 'silent',
        AIDE_TIMEZONE: opts.timezone,
        AIDE_MODELS_DIR: join(dir, 'models'),
        AIDE_TTS_ENGINES: '',
        ...opts.env,
        ...env,
      },
    });
    const dev = await startDevice(config, { clock: c });
    // What the scheduler said while starting (catch-up after a restart), then everything after.
    events.push(...dev.ctx.reminders!.scheduler.recentEvents());
    dev.ctx.reminders!.scheduler.onEvent((e) => events.push(e));
    return dev;
  };
  let dev = await boot(opts.clock ?? clock);
  const t: TestDevice = {
    get dev() {
      return dev;
    },
    get clock() {
      return clock;
    },
    dir,
    events,
    announcements: () =>
      events.filter((e): e is Extract<ReminderEvent, { type: 'announce' }> => e.type === 'announce'),
    alerts: () => events.filter((e): e is Extract<ReminderEvent, { type: 'alert' }> => e.type === 'alert'),
    async call(method, path, body) {
      const res = await fetch(`${dev.url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async restart(at, env) {
      await dev.close();
      clock = createManualClock(at);
      dev = await boot(clock, env);
    },
    async close() {
      await dev.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/** Lets queued microtasks (scheduler pokes after a change) run. */
export const settle = () => new Promise<void>((r) => setImmediate(r));

/** Local wall time in a zone → epoch ms (for readable tests). */
export function local(isoLocal: string, zone: string): number {
  const t = DateTime.fromISO(isoLocal, { zone });
  if (!t.isValid) throw new Error(`bad local time ${isoLocal}`);
  return t.toMillis();
}
