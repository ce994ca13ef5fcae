// Caregiver API benchmark (issue 9). Run: npm run bench -- api   (BENCH_SECONDS, BENCH_ALERTS to scale;
// `node --import tsx bench/api.ts --api-only` for part 1 alone)
// 1. Authenticated GET /v1/people/{id}/measurements (JWT verify + one Redis round trip for the rate limit
//    and the session's revocation + one SQL statement that checks object-level access, reads, and stores
//    the read's audit entry) beside the same route with auth, rate limiting, access check and audit off:
//    same server code (createHttpServer), same query-string parsing, the same data SQL text, same pool,
//    in one server process, measured in alternating rounds so drifting machine load hits both alike.
//    Targets: auth + rate limit ≤ 1 ms at p50 (judged on the 1-connection run: with 10 connections p50 is
//    queueing, ≈ connections / throughput) and ≥ 70% of the baseline's throughput. Also printed: server-side
//    CPU per request (API process, PostgreSQL, Redis from /proc), which a busy machine does not distort,
//    and the load average. BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the server process.
// 2. Notification fan-out: BENCH_ALERTS alerts queued in Kafka, `aide cloud notify` delivering each to
//    two caregivers (in-app + email to a real SMTP server): rate, all delivered, duplicates.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg } from 'node:os';
import autocannon from 'autocannon';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { listMeasurements } from '../cloud-sync/api/data/records.js';
import { measurementQuery } from '../cloud-sync/api/data/routes.js';
import { normalizePersonId } from '../cloud-sync/api/people/access.js';
import { createPairingCode } from '../cloud-sync/api/people/pairing.js';
import { loadCloudConfig } from '../cloud-sync/config.js';
import { migrateCloudDb } from '../cloud-sync/db/migrate.js';
import { startCloudService } from '../cloud-sync/main.js';
import { systemClock } from '../common/clock.js';
import { createHttpServer, parse } from '../common/http.js';
import { silentLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { createReadiness } from '../common/readiness.js';
import { addDeviceWithPerson, call, signUp } from '../test/caregiver-helpers.js';
import { startSmtp } from '../test/caregiver-receivers.js';
import { freePort, getKafka, startPostgres, startRedis } from '../test/harness/index.js';

const duration = Number(process.env.BENCH_SECONDS ?? 10);
const rounds = 4;
const alertsToSend = Number(process.env.BENCH_ALERTS ?? 100_000);

/** Child mode: the API and the no-auth baseline in one process, so both get the same CPU. */
async function serve() {
  const env = JSON.parse(process.env.BENCH_ENV!);
  process.once('SIGTERM', () => process.exit(0)); // an exit, so --cpu-prof writes its profile
  const api = await startCloudService('api', loadCloudConfig({ env }), { log: silentLogger });
  await api.ctx.databaseReady;
  const bare = createHttpServer({
    log: silentLogger,
    metrics: createMetrics({ defaultMetrics: false }),
    readiness: createReadiness(),
    info: { service: 'aide-api' },
  });
  // The measurements route with auth, rate limit, access check and audit taken out: the rest is the same.
  bare.get('/v1/people/:id/measurements', async (req) => {
    const q = parse(measurementQuery, req.query, 'query');
    const id = normalizePersonId((req.params as { id: string }).id)!;
    return { measurements: await listMeasurements(api.ctx.pool, id, q) };
  });
  await bare.listen({ host: '127.0.0.1', port: 0 });
  process.send!({
    api: api.url,
    bare: `http://127.0.0.1:${(bare.server.address() as { port: number }).port}`,
  });
}

interface Figures {
  reqPerSec: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

/** autocannon for throughput (its latencies are whole milliseconds). */
async function loadRun(url: string, headers: Record<string, string>, connections: number, seconds: number) {
  const r = await autocannon({ url, connections, duration: seconds, headers });
  return {
    requests: r.requests.total,
    seconds,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx,
  };
}

/** One connection, one request at a time, timed in microseconds (no queueing: the work a request adds). */
async function sequentialRun(url: string, headers: Record<string, string>, seconds: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get(url, { agent, headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject);
    });
    lat.push(performance.now() - t0);
    if (status !== 200) errors++;
  }
  agent.destroy();
  return { lat, errors, seconds };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const round2 = (n: number) => Math.round(n * 100) / 100;

/** Alternating rounds (A B B A ...) of `seconds / rounds` each; throughput over all rounds, median of p50s. */
async function compareLoaded(
  a: () => Parameters<typeof loadRun>,
  b: () => Parameters<typeof loadRun>,
  cpu: () => CpuSplit,
) {
  const out = {
    a: [] as Awaited<ReturnType<typeof loadRun>>[],
    b: [] as Awaited<ReturnType<typeof loadRun>>[],
  };
  const zero = (): CpuSplit => ({ node: 0, postgres: 0, redis: 0 });
  const cpuSeconds = { a: zero(), b: zero() };
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
    for (const k of order) {
      const c0 = cpu();
      out[k].push(await loadRun(...(k === 'a' ? a() : b())));
      const c1 = cpu();
      for (const p of ['node', 'postgres', 'redis'] as const) cpuSeconds[k][p] += c1[p] - c0[p];
    }
  }
  const cpuPerRequestUs = (k: 'a' | 'b') => {
    const n = out[k].reduce((sum, r) => sum + r.requests, 0);
    const us = (p: keyof CpuSplit) => Math.round((cpuSeconds[k][p] * 1e6) / n);
    return {
      cpuUsPerReq: us('node') + us('postgres') + us('redis'),
      nodeUs: us('node'),
      pgUs: us('postgres'),
      redisUs: us('redis'),
    };
  };
  const sum = (runs: typeof out.a): Figures => {
    const p50s = runs.map((r) => r.p50).sort((x, y) => x - y);
    return {
      reqPerSec: Math.round(
        runs.reduce((n, r) => n + r.requests, 0) / runs.reduce((n, r) => n + r.seconds, 0),
      ),
      p50ms: p50s[Math.floor(p50s.length / 2)]!,
      p99ms: Math.max(...runs.map((r) => r.p99)),
      errors: runs.reduce((n, r) => n + r.errors, 0),
    };
  };
  return {
    a: { ...sum(out.a), ...cpuPerRequestUs('a') },
    b: { ...sum(out.b), ...cpuPerRequestUs('b') },
  };
}

async function compareSequential(aUrl: string, bUrl: string, bHeaders: Record<string, string>) {
  const lat = { a: [] as number[], b: [] as number[] };
  let errors = 0;
  let seconds = 0;
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
    for (const k of order) {
      const r = await sequentialRun(k === 'a' ? aUrl : bUrl, k === 'a' ? {} : bHeaders, duration / rounds);
      lat[k].push(...r.lat);
      errors += r.errors;
      if (k === 'a') seconds += r.seconds;
    }
  }
  const fig = (l: number[]) => {
    const s = l.slice().sort((x, y) => x - y);
    return {
      reqPerSec: Math.round(l.length / seconds),
      p50ms: round2(pct(s, 0.5)),
      p99ms: round2(pct(s, 0.99)),
    };
  };
  return { a: fig(lat.a), b: fig(lat.b), errors };
}

/**
 * CPU seconds (user + system) used so far by the server side: the API process, the PostgreSQL server
 * with all its backends (and children that ended), Redis. Linux /proc, clock ticks of 10 ms. Unlike
 * throughput on a shared machine, this does not depend on what else runs.
 */
function serverCpuSeconds(pids: { node: number; postgres: number; redis: number }): CpuSplit {
  const stat = (pid: number) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
      return {
        ppid: Number(rest[1]),
        own: Number(rest[11]) + Number(rest[12]),
        children: Number(rest[13]) + Number(rest[14]),
      };
    } catch {
      return undefined;
    }
  };
  const pg = stat(pids.postgres);
  let postgres = pg ? pg.own + pg.children : 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = stat(Number(d));
    if (s && s.ppid === pids.postgres) postgres += s.own;
  }
  return {
    node: (stat(pids.node)?.own ?? 0) / 100,
    postgres: postgres / 100,
    redis: (stat(pids.redis)?.own ?? 0) / 100,
  };
}

interface CpuSplit {
  node: number;
  postgres: number;
  redis: number;
}

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(', ');

async function apiBench(pgUrl: string, redisUrl: string, pids: { postgres: number; redis: number }) {
  const db = new pg.Pool({ connectionString: pgUrl, max: 2 });
  db.on('error', () => {}); // the server stops at the end of the run
  const env = {
    DATABASE_URL: pgUrl,
    REDIS_URL: redisUrl,
    AIDE_PORT: String(await freePort()),
    AIDE_RATE_LIMIT_PER_MIN: '1000000000',
    AIDE_AUTH_RATE_LIMIT_PER_MIN: '1000000',
    AIDE_LOG_LEVEL: 'silent',
  };
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], {
    env: { ...process.env, BENCH_ENV: JSON.stringify(env) },
    // BENCH_CPU_PROF=<dir>: a V8 CPU profile of the server process (both sides), written when it stops.
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
    ],
  });
  const urls = await new Promise<{ api: string; bare: string }>((resolve) =>
    child.once('message', (m) => resolve(m as { api: string; bare: string })),
  );
  try {
    const person = randomUUID();
    await addDeviceWithPerson(db, 'dev-bench', person, 'Bench');
    await db.query(
      `INSERT INTO measurements (id, device_id, person_id, type, value, unit, taken_at, version, updated_at, message_id)
       SELECT gen_random_uuid(), 'dev-bench', $1, 'heart_rate', 60 + (i % 40), 'bpm', now() - make_interval(mins => i), 1, now(), gen_random_uuid()
         FROM generate_series(1, 2000) i`,
      [person],
    );
    const u = await signUp(urls.api, 'bench');
    const { code } = await createPairingCode(db, systemClock, 'dev-bench');
    await call(urls.api, 'POST', '/v1/devices/claim', { token: u.accessToken, body: { code } });
    const path = `/v1/people/${person}/measurements?limit=20`;
    const auth = { authorization: `Bearer ${u.accessToken}` };
    const check = await call(urls.api, 'GET', path, { token: u.accessToken });
    const bareCheck = await call(urls.bare, 'GET', path);
    if (check.status !== 200 || check.body.measurements.length !== 20)
      throw new Error(`bench setup: ${check.status}`);
    if (JSON.stringify(bareCheck.body) !== JSON.stringify(check.body))
      throw new Error('bench setup: the baseline does not answer what the API answers');
    const before = await db.query<{ n: string }>(
      'SELECT (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM audit_inbox) AS n',
    );
    console.log(`load average at start (1, 5, 15 min): ${load()}`);
    // Warm up both.
    await autocannon({ url: urls.bare + path, connections: 10, duration: 2 });
    await autocannon({ url: urls.api + path, connections: 10, duration: 2, headers: auth });

    const loaded = await compareLoaded(
      () => [urls.bare + path, {}, 10, duration / rounds],
      () => [urls.api + path, auth, 10, duration / rounds],
      () => serverCpuSeconds({ ...pids, node: child.pid! }),
    );
    const seq = await compareSequential(urls.bare + path, urls.api + path, auth);

    console.log(
      `\n== GET /v1/people/{id}/measurements?limit=20 (of 2,000 rows); ${rounds} alternating rounds, ${duration}s per side`,
    );
    console.log(
      '-- 10 connections (autocannon; latency in whole ms; cpuUsPerReq = CPU µs per request of the API process (nodeUs) + PostgreSQL (pgUs) + Redis (redisUs))',
    );
    console.table({
      'no auth, no rate limit (baseline)': loaded.a,
      'JWT + Redis rate limit/revocation + access + audit': loaded.b,
    });
    const ratio = Math.round((100 * loaded.b.reqPerSec) / loaded.a.reqPerSec);
    console.log('-- 1 connection, one request at a time (latency in µs precision, no queueing)');
    console.table({
      'no auth, no rate limit (baseline)': seq.a,
      'JWT + Redis rate limit/revocation + access + audit': seq.b,
    });
    const cost = round2(seq.b.p50ms - seq.a.p50ms);
    console.log(
      `auth + rate limit cost per request at p50 (1 connection): ${cost} ms  (target ≤ 1 ms) ${cost <= 1 ? 'MET' : 'MISSED'}`,
    );
    console.log(
      `authenticated throughput (10 connections): ${ratio}% of baseline  (target ≥ 70%) ${ratio >= 70 ? 'MET' : 'MISSED'}`,
    );
    const cpuRatio = Math.round((100 * loaded.a.cpuUsPerReq) / loaded.b.cpuUsPerReq);
    console.log(
      `server-side CPU per request: ${loaded.a.cpuUsPerReq} µs baseline, ${loaded.b.cpuUsPerReq} µs authenticated (+${loaded.b.cpuUsPerReq - loaded.a.cpuUsPerReq} µs): where the server is CPU-bound, authenticated throughput ≈ ${cpuRatio}% of baseline (independent of other load on the machine)`,
    );
    console.log(
      `p50 difference under 10 connections: ${loaded.b.p50ms - loaded.a.p50ms} ms (queueing: p50 ≈ connections / throughput, so this follows the throughput ratio)`,
    );
    const after = await db.query<{ n: string }>(
      'SELECT (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM audit_inbox) AS n',
    );
    const okRequests = loaded.b.reqPerSec * duration;
    console.log(
      `audit entries written during the run: ${Number(after.rows[0]!.n) - Number(before.rows[0]!.n)} (≈ one per authenticated request: ${okRequests}+ loaded, plus warm-up and 1-connection ones); errors: ${loaded.a.errors + loaded.b.errors + seq.errors}`,
    );
    console.log(`load average at end (1, 5, 15 min): ${load()}`);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    await db.end();
  }
}

async function fanOutBench(pgUrl: string) {
  const kafkaServer = await getKafka();
  const smtp = await startSmtp();
  const db = new pg.Pool({ connectionString: pgUrl, max: 4 });
  db.on('error', () => {}); // the server stops at the end of the run
  const topicGroup = `bench-notify-${Date.now()}`;
  const prefix = `bench${Date.now()}_`;
  const topic = `${prefix}notification_queue`;
  const env = {
    DATABASE_URL: pgUrl,
    KAFKA_BROKERS: kafkaServer.bootstrap,
    SMTP_URL: smtp.url,
    AIDE_NOTIFY_GROUP: topicGroup,
    AIDE_KAFKA_TOPIC_PREFIX: prefix,
    AIDE_LOG_LEVEL: 'silent',
  };
  try {
    await migrateCloudDb(db);
    // Two caregivers of one person: the owner (in-app only) and a helper (in-app + email).
    const person = randomUUID();
    await addDeviceWithPerson(db, 'dev-fan', person, 'Fan');
    const [owner, helper] = [randomUUID(), randomUUID()];
    await db.query(
      `INSERT INTO users (id, email, role) VALUES ($1, $2, 'caregiver'), ($3, $4, 'caregiver')`,
      [owner, `o.${owner}@example.org`, helper, `h.${helper}@example.org`],
    );
    await db.query(
      `INSERT INTO device_owners (device_id, owner_user_id, claimed_at) VALUES ('dev-fan', $1, now())`,
      [owner],
    );
    await db.query(
      `INSERT INTO caregiver_links (person_id, user_id, can_receive_alerts, created_at, updated_at) VALUES ($1, $2, true, now(), now())`,
      [person, helper],
    );
    await db.query(
      `INSERT INTO notification_preferences (user_id, email_enabled, push_enabled) VALUES ($1, false, false)`,
      [owner],
    );

    const kafka = new Kafka({ clientId: 'bench', brokers: kafkaServer.brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const t0 = performance.now();
    for (let i = 0; i < alertsToSend; i += 1000) {
      const messages = Array.from({ length: Math.min(1000, alertsToSend - i) }, () => {
        const id = randomUUID();
        const at = new Date().toISOString();
        return {
          key: 'dev-fan',
          value: JSON.stringify({
            messageId: randomUUID(),
            deviceId: 'dev-fan',
            seq: i,
            kind: 'alert',
            createdAt: at,
            receivedAt: at,
            payload: {
              id,
              personId: person,
              type: 'missed_dose',
              priority: 1,
              message: 'dose not confirmed',
              at,
            },
          }),
        };
      });
      await producer.send({ topic, messages });
    }
    await producer.disconnect();
    console.log(
      `\n== notification fan-out: ${alertsToSend} alerts queued in ${Math.round(performance.now() - t0)} ms`,
    );

    const notify = await startCloudService(
      'notify',
      loadCloudConfig({ env: { ...env, AIDE_PORT: String(await freePort()) } }),
      { log: silentLogger },
    );
    const started = performance.now();
    const expected = alertsToSend * 3; // 2 in-app + 1 email
    let last = 0;
    for (;;) {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM notification_deliveries WHERE status = 'sent' AND person_id = $1`,
        [person],
      );
      if (rows[0]!.n >= expected) break;
      if (rows[0]!.n !== last) last = rows[0]!.n;
      if (performance.now() - started > 30 * 60_000)
        throw new Error(`fan-out stalled at ${last}/${expected}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const seconds = (performance.now() - started) / 1000;
    await notify.close();
    const emails = smtp.messages();
    const distinct = new Set(emails.map((m) => m.messageId)).size;
    const { rows: dup } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT event_id, channel, user_id FROM notification_deliveries GROUP BY 1, 2, 3 HAVING count(*) > 1) d`,
    );
    console.table({
      'fan-out': {
        alerts: alertsToSend,
        deliveries: expected,
        seconds: Math.round(seconds * 10) / 10,
        'alerts/s': Math.round(alertsToSend / seconds),
        'deliveries/s': Math.round(expected / seconds),
        'emails received': emails.length,
        'duplicate emails': emails.length - distinct,
        'duplicate delivery rows': dup[0]!.n,
      },
    });
  } finally {
    await smtp.stop();
    await db.end();
  }
}

async function main() {
  if (process.argv.includes('--serve')) return serve();
  const [pgServer, redis] = await Promise.all([
    startPostgres({ settings: { max_connections: '200' } }),
    startRedis(),
  ]);
  try {
    if (!process.argv.includes('--fanout-only'))
      await apiBench(pgServer.url, redis.url, { postgres: pgServer.pid, redis: redis.pid });
    if (!process.argv.includes('--api-only')) await fanOutBench(pgServer.url);
  } finally {
    await Promise.all([pgServer.stop(), redis.stop()]);
  }
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
