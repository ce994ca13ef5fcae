import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { silentLogger } from '../common/log.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';
import { type ApiUnderTest, addDeviceWithPerson, call, signUp, startApi } from './caregiver-helpers.js';
import { type PostgresServer, startPostgres } from './harness/index.js';
import { runAide } from './support/spawn-aide.js';

// The device side of pairing: the speaker asks the real caregiver API for a code with its own MQTT
// credentials, and a caregiver who types that code becomes the owner of the person on the device.
let pgServer: PostgresServer;
let db: pg.Pool;
let api: ApiUnderTest;
const personId = randomUUID();
const tmp = () => mkdtempSync(join(tmpdir(), 'aide-pair-'));

before(async () => {
  pgServer = await startPostgres();
  db = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  db.on('error', () => {});
  const passwordFile = join(tmp(), 'passwd');
  writeFileSync(passwordFile, '');
  execFileSync('mosquitto_passwd', ['-b', passwordFile, 'dev-pair', 'pair-secret-1']);
  api = await startApi({ DATABASE_URL: pgServer.url, AIDE_DEVICE_PASSWORD_FILE: passwordFile });
  await addDeviceWithPerson(db, 'dev-pair', personId, 'Mum');
});
after(async () => {
  await api?.close();
  await db?.end();
  await pgServer?.stop();
});

async function device(env: Record<string, string>): Promise<DeviceHandle> {
  const config = loadDeviceConfig({
    env: { AIDE_DATA_DIR: tmp(), AIDE_PORT: '0', AIDE_LOG_LEVEL: 'silent', ...env },
  });
  return startDevice(config, { log: silentLogger });
}

test('the console gets a pairing code from the cloud, and a caregiver claims the device with it', async () => {
  const dev = await device({
    AIDE_CLOUD_API_URL: api.url,
    AIDE_MQTT_USERNAME: 'dev-pair',
    AIDE_MQTT_PASSWORD: 'pair-secret-1',
  });
  try {
    const res = await fetch(`${dev.url}/api/pairing-code`, { method: 'POST' });
    assert.equal(res.status, 200);
    const code = await res.json();
    assert.match(code.code, /^\d{8}$/);
    assert.equal(code.spoken, code.code.split('').join(' '));

    const daughter = await signUp(api.url, 'daughter');
    const claim = await call(api.url, 'POST', '/v1/devices/claim', {
      token: daughter.accessToken,
      body: { code: code.code },
    });
    assert.equal(claim.status, 201);
    const people = await call(api.url, 'GET', '/v1/people', { token: daughter.accessToken });
    assert.ok(
      people.body.people.some((p: { id: string }) => p.id === personId),
      'the person on the device is now hers',
    );
  } finally {
    await dev.close();
  }
});

test('wrong credentials or missing cloud settings give a clear error, never a made-up code', async () => {
  const wrong = await device({
    AIDE_CLOUD_API_URL: api.url,
    AIDE_MQTT_USERNAME: 'dev-pair',
    AIDE_MQTT_PASSWORD: 'not-the-secret',
  });
  try {
    const res = await fetch(`${wrong.url}/api/pairing-code`, { method: 'POST' });
    assert.equal(res.status, 401);
    assert.match((await res.json()).error.message, /refused this device/);
  } finally {
    await wrong.close();
  }
  const offline = await device({});
  try {
    const res = await fetch(`${offline.url}/api/pairing-code`, { method: 'POST' });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.deepEqual(
      body.error.details.map((d: { field: string }) => d.field),
      ['AIDE_CLOUD_API_URL', 'AIDE_MQTT_USERNAME', 'AIDE_MQTT_PASSWORD'],
    );
  } finally {
    await offline.close();
  }
});

test('aide pair prints a code an installer can read out', async () => {
  const r = await runAide(['pair', '--data', tmp()], {
    AIDE_CLOUD_API_URL: api.url,
    AIDE_MQTT_USERNAME: 'dev-pair',
    AIDE_MQTT_PASSWORD: 'pair-secret-1',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\d{8} \(valid until /);
  const none = await runAide(['pair', '--data', tmp()], {
    AIDE_CLOUD_API_URL: '',
    AIDE_MQTT_USERNAME: '',
    AIDE_MQTT_PASSWORD: '',
  });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /aide pair: pairing needs the cloud: set AIDE_CLOUD_API_URL/);
});
