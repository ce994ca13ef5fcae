// `aide cloud devices add|list|revoke` as a real process against a real Mosquitto (TLS, the generated ACL,
// pid_file) and PostgreSQL: an issued device connects with its bundle; a revoked one is dropped and
// refused at once; others carry on; a device still cannot publish under another id. What the command
// reports (confirmed by signing in after SIGHUP, or plainly not) is what a client sees right after it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { brokerAcl } from '../cloud-sync/broker/auth.js';
import { loadDeviceConfig } from '../device/config.js';
import {
  freePort,
  type MosquittoServer,
  type PostgresServer,
  startMosquitto,
  startPostgres,
} from './harness/index.js';
import { aideBin } from './support/spawn-aide.js';
import { newPool, waitFor } from './sync-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'aide-devices-'));
const pidFile = join(tmp, 'mosquitto.pid');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('aide cloud devices', { timeout: 180_000 }, () => {
  let broker: MosquittoServer;
  let db: PostgresServer;
  let env: NodeJS.ProcessEnv;
  const clients: MqttClient[] = [];

  const aideWith = (over: NodeJS.ProcessEnv, ...args: string[]) =>
    new Promise<Run>((resolve) => {
      execFile(
        process.execPath,
        [aideBin, 'cloud', 'devices', ...args],
        { env: { ...env, ...over } },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const aide = (...args: string[]) => aideWith({}, ...args);
  const refused = /Not authorized|Bad User Name or Password/i;
  const passwdUsers = () =>
    readFileSync(broker.passwordFile!, 'utf8')
      .split('\n')
      .map((l) => l.split(':')[0]);

  /** The bundle's settings, as the installer would read them, plus its CA written to a file. */
  const readBundle = (text: string) => {
    const values: Record<string, string> = {};
    for (const m of text.matchAll(/^([A-Z][A-Z0-9_]*)='(.*)'$/gm)) values[m[1]!] = m[2]!;
    const ca = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/)?.[0];
    const caFile = join(tmp, `${values.AIDE_DEVICE_ID}-ca.crt`);
    if (ca) writeFileSync(caFile, ca);
    return { ...values, AIDE_MQTT_CA_FILE: ca ? caFile : '' } as Record<string, string>;
  };

  const connect = (b: Record<string, string>, over: mqtt.IClientOptions = {}) =>
    mqtt.connectAsync(b.MQTT_URL!, {
      protocolVersion: 5,
      username: b.AIDE_MQTT_USERNAME,
      password: b.AIDE_MQTT_PASSWORD,
      clientId: `aide-${b.AIDE_DEVICE_ID}-${Math.random().toString(36).slice(2, 8)}`,
      ca: b.AIDE_MQTT_CA_FILE ? readFileSync(b.AIDE_MQTT_CA_FILE) : undefined,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...over,
    });

  before(async () => {
    [broker, db] = await Promise.all([
      startMosquitto({
        tls: true,
        users: { 'aide-ingest': 'ingest-secret' },
        acl: brokerAcl([{ username: 'aide-ingest', role: 'ingest' }]),
        config: `pid_file ${pidFile}`,
      }),
      startPostgres(),
    ]);
    await waitFor('pid file', () => readFileSync(pidFile, 'utf8').trim() === String(broker.pid), 10_000);
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: db.url,
      AIDE_DEVICE_PASSWORD_FILE: broker.passwordFile,
      AIDE_BROKER_PID_FILE: pidFile,
      AIDE_DEVICE_MQTT_URL: broker.url,
      AIDE_DEVICE_CA_FILE: broker.caFile,
      AIDE_API_ISSUER: 'https://care.example.org',
      AIDE_LOG_LEVEL: 'silent',
    };
  });

  after(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    await broker?.dispose();
    await db?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('add issues credentials the installer takes; the device connects; revoke drops and refuses it at once', async () => {
    const out = join(tmp, 'dev-one.credentials');
    const one = await aide('add', 'dev-one', '--out', out);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stderr, /broker reloaded and confirmed: it accepts dev-one's new password/);
    assert.equal((statSync(out).mode & 0o777).toString(8), '600', 'the bundle holds a secret');
    const b1 = readBundle(readFileSync(out, 'utf8'));
    assert.equal(b1.AIDE_DEVICE_ID, 'dev-one');
    assert.equal(b1.AIDE_MQTT_USERNAME, 'dev-one');
    assert.equal(b1.MQTT_URL, broker.url);
    assert.equal(b1.AIDE_CLOUD_API_URL, 'https://care.example.org');
    assert.ok(b1.AIDE_MQTT_PASSWORD!.length >= 32, 'a strong password (192 random bits)');
    assert.ok(b1.AIDE_MQTT_CA_FILE, 'the bundle carries the broker CA');
    // What the installer writes to /etc/aide/aide.env is a valid device configuration.
    const cfg = loadDeviceConfig({ env: b1 });
    assert.equal(cfg.AIDE_DEVICE_ID, 'dev-one');
    assert.ok(!readFileSync(broker.passwordFile!, 'utf8').includes(b1.AIDE_MQTT_PASSWORD!), 'stored hashed');

    // A second device, bundle on stdout.
    const two = await aide('add', 'dev-two');
    assert.equal(two.code, 0, two.stderr);
    const b2 = readBundle(two.stdout);

    const c1 = await connect(b1, {
      clientId: 'aide-dev-one',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    clients.push(c1);
    const c2 = await connect(b2);
    clients.push(c2);
    // Each publishes under its own id only; the broker refuses another id's topic.
    await c1.publishAsync('aide/v1/dev-one/up/status', '{}', { qos: 1 });
    await assert.rejects(
      c1.publishAsync('aide/v1/dev-two/up/measurement', '{}', { qos: 1 }),
      /Not authorized/i,
    );
    await assert.rejects(c2.publishAsync('aide/v1/dev-one/down/speak', '{}', { qos: 1 }), /Not authorized/i);

    const dropped = new Promise<void>((resolve) => c1.once('close', () => resolve()));
    const revoked = await aide('revoke', 'dev-one');
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /dev-one revoked: the broker re-read its password file .*refuses dev-one/);
    await dropped; // Mosquitto re-read its password file and disconnected the revoked device
    await assert.rejects(connect(b1, { clientId: 'aide-dev-one' }), refused);
    assert.ok(!passwdUsers().includes('dev-one'), 'the throwaway password of the check is gone too');
    // The other device was not disturbed and still works.
    assert.equal(c2.connected, true);
    await c2.publishAsync('aide/v1/dev-two/up/status', '{}', { qos: 1 });

    // The ACL this broker runs with is what `aide cloud devices acl` prints for the ingest user.
    env.AIDE_MQTT_USERNAME = 'aide-ingest';
    const acl = await aide('acl');
    assert.equal(acl.code, 0, acl.stderr);
    assert.equal(acl.stdout, readFileSync(broker.aclFile!, 'utf8'));

    const list = await aide('list', '--json');
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as { deviceId: string; state: string; revokedAt: string | null }[];
    assert.deepEqual(
      rows.map((r) => [r.deviceId, r.state]),
      [
        ['dev-one', 'revoked'],
        ['dev-two', 'active'],
      ],
    );
  });

  test('re-issuing needs --rotate, which retires the old password; bad ids and service users are refused', async () => {
    const again = await aide('add', 'dev-two');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already has credentials .*--rotate/);
    const before = readBundle((await aide('add', 'dev-three')).stdout);
    const rotated = await aide('add', 'dev-three', '--rotate');
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(
      rotated.stderr,
      /confirmed: it accepts dev-three's new password \(and no longer the old one\)/,
    );
    const after = readBundle(rotated.stdout);
    assert.notEqual(after.AIDE_MQTT_PASSWORD, before.AIDE_MQTT_PASSWORD);
    await assert.rejects(connect(before), refused);
    const c = await connect(after);
    clients.push(c);
    assert.equal(c.connected, true);

    const service = await aide('add', 'aide-ingest');
    assert.equal(service.code, 1);
    assert.match(service.stderr, /aide-ingest is a user of the broker's password file but not a device/);
    const bad = await aide('add', 'no/such id');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /deviceId must be 3-64 letters, digits, - or _/);
    const missing = await aide('revoke', 'dev-nobody');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /device dev-nobody does not exist/);
    // A revoked device can be provisioned again (new password).
    const back = await aide('add', 'dev-one');
    assert.equal(back.code, 0, back.stderr);
    const c1 = await connect(readBundle(back.stdout));
    clients.push(c1);
    assert.equal(c1.connected, true);
  });

  test('a broker that cannot be reloaded is reported, with what to do', async () => {
    const res = await aideWith({ AIDE_BROKER_PID_FILE: join(tmp, 'nope.pid') }, 'add', 'dev-four');
    assert.equal(res.code, 1);
    assert.match(res.stdout, /AIDE_MQTT_PASSWORD=/, 'the issued bundle is still handed over');
    assert.match(res.stderr, /broker was not reloaded.*systemctl reload mosquitto/);
    const pool = newPool(db.url);
    try {
      const { rows } = await pool.query(
        "SELECT credentials_issued_at FROM devices WHERE device_id = 'dev-four'",
      );
      assert.ok(rows[0]?.credentials_issued_at);
    } finally {
      await pool.end();
    }
  });

  test('when the broker cannot be checked, the command says so and does not exit 0', async () => {
    // Nothing listens here: the operator has no MQTT access to the broker from where the command runs.
    const closed = `mqtt://127.0.0.1:${await freePort()}`;
    const noAccess = { AIDE_BROKER_CHECK_URL: closed, AIDE_BROKER_CONFIRM_MS: '300' };
    const added = await aideWith(noAccess, 'add', 'dev-five');
    assert.equal(added.code, 75, added.stderr);
    assert.match(added.stdout, /AIDE_MQTT_PASSWORD=/, 'the issued bundle is still handed over');
    assert.match(
      added.stderr,
      new RegExp(`signal sent; not confirmed: could not sign in to ${closed} as dev-five .*ECONNREFUSED`),
    );
    assert.match(added.stderr, /dev-five may be refused/);
    assert.doesNotMatch(added.stderr, /reloaded and confirmed|can connect/);

    // TLS without the broker's CA: the check cannot trust the broker, so it confirms nothing.
    const b5 = readBundle(added.stdout);
    const rotated = await aideWith(
      { AIDE_DEVICE_CA_FILE: undefined, AIDE_BROKER_CONFIRM_MS: '300' },
      'add',
      'dev-five',
      '--rotate',
    );
    assert.equal(rotated.code, 75, rotated.stderr);
    assert.match(rotated.stderr, /signal sent; not confirmed: could not sign in to mqtts:.*certificate/i);
    assert.match(rotated.stderr, /the old password of dev-five may still work/);

    const off = await aideWith({ AIDE_BROKER_CONFIRM_MS: '0' }, 'revoke', 'dev-five');
    assert.equal(off.code, 75, off.stderr);
    assert.match(off.stdout, /dev-five revoked in the password file and the database/);
    assert.doesNotMatch(off.stdout, /refuses/);
    assert.match(off.stderr, /signal sent; not confirmed: confirmation is off \(AIDE_BROKER_CONFIRM_MS=0\)/);
    assert.match(off.stderr, /dev-five may still connect/);
    assert.ok(!passwdUsers().includes('dev-five'), 'the revocation itself is made');
    // Once confirmed by the next command, the broker refuses both passwords dev-five ever had.
    const again = await aide('revoke', 'dev-five');
    assert.equal(again.code, 0, again.stderr);
    await assert.rejects(connect(b5), refused);
    // That bundle was issued without AIDE_DEVICE_CA_FILE, so it carries no CA: give it the broker's.
    await assert.rejects(
      connect({ ...readBundle(rotated.stdout), AIDE_MQTT_CA_FILE: b5.AIDE_MQTT_CA_FILE! }),
      refused,
    );
  });

  test('a broker that has not re-read its files yet: revoke says so, and the device is cut once it does', async () => {
    const added = await aide('add', 'dev-six');
    assert.equal(added.code, 0, added.stderr);
    const b6 = readBundle(added.stdout);
    const c6 = await connect(b6);
    clients.push(c6);
    const dropped = new Promise<void>((resolve) => c6.once('close', () => resolve()));
    // A stopped broker keeps the SIGHUP pending and answers no CONNECT: the slowest possible reload.
    process.kill(broker.pid, 'SIGSTOP');
    let revoked: Run;
    try {
      revoked = await aideWith({ AIDE_BROKER_CONFIRM_MS: '500' }, 'revoke', 'dev-six');
      assert.equal(c6.connected, true, 'nothing has happened at the broker yet');
    } finally {
      process.kill(broker.pid, 'SIGCONT');
    }
    assert.equal(revoked.code, 75, revoked.stderr);
    assert.match(revoked.stdout, /dev-six revoked in the password file and the database/);
    assert.match(revoked.stderr, /signal sent; not confirmed: could not sign in to mqtts:\S+ as dev-six/);
    assert.match(revoked.stderr, /dev-six may still connect and stay connected/);
    await dropped; // the pending SIGHUP: Mosquitto re-reads the file and cuts the device
    await assert.rejects(connect(b6), refused);
  });
});
