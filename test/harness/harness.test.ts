// Proves each harness helper starts a real server that clients can use, and that
// stop / kill / restart behave like the faults later tests will simulate.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { type EachMessagePayload, Kafka, logLevel } from 'kafkajs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pg from 'pg';
import {
  canConnect,
  getKafka,
  quick,
  startKafka,
  startMosquitto,
  startPostgres,
  startRedis,
} from './index.js';

function pidAlive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z' && state !== undefined;
  } catch {
    return false;
  }
}

/** Resolves with the first `count` messages `client` receives. */
function collect(
  client: MqttClient,
  count: number,
  timeoutMs = 30_000, // room for a loaded CI machine; it resolves as soon as the messages are in
): Promise<{ topic: string; body: string }[]> {
  const got: { topic: string; body: string }[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${count} messages`)), timeoutMs);
    client.on('message', (topic, payload) => {
      got.push({ topic, body: payload.toString() });
      if (got.length === count) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

async function connectMqtt(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...opts });
}

describe('startMosquitto', () => {
  test('QoS 1 publish reaches a subscriber, and a persistent session survives a broker restart', async () => {
    const broker = await startMosquitto();
    after(() => broker.dispose());
    assert.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);

    const sub = await connectMqtt(broker.url, { clientId: 'sub-1', clean: false });
    await sub.subscribeAsync('aide/dev1/#', { qos: 1 });
    const pub = await connectMqtt(broker.url, { clientId: 'pub-1' });
    const live = collect(sub, 1);
    await pub.publishAsync('aide/dev1/reading', 'r1', { qos: 1 });
    assert.deepEqual(await live, [{ topic: 'aide/dev1/reading', body: 'r1' }]);
    await sub.endAsync();

    // Queued for the offline persistent session, then the broker restarts on the same port and data.
    await pub.publishAsync('aide/dev1/reading', 'r2', { qos: 1 });
    await pub.endAsync(true);
    const oldPid = broker.pid;
    await broker.restart();
    assert.notEqual(broker.pid, oldPid);
    assert.equal(pidAlive(oldPid), false);

    const again = mqtt.connect(broker.url, { clientId: 'sub-1', clean: false, reconnectPeriod: 0 });
    const queued = collect(again, 1);
    assert.deepEqual(await queued, [{ topic: 'aide/dev1/reading', body: 'r2' }]);
    await again.endAsync();
  });

  test('kill() drops connections at once and restart() accepts them again', async () => {
    const broker = await startMosquitto();
    after(() => broker.dispose());
    const client = await connectMqtt(broker.url);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await broker.kill();
    await closed;
    assert.equal(await canConnect(broker.port), false);
    await broker.restart();
    const back = await connectMqtt(broker.url);
    await back.endAsync();
    await client.endAsync(true);
  });

  test("TLS with passwords: wrong password refused, ACL denies other devices' topics", async () => {
    const broker = await startMosquitto({
      tls: true,
      users: { 'dev-a': 'secret-a', cloud: 'secret-cloud' },
      acl: ['user cloud', 'topic readwrite aide/#', '', 'pattern readwrite aide/%u/#'].join('\n'),
    });
    after(() => broker.dispose());
    assert.match(broker.url, /^mqtts:\/\//);
    const ca = readFileSync(broker.caFile!);

    await assert.rejects(
      connectMqtt(broker.url, { ca, username: 'dev-a', password: 'wrong' }),
      /Not authorized|Bad user/i,
    );
    await assert.rejects(
      connectMqtt(broker.url, { ca }),
      /Not authorized/i,
      'anonymous is off once users exist',
    );
    await assert.rejects(
      connectMqtt(broker.url, { username: 'dev-a', password: 'secret-a' }),
      /self[- ]signed|unable to verify|certificate/i,
      'the server certificate is only trusted with the generated CA',
    );

    const cloud = await connectMqtt(broker.url, {
      ca,
      username: 'cloud',
      password: 'secret-cloud',
      protocolVersion: 5,
    });
    await cloud.subscribeAsync('aide/#', { qos: 1, nl: true }); // no-local: not its own commands
    const dev = await connectMqtt(broker.url, {
      ca,
      username: 'dev-a',
      password: 'secret-a',
      protocolVersion: 5,
    });

    // Mosquitto 2 grants the subscription but never delivers what the ACL forbids reading.
    await dev.subscribeAsync(['aide/dev-b/#', 'aide/dev-a/#'], { qos: 1 });
    const devGot = collect(dev, 1);
    await cloud.publishAsync('aide/dev-b/cmd', 'for-b', { qos: 1 });
    await cloud.publishAsync('aide/dev-a/cmd', 'for-a', { qos: 1 });
    assert.deepEqual(await devGot, [{ topic: 'aide/dev-a/cmd', body: 'for-a' }], 'dev-a cannot read dev-b');

    const received = collect(cloud, 1);
    await assert.rejects(dev.publishAsync('aide/dev-b/reading', 'forged', { qos: 1 }), /Not authorized|135/i);
    await dev.publishAsync('aide/dev-a/reading', 'own', { qos: 1 });
    assert.deepEqual(
      await received,
      [{ topic: 'aide/dev-a/reading', body: 'own' }],
      'only its own topic arrives',
    );
    await Promise.all([dev.endAsync(), cloud.endAsync()]);
  });

  test('mutual TLS: a client certificate is required and its CN becomes the username', async () => {
    const broker = await startMosquitto({ tls: { requireClientCert: true, useIdentityAsUsername: true } });
    after(() => broker.dispose());
    const ca = readFileSync(broker.caFile!);
    await assert.rejects(connectMqtt(broker.url, { ca }));
    const cert = await broker.issueClientCert!('device-7');
    const client = await connectMqtt(broker.url, {
      ca,
      cert: readFileSync(cert.certFile),
      key: readFileSync(cert.keyFile),
    });
    await client.endAsync();
    // The plain listener stays available for cloud-side workers on loopback.
    const plain = await connectMqtt(broker.plainUrl);
    await plain.endAsync();
  });
});

describe('startPostgres', () => {
  test('committed rows survive kill -9 and restart; uncommitted ones do not', async () => {
    const db = await startPostgres();
    after(() => db.dispose());
    assert.match(db.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/aide_test$/);

    const c1 = new pg.Client({ connectionString: db.url });
    await c1.connect();
    await c1.query('CREATE TABLE readings (id int PRIMARY KEY, systolic int NOT NULL)');
    await c1.query('INSERT INTO readings VALUES (1, 120), (2, 135)');
    const c2 = new pg.Client({ connectionString: db.url });
    await c2.connect();
    c1.on('error', () => {});
    c2.on('error', () => {});
    await c2.query('BEGIN');
    await c2.query('INSERT INTO readings VALUES (3, 999)');

    const oldPid = db.pid;
    await db.kill();
    assert.equal(pidAlive(oldPid), false);
    await db.restart();

    const c3 = new pg.Client({ connectionString: db.url });
    await c3.connect();
    const { rows } = await c3.query('SELECT id, systolic FROM readings ORDER BY id');
    assert.deepEqual(rows, [
      { id: 1, systolic: 120 },
      { id: 2, systolic: 135 },
    ]);
    await c3.end();
    await Promise.allSettled([c1.end(), c2.end()]);
  });

  test('createDatabase gives an isolated database on the same server', async () => {
    const db = await startPostgres({ database: 'aide_a' });
    after(() => db.dispose());
    const other = await db.createDatabase('aide_b');
    assert.equal(other, db.url.replace(/aide_a$/, 'aide_b'));
    const c = new pg.Client({ connectionString: other });
    await c.connect();
    const { rows } = await c.query('SELECT current_database() AS name');
    assert.equal(rows[0].name, 'aide_b');
    await c.end();
    await assert.rejects(db.createDatabase('bad name;'), /database must match/);
  });
});

describe('startRedis', () => {
  test('set/get works, kill() makes it unreachable, restart() serves again', async () => {
    const redis = await startRedis();
    after(() => redis.dispose());
    const client = new Redis(redis.url, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: true,
    });
    client.on('error', () => {});
    await client.connect();
    await client.set('dose:1', 'taken');
    assert.equal(await client.get('dose:1'), 'taken');
    await redis.kill();
    await assert.rejects(client.get('dose:1'));
    client.disconnect();

    await redis.restart();
    const again = new Redis(redis.url, { lazyConnect: true });
    await again.connect();
    assert.equal(await again.get('dose:1'), null, 'no persistence: a restart starts empty');
    await again.set('k', 'v');
    assert.equal(await again.get('k'), 'v');
    again.disconnect();
  });
});

describe('server cleanup', () => {
  test('a test process that exits without dispose() leaves no server running', async () => {
    const script = [
      `import { startRedis } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};`,
      'const r = await startRedis();',
      'console.log(JSON.stringify({ pid: r.pid, dir: r.dir }));',
      'process.exit(3);',
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url), // where `--import tsx` resolves
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 3);
    const { pid, dir } = JSON.parse(out.trim());
    const deadline = Date.now() + 15_000;
    while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(pidAlive(pid), false, `redis pid ${pid} outlived its test process`);
    assert.throws(() => readFileSync(`${dir}/redis.log`), /ENOENT/, 'its temp folder is removed');
  });
});

/** Consumes `count` records as group `groupId`, commits their offsets, and leaves the group. */
async function consumeAll(kafka: Kafka, groupId: string, topic: string, count: number) {
  const consumer = kafka.consumer({ groupId });
  const got: { key: string; value: string; partition: number }[] = [];
  const next = new Map<number, bigint>(); // partition -> offset after the last record seen
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      // A group's first join waits out the broker's initial rebalance delay, and a just-restarted broker
      // elects leaders first: slow on a loaded machine, so wait long (it resolves at the last record).
      const timer = setTimeout(() => reject(new Error(`consumed ${got.length} of ${count}`)), 90_000);
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ message, partition }: EachMessagePayload) => {
            got.push({ key: String(message.key), value: String(message.value), partition });
            next.set(partition, BigInt(message.offset) + 1n);
            if (got.length === count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await consumer.commitOffsets(
      [...next].map(([partition, offset]) => ({ topic, partition, offset: String(offset) })),
    );
  } finally {
    await consumer.disconnect();
  }
  return got;
}

describe('Kafka 4.3.1 with kafkajs', () => {
  test('idempotent produce, consumer-group consume with per-key order, committed offsets, transactions', async () => {
    const broker = await getKafka();
    assert.match(broker.bootstrap, /^127\.0\.0\.1:\d+$/);
    await assert.rejects(broker.kill(), /not allowed/);
    const kafka = new Kafka({
      clientId: 'harness-test',
      brokers: broker.brokers,
      logLevel: logLevel.NOTHING,
    });
    const topic = `harness-${process.pid}-${Date.now()}`;
    const admin = kafka.admin();
    after(() => admin.disconnect());
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    after(() => producer.disconnect());
    await producer.connect();
    const messages = ['dev-1', 'dev-2', 'dev-3'].flatMap((key) =>
      [0, 1, 2].map((n) => ({ key, value: `${key}#${n}` })),
    );
    await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();

    const group = `${topic}-g`;
    const got = await consumeAll(kafka, group, topic, messages.length);
    for (const key of ['dev-1', 'dev-2', 'dev-3']) {
      const mine = got.filter((m) => m.key === key);
      assert.deepEqual(
        mine.map((m) => m.value),
        [`${key}#0`, `${key}#1`, `${key}#2`],
        `order kept for ${key}`,
      );
      assert.equal(new Set(mine.map((m) => m.partition)).size, 1, `${key} stays on one partition`);
    }
    const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const committed = offsets[0]!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0); // -1: none
    assert.equal(committed, messages.length, 'the group committed every offset');

    const tx = kafka.producer({ transactionalId: `${topic}-tx`, idempotent: true, maxInFlightRequests: 1 });
    after(() => tx.disconnect());
    await tx.connect();
    const t1 = await tx.transaction();
    await t1.send({ topic, messages: [{ key: 'dev-1', value: 'aborted' }] });
    await t1.abort();
    const t2 = await tx.transaction();
    await t2.send({ topic, messages: [{ key: 'dev-1', value: 'committed' }] });
    await t2.commit();
    await tx.disconnect();
    // The same group resumes after its committed offsets: only the committed transaction's record.
    const more = await consumeAll(kafka, group, topic, 1);
    assert.deepEqual(
      more.map((m) => m.value),
      ['committed'],
    );
    await admin.deleteTopics({ topics: [topic] });
  });

  test('a private broker keeps acknowledged records across kill -9 and restart', {
    skip: quick && 'AIDE_TEST_QUICK',
  }, async () => {
    const started = Date.now();
    const broker = await startKafka();
    const startMs = Date.now() - started;
    after(() => broker.dispose());
    console.log(`# private Kafka ${broker.bootstrap} ready in ${startMs} ms`);
    const kafka = new Kafka({
      clientId: 'harness-fault',
      brokers: broker.brokers,
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    after(() => producer.disconnect());
    await producer.connect();
    await producer.send({ topic: 'events', acks: -1, messages: [{ key: 'd', value: 'before-crash' }] });
    await producer.disconnect();

    await broker.kill();
    assert.equal(await canConnect(broker.port), false);
    await broker.restart();
    const got = await consumeAll(kafka, 'after-crash', 'events', 1);
    assert.deepEqual(
      got.map((m) => m.value),
      ['before-crash'],
    );
  });
});
