// Reminder scheduler benchmark: a device with 20 medicines and a year of dose history in SQLite, then
// days simulated on a manual clock with answers like a real person's (most doses confirmed at the first
// reminder, some snoozed, skipped or never answered: re-asks, escalation, alerts). Figures: scheduler CPU
// per simulated day, wake-ups per day (with the default 300 s cap that notices wall-clock steps, and with
// the cap lifted: due times only), resident memory; beside a baseline from the same run: the same pass
// run every second, as a polling scheduler would. Run: npm run bench -- reminders  (BENCH_DAYS, default 30)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createManualClock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { loadDeviceConfig } from '../device/config.js';
import {
  createReminderScheduler,
  observeDoseChanges,
  type ReminderEvent,
  type ReminderScheduler,
} from '../device/reminders/scheduler.js';
import { reminderSettings } from '../device/reminders/settings.js';
import { migrateDeviceDb, openDeviceDb } from '../device/store/db.js';
import { openStoreRuntime } from '../device/store/runtime.js';

const DAYS = Number(process.env.BENCH_DAYS ?? 30);
const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'aide-bench-reminders-'));
const env = { AIDE_DATA_DIR: dir, AIDE_TIMEZONE: 'Europe/Berlin', AIDE_LOG_LEVEL: 'silent' };
const config = loadDeviceConfig({ env });
const log = createLogger({ level: 'silent' });
const metrics = createMetrics();
const yearAgo = Date.UTC(2025, 10, 24, 0, 0);
const clock = createManualClock(yearAgo);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const rssMiB = () =>
  Math.round(Number(readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s+(\d+)/)?.[1]) / 1024);
const fmt = (v: number) => (Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(2));
const out = (name: string, value: string | number, note = '') =>
  console.log(
    `${name.padEnd(62)} ${String(typeof value === 'number' ? fmt(value) : value).padStart(12)}  ${note}`,
  );
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const settle = () => new Promise<void>((r) => setImmediate(r));

const rssAtStart = rssMiB();
const db = openDeviceDb(join(dir, 'aide.db'));
migrateDeviceDb(db);
const { store, outbox } = openStoreRuntime({ db, clock, log, metrics, config });
const slots = [
  ['08:00'],
  ['08:00', '20:00'],
  ['07:30', '13:00', '19:00'],
  ['22:00'],
  ['08:00', '12:00', '16:00', '20:00'],
];
for (let i = 0; i < 20; i++)
  store.medications.create({
    name: `Medicine ${i}`,
    dose: `${(i + 1) * 5} mg`,
    times: slots[i % slots.length]!,
    startDate: '2025-11-24',
  });

// 1. A year of history: every planned dose, recorded taken / skipped / missed, as closed reminders.
const h0 = performance.now();
store.doses.materialize(yearAgo, yearAgo + 365 * DAY);
clock.set(yearAgo + 365 * DAY);
const now0 = clock.now();
db.prepare(
  `UPDATE doses SET status = CASE WHEN abs(random()) % 100 < 88 THEN 'taken' WHEN abs(random()) % 100 < 50 THEN 'skipped' ELSE 'missed' END,
     confirmed_at = due_at + 120000, version = 2 WHERE due_at < ?`,
).run(now0);
db.prepare(
  `INSERT INTO reminder_state (dose_id, person_id, due_at, stage, first_announced_at, last_announced_at, announcements, outcome, updated_at)
   SELECT id, person_id, due_at, 'closed', due_at, due_at, 1, status, due_at FROM doses WHERE due_at < ?`,
).run(now0);
const history = (db.prepare('SELECT count(*) AS n FROM doses').get() as { n: number }).n;
const historyMs = performance.now() - h0;

// A person's answers, deterministic: 85 % taken at once, 5 % "later" then taken, 4 % skipped, 6 % never answered.
let seq = 0;
let answerMs = 0;
const answer = (e: ReminderEvent, s: ReminderScheduler) => {
  if (e.type !== 'announce') return;
  const t0 = cpuMs();
  for (const it of e.items) {
    if (it.kind !== 'first' && it.kind !== 'again') continue;
    const r = seq++ % 100;
    if (it.kind === 'again' || r < 85) store.doses.mark(it.doseId, 'taken', { via: 'voice' });
    else if (r < 90) s.snooze([it.doseId], { minutes: 10, via: 'voice' });
    else if (r < 94) store.doses.mark(it.doseId, 'skipped', { via: 'voice' });
  }
  answerMs += cpuMs() - t0;
};

async function simulate(days: number, maxSleepSeconds: number) {
  const settings = reminderSettings(
    loadDeviceConfig({ env: { ...env, AIDE_REMINDER_MAX_SLEEP_SECONDS: String(maxSleepSeconds) } }),
  );
  const scheduler = createReminderScheduler({
    db,
    clock,
    log,
    metrics: createMetrics(),
    store,
    outbox,
    settings,
  });
  const offChanges = { on: true };
  observeDoseChanges(store, () => offChanges.on && scheduler.poke());
  scheduler.onEvent((e) => answer(e, scheduler));
  const stopHorizon = store.startHorizon();
  scheduler.start();
  const perDay: { all: number; sched: number; wakes: number }[] = [];
  for (let d = 0; d < days; d++) {
    const c0 = cpuMs();
    const a0 = answerMs;
    const { wakeups: w0, cpuMs: s0 } = scheduler.stats();
    clock.advance(DAY);
    await settle();
    const answers = answerMs - a0;
    perDay.push({
      all: cpuMs() - c0 - answers,
      sched: scheduler.stats().cpuMs - s0 - answers,
      wakes: scheduler.stats().wakeups - w0,
    });
  }
  scheduler.stop();
  stopHorizon();
  offChanges.on = false;
  return perDay;
}

const capped = await simulate(DAYS, 300);
const rssAfter = rssMiB();
const uncapped = await simulate(Math.min(DAYS, 14), 86_400);

// Baseline from the same run: one pass at a quiet moment (nothing due), run once a second by a poller.
const probe = createReminderScheduler({
  db,
  clock,
  log,
  metrics: createMetrics(),
  store,
  outbox,
  settings: reminderSettings(config),
});
const c1 = cpuMs();
probe.start(); // the catch-up pass a restart runs, on a year of history
const restartMs = cpuMs() - c1;
const N = 2000;
const p0 = cpuMs();
for (let i = 0; i < N; i++) {
  probe.poke();
  await settle();
}
const passMs = (cpuMs() - p0) / N;
probe.stop();

const counts = (
  db.prepare('SELECT status, count(*) AS n FROM doses WHERE due_at >= ? GROUP BY status').all(now0) as {
    status: string;
    n: number;
  }[]
)
  .map((r) => `${r.status} ${r.n}`)
  .join(', ');
const alerts = (
  db.prepare('SELECT kind, count(*) AS n FROM reminder_alerts GROUP BY kind').all() as {
    kind: string;
    n: number;
  }[]
)
  .map((r) => `${r.kind} ${r.n}`)
  .join(', ');
console.log(
  `\n20 medicines (${slots.map((s) => s.length).join('/')} times a day, cycled), Europe/Berlin; ${history.toLocaleString('en-US')} doses of history written in ${(historyMs / 1000).toFixed(1)} s`,
);
out(`doses of the ${DAYS + Math.min(DAYS, 14)} simulated days`, counts);
out('caregiver alerts raised in them', alerts || '0');
out(
  'scheduler CPU per simulated day (ms)',
  mean(capped.map((x) => x.sched)),
  'its passes; the simulated answers excluded',
);
out(
  'all CPU per simulated day (ms)',
  mean(capped.map((x) => x.all)),
  "+ the store's hourly dose horizon (store code)",
);
out(
  'scheduler wake-ups per day, sleep capped at 300 s (default)',
  mean(capped.map((x) => x.wakes)),
  'the cap notices NTP steps within 5 min',
);
out(
  'scheduler wake-ups per day, cap lifted (due times only)',
  mean(uncapped.map((x) => x.wakes)),
  'AIDE_REMINDER_MAX_SLEEP_SECONDS=86400',
);
out('scheduler CPU per simulated day, cap lifted (ms)', mean(uncapped.map((x) => x.sched)));
out('one scheduler pass with nothing due (ms)', passMs, 'the least a wake-up costs');
out('baseline: 1-second poller, wake-ups per day', 86_400);
out('baseline: 1-second poller, CPU per day (ms)', passMs * 86_400, '86,400 such passes');
out('restart catch-up pass on a year of history (ms)', restartMs);
out('resident memory at start, modules loaded (MiB)', rssAtStart);
out('resident memory after the simulated days (MiB)', rssAfter);
db.close();
rmSync(dir, { recursive: true, force: true });
