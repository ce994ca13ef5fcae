import { type Clock, systemClock } from '../../common/clock.js';

/**
 * Tests only: `AIDE_FAKE_NOW=<ISO or epoch ms>` with `NODE_ENV=test` starts the device's wall clock at
 * that instant (it then runs at real speed; timers are real). Lets a crash test spawn a real
 * `aide device` a few seconds before a dose is due. Ignored outside NODE_ENV=test.
 */
export function fakeNowClock(env: NodeJS.ProcessEnv = process.env): Clock | undefined {
  if (env.NODE_ENV !== 'test' || !env.AIDE_FAKE_NOW) return undefined;
  const start = /^\d+$/.test(env.AIDE_FAKE_NOW) ? Number(env.AIDE_FAKE_NOW) : Date.parse(env.AIDE_FAKE_NOW);
  if (!Number.isFinite(start))
    throw new Error(`AIDE_FAKE_NOW must be an ISO 8601 instant or epoch ms, got ${env.AIDE_FAKE_NOW}`);
  const offset = start - Date.now();
  return {
    now: () => Date.now() + offset,
    setTimeout: systemClock.setTimeout,
    clearTimeout: systemClock.clearTimeout,
  };
}
