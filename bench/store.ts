// Health store benchmark: 1 M measurements in the database; inserts/s and cached/uncached reads/s
// directly on the store and through the console API, beside raw better-sqlite3 point selects in the same
// run; summary over a year; resident memory. Run: npm run bench -- store  (BENCH_SECONDS, BENCH_ROWS)
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { loadDeviceConfig } from '../device/config.js';
import { deviceDbPath } from '../device/main.js';
import { migrateDeviceDb, openDeviceDb } from '../device/store/db.js';
import { openStoreRuntime } from '../device/store/runtime.js';
import { measurementTypes } from '../device/store/units.js';
import { spawnAide } from '../test/support/spawn-aide.js';

// autocannon ships no types; the little used here is typed below.
type LoadOptions = {
  url: string;
  connections?: number;
  duration?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
};
type LoadResult = { requests: { average: number }; latency: { p99: number }; errors: number; non2xx: number };
const autocannon = (await import('autocannon' as string)).default as (o: LoadOptions) => Promise<LoadResult>;

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const YEAR = 365 * 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'aide-bench-store-'));
const config = loadDeviceConfig({
  env: { AIDE_DATA_DIR: dir, AIDE_TIMEZONE: 'Europe/Berlin', AIDE_LOG_LEVEL: 'silent' },
});
const rows: [string, string | number][] = [];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const out = (name: string, value: string | number, note = '') => {
  rows.push([name, typeof value === 'number' ? fmt(value) : value]);
  console.log(
    `${name.padEnd(58)} ${String(typeof value === 'number' ? fmt(value) : value).padStart(12)}  ${note}`,
  );
};
const rssMiB = (pid = process.pid) =>
  Math.round(Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1]) / 1024);

/** Ops per second of a synchronous or async function over ~`ms`. */
async function rate(fn: (i: number) => unknown, ms = 1500): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms) {
    for (let k = 0; k < 100; k++) await fn(n++);
  }
  return n / ((performance.now() - t0) / 1000);
}

function syncRate(fn: (i: number) => unknown, ms = 1500): number {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms) for (let k = 0; k < 100; k++) fn(n++);
  return n / ((performance.now() - t0) / 1000);
}

async function main() {
  console.log(`bench/store: ${fmt(ROWS)} measurements, ${seconds} s per HTTP run, data in ${dir}`);
  const log = createLogger({ level: 'silent' });
  const db = openDeviceDb(deviceDbPath(config));
  migrateDeviceDb(db);
  const rt = openStoreRuntime({
    db,
    clock: systemClock,
    log,
    metrics: createMetrics({ defaultMetrics: false }),
    config,
  });
  const personId = rt.store.people.primaryId();

  // Fixture: ROWS readings over ten years, all eight types, loaded with raw SQL in big transactions
  // (the fixture is not what is measured; it skips the outbox so the queue does not hold a million messages).
  const t0 = performance.now();
  const now = Date.now();
  const span = 10 * YEAR;
  const ins = db.prepare(
    `INSERT INTO measurements (id, person_id, type, value, value2, input_unit, taken_at, source, version, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'device', 1, ?, ?)`,
  );
  const ids: string[] = [];
  const load = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const type = measurementTypes[i % measurementTypes.length];
      const at = now - Math.floor((i / ROWS) * span) - 1000;
      const id = randomUUID();
      if (i % 100 === 0) ids.push(id);
      const bp = type === 'blood_pressure';
      ins.run(
        id,
        personId,
        type,
        bp ? 110 + (i % 50) : 50 + (i % 40),
        bp ? 70 + (i % 20) : null,
        bp ? 'mmHg' : 'kg',
        at,
        at,
        at,
      );
    }
  });
  for (let i = 0; i < ROWS; i += 50_000) load(i, Math.min(ROWS, i + 50_000));
  out('fixture load (raw SQL, batched), rows/s', ROWS / ((performance.now() - t0) / 1000));

  rt.store.medications.create({ name: 'Metformin', dose: '500 mg', times: ['08:00', '20:00'] });
  rt.store.medications.create({ name: 'Lisinopril', dose: '10 mg', times: ['08:00'] });

  // --- direct, in this process
  console.log('\n-- direct on the store (this process)');
  const raw = db.prepare('SELECT * FROM measurements WHERE id = ?');
  out(
    'raw better-sqlite3 point select by id, /s',
    syncRate((i) => raw.get(ids[i % ids.length])),
    'baseline',
  );
  out(
    'store measurements.get(id) (uncached, decrypt), /s',
    syncRate((i) => rt.store.measurements.get(ids[i % ids.length])),
  );
  out(
    'store people.getSync (uncached, decrypt name), /s',
    syncRate(() => rt.store.people.getSync()),
  );
  out('store people.get (cached, in-process LRU), /s', await rate(() => rt.store.people.get()));
  out(
    'store medications.listSync (uncached), /s',
    syncRate(() => rt.store.medications.listSync()),
  );
  out('store medications.list (cached), /s', await rate(() => rt.store.medications.list()));
  out(
    'store measurements.list(type, 20 newest), /s',
    syncRate(() => rt.store.measurements.list({ type: 'heart_rate', limit: 20 })),
  );
  const n0 = performance.now();
  let inserted = 0;
  while (performance.now() - n0 < 2000) {
    rt.store.measurements.add({ type: 'heart_rate', value: 70, note: 'bench' });
    inserted++;
  }
  out(
    'store measurements.add (1 tx + outbox + fsync each), /s',
    inserted / ((performance.now() - n0) / 1000),
    'synchronous=FULL',
  );
  const batchStart = performance.now();
  const batch = Array.from({ length: 1000 }, () => ({ type: 'heart_rate' as const, value: 70 }));
  for (let i = 0; i < 5; i++) rt.store.measurements.addMany(batch);
  out('store measurements.addMany (1000 per tx), rows/s', 5000 / ((performance.now() - batchStart) / 1000));

  const perYear = rt.store.analytics.summary({ type: 'blood_pressure', from: now - YEAR, to: now }).count;
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const s = performance.now();
    rt.store.analytics.summary({ type: i % 2 ? 'blood_pressure' : 'weight', from: now - YEAR, to: now });
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  out(
    `summary over a year (${fmt(perYear)} readings), median ms`,
    times[7].toFixed(1),
    `p max ${times.at(-1)?.toFixed(1)} ms; target ≤ 20 ms`,
  );
  out('RSS of this process after direct runs, MiB', rssMiB());
  await rt.cache.close();
  db.close();

  // --- console API, agent in its own process
  console.log('\n-- console API (agent in a child process, autocannon 10 connections)');
  const aide = await spawnAide(['device', '--data', dir, '--port', '0'], {
    AIDE_TIMEZONE: 'Europe/Berlin',
    AIDE_LOG_LEVEL: 'info',
  });
  try {
    const url = aide.url;
    const http = async (opts: LoadOptions) => {
      // One second of warm-up (JIT, caches) that is not counted.
      await autocannon({ connections: 10, ...opts, duration: 1 });
      const r = await autocannon({ connections: 10, duration: seconds, ...opts });
      return { rps: r.requests.average, p99: r.latency.p99, bad: r.errors + r.non2xx };
    };
    const w = await http({
      url: `${url}/api/measurements`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'blood_pressure', systolic: 128, diastolic: 82 }),
    });
    out('POST /api/measurements, req/s', w.rps, `p99 ${w.p99} ms, errors ${w.bad}; target ≥ 2,000`);
    const me = (await (await fetch(`${url}/api/people`)).json()).items[0].id;
    const c1 = await http({ url: `${url}/api/people/${me}` });
    out(
      'GET /api/people/:id (cached profile), req/s',
      c1.rps,
      `p99 ${c1.p99} ms, errors ${c1.bad}; target ≥ 10,000`,
    );
    const c2 = await http({ url: `${url}/api/medications` });
    out('GET /api/medications (cached list), req/s', c2.rps, `p99 ${c2.p99} ms, errors ${c2.bad}`);
    const u1 = await http({ url: `${url}/api/measurements/${ids[ids.length >> 1]}` });
    out(
      'GET /api/measurements/:id (uncached point read), req/s',
      u1.rps,
      `p99 ${u1.p99} ms, errors ${u1.bad}`,
    );
    const u2 = await http({ url: `${url}/api/measurements?type=heart_rate&limit=20` });
    out(
      'GET /api/measurements?type&limit=20 (uncached), req/s',
      u2.rps,
      `p99 ${u2.p99} ms, errors ${u2.bad}`,
    );
    const hz = await http({ url: `${url}/healthz` });
    out('GET /healthz (framework baseline), req/s', hz.rps, `p99 ${hz.p99} ms`);
    const from = new Date(now - YEAR).toISOString();
    const sm = await http({
      url: `${url}/api/measurements/summary?type=blood_pressure&from=${from}&to=${new Date(now).toISOString()}`,
      connections: 1,
    });
    out('GET summary over a year, 1 connection, req/s', sm.rps, `p99 ${sm.p99} ms`);
    out('agent RSS after the HTTP runs, MiB', rssMiB(aide.child.pid as number));
  } finally {
    aide.child.kill('SIGTERM');
    await aide.exited;
  }
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
});
