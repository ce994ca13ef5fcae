// A device's sign-in to the caregiver API (Basic device id:password against the broker's password file)
// follows `aide cloud devices add --rotate` and `revoke` at once: the API remembers a successful check for
// a minute, but never for a password the file no longer holds. Real `aide cloud devices` processes,
// real Mosquitto (its password file, reloaded by pid_file) and PostgreSQL, the API in process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ApiUnderTest, startApi } from './caregiver-helpers.js';
import { type MosquittoServer, type PostgresServer, startMosquitto, startPostgres } from './harness/index.js';
import { aideBin } from './support/spawn-aide.js';
import { waitFor } from './sync-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'aide-signin-'));
const pidFile = join(tmp, 'mosquitto.pid');
let broker: MosquittoServer;
let pgServer: PostgresServer;
let api: ApiUnderTest;
let env: NodeJS.ProcessEnv;

const aide = (...args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [aideBin, 'cloud', 'devices', ...args], { env }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
const passwordOf = (bundle: string) => /^AIDE_MQTT_PASSWORD='(.*)'$/m.exec(bundle)![1]!;

/** Status of the device-authenticated pairing-code route with these credentials. */
const signIn = async (deviceId: string, password: string) =>
  (
    await fetch(`${api.url}/v1/device/pairing-code`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${deviceId}:${password}`).toString('base64')}` },
    })
  ).status;

before(async () => {
  [broker, pgServer] = await Promise.all([
    startMosquitto({ users: { 'aide-ingest': 'ingest-secret' }, config: `pid_file ${pidFile}` }),
    startPostgres(),
  ]);
  const passwordFile = broker.passwordFile!;
  await waitFor('pid file', () => readFileSync(pidFile, 'utf8').trim() === String(broker.pid), 10_000);
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: pgServer.url,
    AIDE_DEVICE_PASSWORD_FILE: passwordFile,
    AIDE_BROKER_PID_FILE: pidFile,
    AIDE_DEVICE_MQTT_URL: broker.url,
    AIDE_LOG_LEVEL: 'silent',
  };
  api = await startApi({ DATABASE_URL: pgServer.url, AIDE_DEVICE_PASSWORD_FILE: passwordFile });
});
after(async () => {
  await api?.close();
  await pgServer?.stop();
  await broker?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

test('rotate and revoke take effect on the next device request, not a minute later', async () => {
  const first = await aide('add', 'dev-signin');
  assert.equal(first.code, 0, first.stderr);
  const oldPassword = passwordOf(first.stdout);
  assert.equal(await signIn('dev-signin', oldPassword), 201);
  assert.equal(await signIn('dev-signin', oldPassword), 201, 'the remembered check');
  assert.equal(await signIn('dev-signin', 'not-the-password'), 401);

  const rotated = await aide('add', 'dev-signin', '--rotate');
  assert.equal(rotated.code, 0, rotated.stderr);
  const newPassword = passwordOf(rotated.stdout);
  assert.notEqual(newPassword, oldPassword);
  assert.equal(await signIn('dev-signin', oldPassword), 401, 'the old password stops at once');
  assert.equal(await signIn('dev-signin', newPassword), 201);
  assert.equal(await signIn('dev-signin', newPassword), 201);

  const revoked = await aide('revoke', 'dev-signin');
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(await signIn('dev-signin', newPassword), 401, 'a revoked device is refused at once');

  // Provisioned again after revocation: only the newest password works.
  const again = await aide('add', 'dev-signin');
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await signIn('dev-signin', newPassword), 401);
  assert.equal(await signIn('dev-signin', oldPassword), 401);
  assert.equal(await signIn('dev-signin', passwordOf(again.stdout)), 201);
});
