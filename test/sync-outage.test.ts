// Outages of what ingest depends on, mid-stream: the MQTT broker restarts, PostgreSQL is stopped for
// 20 s, Kafka (a private broker) is stopped for 20 s. Readiness names what is down; afterwards every
// change is in PostgreSQL and Kafka exactly once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CloudHandle } from '../cloud-sync/main.js';
import {
  getKafka,
  type KafkaServer,
  type MosquittoServer,
  type PostgresServer,
  quick,
  startKafka,
  startMosquitto,
  startPostgres,
} from './harness/index.js';
import {
  type IngestEnv,
  newPool,
  pgCounts,
  type SimDevice,
  simDevice,
  sleep,
  startIngestInProcess,
  startKafkaCollector,
  uniquePrefix,
  waitFor,
} from './sync-helpers.js';

describe('outages during sync', { skip: quick && 'AIDE_TEST_QUICK', timeout: 540_000 }, () => {
  let broker: MosquittoServer;
  let db: PostgresServer;
  let kafka: KafkaServer;
  let privateKafka: KafkaServer | undefined;
  let env: IngestEnv;
  let ingest: CloudHandle;
  let pool: ReturnType<typeof newPool>;
  const devices: SimDevice[] = [];

  before(async () => {
    // One at a time: started in parallel, two of them could be handed the same free port.
    db = await startPostgres();
    broker = await startMosquitto();
    kafka = await getKafka();
    env = {
      DATABASE_URL: db.url,
      MQTT_URL: broker.url,
      KAFKA_BROKERS: kafka.brokers.join(','),
      AIDE_KAFKA_TOPIC_PREFIX: uniquePrefix('outage'),
      AIDE_KAFKA_PARTITIONS: '3',
    };
    ingest = await startIngestInProcess(env);
    await waitFor('ingest ready', async () => (await fetch(`${ingest.url}/readyz`)).ok, 60_000);
    pool = newPool(db.url);
  });

  after(async () => {
    for (const d of devices) await d.close().catch(() => {});
    await ingest?.close();
    await pool?.end().catch(() => {});
    await Promise.all([broker?.dispose(), db?.dispose(), privateKafka?.dispose()]);
  });

  const readyz = async () => {
    const res = await fetch(`${ingest.url}/readyz`);
    return { status: res.status, body: JSON.stringify(await res.json()) };
  };

  async function stream(deviceId: string, total: number) {
    const dev = simDevice(deviceId, broker.url);
    devices.push(dev);
    const ids = new Set(dev.addReadings(total));
    dev.connect({ batchMax: 10, ackTimeoutMs: 2000 });
    await waitFor('stream under way', () => dev.outbox.size() < total - 100, 30_000, 20);
    return { dev, ids };
  }

  async function expectExactlyOnce(deviceId: string, ids: Set<string>, dev: SimDevice) {
    await waitFor('outbox drained', () => dev.outbox.size() === 0, 120_000);
    const total = ids.size;
    assert.deepEqual(await pgCounts(pool, deviceId), {
      ledger: total,
      distinctLedger: total,
      measurements: total,
      distinctMeasurements: total,
      unpublished: 0,
    });
    const collector = await startKafkaCollector(kafka.brokers, env.AIDE_KAFKA_TOPIC_PREFIX);
    try {
      await waitFor(
        'kafka has every record',
        () => [...collector.byId.values()].filter((r) => r.deviceId === deviceId).length >= total,
        60_000,
      );
      const mine = [...collector.byId.entries()].filter(([, r]) => r.deviceId === deviceId).map(([id]) => id);
      assert.deepEqual(new Set(mine), ids);
      assert.equal(mine.length, total);
      return collector.raw();
    } finally {
      await collector.stop();
    }
  }

  test('the broker is killed and restarted mid-stream', async () => {
    const { dev, ids } = await stream('out-broker', 2000);
    await broker.kill();
    for (const id of dev.addReadings(300, new Date())) ids.add(id);
    await waitFor(
      'readiness names the broker',
      async () => {
        const r = await readyz();
        return r.status === 503 && r.body.includes('broker');
      },
      30_000,
      50,
    );
    await sleep(2000);
    await broker.restart();
    await expectExactlyOnce('out-broker', ids, dev);
  });

  test('PostgreSQL stopped for 20 s: readiness names the database, nothing lost or doubled', async () => {
    const { dev, ids } = await stream('out-pg', 2000);
    await db.stop();
    // The person keeps using the device during the outage.
    for (const id of dev.addReadings(300, new Date())) ids.add(id);
    await waitFor(
      'readiness names the database',
      async () => {
        const r = await readyz();
        return r.status === 503 && r.body.includes('database');
      },
      60_000,
    );
    await sleep(20_000);
    await db.restart();
    await waitFor('ready again', async () => (await readyz()).status === 200, 60_000);
    await expectExactlyOnce('out-pg', ids, dev);
  });

  test('Kafka stopped for 20 s: readiness names kafka, nothing lost or doubled', async () => {
    // The shared broker must not be stopped: this test moves ingest onto a private one.
    await ingest.close();
    privateKafka = await startKafka();
    kafka = privateKafka;
    env = { ...env, KAFKA_BROKERS: kafka.brokers.join(',') };
    ingest = await startIngestInProcess(env);
    await waitFor(
      'ingest ready on the private Kafka',
      async () => (await fetch(`${ingest.url}/readyz`)).ok,
      60_000,
    );
    const { dev, ids } = await stream('out-kafka', 2000);
    await kafka.stop();
    for (const id of dev.addReadings(300, new Date())) ids.add(id);
    await waitFor(
      'readiness names kafka',
      async () => {
        const r = await readyz();
        return r.status === 503 && r.body.includes('kafka');
      },
      60_000,
    );
    await sleep(20_000);
    const queued = dev.outbox.size();
    assert.ok(queued > 0, 'changes wait on the device while Kafka is down');
    await kafka.restart();
    await waitFor('ready again', async () => (await readyz()).status === 200, 60_000);
    const raw = await expectExactlyOnce('out-kafka', ids, dev);
    console.log(`# ${queued} changes waited on the device during the Kafka outage; Kafka raw records ${raw}`);
  });
});
