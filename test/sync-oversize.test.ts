// A record too large for the protocol (MAX_RECORD_BYTES) in the middle of a device's backlog, on real
// Mosquitto, PostgreSQL and Kafka: the records behind it reach PostgreSQL, the large one stays in the
// device's outbox unsent and is reported (metric, readiness, log by message id, never content), and
// ingest answers an older device that does send one with an attributable rejection while storing the
// rest of its batch.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { recordEnvelope } from '../cloud-sync/device/batch.js';
import { createSyncEngine } from '../cloud-sync/device/engine.js';
import type { CloudHandle } from '../cloud-sync/main.js';
import {
  encode,
  envelopeBytes,
  MAX_MESSAGE_BYTES,
  MAX_RECORD_BYTES,
  PROTOCOL_VERSION,
  upTopic,
} from '../cloud-sync/protocol/index.js';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { createReadiness } from '../common/readiness.js';
import type { MosquittoServer, PostgresServer } from './harness/index.js';
import {
  ingestEnv,
  newPool,
  type SimDevice,
  simDevice,
  startIngestInProcess,
  startSyncServers,
  waitFor,
} from './sync-helpers.js';

const users = { 'aide-ingest': 'ingest-secret', 'dev-big': 'pw-big', 'dev-old': 'pw-old' };
const rule = `record:max_bytes_${MAX_RECORD_BYTES}`;
const secret = 'SECRET-MESSAGE-91c2';

/** A missed-dose alert listing `doses` doses: valid for its kind, and past the record limit when long. */
function missedDoseAlert(personId: string, doses: number, priority: 0 | 1) {
  return {
    id: randomUUID(),
    personId,
    type: 'missed_dose',
    priority,
    message: `${secret}: Mum has missed ${doses} doses.`,
    at: new Date().toISOString(),
    data: {
      kind: 'summary',
      doseIds: Array.from({ length: doses }, () => randomUUID()),
      medicationIds: [randomUUID()],
    },
  };
}

function lineSink(lines: string[]) {
  return new Writable({
    write: (chunk, _e, cb) => {
      lines.push(chunk.toString());
      cb();
    },
  });
}

const count = async (pool: ReturnType<typeof newPool>, sql: string, params: unknown[]) =>
  Number((await pool.query(sql, params)).rows[0].n);

describe('records above the protocol’s record limit', { timeout: 240_000 }, () => {
  let broker: MosquittoServer;
  let db: PostgresServer;
  let ingest: CloudHandle;
  let pool: ReturnType<typeof newPool>;
  const ingestLog: string[] = [];
  const devices: SimDevice[] = [];

  before(async () => {
    const servers = await startSyncServers(users);
    ({ broker, pg: db } = servers);
    ingest = await startIngestInProcess(
      { ...ingestEnv(servers, users, 'oversize'), AIDE_LOG_LEVEL: 'info' },
      { log: createLogger({ level: 'info', destination: lineSink(ingestLog) }), ready: true },
    );
    pool = newPool(db.url);
  });

  after(async () => {
    for (const d of devices) await d.close().catch(() => {});
    await ingest?.close();
    await pool?.end();
    await broker?.dispose();
    await db?.dispose();
  });

  test('a too-large record in the middle of a backlog is kept and reported; the records behind it arrive', async () => {
    const dev = simDevice('dev-big', broker.url, { password: users['dev-big'] });
    devices.push(dev);
    const hour = 3600_000;
    const first = dev.addReadings(40, new Date(Date.now() - 9 * 24 * hour));
    // Above even the message limit: alone at the head of a batch it used to block the stream for good.
    const huge = missedDoseAlert(dev.personId, 8000, 0);
    const hugeMsg = dev.outbox.enqueue('alert', huge);
    const second = dev.addReadings(40, new Date(Date.now() - 8 * 24 * hour));
    // On the urgent lane: one just past the record limit, and a normal alert behind it.
    const urgentBig = missedDoseAlert(dev.personId, 1800, 1);
    const urgentBigMsg = dev.outbox.enqueue('alert', urgentBig, { priority: 1 });
    const small = missedDoseAlert(dev.personId, 3, 1);
    dev.outbox.enqueue('alert', small, { priority: 1 });
    const sizes = dev.outbox
      .peek(1000)
      .filter((m) => m.messageId === hugeMsg || m.messageId === urgentBigMsg)
      .map((m) => envelopeBytes(recordEnvelope('dev-big', m)));
    assert.ok(
      sizes.every((n) => n > MAX_RECORD_BYTES) && sizes.some((n) => n > MAX_MESSAGE_BYTES),
      'the test records are past the limits',
    );

    const deviceLog: string[] = [];
    const metrics = createMetrics({ defaultMetrics: false });
    const readiness = createReadiness();
    dev.engine = createSyncEngine({
      url: broker.url,
      deviceId: 'dev-big',
      password: users['dev-big'],
      db: dev.db,
      outbox: dev.outbox,
      clock: systemClock,
      log: createLogger({ level: 'info', destination: lineSink(deviceLog) }),
      metrics,
      readiness,
      batchMax: 25,
      ackTimeoutMs: 3000,
      pollMs: 50,
      heartbeatMs: 0,
    });
    dev.engine.start();

    // Everything else leaves the outbox: only the two large records stay.
    await waitFor('all but the large records acknowledged', () => dev.outbox.size() === 2, 90_000);
    assert.deepEqual(
      new Set(dev.outbox.peek(10).map((m) => m.messageId)),
      new Set([hugeMsg, urgentBigMsg]),
      'the large records are kept, not dropped',
    );
    const readingIds = [...first, ...second];
    assert.equal(
      await count(pool, 'SELECT count(*) AS n FROM ingested_messages WHERE message_id = ANY($1)', [
        readingIds,
      ]),
      80,
      'the readings before and behind the large record are in PostgreSQL',
    );
    assert.equal(
      await count(pool, 'SELECT count(*) AS n FROM measurements WHERE device_id = $1', ['dev-big']),
      80,
    );
    assert.equal(
      await count(pool, 'SELECT count(*) AS n FROM alerts WHERE id = $1', [small.id]),
      1,
      'the alert behind the large urgent one is delivered',
    );
    assert.equal(
      await count(pool, 'SELECT count(*) AS n FROM ingested_messages WHERE message_id = ANY($1)', [
        [hugeMsg, urgentBigMsg],
      ]),
      0,
      'the large records were never sent',
    );
    assert.equal(
      (dev.db.prepare('SELECT count(*) AS n FROM sync_rejected').get() as { n: number }).n,
      0,
      'nothing was rejected and dropped',
    );

    // Visible: a metric, the readiness entry, and a log line per record by id, without its content.
    assert.match(await metrics.registry.metrics(), /aide_sync_outbox_too_large 2/);
    const sync = readiness.snapshot().subsystems.sync!;
    assert.equal(sync.ready, false);
    assert.ok(sync.detail?.includes(`2 change(s) held unsent (${rule})`), sync.detail);
    for (const id of [hugeMsg, urgentBigMsg]) {
      const lines = deviceLog.filter((l) => l.includes(id));
      assert.equal(lines.length, 1, 'logged once');
      assert.ok(lines[0]!.includes(rule));
    }
    assert.ok(!deviceLog.join('').includes(secret), 'no record content in the device log');
    assert.ok(!ingestLog.join('').includes(secret), 'no record content in the ingest log');
    const ingestMetrics = await (await fetch(`${ingest.url}/metrics`)).text();
    assert.doesNotMatch(ingestMetrics, /aide_ingest_dropped_total\{reason="oversize"\}/);
  });

  test('ingest rejects a too-large record of an older device by id and stores the rest of its batch', async () => {
    const c = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      username: 'dev-old',
      password: users['dev-old'],
      clientId: 'aide-dev-old',
    });
    const acks: { id: string; status: string; code?: string; fields?: string[] }[] = [];
    c.on('message', (_t, body) => acks.push(...JSON.parse(body.toString()).acks));
    await c.subscribeAsync('aide/v1/dev-old/ack', { qos: 1 });
    const personId = randomUUID();
    const now = new Date().toISOString();
    let seq = 0;
    const env = (kind: string, payload: unknown) => ({
      v: PROTOCOL_VERSION,
      id: randomUUID(),
      deviceId: 'dev-old',
      seq: ++seq,
      kind,
      createdAt: now,
      payload,
    });
    const reading = () =>
      env('measurement', {
        id: randomUUID(),
        personId,
        type: 'heart_rate',
        value: 70,
        unit: 'bpm',
        takenAt: now,
        version: 1,
        updatedAt: now,
      });
    const before = reading();
    const big = env('alert', missedDoseAlert(personId, 2500, 0));
    const behind = reading();
    const body = encode({ v: PROTOCOL_VERSION, deviceId: 'dev-old', messages: [before, big, behind] });
    assert.ok(envelopeBytes(big) > MAX_RECORD_BYTES && body.byteLength <= MAX_MESSAGE_BYTES);
    try {
      await c.publishAsync(upTopic('dev-old', 'batch'), body, { qos: 1 });
      await waitFor(
        'three acknowledgements',
        () => [before, big, behind].every((e) => acks.some((a) => a.id === e.id)),
        60_000,
      );
      const byId = new Map(acks.map((a) => [a.id, a]));
      assert.equal(byId.get(before.id)?.status, 'stored');
      assert.equal(byId.get(behind.id)?.status, 'stored');
      assert.deepEqual(
        { ...byId.get(big.id) },
        { id: big.id, status: 'rejected', code: 'invalid_argument', fields: [rule] },
      );
      assert.equal(
        await count(pool, 'SELECT count(*) AS n FROM measurements WHERE device_id = $1', ['dev-old']),
        2,
      );
      assert.equal(
        await count(pool, 'SELECT count(*) AS n FROM alerts WHERE device_id = $1', ['dev-old']),
        0,
      );
      assert.ok(!ingestLog.join('').includes(secret), 'no record content in the ingest log');
    } finally {
      await c.endAsync();
    }
  });
});
