// Caregiver API benchmark (issue 9). Run: npm run bench -- api   (BENCH_SECONDS, BENCH_ALERTS to scale)
// 1. Authenticated GET /v1/people/{id}/measurements (JWT verify + Redis rate limit + object-level access
//    check + audit record) beside the same query served with auth and rate limiting off, in one server
//    process, same pool, same run.
// 2. Notification fan-out: BENCH_ALERTS alerts queued in Kafka, `aide cloud notify` delivering each to
//    two caregivers (in-app + email to a real SMTP server): rate, all delivered, duplicates.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { listMeasurements } from '../cloud-sync/api/data/records.js';
import { createPairingCode } from '../cloud-sync/api/people/pairing.js';
import { loadCloudConfig } from '../cloud-sync/config.js';
import { migrateCloudDb } from '../cloud-sync/db/migrate.js';
import { startCloudService } from '../cloud-sync/main.js';
import { systemClock } from '../common/clock.js';
import { createHttpServer } from '../common/http.js';
import { silentLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { createReadiness } from '../common/readiness.js';
import { addDeviceWithPerson, call, signUp } from '../test/caregiver-helpers.js';
import { startSmtp } from '../test/caregiver-receivers.js';
import { freePort, getKafka, startPostgres, startRedis } from '../test/harness/index.js';

const duration = Number(process.env.BENCH_SECONDS ?? 10);
const alertsToSend = Number(process.env.BENCH_ALERTS ?? 100_000);

/** Child mode: the API and the no-auth baseline in one process, so both get the same CPU. */
async function serve() {
  const env = JSON.parse(process.env.BENCH_ENV!);
  const api = await startCloudService('api', loadCloudConfig({ env }), { log: silentLogger });
  await api.ctx.databaseReady;
  const bare = createHttpServer({
    log: silentLogger,
    metrics: createMetrics({ defaultMetrics: false }),
    readiness: createReadiness(),
  });
  bare.get('/bench/people/:id/measurements', async (req) => {
    const id = (req.params as { id: string }).id;
    return { measurements: await listMeasurements(api.ctx.pool, id, { limit: 20 }) };
  });
  await bare.listen({ host: '127.0.0.1', port: 0 });
  process.send!({
    api: api.url,
    bare: `http://127.0.0.1:${(bare.server.address() as { port: number }).port}`,
  });
}

async function load(url: string, headers: Record<string, string> = {}, connections = 10) {
  const r = await autocannon({ url, connections, duration, headers });
  return {
    reqPerSec: Math.round(r.requests.average),
    p50ms: r.latency.p50,
    p99ms: r.latency.p99,
    errors: r.errors + r.non2xx,
  };
}

async function apiBench(pgUrl: string, redisUrl: string) {
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
    execArgv: ['--import', 'tsx'],
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
    const check = await call(urls.api, 'GET', path, { token: u.accessToken });
    if (check.status !== 200 || check.body.measurements.length !== 20)
      throw new Error(`bench setup: ${check.status}`);
    // Warm up both, then measure alternately.
    await autocannon({
      url: `${urls.bare}/bench/people/${person}/measurements`,
      connections: 10,
      duration: 2,
    });
    await autocannon({
      url: urls.api + path,
      connections: 10,
      duration: 2,
      headers: { authorization: `Bearer ${u.accessToken}` },
    });
    const bare = await load(`${urls.bare}/bench/people/${person}/measurements`);
    const authed = await load(urls.api + path, { authorization: `Bearer ${u.accessToken}` });
    console.log(
      `\n== GET measurements (20 rows of 2,000), 10 connections, ${duration}s each, one server process`,
    );
    console.table({
      'no auth, no rate limit (baseline)': bare,
      'JWT + Redis rate limit + access check + audit': authed,
    });
    console.log(
      `auth + rate limit cost at p50: ${(authed.p50ms - bare.p50ms).toFixed(2)} ms (target ≤ 1 ms)`,
    );
    console.log(
      `authenticated throughput: ${Math.round((100 * authed.reqPerSec) / bare.reqPerSec)}% of baseline (target ≥ 70%)`,
    );
    // One connection: no queueing, so the p50 difference is the work auth adds to one request.
    const bare1 = await load(`${urls.bare}/bench/people/${person}/measurements`, {}, 1);
    const authed1 = await load(urls.api + path, { authorization: `Bearer ${u.accessToken}` }, 1);
    console.log(`\n== the same, 1 connection (latency without queueing)`);
    console.table({
      'no auth, no rate limit (baseline)': bare1,
      'JWT + Redis rate limit + access check + audit': authed1,
    });
    console.log(`auth + rate limit cost at p50, unloaded: ${(authed1.p50ms - bare1.p50ms).toFixed(2)} ms`);
  } finally {
    child.kill('SIGTERM');
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
    if (!process.argv.includes('--fanout-only')) await apiBench(pgServer.url, redis.url);
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
