// A medicine set in the caregiver web app reaches a real Aide device over real MQTT (Mosquitto with
// password file + ACL), through the sync engineer's ingest worker, and shows as confirmed in the app.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { createPairingCode } from '../cloud-sync/api/people/pairing.js';
import type { CloudHandle } from '../cloud-sync/main.js';
import type { DeviceHandle } from '../device/main.js';
import { type ApiUnderTest, startApi } from './caregiver-helpers.js';
import { type MosquittoServer, type PostgresServer, quick } from './harness/index.js';
import { launchChromium } from './support/browser.js';
import { startMqttDevice } from './support/mqtt-device.js';
import { ingestEnv, newPool, startIngestInProcess, startSyncServers, waitFor } from './sync-helpers.js';

const users = { 'aide-ingest': 'ingest-secret', 'dev-e2e': 'pw-e2e' };

let broker: MosquittoServer;
let pgServer: PostgresServer;
let ingest: CloudHandle;
let api: ApiUnderTest;
let device: DeviceHandle;
let browser: Browser;
let db: ReturnType<typeof newPool>;
const dir = mkdtempSync(join(tmpdir(), 'aide-e2e-'));

before(async () => {
  if (quick) return;
  const servers = await startSyncServers(users);
  ({ broker, pg: pgServer } = servers);
  db = newPool(pgServer.url);
  ingest = await startIngestInProcess(ingestEnv(servers, users, 'e2e', { AIDE_COMMAND_POLL_MS: '200' }), {
    ready: true,
  });
  api = await startApi({
    DATABASE_URL: pgServer.url,
    AIDE_RATE_LIMIT_PER_MIN: '10000',
    AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
  });
  device = await startMqttDevice({
    dir,
    deviceId: 'dev-e2e',
    mqttUrl: broker.url,
    password: users['dev-e2e'],
  });
  browser = await launchChromium();
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
  await waitFor(
    'person in the cloud',
    async () => (await db.query('SELECT 1 FROM people WHERE id = $1', [personId])).rowCount === 1,
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
