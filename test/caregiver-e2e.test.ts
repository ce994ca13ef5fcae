// A medicine set in the caregiver web app reaches a real Aide device over real MQTT (Mosquitto with
// password file + ACL), through the sync engineer's ingest worker, and shows as confirmed in the app.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { type Browser, chromium } from 'playwright-core';
import { createPairingCode } from '../cloud-sync/api/people/pairing.js';
import { brokerAcl } from '../cloud-sync/broker/auth.js';
import { loadCloudConfig } from '../cloud-sync/config.js';
import { type CloudHandle, startCloudService } from '../cloud-sync/main.js';
import { silentLogger } from '../common/log.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';
import { type ApiUnderTest, startApi } from './caregiver-helpers.js';
import {
  freePort,
  getKafka,
  type MosquittoServer,
  type PostgresServer,
  quick,
  startMosquitto,
  startPostgres,
} from './harness/index.js';

const users = { 'aide-ingest': 'ingest-secret', 'dev-e2e': 'pw-e2e' };
const until = async (what: string, fn: () => Promise<unknown> | unknown, ms = 30_000) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

let broker: MosquittoServer;
let pgServer: PostgresServer;
let ingest: CloudHandle;
let api: ApiUnderTest;
let device: DeviceHandle;
let browser: Browser;
let db: pg.Pool;
const dir = mkdtempSync(join(tmpdir(), 'aide-e2e-'));

before(async () => {
  if (quick) return;
  const [b, p, k] = await Promise.all([
    startMosquitto({ users, acl: brokerAcl([{ username: 'aide-ingest', role: 'ingest' }]) }),
    startPostgres(),
    getKafka(),
  ]);
  broker = b;
  pgServer = p;
  db = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  db.on('error', () => {});
  const cloudEnv = {
    DATABASE_URL: pgServer.url,
    MQTT_URL: broker.url,
    KAFKA_BROKERS: k.bootstrap,
    AIDE_KAFKA_TOPIC_PREFIX: `e2e${process.pid}_${Date.now()}_`,
    AIDE_MQTT_USERNAME: 'aide-ingest',
    AIDE_MQTT_PASSWORD: 'ingest-secret',
    AIDE_COMMAND_POLL_MS: '200',
  };
  ingest = await startCloudService(
    'ingest',
    loadCloudConfig({ env: { ...cloudEnv, AIDE_PORT: String(await freePort()), AIDE_LOG_LEVEL: 'silent' } }),
    { log: silentLogger },
  );
  await until('ingest ready', async () => (await fetch(`${ingest.url}/readyz`)).status === 200, 60_000);
  api = await startApi({
    DATABASE_URL: pgServer.url,
    AIDE_RATE_LIMIT_PER_MIN: '10000',
    AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
  });
  device = await startDevice(
    loadDeviceConfig({
      env: {
        AIDE_DATA_DIR: dir,
        AIDE_PORT: '0',
        AIDE_LOG_LEVEL: 'silent',
        AIDE_DEVICE_ID: 'dev-e2e',
        MQTT_URL: broker.url,
        AIDE_MQTT_USERNAME: 'dev-e2e',
        AIDE_MQTT_PASSWORD: users['dev-e2e'],
        AIDE_TIMEZONE: 'Europe/London',
      },
    }),
  );
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
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

test('a medicine added in the web app reaches the device over MQTT and shows as confirmed', {
  skip: quick && 'slow (AIDE_TEST_QUICK=1)',
  timeout: 180_000,
}, async () => {
  const personId = device.ctx.store.people.list()[0]!.id;
  // The device's person synced up through ingest.
  await until(
    'person in the cloud',
    async () => (await db.query('SELECT 1 FROM people WHERE id = $1', [personId])).rowCount === 1,
    60_000,
  );

  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(`${api.url}/#/register`);
  await page.getByLabel('Email').fill(`e2e.${process.pid}@example.org`);
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'My people' }).waitFor();
  const { code } = await createPairingCode(db, api.clock, 'dev-e2e');
  await page.getByLabel('Pairing code').fill(code);
  await page.getByRole('button', { name: 'Connect speaker' }).click();
  await page.locator(`a[href="#/people/${personId}/alerts"]`).click();
  await page.getByRole('link', { name: 'Medicines' }).click();
  await page.getByLabel('Medicine name').fill('Amlodipine');
  await page.getByLabel('Dose (for example 5 mg)').fill('5 mg');
  await page.getByLabel(/Times of day/).fill('09:00');
  await page.getByRole('button', { name: 'Add medicine' }).click();
  await page.getByText('Waiting for the speaker').or(page.getByText('On the speaker')).first().waitFor();
  await page.getByText('On the speaker').waitFor({ timeout: 60_000 });

  const { rows } = await db.query(
    "SELECT payload->>'id' AS id, result FROM device_commands WHERE kind = 'medicine_upsert'",
  );
  assert.equal(rows[0].result, 'applied');
  assert.equal(device.ctx.store.medications.get(rows[0].id).name, 'Amlodipine', 'the device has it');
  await page.close();
});
