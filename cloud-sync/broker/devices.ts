import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type pg from 'pg';
import { conflict, fieldError, invalidArgument, notFound, unavailable } from '../../common/errors.js';
import { inTx } from '../db/tx.js';
import { deviceIdPattern } from '../protocol/index.js';
import { issueDevicePassword } from './auth.js';
import { type BrokerCheck, cannotConfirm, confirmLogin } from './confirm.js';

const run = promisify(execFile);
/** Serializes operators editing the broker's password file (arbitrary constant). */
const PASSWD_LOCK = 7_401_042_016;

export interface DeviceCredentialsOptions {
  pool: pg.Pool;
  /** The broker's Mosquitto password file (AIDE_DEVICE_PASSWORD_FILE). */
  passwordFile: string;
  /** Mosquitto's pid_file: the broker re-reads its password file on SIGHUP. */
  pidFile: string;
  /** What the bundle tells the device. */
  brokerUrl: string;
  caFile?: string;
  apiUrl?: string;
  /** How to confirm the broker applied a change (sign in after SIGHUP); default: no confirmation. */
  check?: BrokerCheck;
  mosquittoPasswd?: string;
  now?: () => Date;
}

export interface CredentialsBundle {
  deviceId: string;
  password: string;
  brokerUrl: string;
  apiUrl?: string;
  caPem?: string;
  issuedAt: Date;
}

/**
 * What is known about the broker after a change (the change itself is made and recorded either way):
 * `confirmed` — a sign-in showed the broker answering as the change says; `unconfirmed` — SIGHUP was
 * sent but the broker's answer was not seen (why: `reason`); `not signalled` — SIGHUP could not be sent.
 */
export type BrokerState =
  | { state: 'confirmed' }
  | { state: 'unconfirmed'; reason: string }
  | { state: 'not signalled'; error: Error };

export interface DeviceRecord {
  deviceId: string;
  state: 'active' | 'revoked' | 'no credentials';
  credentialsIssuedAt: string | null;
  revokedAt: string | null;
  lastSeenAt: string | null;
  online: boolean;
  /** False when the broker's password file disagrees with the record (edited by hand?). */
  inPasswordFile: boolean;
}

function passwordFileUsers(file: string): Set<string> {
  if (!existsSync(file))
    throw unavailable(
      `AIDE_DEVICE_PASSWORD_FILE ${file} does not exist (create it with the broker's users first)`,
    );
  const names = new Set<string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) names.add(line.slice(0, i));
  }
  return names;
}

function checkDeviceId(deviceId: string | undefined): string {
  if (!deviceId || !deviceIdPattern.test(deviceId))
    throw fieldError(
      'deviceId',
      'pattern',
      `deviceId must be 3-64 letters, digits, - or _, got ${JSON.stringify(deviceId ?? '')}`,
    );
  return deviceId;
}

/** SIGHUP to the broker: Mosquitto re-reads its password file and drops clients no longer in it. */
export function reloadBroker(pidFile: string): number {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  } catch {
    throw unavailable(
      `the broker was not reloaded: AIDE_BROKER_PID_FILE ${pidFile} cannot be read (is Mosquitto running with pid_file ${pidFile}?); reload it now: systemctl reload mosquitto`,
    );
  }
  if (!Number.isInteger(pid) || pid <= 1)
    throw unavailable(`the broker was not reloaded: ${pidFile} does not hold a process id`);
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw unavailable(
      code === 'EPERM'
        ? `the broker was not reloaded: not allowed to signal process ${pid} (run as root or the mosquitto user)`
        : `the broker was not reloaded: no process ${pid} (${pidFile} is stale; is Mosquitto running?)`,
    );
  }
  return pid;
}

/**
 * Issues, lists and revokes per-device MQTT credentials. The device's user name is its id (the broker's
 * pattern ACL confines it to `aide/v1/{id}/…`). A PostgreSQL advisory lock serializes operators, so two
 * `add`s never race on the password file.
 */
export function createDeviceCredentials(o: DeviceCredentialsOptions) {
  const passwd = o.mosquittoPasswd ?? 'mosquitto_passwd';
  const now = o.now ?? (() => new Date());
  const check: BrokerCheck = o.check ?? { timeoutMs: 0 };

  function locked<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTx(o.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [PASSWD_LOCK]);
      return fn(client);
    });
  }

  /**
   * Signalled while the lock is held: another operator's mosquitto_passwd rewriting the file could
   * otherwise be read half-written by the broker (and the sign-in check below would see another change).
   */
  function signal(): BrokerState | undefined {
    try {
      reloadBroker(o.pidFile);
      return undefined;
    } catch (err) {
      return { state: 'not signalled', error: err as Error };
    }
  }

  /** SIGHUP, then sign in as `deviceId` until the broker answers `expect`. */
  async function applyAndConfirm(
    deviceId: string,
    password: string,
    expect: 'accepted' | 'refused',
  ): Promise<BrokerState> {
    const failed = signal();
    if (failed) return failed;
    const c = await confirmLogin(check, deviceId, password, expect);
    return c.confirmed ? { state: 'confirmed' } : { state: 'unconfirmed', reason: c.reason };
  }

  function passwdWrite(args: string[]): Promise<unknown> {
    return run(passwd, [...args]).catch((err: Error) => {
      throw unavailable(`mosquitto_passwd could not edit ${o.passwordFile}: ${err.message.split('\n')[0]}`);
    });
  }

  async function add(
    id: string | undefined,
    opts: { rotate?: boolean } = {},
  ): Promise<{ bundle: CredentialsBundle; broker: BrokerState }> {
    const deviceId = checkDeviceId(id);
    const caPem = o.caFile ? readFileSync(o.caFile, 'utf8') : undefined;
    if (caPem !== undefined && !caPem.includes('-----BEGIN CERTIFICATE-----'))
      throw invalidArgument(`the CA file ${o.caFile} holds no PEM certificate`);
    return locked(async (client) => {
      const { rows } = await client.query<{ credentials_issued_at: Date | null; disabled_at: Date | null }>(
        'SELECT credentials_issued_at, disabled_at FROM devices WHERE device_id = $1 FOR UPDATE',
        [deviceId],
      );
      const row = rows[0];
      const inFile = passwordFileUsers(o.passwordFile).has(deviceId);
      if (inFile && !row)
        throw conflict(
          `${deviceId} is a user of the broker's password file but not a device (a cloud service?); choose another device id`,
        );
      if (inFile && row && !row.disabled_at && !opts.rotate)
        throw conflict(
          `${deviceId} already has credentials${row.credentials_issued_at ? ` (issued ${row.credentials_issued_at.toISOString()})` : ''}; add --rotate to issue new ones (the old password stops working)`,
        );
      const issuedAt = now();
      const password = issueDevicePassword();
      await client.query(
        `INSERT INTO devices (device_id, credentials_issued_at) VALUES ($1, $2)
         ON CONFLICT (device_id) DO UPDATE SET credentials_issued_at = excluded.credentials_issued_at, disabled_at = NULL`,
        [deviceId, issuedAt],
      );
      // Written last: if it fails, the transaction rolls back and nothing was issued.
      await passwdWrite(['-b', o.passwordFile, deviceId, password]);
      return {
        bundle: { deviceId, password, brokerUrl: o.brokerUrl, apiUrl: o.apiUrl, caPem, issuedAt },
        // The file holds one password per user: the new one accepted means the old one is refused.
        broker: await applyAndConfirm(deviceId, password, 'accepted'),
      };
    });
  }

  async function revoke(
    id: string | undefined,
  ): Promise<{ deviceId: string; expiredCommands: number; broker: BrokerState }> {
    const deviceId = checkDeviceId(id);
    return locked(async (client) => {
      const { rows } = await client.query<{ disabled_at: Date | null }>(
        'SELECT disabled_at FROM devices WHERE device_id = $1 FOR UPDATE',
        [deviceId],
      );
      if (!rows[0]) throw notFound(`device ${deviceId} does not exist`);
      await client.query('UPDATE devices SET disabled_at = coalesce(disabled_at, $2) WHERE device_id = $1', [
        deviceId,
        now(),
      ]);
      // Commands still waiting for this device will never be delivered.
      const expired = await client.query(
        'UPDATE device_commands SET expires_at = $2 WHERE device_id = $1 AND acked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)',
        [deviceId, now()],
      );
      return { deviceId, expiredCommands: expired.rowCount ?? 0, broker: await removeFromBroker(deviceId) };
    });
  }

  /**
   * Takes `deviceId` out of the password file. The device's own password is unknown here (the file keeps
   * a hash), so refusal alone would prove nothing: the broker refuses a wrong password before and after.
   * With confirmation on, the entry first gets a throwaway password known only to this process; once
   * the broker accepts it, the device's password is gone from what the broker holds (and its connection
   * cut). The entry is then deleted, and the broker refusing the throwaway password shows it has
   * re-read the file without the device.
   */
  async function removeFromBroker(deviceId: string): Promise<BrokerState> {
    const off = cannotConfirm(check);
    const probe = issueDevicePassword();
    let first: BrokerState = { state: 'confirmed' };
    if (!off) {
      await passwdWrite(['-b', o.passwordFile, deviceId, probe]);
      first = await applyAndConfirm(deviceId, probe, 'accepted');
    }
    if (passwordFileUsers(o.passwordFile).has(deviceId)) await passwdWrite(['-D', o.passwordFile, deviceId]);
    if (off) return signal() ?? { state: 'unconfirmed', reason: off };
    if (first.state !== 'confirmed') return signal() ?? first;
    return applyAndConfirm(deviceId, probe, 'refused');
  }

  async function list(): Promise<DeviceRecord[]> {
    const users = existsSync(o.passwordFile) ? passwordFileUsers(o.passwordFile) : new Set<string>();
    const { rows } = await o.pool.query<{
      device_id: string;
      credentials_issued_at: Date | null;
      disabled_at: Date | null;
      last_seen_at: Date | null;
      online: boolean | null;
    }>(
      `SELECT device_id, credentials_issued_at, disabled_at, last_seen_at, (status->>'online')::boolean AS online
         FROM devices ORDER BY device_id`,
    );
    return rows.map((r) => ({
      deviceId: r.device_id,
      state: r.disabled_at ? 'revoked' : users.has(r.device_id) ? 'active' : 'no credentials',
      credentialsIssuedAt: r.credentials_issued_at?.toISOString() ?? null,
      revokedAt: r.disabled_at?.toISOString() ?? null,
      lastSeenAt: r.last_seen_at?.toISOString() ?? null,
      online: r.online === true && !r.disabled_at,
      inPasswordFile: users.has(r.device_id),
    }));
  }

  return { add, revoke, list };
}

/**
 * The credentials bundle the installer takes (`install-device.sh --credentials FILE`): shell-quoted
 * settings for /etc/aide/aide.env, then the broker's CA certificate. It holds a secret: mode 0600.
 */
export function renderBundle(b: CredentialsBundle): string {
  for (const [name, v] of [
    ['broker URL', b.brokerUrl],
    ['API URL', b.apiUrl ?? ''],
  ] as const)
    if (/['\n]/.test(v)) throw invalidArgument(`the ${name} must not contain a quote or a line break`);
  const lines = [
    `# Aide device credentials for ${b.deviceId}, issued ${b.issuedAt.toISOString()} by aide cloud devices add.`,
    '# Secret: keep it mode 0600, give it only to the installer (install-device.sh --credentials FILE).',
    `AIDE_DEVICE_ID='${b.deviceId}'`,
    `MQTT_URL='${b.brokerUrl}'`,
    `AIDE_MQTT_USERNAME='${b.deviceId}'`,
    `AIDE_MQTT_PASSWORD='${b.password}'`,
    ...(b.apiUrl ? [`AIDE_CLOUD_API_URL='${b.apiUrl}'`] : []),
  ];
  if (b.caPem) lines.push('# CA certificate of the broker (AIDE_MQTT_CA_FILE):', b.caPem.trim());
  return `${lines.join('\n')}\n`;
}
