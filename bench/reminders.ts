// Reminder scheduler benchmark: 20 medicines on one device, a year simulated day by day on a manual
// clock (so a year of dose history builds up in SQLite), with answers like a real person's: most doses
// confirmed at the first reminder, some snoozed, skipped or never answered (escalation, alerts).
// Figures: CPU per simulated day (first month vs last month, as history grows), scheduler wake-ups per day,
// and resident memory; beside a baseline from the same run: the same pass run every second (a poller).
// Run: npm run bench -- reminders   (BENCH_DAYS, default 365)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createManualClock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { loadDeviceConfig } from '../device/config.js';
import { createReminderScheduler, observeDoseChanges, type ReminderEvent } from '../device/reminders/scheduler.js';
import { reminderSettings } from '../device/reminders/settings.js';
import { migrateDeviceDb, openDeviceDb } from '../device/store/db.js';
import { openStoreRuntime } from '../device/store/runtime.js';

const DAYS = Number(process.env.BENCH_DAYS ?? 365);
const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'aide-bench-reminders-'));
const config = loadDeviceConfig({ env: { AIDE_DATA_DIR: dir, AIDE_TIMEZONE: 'Europe/Berlin', AIDE_LOG_LEVEL: 'silent' } });
const log = createLogger({ level: 'silent' });
const metrics = createMetrics();
const start = Date.UTC(2025, 10, 24, 0, 0);
const clock = createManualClock(start);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const rssMiB = () => Math.round(Number(readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s+(\d+)/)?.[1]) / 1024);
const out = (name: string, value: string | number, note = '') =>
  console.log(`${name.padEnd(60)} ${String(typeof value === 'number' ? (Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(2)) : value).padStart(12)}  ${note}`);

const rssAtStart = rssMiB();
const db = openDeviceDb(join(dir, 'aide.db'));
migrateDeviceDb(db);
const { store, outbox } = openStoreRuntime({ db, clock, log, metrics, config });
const slots = [['08:00'], ['08:00', '20:00'], ['07:30', '13:00', '19:00'], ['22:00'], ['08:00', '12:00', '16:00', '20:00']];
for (let i = 0; i < 20; i++) store.medications.create({ name: `Medicine ${i}`, dose: `${(i + 1) * 5} mg`, times: slots[i % slots.length]!, startDate: '2025-11-24' });
const scheduler = createReminderScheduler({ db, clock, log, metrics, store, outbox, settings: reminderSettings(config) });
observeDoseChanges(store, () => scheduler.poke());

// A person's answers, deterministic: 85 % taken at once, 5 % "later" then taken, 4 % skipped, 6 % never answered.
let seq = 0;
let answerMs = 0;
scheduler.onEvent((e: ReminderEvent) => {
  if (e.type !== 'announce') return;
  const t0 = cpuMs();
  for (const it of e.items) {
    if (it.kind !== 'first' && it.kind !== 'again') continue;
    const r = seq++ % 100;
    if (it.kind === 'again' || r < 85) store.doses.mark(it.doseId, 'taken', { via: 'voice' });
    else if (r < 90) scheduler.snooze([it.doseId], { minutes: 10, via: 'voice' });
    else if (r < 94) store.doses.mark(it.doseId, 'skipped', { via: 'voice' });
  }
  answerMs += cpuMs() - t0;
});
const settle = () => new Promise<void>((r) => setImmediate(r));

const stopHorizon = store.startHorizon();
scheduler.start();
const perDay: { cpu: number; sched: number; wakes: number }[] = [];
const t0 = performance.now();
for (let d = 0; d < DAYS; d++) {
  const c0 = cpuMs();
  const a0 = answerMs;
  const { wakeups: w0, cpuMs: s0 } = scheduler.stats();
  clock.advance(DAY);
  await settle();
  const answers = answerMs - a0;
  perDay.push({ cpu: cpuMs() - c0 - answers, sched: scheduler.stats().cpuMs - s0 - answers, wakes: scheduler.stats().wakeups - w0 });
}
const wall = performance.now() - t0;
const rssAfterYear = rssMiB();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const firstMonth = perDay.slice(0, 30);
const lastMonth = perDay.slice(-30);
const counts = db.prepare('SELECT status, count(*) AS n FROM doses GROUP BY status').all() as { status: string; n: number }[];
const alerts = (db.prepare('SELECT kind, count(*) AS n FROM reminder_alerts GROUP BY kind').all() as { kind: string; n: number }[]).map((r) => `${r.kind} ${r.n}`).join(', ');

// Baseline from the same run: one pass over a quiet moment (nothing due), as a once-a-second poller would run it.
scheduler.stop();
stopHorizon();
const probe = createReminderScheduler({ db, clock, log, metrics: createMetrics(), store, outbox, settings: reminderSettings(config) });
probe.start(); // catch-up pass on a year of history (what a restart costs)
const N = 2000;
const p0 = cpuMs();
for (let i = 0; i < N; i++) probe.poke(), await settle();
const passMs = (cpuMs() - p0) / N;
probe.stop();
const c1 = cpuMs();
const restart = createReminderScheduler({ db, clock, log, metrics: createMetrics(), store, outbox, settings: reminderSettings(config) });
restart.start();
const restartMs = cpuMs() - c1;
restart.stop();

console.log(`\n20 medicines (${slots.map((s) => s.length).join('/')} times a day, cycled), Europe/Berlin, ${DAYS} simulated days in ${(wall / 1000).toFixed(1)} s wall`);
out('doses in the store after the run', counts.reduce((a, r) => a + r.n, 0), counts.map((r) => `${r.status} ${r.n}`).join(', '));
out('caregiver alerts raised', alerts || '0');
out('scheduler CPU per simulated day, first 30 days (ms)', mean(firstMonth.map((x) => x.sched)), 'passes only; the simulated answers excluded');
out('scheduler CPU per simulated day, last 30 days (ms)', mean(lastMonth.map((x) => x.sched)), 'with the history built up in SQLite');
out('all CPU per simulated day, first 30 days (ms)', mean(firstMonth.map((x) => x.cpu)), "+ the store's hourly dose horizon (not the scheduler)");
out('all CPU per simulated day, last 30 days (ms)', mean(lastMonth.map((x) => x.cpu)));
out('scheduler wake-ups per day (mean)', mean(perDay.map((x) => x.wakes)), `max ${Math.max(...perDay.map((x) => x.wakes))}; sleeps until the next due time, at most ${reminderSettings(config).maxSleepMs / 1000} s (clock-step check)`);
out('one scheduler pass with nothing due (ms)', passMs, 'what each wake-up costs at least');
out('baseline: a 1-second poller, CPU per day (ms)', passMs * 86_400, '86,400 such passes');
out('baseline: a 1-second poller, wake-ups per day', 86_400);
out('restart catch-up pass on a year of history (ms)', restartMs);
out('resident memory at start, modules loaded (MiB)', rssAtStart);
out('resident memory after the simulated days (MiB)', rssAfterYear);
out('resident memory now (MiB)', rssMiB());
db.close();
rmSync(dir, { recursive: true, force: true });
