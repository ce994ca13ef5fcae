// Ingest workers are crash-only: kill -9 them during a catch-up burst, again and again, and run two
// side by side; every change still lands exactly once in PostgreSQL and once (after de-duplication by
// message id, as every consumer does) in Kafka.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type MosquittoServer, type PostgresServer, quick } from './harness/index.js';
import { killAllAide } from './support/spawn-aide.js';
import {
  type IngestEnv,
  ingestEnv,
  newPool,
  pgCounts,
  type SimDevice,
  simDevice,
  sleep,
  spawnIngest,
  startKafkaCollector,
  startSyncServers,
  waitFor,
} from './sync-helpers.js';

const users: Record<string, string> = { 'aide-ingest': 'ingest-secret' };
for (let i = 0; i < 6; i++) users[`crash-${i}`] = `pw-${i}`;

describe('ingest worker crashes', { skip: quick && 'AIDE_TEST_QUICK', timeout: 300_000 }, () => {
  let broker: MosquittoServer;
  let db: PostgresServer;
  let env: IngestEnv;
  let brokers: string[];
  let pool: ReturnType<typeof newPool>;
  const devices: SimDevice[] = [];

  before(async () => {
    const servers = await startSyncServers(users);
    ({ broker, pg: db } = servers);
    brokers = servers.kafka.brokers;
    env = ingestEnv(servers, users, 'crash', { AIDE_KAFKA_PARTITIONS: '3' });
    pool = newPool(db.url);
  });

  after(async () => {
    killAllAide();
    for (const d of devices) await d.close().catch(() => {});
    await pool?.end();
    await broker?.dispose();
    await db?.dispose();
  });

  test('kill -9 the ingest worker 20 times during a catch-up burst: exact counts, no duplicates', async () => {
    const dev = simDevice('crash-0', broker.url, { password: users['crash-0'] });
    devices.push(dev);
    // 4,000 queued to start with; the device keeps recording during the catch-up, so however fast this
    // machine is, every kill lands while a backlog is being sent.
    const ids = new Set(dev.addReadings(4000));
    // Small batches and a short ack timeout so the burst spans many worker lives.
    dev.connect({ batchMax: 10, ackTimeoutMs: 1500 });
    let kills = 0;
    while (kills < 20) {
      const worker = await spawnIngest(env);
      // Killed while it works: after it is ready (connected to all three), within its first second.
      await waitFor('worker ready', async () => (await fetch(`${worker.url}/readyz`)).ok, 60_000, 50);
      await sleep(100 + Math.random() * 700);
      assert.ok(dev.outbox.size() > 0, 'the kill lands during catch-up');
      worker.child.kill('SIGKILL');
      await worker.exited;
      kills += 1;
      if (dev.outbox.size() < 1000) for (const id of dev.addReadings(1000, new Date())) ids.add(id);
    }
    const total = ids.size;
    const remaining = dev.outbox.size();
    const last = await spawnIngest(env);
    await waitFor('outbox drained', () => dev.outbox.size() === 0, 120_000);
    const c = await pgCounts(pool, 'crash-0');
    assert.deepEqual(c, {
      ledger: total,
      distinctLedger: total,
      measurements: total,
      distinctMeasurements: total,
      unpublished: 0,
    });
    const collector = await startKafkaCollector(brokers, env.AIDE_KAFKA_TOPIC_PREFIX);
    try {
      await waitFor(
        'kafka has every record',
        () => [...collector.byId.values()].filter((r) => r.deviceId === 'crash-0').length >= total,
        60_000,
      );
      const mine = [...collector.byId.entries()]
        .filter(([, r]) => r.deviceId === 'crash-0')
        .map(([id]) => id);
      assert.equal(mine.length, total);
      assert.deepEqual(new Set(mine), ids);
      const seqs = collector.order.get('crash-0')!;
      assert.ok(
        seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
        'per-device order kept in Kafka',
      );
      console.log(
        `# ${kills} kills with ${remaining} of ${total} still queued at the last kill; raw Kafka records read ${collector.raw()} for ${collector.byId.size} distinct`,
      );
    } finally {
      await collector.stop();
      last.child.kill('SIGTERM');
      await last.exited;
    }
  });

  test('two workers share the load; one is killed and the other carries on', async () => {
    const [w1, w2] = await Promise.all([spawnIngest(env), spawnIngest(env)]);
    const total = 600;
    const sims = [1, 2, 3, 4, 5].map((i) =>
      simDevice(`crash-${i}`, broker.url, { password: users[`crash-${i}`] }),
    );
    devices.push(...sims);
    await waitFor(
      'both workers ready',
      async () => (await fetch(`${w1.url}/readyz`)).ok && (await fetch(`${w2.url}/readyz`)).ok,
      60_000,
    );
    for (const d of sims) {
      d.addReadings(total);
      d.connect({ batchMax: 20, ackTimeoutMs: 2000 });
    }
    const stored = async (url: string) => {
      const m = (await (await fetch(`${url}/metrics`)).text()).match(
        /aide_ingest_messages_total\{outcome="stored"\} (\d+)/,
      );
      return Number(m?.[1] ?? 0);
    };
    await waitFor(
      'both workers stored some',
      async () => (await stored(w1.url)) > 0 && (await stored(w2.url)) > 0,
      60_000,
      100,
    );
    const shares = [await stored(w1.url), await stored(w2.url)];
    w1.child.kill('SIGKILL');
    await w1.exited;
    await waitFor('all outboxes drained', () => sims.every((d) => d.outbox.size() === 0), 120_000);
    for (const d of sims) {
      assert.deepEqual(await pgCounts(pool, d.deviceId), {
        ledger: total,
        distinctLedger: total,
        measurements: total,
        distinctMeasurements: total,
        unpublished: 0,
      });
    }
    console.log(
      `# before the kill: worker 1 stored ${shares[0]}, worker 2 stored ${shares[1]}; afterwards worker 2 alone: ${await stored(w2.url)}`,
    );
    w2.child.kill('SIGTERM');
    await w2.exited;
  });
});
