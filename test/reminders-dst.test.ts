import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DateTime } from 'luxon';
import { createManualClock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { loadDeviceConfig } from '../device/config.js';
import {
  createReminderScheduler,
  observeDoseChanges,
  type ReminderEvent,
} from '../device/reminders/scheduler.js';
import { reminderSettings } from '../device/reminders/settings.js';
import { migrateDeviceDb, openDeviceDb } from '../device/store/db.js';
import { openStoreRuntime } from '../device/store/runtime.js';

// Daylight-saving sweep: for several zones and both changes of 2025, 2026 and 2027, every daily time
// (including ones in the skipped and the repeated hour) is announced exactly once per local day, at its
// local time, or right after the jump when that time does not exist that day (Debian cron's rule).
const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'America/Santiago'];
const times = ['00:30', '01:30', '02:30', '03:30', '08:00', '23:30'];
const HOUR = 3600_000;

/** Instants where the zone's UTC offset changes in `year`. */
function transitions(zone: string, year: number): number[] {
  const out: number[] = [];
  let t = DateTime.fromObject({ year, month: 1, day: 1 }, { zone: 'UTC' }).toMillis();
  const end = DateTime.fromObject({ year: year + 1, month: 1, day: 1 }, { zone: 'UTC' }).toMillis();
  const off = (ms: number) => DateTime.fromMillis(ms, { zone }).offset;
  for (; t < end; t += 6 * HOUR) {
    if (off(t) === off(t + 6 * HOUR)) continue;
    let lo = t;
    let hi = t + 6 * HOUR;
    while (hi - lo > 60_000) {
      const mid = Math.floor((lo + hi) / 2 / 60_000) * 60_000;
      if (off(mid) === off(lo)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

test('DST sweep: each daily dose fires exactly once per local day across both changes, 2025-2027', {
  timeout: 120_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'aide-reminders-dst-'));
  const log = createLogger({ level: 'silent' });
  let checkedDays = 0;
  let windows = 0;
  try {
    for (const zone of zones) {
      const clock = createManualClock(Date.UTC(2025, 0, 1));
      const config = loadDeviceConfig({
        env: {
          AIDE_DATA_DIR: join(dir, zone.replace('/', '_')),
          AIDE_TIMEZONE: zone,
          AIDE_REMINDER_MAX_SLEEP_SECONDS: '3600',
        },
      });
      const db = openDeviceDb(join(config.AIDE_DATA_DIR, 'aide.db'));
      migrateDeviceDb(db);
      const metrics = createMetrics();
      const { store, outbox } = openStoreRuntime({ db, clock, log, metrics, config });
      const meds = times.map((t) =>
        store.medications.create({ name: `m${t}`, times: [t], startDate: '2025-01-01' }),
      );
      const scheduler = createReminderScheduler({
        db,
        clock,
        log,
        metrics,
        store,
        outbox,
        settings: reminderSettings(config),
      });
      observeDoseChanges(store, () => scheduler.poke());
      const firsts: { doseId: string; at: number }[] = [];
      const lates: string[] = [];
      let windowStart = 0;
      scheduler.onEvent((e: ReminderEvent) => {
        if (e.type !== 'announce') return;
        for (const it of e.items) {
          // (Doses due before the window started are the test's own catch-up, not a scheduler fault.)
          if (it.kind === 'late' && Date.parse(store.doses.get(it.doseId).dueAt) >= windowStart)
            lates.push(`${it.doseId} due ${store.doses.get(it.doseId).dueAt} said ${e.at}`);
          if (it.kind === 'first') {
            firsts.push({ doseId: it.doseId, at: Date.parse(e.at) });
            store.doses.mark(it.doseId, 'taken', { via: 'test' });
          }
        }
      });
      for (const year of [2025, 2026, 2027]) {
        const changes = transitions(zone, year);
        assert.equal(changes.length, 2, `${zone} ${year} has two changes`);
        for (const change of changes) {
          windows++;
          const day0 = DateTime.fromMillis(change, { zone }).startOf('day').minus({ days: 1 });
          const start = day0.toMillis();
          const end = day0.plus({ days: 3 }).toMillis();
          windowStart = start;
          lates.length = 0;
          clock.set(start - HOUR);
          const stopHorizon = store.startHorizon();
          scheduler.start();
          firsts.length = 0;
          clock.advance(end - clock.now());
          scheduler.stop();
          stopHorizon();
          assert.deepEqual(lates, [], 'nothing is announced late while the device runs');
          // Exactly one first announcement per medicine per local day, at the expected instant.
          const perDose = new Map<string, number>();
          for (const f of firsts) perDose.set(f.doseId, (perDose.get(f.doseId) ?? 0) + 1);
          for (const [id, n] of perDose) assert.equal(n, 1, `dose ${id} announced ${n} times`);
          for (let d = day0; d < day0.plus({ days: 3 }); d = d.plus({ days: 1 })) {
            for (const [i, t] of times.entries()) {
              const [h, m] = t.split(':').map(Number) as [number, number];
              const mine = firsts.filter((f) => {
                const dose = store.doses.get(f.doseId);
                return (
                  dose.medicationId === meds[i]!.id &&
                  DateTime.fromMillis(f.at, { zone }).toISODate() === d.toISODate()
                );
              });
              assert.equal(mine.length, 1, `${zone} ${d.toISODate()} ${t}: ${mine.length} announcements`);
              const at = DateTime.fromMillis(mine[0]!.at, { zone });
              const wanted = d.set({ hour: h, minute: m });
              const exists = wanted.hour === h && wanted.minute === m && wanted.toISODate() === d.toISODate();
              if (exists) {
                // A repeated hour fires once, at its first occurrence.
                const first = DateTime.fromMillis(
                  Math.min(
                    wanted.toMillis(),
                    wanted.minus({ hours: 1 }).hour === h && wanted.minus({ hours: 1 }).minute === m
                      ? wanted.minus({ hours: 1 }).toMillis()
                      : Infinity,
                  ),
                  { zone },
                );
                assert.equal(
                  mine[0]!.at,
                  first.toMillis(),
                  `${zone} ${d.toISODate()} ${t} announced at ${at.toISO()}`,
                );
              } else {
                assert.equal(
                  mine[0]!.at,
                  change,
                  `${zone} ${d.toISODate()} ${t} (skipped hour) announced right after the jump, got ${at.toISO()}`,
                );
              }
              checkedDays++;
            }
          }
        }
      }
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(windows, zones.length * 6);
  assert.equal(checkedDays, windows * 3 * times.length);
});
