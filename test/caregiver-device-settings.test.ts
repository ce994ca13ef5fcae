// Speaker settings set by caregivers (GET/PUT/PATCH /v1/people/{id}/device-settings) reach a real Aide
// device over real MQTT (Mosquitto with password file + ACL) through the ingest worker, change what the
// device does (speech rate, reminder quiet hours, time zone) and show as confirmed; who may change them;
// bad values; the device's refusal shown with its reason. Then the same in the web app in Chromium.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { createPairingCode } from '../cloud-sync/api/people/pairing.js';
import type { CloudHandle } from '../cloud-sync/main.js';
import type { DeviceHandle } from '../device/main.js';
import { type ApiUnderTest, addDeviceWithPerson, call, signUp, startApi } from './caregiver-helpers.js';
import { type MosquittoServer, type PostgresServer, quick } from './harness/index.js';
import { axe, launchChromium } from './support/browser.js';
import { settingsTestEnv, spokenSeconds, startMqttDevice } from './support/mqtt-device.js';
import { ingestEnv, newPool, startIngestInProcess, startSyncServers, waitFor } from './sync-helpers.js';

const users = { 'aide-ingest': 'ingest-secret', 'dev-cset': 'pw-cset' };

type Session = Awaited<ReturnType<typeof signUp>>;

describe('speaker settings from the caregiver API', {
  skip: quick && 'slow (AIDE_TEST_QUICK=1)',
  timeout: 300_000,
}, () => {
  let broker: MosquittoServer;
  let pgServer: PostgresServer;
  let ingest: CloudHandle;
  let api: ApiUnderTest;
  let device: DeviceHandle;
  let db: ReturnType<typeof newPool>;
  let browser: Browser;
  let owner: Session;
  let manager: Session; // a caregiver allowed to change medicines (and so settings)
  let viewer: Session; // a caregiver who may only look
  let otherOwner: Session; // owns another person
  let personId: string;
  const otherPerson = randomUUID();
  const dir = mkdtempSync(join(tmpdir(), 'aide-cset-'));
  const path = () => `/v1/people/${personId}/device-settings`;

  const settingsCommands = async () =>
    Number((await db.query("SELECT count(*) FROM device_commands WHERE kind = 'settings'")).rows[0].count);
  const confirmed = (who: Session, version: number) =>
    waitFor(
      `settings version ${version} confirmed`,
      async () => {
        const r = await call(api.url, 'GET', path(), { token: who.accessToken });
        const s = r.body.deviceSettings;
        return s.sync.status === 'confirmed' && s.confirmed?.version === version && s;
      },
      60_000,
    );

  const startTheDevice = () =>
    startMqttDevice({
      dir,
      deviceId: 'dev-cset',
      mqttUrl: broker.url,
      password: users['dev-cset'],
      env: settingsTestEnv,
    });

  before(async () => {
    const servers = await startSyncServers(users);
    ({ broker, pg: pgServer } = servers);
    db = newPool(pgServer.url);
    ingest = await startIngestInProcess(
      ingestEnv(servers, users, 'cset', { AIDE_KAFKA_PARTITIONS: '1', AIDE_COMMAND_POLL_MS: '200' }),
      { ready: true },
    );
    api = await startApi({
      DATABASE_URL: pgServer.url,
      AIDE_RATE_LIMIT_PER_MIN: '10000',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
    });
    device = await startTheDevice();
    personId = device.ctx.store.people.list()[0]!.id;
    await waitFor(
      'person in the cloud',
      async () => (await db.query('SELECT 1 FROM people WHERE id = $1', [personId])).rowCount === 1,
    );
    await addDeviceWithPerson(db, 'dev-cother', otherPerson, 'Bert');
    [owner, manager, viewer, otherOwner] = await Promise.all(
      ['owner', 'manager', 'viewer', 'other'].map((n) => signUp(api.url, n)),
    );
    for (const [who, deviceId] of [
      [owner, 'dev-cset'],
      [otherOwner, 'dev-cother'],
    ] as const) {
      const { code } = await createPairingCode(db, api.clock, deviceId);
      const claim = await call(api.url, 'POST', '/v1/devices/claim', {
        token: who.accessToken,
        body: { code },
      });
      assert.equal(claim.status, 201);
    }
    for (const [who, manageMedicines] of [
      [manager, true],
      [viewer, false],
    ] as const) {
      const r = await call(api.url, 'POST', `/v1/people/${personId}/caregivers`, {
        token: owner.accessToken,
        body: { email: who.email, permissions: { viewRecords: true, receiveAlerts: true, manageMedicines } },
      });
      assert.equal(r.status, 201);
    }
  });

  after(async () => {
    await browser?.close();
    await device?.close();
    await api?.close();
    await ingest?.close();
    await db?.end();
    await broker?.dispose();
    await pgServer?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a caregiver sets speech rate and quiet hours; the device applies them; the API shows confirmed', async () => {
    const initial = await call(api.url, 'GET', path(), { token: manager.accessToken });
    assert.equal(initial.status, 200);
    assert.deepEqual(
      initial.body.deviceSettings.values,
      {},
      'nothing set: the speaker uses its own configuration',
    );
    assert.equal(initial.body.deviceSettings.version, 0);
    const slow = await spokenSeconds(device);

    const r = await call(api.url, 'PATCH', path(), {
      token: manager.accessToken,
      body: { values: { 'speech.rate': 240, 'reminders.quietHours': '21:00-08:30' } },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.deviceSettings.sync.status, 'pending');
    assert.equal(r.body.deviceSettings.version, 1);
    assert.deepEqual(r.body.deviceSettings.values, {
      'speech.rate': 240,
      'reminders.quietHours': '21:00-08:30',
    });

    const s = await confirmed(manager, 1);
    assert.deepEqual(s.confirmed.values, { 'speech.rate': 240, 'reminders.quietHours': '21:00-08:30' });
    assert.equal(device.ctx.config.AIDE_TTS_RATE, 240);
    assert.deepEqual(device.ctx.reminders!.scheduler.settings.quiet, { start: 21 * 60, end: 8 * 60 + 30 });
    const fast = await spokenSeconds(device);
    assert.ok(
      fast < slow * 0.8,
      `speech at 240 wpm (${fast.toFixed(2)} s) is faster than at 145 (${slow.toFixed(2)} s)`,
    );

    // A second change builds on the first (the whole document travels, one version higher).
    const tz = await call(api.url, 'PATCH', path(), {
      token: owner.accessToken,
      body: { values: { timezone: 'America/New_York' } },
    });
    assert.equal(tz.status, 202, JSON.stringify(tz.body));
    const s2 = await confirmed(owner, 2);
    assert.deepEqual(s2.values, {
      'speech.rate': 240,
      'reminders.quietHours': '21:00-08:30',
      timezone: 'America/New_York',
    });
    assert.equal(device.ctx.store.people.getSync().timezone, 'America/New_York');
    const { rows } = await db.query(
      "SELECT payload FROM device_commands WHERE kind = 'settings' ORDER BY (payload->>'version')::int",
    );
    assert.deepEqual(
      rows.map((x) => x.payload),
      [
        { version: 1, values: { 'speech.rate': 240, 'reminders.quietHours': '21:00-08:30' } },
        {
          version: 2,
          values: { 'speech.rate': 240, 'reminders.quietHours': '21:00-08:30', timezone: 'America/New_York' },
        },
      ],
    );

    // PUT replaces the document: keys not named go back to the speaker's own configuration.
    const put = await call(api.url, 'PUT', path(), {
      token: manager.accessToken,
      body: { values: { 'speech.rate': 120 } },
    });
    assert.equal(put.status, 202, JSON.stringify(put.body));
    const s3 = await confirmed(manager, 3);
    assert.deepEqual(s3.values, { 'speech.rate': 120 });
    assert.equal(device.ctx.config.AIDE_TTS_RATE, 120);
    assert.deepEqual(device.ctx.reminders!.scheduler.settings.quiet, { start: 22 * 60, end: 7 * 60 });
    assert.equal(device.ctx.store.people.getSync().timezone, 'Europe/London');

    // Audited like every change (which keys, never the values).
    const audit = await call(api.url, 'GET', `/v1/people/${personId}/audit`, { token: owner.accessToken });
    const changes = audit.body.entries.filter(
      (e: { resource: string; action: string }) => e.resource === 'device_settings' && e.action === 'update',
    );
    assert.equal(changes.length, 3);
    assert.deepEqual(changes.at(-1).detail.keys, ['speech.rate', 'reminders.quietHours']);
    assert.equal(changes.at(-1).actorUserId, manager.id);
    assert.ok(!JSON.stringify(changes).includes('21:00-08:30'), 'values are not in the audit log');
  });

  test('without the permission 403; another person or no link 404; nothing is written', async () => {
    const before = await settingsCommands();
    const body = { values: { 'speech.rate': 100 } };
    const viewerPatch = await call(api.url, 'PATCH', path(), { token: viewer.accessToken, body });
    assert.equal(viewerPatch.status, 403);
    assert.match(viewerPatch.body.error.message, /manageMedicines/);
    assert.equal((await call(api.url, 'PUT', path(), { token: viewer.accessToken, body })).status, 403);
    assert.equal((await call(api.url, 'GET', path(), { token: viewer.accessToken })).status, 200, 'may look');

    for (const method of ['GET', 'PATCH', 'PUT'])
      assert.equal(
        (
          await call(api.url, method, path(), {
            token: otherOwner.accessToken,
            body: method === 'GET' ? undefined : body,
          })
        ).status,
        404,
        `${method} by another person's owner`,
      );
    const theirs = `/v1/people/${otherPerson}/device-settings`;
    assert.equal((await call(api.url, 'PATCH', theirs, { token: manager.accessToken, body })).status, 404);
    assert.equal((await call(api.url, 'GET', theirs, { token: owner.accessToken })).status, 404);
    assert.equal(
      (
        await call(api.url, 'PATCH', '/v1/people/not-a-uuid/device-settings', {
          token: owner.accessToken,
          body,
        })
      ).status,
      404,
    );
    assert.equal((await call(api.url, 'PATCH', path(), { body })).status, 401);
    assert.equal(await settingsCommands(), before, 'no command was written');
  });

  test('bad values get 400 naming the key and the rule; nothing changes', async () => {
    const before = await settingsCommands();
    const bad = async (values: unknown, field: string, rule: RegExp) => {
      const r = await call(api.url, 'PATCH', path(), { token: owner.accessToken, body: { values } });
      assert.equal(r.status, 400, JSON.stringify(values));
      const d = r.body.error.details.find((x: { field: string }) => x.field === field);
      assert.ok(d, `${field} named in ${JSON.stringify(r.body.error.details)}`);
      assert.match(d.message, rule);
    };
    await bad({ 'speech.rate': 900 }, 'values.speech.rate', /must be 80-260/);
    await bad({ 'speech.rate': 150.5 }, 'values.speech.rate', /whole number/);
    await bad({ 'reminders.quietHours': '10pm-7am' }, 'values.reminders.quietHours', /HH:MM-HH:MM/);
    await bad({ timezone: 'Mars/Olympus' }, 'values.timezone', /IANA time zone/);
    await bad({ volume: 3 }, 'values.volume', /not a speaker setting/);
    await bad({}, 'values', /at least one setting/);
    const both = await call(api.url, 'PUT', path(), {
      token: owner.accessToken,
      body: { values: { 'speech.rate': 60, 'reminders.quietHours': '21:00-08:00' } },
    });
    assert.equal(both.status, 400, 'one bad key refuses the whole change');
    assert.equal(await settingsCommands(), before);
    const now = await call(api.url, 'GET', path(), { token: owner.accessToken });
    assert.deepEqual(now.body.deviceSettings.values, { 'speech.rate': 120 });
    assert.equal(device.ctx.config.AIDE_TTS_RATE, 120);
  });

  test('the device refusing a change shows as rejected with its reason; the next change is sent above it', async () => {
    // The cloud lost its settings history (restored from an older backup): it would send version 1 again.
    await db.query("DELETE FROM device_commands WHERE kind = 'settings'");
    const r = await call(api.url, 'PATCH', path(), {
      token: owner.accessToken,
      body: { values: { 'speech.rate': 180 } },
    });
    assert.equal(r.status, 202);
    assert.equal(r.body.deviceSettings.version, 1);
    const refused = await waitFor(
      'the device answers',
      async () => {
        const s = (await call(api.url, 'GET', path(), { token: owner.accessToken })).body.deviceSettings;
        return s.sync.status !== 'pending' && s;
      },
      60_000,
    );
    assert.equal(refused.sync.status, 'rejected');
    assert.match(refused.sync.detail, /device has version 3/);
    assert.equal(device.ctx.config.AIDE_TTS_RATE, 120, 'the device kept its newer document');

    const again = await call(api.url, 'PATCH', path(), {
      token: owner.accessToken,
      body: { values: { 'speech.rate': 180 } },
    });
    assert.equal(again.body.deviceSettings.version, 4, 'above the version the device reported');
    await confirmed(owner, 4);
    assert.equal(device.ctx.config.AIDE_TTS_RATE, 180);
  });

  test('web app: Speaker tab, large type, pending then confirmed, no axe violations', async () => {
    browser = await launchChromium();
    // bypassCSP only so the test can inject axe-core.
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, bypassCSP: true });
    await page.goto(`${api.url}/#/`);
    await page.getByLabel('Email').fill(manager.email);
    await page.getByLabel('Password').fill(manager.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'My people' }).waitFor();
    await page.locator(`a[href="#/people/${personId}/alerts"]`).click();
    // "Speaker", not "Speaker settings": the top bar's "Settings" link keeps a unique name.
    await page.getByRole('link', { name: 'Speaker', exact: true }).click();
    await page.getByRole('heading', { name: 'Speaker', exact: true }).waitFor();
    await page.getByText('On the speaker').waitFor();
    await page.getByText("The person's time zone now: Europe/London").waitFor();
    const violations: string[] = [];
    const check = async (where: string) => violations.push(...(await axe(page)).map((v) => `${where}: ${v}`));
    await check('settings');

    await page.getByLabel('Slower').check();
    await page.getByLabel('Loud (100%)').check();
    await page.getByLabel('Quiet from').fill('20:30');
    await page.getByLabel('Quiet until').fill('09:00');
    await page.getByLabel('Time zone').fill('Europe/Paris');
    // The speaker is switched off while the change is made: it waits, then arrives when it is back.
    await device.close();
    await page.getByRole('button', { name: 'Save speaker settings' }).click();
    await page.getByText('Waiting for the speaker').waitFor();
    await check('pending');
    device = await startTheDevice();
    await page.getByText('On the speaker').waitFor({ timeout: 60_000 });
    await check('confirmed');
    assert.equal(device.ctx.config.AIDE_TTS_RATE, 120, 'slower');
    assert.equal(device.ctx.config.AIDE_TTS_VOLUME, 100, 'loud');
    assert.deepEqual(device.ctx.reminders!.scheduler.settings.quiet, { start: 20 * 60 + 30, end: 9 * 60 });
    assert.equal(device.ctx.store.people.getSync().timezone, 'Europe/Paris');
    assert.equal(await page.getByLabel('Slower').isChecked(), true, 'the form shows what the speaker has');
    assert.equal(await page.getByLabel('Loud (100%)').isChecked(), true, 'the volume the speaker has');

    // Large type: the panel's text and controls are at least 18 px.
    const sizes = await page
      .locator(
        '#speaker-settings label, #speaker-settings input, #speaker-settings button, #speaker-settings p',
      )
      .evaluateAll((els) => els.map((e) => Number.parseFloat(getComputedStyle(e).fontSize)));
    assert.ok(sizes.length > 5 && Math.min(...sizes) >= 18, `font sizes ${sizes.join(', ')}`);

    // A bad time zone is named next to the form; nothing is sent.
    const before = await settingsCommands();
    await page.getByLabel('Time zone').fill('Nowhere/Special');
    await page.getByRole('button', { name: 'Save speaker settings' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /time zone/i })
      .waitFor();
    assert.equal(await settingsCommands(), before);
    await check('error');
    assert.deepEqual(violations, []);

    // A caregiver who may only look sees the settings without the form.
    const look = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await look.goto(`${api.url}/#/`);
    await look.getByLabel('Email').fill(viewer.email);
    await look.getByLabel('Password').fill(viewer.password);
    await look.getByRole('button', { name: 'Sign in' }).click();
    await look.getByRole('heading', { name: 'My people' }).waitFor();
    await look.goto(`${api.url}/#/people/${personId}/speaker`);
    await look.getByText('Slower').waitFor();
    assert.equal(await look.getByRole('button', { name: 'Save speaker settings' }).count(), 0);
    await look.close();
    await page.close();
  });
});
