// Device ↔ cloud sync end to end on real Mosquitto (generated password file + ACL), PostgreSQL and
// Kafka: a week offline, alerts first, identity checks, bad input, version rules, commands down.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { brokerAcl } from '../cloud-sync/broker/auth.js';
import type { CloudHandle } from '../cloud-sync/main.js';
import { encode, PROTOCOL_VERSION, upTopic } from '../cloud-sync/protocol/index.js';
import { createLogger } from '../common/log.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';
import { type MosquittoServer, type PostgresServer, startMosquitto } from './harness/index.js';
import {
  type IngestEnv,
  ingestEnv,
  newPool,
  pgCounts,
  type SimDevice,
  simDevice,
  startIngestInProcess,
  startKafkaCollector,
  startSyncServers,
  waitFor,
} from './sync-helpers.js';

const users = {
  'aide-ingest': 'ingest-secret',
  'dev-tls': 'pw-tls',
  'dev-a': 'pw-a',
  'dev-b': 'pw-b',
  'dev-c': 'pw-c',
  'dev-cmd': 'pw-cmd',
};

describe('sync over MQTT', { timeout: 240_000 }, () => {
  let broker: MosquittoServer;
  let db: PostgresServer;
  let ingest: CloudHandle;
  let env: IngestEnv;
  let pool: ReturnType<typeof newPool>;
  let collector: Awaited<ReturnType<typeof startKafkaCollector>>;
  const logLines: string[] = [];
  const devices: SimDevice[] = [];

  before(async () => {
    const servers = await startSyncServers(users);
    ({ broker, pg: db } = servers);
    env = ingestEnv(servers, users, 'flow', { AIDE_KAFKA_PARTITIONS: '3' });
    const sink = new Writable({
      write: (chunk, _e, cb) => {
        logLines.push(chunk.toString());
        cb();
      },
    });
    ingest = await startIngestInProcess(
      { ...env, AIDE_LOG_LEVEL: 'info' },
      { log: createLogger({ level: 'info', destination: sink }), ready: true },
    );
    pool = newPool(db.url);
    collector = await startKafkaCollector(servers.kafka.brokers, env.AIDE_KAFKA_TOPIC_PREFIX);
  });

  after(async () => {
    for (const d of devices) await d.close().catch(() => {});
    await collector?.stop().catch(() => {});
    await ingest?.close();
    await pool?.end();
    await broker?.dispose();
    await db?.dispose();
  });

  test('a week offline with 10,000 changes lands exactly once, in order, in PostgreSQL and Kafka', async () => {
    const dev = simDevice('dev-a', broker.url, { password: users['dev-a'] });
    devices.push(dev);
    const ids = dev.addReadings(10_000);
    assert.equal(dev.outbox.size(), 10_000);
    const t0 = Date.now();
    dev.connect({ batchMax: 500 });
    await waitFor('outbox drained', () => dev.outbox.size() === 0, 120_000);
    const seconds = (Date.now() - t0) / 1000;
    const c = await pgCounts(pool, 'dev-a');
    assert.deepEqual(c, {
      ledger: 10_000,
      distinctLedger: 10_000,
      measurements: 10_000,
      distinctMeasurements: 10_000,
      unpublished: 0,
    });
    await waitFor(
      'kafka has all records',
      () => [...collector.byId.values()].filter((r) => r.deviceId === 'dev-a').length >= 10_000,
      60_000,
    );
    const mine = [...collector.byId.entries()].filter(([, r]) => r.deviceId === 'dev-a');
    assert.equal(mine.length, 10_000);
    assert.deepEqual(new Set(mine.map(([id]) => id)), new Set(ids));
    const seqs = collector.order.get('dev-a')!;
    assert.ok(
      seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
      'Kafka holds the device’s records in outbox order',
    );
    // Received (ledger) order follows the device's sequence too.
    const { rows } = await pool.query(
      'SELECT seq FROM ingested_messages WHERE device_id = $1 ORDER BY received_at, seq',
      ['dev-a'],
    );
    const ledger = rows.map((r) => Number(r.seq));
    assert.deepEqual(
      ledger,
      [...ledger].sort((a, b) => a - b),
    );
    console.log(`# 10,000 offline changes synced in ${seconds.toFixed(1)} s`);
  });

  test('an alert jumps the queue ahead of a catch-up backlog', async () => {
    const dev = simDevice('dev-b', broker.url, { password: users['dev-b'] });
    devices.push(dev);
    dev.addReadings(3000);
    const alertId = randomUUID();
    const msgId = dev.outbox.enqueue(
      'alert',
      {
        id: alertId,
        personId: dev.personId,
        type: 'emergency',
        priority: 2,
        message: 'help',
        at: new Date().toISOString(),
      },
      { priority: 2 },
    );
    dev.connect({ batchMax: 100 });
    await waitFor('outbox drained', () => dev.outbox.size() === 0, 60_000);
    const { rows } = await pool.query(
      `SELECT (SELECT received_at FROM ingested_messages WHERE message_id = $1) AS alert_at,
              (SELECT max(received_at) FROM ingested_messages WHERE device_id = 'dev-b' AND kind = 'measurement') AS last_reading_at`,
      [msgId],
    );
    assert.ok(rows[0].alert_at < rows[0].last_reading_at, 'the alert was stored before the backlog finished');
    assert.equal(
      Number((await pool.query('SELECT count(*) AS n FROM alerts WHERE id = $1', [alertId])).rows[0].n),
      1,
    );
    await waitFor('alert on notification_queue', () =>
      [...collector.byId.values()].some(
        (r) => r.topic.endsWith('notification_queue') && r.deviceId === 'dev-b',
      ),
    );
  });

  test('a device cannot publish as another device: the broker refuses, and ingest drops a forged envelope', async () => {
    const c = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      username: 'dev-c',
      password: users['dev-c'],
      clientId: 'aide-dev-c-x',
    });
    try {
      const forged = (deviceId: string) => ({
        v: PROTOCOL_VERSION,
        id: randomUUID(),
        deviceId,
        seq: 1,
        kind: 'measurement',
        createdAt: new Date().toISOString(),
        payload: {
          id: randomUUID(),
          personId: randomUUID(),
          type: 'heart_rate',
          value: 70,
          unit: 'bpm',
          takenAt: new Date().toISOString(),
          version: 1,
          updatedAt: new Date().toISOString(),
        },
      });
      await assert.rejects(
        c.publishAsync(upTopic('dev-a', 'measurement'), encode(forged('dev-a')), { qos: 1 }),
        /Not authorized/i,
      );
      const before = Number(
        (await pool.query("SELECT count(*) AS n FROM ingested_messages WHERE device_id = 'dev-a'")).rows[0].n,
      );
      // On its own topic, but claiming to be dev-a inside: ingest refuses it.
      const env = forged('dev-a');
      await c.publishAsync(upTopic('dev-c', 'measurement'), encode(env), { qos: 1 });
      await waitFor(
        'ingest logs the refusal',
        () => logLines.some((l) => l.includes('device_mismatch')),
        30_000,
      );
      assert.equal(
        Number(
          (await pool.query('SELECT count(*) AS n FROM ingested_messages WHERE message_id = $1', [env.id]))
            .rows[0].n,
        ),
        0,
      );
      assert.equal(
        Number(
          (await pool.query("SELECT count(*) AS n FROM ingested_messages WHERE device_id = 'dev-a'")).rows[0]
            .n,
        ),
        before,
      );
      // Nor may it read another device's acknowledgements: the subscription is granted but nothing arrives.
      const seen: string[] = [];
      c.on('message', (t) => seen.push(t));
      await c.subscribeAsync('aide/v1/dev-a/#', { qos: 1 });
      const other = await mqtt.connectAsync(broker.url, {
        protocolVersion: 5,
        username: 'dev-a',
        password: users['dev-a'],
        clientId: 'aide-dev-a-probe',
      });
      await other.publishAsync(
        upTopic('dev-a', 'status'),
        encode({
          v: 1,
          id: randomUUID(),
          deviceId: 'dev-a',
          seq: 0,
          kind: 'status',
          createdAt: new Date().toISOString(),
          payload: { online: true, at: new Date().toISOString() },
        }),
        { qos: 1 },
      );
      await other.endAsync();
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(seen, []);
    } finally {
      await c.endAsync();
    }
  });

  test('malformed, invalid and oversize messages are rejected without logging content and do not block the stream', async () => {
    const secret = 'SECRET-NOTE-7f3a';
    const c = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      username: 'dev-c',
      password: users['dev-c'],
      clientId: 'aide-dev-c-bad',
    });
    const acks: { id: string; status: string; code?: string; fields?: string[] }[] = [];
    c.on('message', (_t, body) => acks.push(...JSON.parse(body.toString()).acks));
    await c.subscribeAsync('aide/v1/dev-c/ack', { qos: 1 });
    const now = new Date().toISOString();
    const env = (payload: unknown, kind = 'measurement') => ({
      v: 1,
      id: randomUUID(),
      deviceId: 'dev-c',
      seq: 1,
      kind,
      createdAt: now,
      payload,
    });
    const good = env({
      id: randomUUID(),
      personId: randomUUID(),
      type: 'heart_rate',
      value: 71,
      unit: 'bpm',
      takenAt: now,
      version: 1,
      updatedAt: now,
    });
    const invalid = env({
      id: randomUUID(),
      personId: randomUUID(),
      type: 'blood_pressure',
      value: { systolic: 'high' },
      unit: 'mmHg',
      takenAt: now,
      note: secret,
      version: 1,
      updatedAt: now,
    });
    const future = { ...env({ anything: secret }, 'measurement'), v: PROTOCOL_VERSION + 1 };
    const unknownKind = env({ id: randomUUID(), note: secret }, 'mood');
    try {
      await c.publishAsync(upTopic('dev-c', 'measurement'), Buffer.from(`{not json ${secret}`), { qos: 1 });
      // Just over the protocol limit: ingest drops it. Far over: the broker never delivers it to ingest
      // (ingest announces its maximum packet size).
      await c.publishAsync(
        upTopic('dev-c', 'measurement'),
        Buffer.from(JSON.stringify({ pad: secret.repeat(16_450) })),
        { qos: 1 },
      );
      await c.publishAsync(
        upTopic('dev-c', 'measurement'),
        Buffer.from(JSON.stringify({ pad: secret.repeat(100_000) })),
        { qos: 1 },
      );
      await c.publishAsync(upTopic('dev-c', 'measurement'), encode(invalid), { qos: 1 });
      await c.publishAsync(upTopic('dev-c', 'measurement'), encode(future), { qos: 1 });
      await c.publishAsync(upTopic('dev-c', 'mood'), encode(unknownKind), { qos: 1 });
      await c.publishAsync(upTopic('dev-c', 'measurement'), encode(good), { qos: 1 });
      // All four, by id: a count alone could be reached early by a redelivered acknowledgement.
      await waitFor(
        'four acknowledgements',
        () => [good, invalid, future, unknownKind].every((e) => acks.some((a) => a.id === e.id)),
        60_000,
      );
      const byId = new Map(acks.map((a) => [a.id, a]));
      assert.equal(byId.get(good.id)?.status, 'stored');
      assert.equal(byId.get(invalid.id)?.status, 'rejected');
      assert.ok(
        byId.get(invalid.id)?.fields?.some((f) => f.startsWith('payload.value')),
        'the rejection names the field',
      );
      assert.equal(
        byId.get(future.id)?.status,
        'deferred',
        'a newer protocol version is kept by the device for later',
      );
      assert.equal(byId.get(unknownKind.id)?.status, 'deferred');
      assert.equal(
        Number(
          (await pool.query('SELECT count(*) AS n FROM ingested_messages WHERE message_id = $1', [good.id]))
            .rows[0].n,
        ),
        1,
      );
      await waitFor(
        'drops logged',
        () => logLines.some((l) => l.includes('oversize')) && logLines.some((l) => l.includes('not_json')),
        30_000,
      );
      assert.ok(!logLines.join('').includes(secret), 'no message content in the logs');
      const metrics = await (await fetch(`${ingest.url}/metrics`)).text();
      assert.match(metrics, /aide_ingest_dropped_total\{reason="oversize"\} 1/);
      assert.match(metrics, /aide_ingest_dropped_total\{reason="not_json"\} 1/);
    } finally {
      await c.endAsync();
    }
  });

  test('a newer device talking to this cloud: unknown kinds wait in the outbox while the rest flows', async () => {
    const dev = simDevice('dev-c', broker.url, { password: users['dev-c'] });
    devices.push(dev);
    dev.outbox.enqueue('mood', { id: randomUUID(), score: 3 });
    dev.addReadings(50);
    dev.connect();
    await waitFor(
      'readings stored',
      async () =>
        Number(
          (await pool.query("SELECT count(*) AS n FROM measurements WHERE device_id = 'dev-c'")).rows[0].n,
        ) >= 51,
    );
    await waitFor('only the unknown kind is left', () => dev.outbox.size() === 1);
    assert.equal(dev.outbox.peek(1)[0]!.kind, 'mood');
  });

  test('over TLS with the CA from configuration and per-device credentials', async () => {
    const tlsBroker = await startMosquitto({
      tls: true,
      users,
      acl: brokerAcl([{ username: 'aide-ingest', role: 'ingest' }]),
    });
    const tlsIngest = await startIngestInProcess({
      ...env,
      MQTT_URL: tlsBroker.url,
      AIDE_MQTT_CA_FILE: tlsBroker.caFile,
    });
    const dev = simDevice('dev-tls', tlsBroker.url, { password: users['dev-tls'], caFile: tlsBroker.caFile });
    devices.push(dev);
    try {
      assert.match(tlsBroker.url, /^mqtts:/);
      dev.addReadings(20);
      dev.connect();
      await waitFor('synced over TLS', () => dev.outbox.size() === 0, 60_000);
      assert.equal((await pgCounts(pool, 'dev-tls')).measurements, 20);
      // A wrong password is refused.
      await assert.rejects(
        mqtt.connectAsync(tlsBroker.url, {
          protocolVersion: 5,
          username: 'dev-tls',
          password: 'wrong',
          ca: readFileSync(tlsBroker.caFile!),
          reconnectPeriod: 0,
        }),
        /Bad User Name or Password|Not authorized/i,
      );
    } finally {
      await dev.close();
      devices.splice(devices.indexOf(dev), 1);
      await tlsIngest.close();
      await tlsBroker.dispose();
    }
  });

  test('caregiver commands travel down, apply once and by version, and are acknowledged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aide-sync-cmd-'));
    let device: DeviceHandle | undefined;
    try {
      device = await startDevice(
        loadDeviceConfig({
          env: {
            AIDE_DATA_DIR: dir,
            AIDE_PORT: '0',
            AIDE_LOG_LEVEL: 'silent',
            AIDE_DEVICE_ID: 'dev-cmd',
            MQTT_URL: broker.url,
            AIDE_MQTT_USERNAME: 'dev-cmd',
            AIDE_MQTT_PASSWORD: users['dev-cmd'],
            AIDE_TIMEZONE: 'Europe/London',
          },
        }),
      );
      const store = device.ctx.store;
      const personId = store.people.list()[0]!.id;
      await waitFor(
        'device connected',
        () => device!.ctx.readiness.snapshot().subsystems.sync?.detail === 'connected',
      );
      const medId = randomUUID();
      const now = new Date().toISOString();
      const med = (version: number, name: string) => ({
        id: medId,
        personId,
        name,
        times: ['08:00'],
        startDate: '2026-01-01',
        active: true,
        version,
        updatedAt: now,
      });
      const cmd = async (kind: string, payload: unknown) => {
        const id = randomUUID();
        await pool.query(
          'INSERT INTO device_commands (id, device_id, kind, payload) VALUES ($1, $2, $3, $4)',
          [id, 'dev-cmd', kind, JSON.stringify(payload)],
        );
        return id;
      };
      const result = async (id: string) =>
        waitFor(
          `ack of ${id}`,
          async () =>
            (
              await pool.query('SELECT result FROM device_commands WHERE id = $1 AND acked_at IS NOT NULL', [
                id,
              ])
            ).rows[0]?.result,
          60_000,
        );

      const c1 = await cmd('medicine_upsert', med(5, 'Metformin'));
      assert.equal(await result(c1), 'applied');
      assert.equal(store.medications.get(medId).name, 'Metformin');
      const c2 = await cmd('medicine_upsert', med(3, 'Older name'));
      assert.equal(await result(c2), 'stale');
      assert.equal(
        store.medications.get(medId).name,
        'Metformin',
        'an older command never overwrites a newer one',
      );
      // The same command again (a re-send) applies nothing twice.
      await pool.query(
        'UPDATE device_commands SET acked_at = NULL, result = NULL, next_attempt_at = now() WHERE id = $1',
        [c1],
      );
      assert.equal(await result(c1), 'duplicate');
      const c3 = await cmd('medicine_delete', { ...med(7, 'Metformin'), deleted: true });
      assert.equal(await result(c3), 'applied');
      assert.throws(() => store.medications.get(medId), /does not exist/);
      const c4 = await cmd('settings', { version: 1, values: { volume: 7 } });
      assert.equal(await result(c4), 'applied');
      // The device's own change record travels back up: the cloud's copy shows the deletion.
      await waitFor(
        'medicine deleted in the cloud',
        async () =>
          (await pool.query('SELECT deleted FROM medicines WHERE id = $1', [medId])).rows[0]?.deleted ===
          true,
      );
    } finally {
      await device?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
