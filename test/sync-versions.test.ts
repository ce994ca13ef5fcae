// Version rules, the direction sync-flow.test.ts does not cover: a NEWER cloud talking to THIS device.
// A real device store and sync engine on real Mosquitto; the "newer cloud" is an MQTT client with the
// ingest service's credentials that answers with fields, kinds and versions this device does not know.
// (A newer device talking to this cloud: sync-flow.test.ts and cloud-sync/protocol/envelope.test.ts.)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { brokerAcl } from '../cloud-sync/broker/auth.js';
import { createCommandApplier, createStoreCommandTarget } from '../cloud-sync/device/commands.js';
import { createSyncEngine, type SyncEngine } from '../cloud-sync/device/engine.js';
import { readCloudSettings } from '../cloud-sync/device/settings.js';
import { ackTopic, downTopic, encode, PROTOCOL_VERSION } from '../cloud-sync/protocol/index.js';
import { systemClock } from '../common/clock.js';
import { silentLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { type Db, migrateDeviceDb, openDeviceDb } from '../device/store/db.js';
import { openStoreRuntime, type StoreRuntime } from '../device/store/runtime.js';
import { type MosquittoServer, startMosquitto } from './harness/index.js';
import { waitFor } from './sync-helpers.js';

const users = { 'aide-ingest': 'ingest-secret', 'dev-old': 'pw-old' };

describe('a newer cloud talking to this device', { timeout: 300_000 }, () => {
  let broker: MosquittoServer;
  let cloud: MqttClient;
  let db: Db;
  let rt: StoreRuntime;
  let engine: SyncEngine;
  const dir = mkdtempSync(join(tmpdir(), 'aide-sync-versions-'));
  const up: { topic: string; body: Record<string, unknown> }[] = [];
  const commandAcks = new Map<string, { result: string; detail?: string }>();

  /** Sends a command as a newer cloud would and waits for the device's answer. */
  const command = async (cmd: Record<string, unknown>) => {
    const id = randomUUID();
    await cloud.publishAsync(
      downTopic('dev-old', String(cmd.kind)),
      encode({ v: PROTOCOL_VERSION, id, createdAt: new Date().toISOString(), ...cmd }),
      { qos: 1 },
    );
    return waitFor(`answer to ${id}`, () => commandAcks.get(id), 60_000, 50).then((a) => ({ id, ...a }));
  };

  before(async () => {
    broker = await startMosquitto({ users, acl: brokerAcl([{ username: 'aide-ingest', role: 'ingest' }]) });
    cloud = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      username: 'aide-ingest',
      password: users['aide-ingest'],
    });
    cloud.on('message', (topic, body) => {
      const msg = JSON.parse(body.toString()) as Record<string, unknown>;
      up.push({ topic, body: msg });
      if (topic.endsWith('/command_ack')) {
        const p = msg.payload as { commandId: string; result: string; detail?: string };
        commandAcks.set(p.commandId, { result: p.result, detail: p.detail });
      }
    });
    await cloud.subscribeAsync('aide/v1/dev-old/up/+', { qos: 1 });

    db = openDeviceDb(join(dir, 'aide.db'));
    migrateDeviceDb(db);
    const metrics = createMetrics({ defaultMetrics: false });
    rt = openStoreRuntime({
      db,
      clock: systemClock,
      log: silentLogger,
      metrics,
      config: { AIDE_DATA_DIR: dir, AIDE_TIMEZONE: 'Europe/London', AIDE_LOCALE: 'en-GB' },
      deviceId: 'dev-old',
    });
    const applier = createCommandApplier({
      db,
      clock: systemClock,
      target: createStoreCommandTarget({ db, medications: rt.store.medications }),
    });
    engine = createSyncEngine({
      url: broker.url,
      deviceId: 'dev-old',
      password: users['dev-old'],
      db,
      outbox: rt.outbox,
      clock: systemClock,
      log: silentLogger,
      metrics,
      pollMs: 50,
      ackTimeoutMs: 60_000,
      heartbeatMs: 0,
      applyCommand: applier.apply,
    });
    engine.start();
    await waitFor('device connected', () => engine.connected(), 60_000);
  });

  after(async () => {
    await engine?.stop();
    await cloud?.endAsync();
    await rt?.cache.close();
    db?.close();
    await broker?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('acknowledgements with fields this device does not know still clear its outbox', async () => {
    rt.store.measurements.add({ type: 'heart_rate', value: 64, unit: 'bpm' });
    assert.ok(rt.outbox.size() >= 2, 'the first person and the reading wait for the cloud');
    // Every record the device publishes is acknowledged the way a newer cloud would.
    const acked = new Set<string>();
    const ackNew = async () => {
      for (const u of up) {
        if (u.topic.endsWith('/status') || u.topic.endsWith('/command_ack')) continue;
        const ids = u.topic.endsWith('/batch')
          ? (u.body.messages as { id: string }[]).map((m) => m.id)
          : [u.body.id as string];
        const fresh = ids.filter((id) => !acked.has(id));
        if (!fresh.length) continue;
        for (const id of fresh) acked.add(id);
        await cloud.publishAsync(
          ackTopic('dev-old'),
          encode({
            v: PROTOCOL_VERSION,
            region: 'eu-west-2', // added by a newer cloud
            acks: fresh.map((id) => ({ id, status: 'stored', storedAt: new Date().toISOString(), shard: 7 })),
          }),
          { qos: 1 },
        );
      }
    };
    await waitFor(
      'outbox cleared by the newer acknowledgements',
      async () => {
        await ackNew();
        return rt.outbox.size() === 0;
      },
      60_000,
      50,
    );
    assert.ok(acked.size >= 2);
  });

  test('commands: unknown fields are ignored, unknown kinds and major versions refused without blocking the rest', async () => {
    const personId = rt.store.people.primaryId();
    const medId = randomUUID();
    const now = new Date().toISOString();
    const med = await command({
      kind: 'medicine_upsert',
      urgency: 'normal', // envelope field of a newer cloud
      payload: {
        id: medId,
        personId,
        name: 'Ramipril',
        times: ['08:00'],
        startDate: '2026-01-01',
        active: true,
        version: 2,
        updatedAt: now,
        colour: 'white', // payload field of a newer cloud
        pharmacyRef: 'rx-1',
      },
    });
    assert.equal(med.result, 'applied');
    assert.equal(rt.store.medications.get(medId).name, 'Ramipril');

    const unknownKind = await command({ kind: 'play_music', payload: { playlist: 'calm' } });
    assert.equal(unknownKind.result, 'rejected');
    assert.equal(unknownKind.detail, 'unsupported_kind play_music');
    const newerMajor = await command({ v: PROTOCOL_VERSION + 1, kind: 'speak', payload: { text: 'hello' } });
    assert.equal(newerMajor.result, 'rejected');
    assert.equal(newerMajor.detail, `unsupported_version ${PROTOCOL_VERSION + 1}`);
    // Not remembered as handled: sent again (after this device updates) it is considered afresh.
    commandAcks.delete(unknownKind.id);
    await cloud.publishAsync(
      downTopic('dev-old', 'play_music'),
      encode({ v: PROTOCOL_VERSION, id: unknownKind.id, kind: 'play_music', createdAt: now, payload: {} }),
      { qos: 1 },
    );
    assert.equal(
      (await waitFor('second answer', () => commandAcks.get(unknownKind.id), 60_000, 50)).result,
      'rejected',
    );

    const settings = await command({
      kind: 'settings',
      payload: { version: 3, values: { 'reminders.quietHours': '21:00-08:00', 'display.theme': 'dark' } },
    });
    assert.equal(settings.result, 'applied');
    assert.match(settings.detail ?? '', /ignored unknown settings: display\.theme/);
    assert.deepEqual(readCloudSettings(db), {
      version: 3,
      values: { 'reminders.quietHours': '21:00-08:00', 'display.theme': 'dark' },
    });

    // The stream was not blocked: a later ordinary command applies.
    const later = await command({
      kind: 'medicine_upsert',
      payload: {
        id: medId,
        personId,
        name: 'Ramipril 5 mg',
        times: ['08:00'],
        startDate: '2026-01-01',
        active: true,
        version: 3,
        updatedAt: now,
      },
    });
    assert.equal(later.result, 'applied');
    assert.equal(rt.store.medications.get(medId).name, 'Ramipril 5 mg');
  });
});
