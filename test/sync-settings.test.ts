// Settings commands from the cloud change what a real device does (speech rate, volume, voice, reminder quiet hours,
// time zone), by version and idempotently, over real Mosquitto, PostgreSQL, Kafka and ingest.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CloudHandle } from '../cloud-sync/main.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';
import { createEspeakTts } from '../device/voice/tts.js';
import type { MosquittoServer, PostgresServer } from './harness/index.js';
import { local, startTestDevice } from './reminders-helpers.js';
import { settingsTestEnv, spokenSeconds, startMqttDevice } from './support/mqtt-device.js';
import { ingestEnv, newPool, startIngestInProcess, startSyncServers, waitFor } from './sync-helpers.js';

const users = { 'aide-ingest': 'ingest-secret', 'dev-set': 'pw-set', 'dev-quiet': 'pw-quiet' };

describe('settings from the cloud', { timeout: 480_000 }, () => {
  let broker: MosquittoServer;
  let db: PostgresServer;
  let ingest: CloudHandle;
  let pool: ReturnType<typeof newPool>;
  const dir = mkdtempSync(join(tmpdir(), 'aide-sync-settings-'));
  let device: DeviceHandle | undefined;

  const startTheDevice = async () => {
    device = await startMqttDevice({
      dir,
      deviceId: 'dev-set',
      mqttUrl: broker.url,
      password: users['dev-set'],
      env: settingsTestEnv,
    });
    await waitFor(
      'device connected',
      () => device!.ctx.readiness.snapshot().subsystems.sync?.detail === 'connected',
    );
    return device;
  };

  const send = async (payload: unknown, kind = 'settings', deviceId = 'dev-set') => {
    const id = randomUUID();
    await pool.query('INSERT INTO device_commands (id, device_id, kind, payload) VALUES ($1, $2, $3, $4)', [
      id,
      deviceId,
      kind,
      JSON.stringify(payload),
    ]);
    return waitFor(
      `ack of ${id}`,
      async () =>
        (
          await pool.query<{ result: string; result_detail: string | null }>(
            'SELECT result, result_detail FROM device_commands WHERE id = $1 AND acked_at IS NOT NULL',
            [id],
          )
        ).rows[0],
      60_000,
    );
  };

  before(async () => {
    const servers = await startSyncServers(users);
    ({ broker, pg: db } = servers);
    ingest = await startIngestInProcess(
      ingestEnv(servers, users, 'settings', {
        AIDE_KAFKA_PARTITIONS: '1',
        AIDE_COMMAND_POLL_MS: '200',
        AIDE_COMMAND_RETRY_MS: '2000',
      }),
      { ready: true },
    );
    pool = newPool(db.url);
    await startTheDevice();
  });

  after(async () => {
    await device?.close();
    await ingest?.close();
    await pool?.end();
    await broker?.dispose();
    await db?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a newer settings document changes the speech rate, quiet hours and time zone the device uses', async () => {
    const ctx = device!.ctx;
    const before = await spokenSeconds(device!);
    assert.deepEqual(ctx.reminders!.scheduler.settings.quiet, { start: 22 * 60, end: 7 * 60 });

    const ack = await send({
      version: 5,
      values: {
        'speech.rate': 240,
        'reminders.quietHours': '20:30-09:15',
        timezone: 'America/New_York',
        'display.brightness': 3, // a newer cloud's setting: kept, ignored, not refused
      },
    });
    assert.equal(ack.result, 'applied');
    assert.match(ack.result_detail ?? '', /ignored unknown settings: display\.brightness/);

    const faster = await spokenSeconds(device!);
    assert.ok(
      faster < before * 0.8,
      `speech at 240 wpm (${faster.toFixed(2)} s) is faster than at 145 (${before.toFixed(2)} s)`,
    );
    assert.deepEqual(ctx.reminders!.scheduler.settings.quiet, { start: 20 * 60 + 30, end: 9 * 60 + 15 });
    const person = ctx.store.people.getSync();
    assert.equal(person.timezone, 'America/New_York');
    // The person's new time zone travels back up like any local change.
    await waitFor(
      'person synced with the new time zone',
      async () =>
        (await pool.query('SELECT timezone FROM people WHERE id = $1', [person.id])).rows[0]?.timezone ===
        'America/New_York',
      60_000,
    );

    // An older document (delayed, re-ordered) changes nothing.
    const old = await send({ version: 4, values: { 'speech.rate': 90, 'reminders.quietHours': '' } });
    assert.equal(old.result, 'stale');
    assert.match(old.result_detail ?? '', /device has version 5/);
    assert.deepEqual(ctx.reminders!.scheduler.settings.quiet, { start: 20 * 60 + 30, end: 9 * 60 + 15 });
    assert.ok((await spokenSeconds(device!)) < before * 0.8, 'still the faster rate');

    // A bad value is refused as a whole, naming the key and the rule.
    const bad = await send({
      version: 6,
      values: { 'speech.rate': 900, 'reminders.quietHours': '21:00-08:00' },
    });
    assert.equal(bad.result, 'rejected');
    assert.match(bad.result_detail ?? '', /values\.speech\.rate: must be 80-260/);
    assert.deepEqual(ctx.reminders!.scheduler.settings.quiet, { start: 20 * 60 + 30, end: 9 * 60 + 15 });
  });

  test('null returns a setting to the device configuration; the document survives a restart', async () => {
    const reset = await send({ version: 7, values: { 'speech.rate': null, 'reminders.quietHours': '' } });
    assert.equal(reset.result, 'applied');
    assert.equal(device!.ctx.config.AIDE_TTS_RATE, 145);
    assert.equal(device!.ctx.reminders!.scheduler.settings.quiet, undefined, 'empty: no quiet hours');

    const again = await send({
      version: 8,
      values: { 'speech.rate': 100, 'reminders.quietHours': '23:00-06:00' },
    });
    assert.equal(again.result, 'applied');
    await device!.close();
    device = undefined;
    const d = await startTheDevice();
    // The installer's values (145 wpm, 22:00-07:00) are in the environment; the cloud's newer ones win.
    assert.equal(d.ctx.config.AIDE_TTS_RATE, 100);
    assert.deepEqual(d.ctx.reminders!.scheduler.settings.quiet, { start: 23 * 60, end: 6 * 60 });
    assert.equal(d.ctx.store.people.getSync().timezone, 'America/New_York');
    const stale = await send({ version: 8, values: { 'speech.rate': 200 } });
    assert.equal(stale.result, 'stale', 'the version is remembered across restarts');
  });

  test('speech volume scales what the device plays; speech voice picks an installed voice, an unknown one is refused', async () => {
    const ctx = device!.ctx;
    const line = 'Good morning, it is time for your tablet.';
    // The samples the device would play for one sentence (the speaker, a talk page, a reminder).
    const played = async () => {
      for await (const s of ctx.voice!.synthesize(line)) return s.pcm;
      throw new Error('no speech');
    };
    const peak = (pcm: Int16Array) => pcm.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    const loud = await played();
    assert.ok(peak(loud) > 5000, `speech at 100 % peaks at ${peak(loud)}`);

    const quieter = await send({ version: 9, values: { 'speech.volume': 40 } });
    assert.equal(quieter.result, 'applied', quieter.result_detail ?? '');
    const soft = await played();
    assert.equal(soft.length, loud.length, 'the same speech');
    assert.ok(
      Math.abs(peak(soft) - 0.4 * peak(loud)) <= 1,
      `at 40 % the peak is ${peak(soft)}, at 100 % ${peak(loud)}`,
    );

    // The voice: what the device plays is espeak-ng's en-us voice, not its en-gb one (volume back to 100).
    const direct = async (voice: string) =>
      (
        await createEspeakTts().synthesize(
          line,
          { voice, rate: ctx.config.AIDE_TTS_RATE },
          new AbortController().signal,
        )
      ).pcm;
    assert.deepEqual(loud, await direct('en-gb'), 'the installer voice (en-gb) played before');
    const american = await send({ version: 10, values: { 'speech.voice': 'en-us', 'speech.volume': null } });
    assert.equal(american.result, 'applied', american.result_detail ?? '');
    assert.equal(ctx.config.AIDE_TTS_VOLUME, 100);
    const us = await played();
    assert.notDeepEqual(us, loud, 'another voice');
    assert.deepEqual(us, await direct('en-us'), 'the en-us voice plays');

    // A voice this device does not have is refused naming the setting; the voice stays.
    const unknown = await send({ version: 11, values: { 'speech.voice': 'klingon', 'speech.volume': 10 } });
    assert.equal(unknown.result, 'rejected');
    assert.match(
      unknown.result_detail ?? '',
      /^values\.speech\.voice: "klingon" is not installed \(espeak has \d+ voices, such as .*\ben-us\b/,
    );
    assert.equal(ctx.config.AIDE_TTS_VOICE, 'en-us');
    assert.equal(ctx.config.AIDE_TTS_VOLUME, 100, 'nothing of a refused document applies');
    const tooLoud = await send({ version: 11, values: { 'speech.volume': 101 } });
    assert.equal(tooLoud.result, 'rejected');
    assert.match(tooLoud.result_detail ?? '', /values\.speech\.volume: must be 0-100/);

    // null: back to the installer's voice.
    const back = await send({ version: 12, values: { 'speech.voice': null } });
    assert.equal(back.result, 'applied');
    assert.deepEqual(await played(), loud);
  });

  test('with MQTT_URL removed the stored settings still apply (speech rate, volume, quiet hours, time zone)', async () => {
    const ack = await send({
      version: 13,
      values: {
        'speech.rate': 100,
        'speech.volume': 40,
        'reminders.quietHours': '23:00-06:00',
        timezone: 'America/Chicago',
      },
    });
    assert.equal(ack.result, 'applied', ack.result_detail ?? '');
    await device!.close();
    device = undefined;
    // The same device and data, sync turned off: the installer's environment without MQTT_URL.
    device = await startDevice(
      loadDeviceConfig({
        env: {
          AIDE_DATA_DIR: dir,
          AIDE_PORT: '0',
          AIDE_LOG_LEVEL: 'silent',
          AIDE_DEVICE_ID: 'dev-set',
          AIDE_TIMEZONE: 'Europe/London',
          ...settingsTestEnv,
        },
      }),
    );
    const ctx = device.ctx;
    assert.equal(ctx.readiness.snapshot().subsystems.sync?.detail, 'off (no MQTT_URL)');
    assert.equal(ctx.config.AIDE_TTS_RATE, 100);
    assert.equal(ctx.config.AIDE_TTS_VOLUME, 40);
    assert.equal(ctx.config.AIDE_TIMEZONE, 'America/Chicago');
    assert.deepEqual(ctx.reminders!.scheduler.settings.quiet, { start: 23 * 60, end: 6 * 60 });
    assert.equal(ctx.store.people.getSync().timezone, 'America/Chicago');
  });

  test('quiet hours set from the cloud hold the repeat reminders of a dose that is already ringing', async () => {
    const zone = 'Europe/Paris';
    const t = await startTestDevice({
      timezone: zone,
      start: local('2026-09-01T12:00', zone),
      env: {
        AIDE_DEVICE_ID: 'dev-quiet',
        MQTT_URL: broker.url,
        AIDE_MQTT_USERNAME: 'dev-quiet',
        AIDE_MQTT_PASSWORD: users['dev-quiet'],
        AIDE_REMINDER_QUIET_HOURS: '22:00-07:00',
      },
    });
    try {
      await waitFor(
        'connected',
        () => t.dev.ctx.readiness.snapshot().subsystems.sync?.detail === 'connected',
      );
      assert.equal(
        (await t.call('POST', '/api/medications', { name: 'Amlodipine', times: ['13:00'] })).status,
        201,
      );
      t.clock.set(local('2026-09-01T13:00', zone));
      t.clock.set(local('2026-09-01T13:10', zone));
      assert.deepEqual(
        t.announcements().map((a) => a.items[0]!.kind),
        ['first', 'reask'],
        'outside quiet hours the device asks again after 10 minutes',
      );
      const ack = await send(
        { version: 1, values: { 'reminders.quietHours': '13:15-18:00' } },
        'settings',
        'dev-quiet',
      );
      assert.equal(ack.result, 'applied');
      t.clock.set(local('2026-09-01T13:20', zone));
      t.clock.set(local('2026-09-01T13:30', zone));
      t.clock.set(local('2026-09-01T13:50', zone));
      assert.equal(t.announcements().length, 2, 'the new quiet hours hold the re-asks');
      assert.equal(t.alerts().length, 1, 'the caregiver alert is not held');
    } finally {
      await t.close();
    }
  });
});
