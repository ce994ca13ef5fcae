// `aide cloud devices add|list|revoke` as a real process against a real Mosquitto (TLS, the generated ACL,
// pid_file) and PostgreSQL: an issued device connects with its bundle; a revoked one is dropped and
// refused at once; others carry on; a device still cannot publish under another id.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { brokerAcl } from '../cloud-sync/broker/auth.js';
import { loadDeviceConfig } from '../device/config.js';
import { type MosquittoServer, type PostgresServer, startMosquitto, startPostgres } from './harness/index.js';
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

  const aide = (...args: string[]) =>
    new Promise<Run>((resolve) => {
      execFile(process.execPath, [aideBin, 'cloud', 'devices', ...args], { env }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

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
    assert.match(one.stderr, /broker reloaded/);
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
    assert.match(revoked.stdout, /dev-one revoked/);
    await dropped; // Mosquitto re-read its password file and disconnected the revoked device
    await assert.rejects(
      connect(b1, { clientId: 'aide-dev-one' }),
      /Not authorized|Bad User Name or Password/i,
    );
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
    const after = readBundle(rotated.stdout);
    assert.notEqual(after.AIDE_MQTT_PASSWORD, before.AIDE_MQTT_PASSWORD);
    await assert.rejects(connect(before), /Not authorized|Bad User Name or Password/i);
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
    const res = await new Promise<Run>((resolve) =>
      execFile(
        process.execPath,
        [aideBin, 'cloud', 'devices', 'add', 'dev-four'],
        { env: { ...env, AIDE_BROKER_PID_FILE: join(tmp, 'nope.pid') } },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
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
});
