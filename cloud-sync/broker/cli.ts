import { existsSync, writeFileSync } from 'node:fs';
import { isAppError } from '../../common/errors.js';
import { loadCloudConfig } from '../config.js';
import { migrateCloudDb } from '../db/migrate.js';
import { brokerAcl } from './auth.js';
import { type BrokerState, createDeviceCredentials, renderBundle } from './devices.js';

export const devicesUsage = `Usage: aide cloud devices <action> (run on the broker host, as root or the mosquitto user)

  add <deviceId> [--out FILE] [--rotate]   issue the device's MQTT credentials: record it in PostgreSQL,
                                           add it to the broker's password file, reload the broker, and
                                           write the credentials bundle (to FILE, mode 0600, or stdout)
                                           that install-device.sh --credentials takes
  list [--json]                            devices, their credentials state and when they were last seen
  revoke <deviceId>                        remove the device's credentials and reload the broker: it is
                                           disconnected and refused from now on
  acl                                      print the broker's ACL file (the ingest user AIDE_MQTT_USERNAME
                                           sees every device; each device only its own topics)

After SIGHUP, add and revoke sign in to the broker as the device (AIDE_BROKER_CHECK_URL, else the device
URL; for up to AIDE_BROKER_CONFIRM_MS) to confirm it re-read its password file. Exit status: 0 confirmed;
75 signal sent but not confirmed (the change is made; the broker may not apply it yet); 1 not signalled
or failed.

Reads DATABASE_URL, AIDE_DEVICE_PASSWORD_FILE, AIDE_BROKER_PID_FILE, AIDE_DEVICE_MQTT_URL (or MQTT_URL),
AIDE_DEVICE_CA_FILE (or AIDE_MQTT_CA_FILE), AIDE_BROKER_CHECK_URL, AIDE_BROKER_CONFIRM_MS and
AIDE_API_ISSUER (see aide config cloud).`;

/** Signal sent, the broker's answer not seen (sysexits EX_TEMPFAIL): the change may not be in force yet. */
const EXIT_UNCONFIRMED = 75;

/** Reports what is known of the broker beyond what `confirmed` says; returns the exit code. */
function reportBroker(broker: BrokerState, confirmed: string, risk: string): number {
  if (broker.state === 'confirmed') {
    console.error(confirmed);
    return 0;
  }
  if (broker.state === 'not signalled') {
    console.error(`aide cloud devices: ${broker.error.message}`);
    return 1;
  }
  console.error(`aide cloud devices: signal sent; not confirmed: ${broker.reason}`);
  console.error(`  until the broker re-reads its password file, ${risk}`);
  return EXIT_UNCONFIRMED;
}

/** `aide cloud devices …`: returns the process exit code. */
export async function devicesCommand(
  pos: string[],
  flags: Record<string, string | undefined>,
): Promise<number> {
  const [action, deviceId] = pos;
  if (!action || !['add', 'list', 'revoke', 'acl'].includes(action)) {
    console.error(
      `aide cloud devices: action must be add, list, revoke or acl, got ${action ?? 'nothing'}\n`,
    );
    console.error(devicesUsage);
    return 2;
  }
  const config = loadCloudConfig({ flags, file: flags.config });
  if (action === 'acl') {
    process.stdout.write(
      brokerAcl([{ username: config.AIDE_MQTT_USERNAME ?? 'aide-ingest', role: 'ingest' }]),
    );
    return 0;
  }
  if (!config.AIDE_DEVICE_PASSWORD_FILE && action !== 'list') {
    console.error(
      'aide cloud devices: AIDE_DEVICE_PASSWORD_FILE must name the broker’s password file (e.g. /etc/mosquitto/aide/passwd)',
    );
    return 78;
  }
  // Checked before anything is issued: a password that cannot be written out would be lost.
  if (action === 'add' && flags.out && existsSync(flags.out)) {
    console.error(`aide cloud devices add: ${flags.out} already exists; choose a new file for the bundle`);
    return 2;
  }
  const pg = (await import('pg')).default;
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 1 });
  const creds = createDeviceCredentials({
    pool,
    passwordFile: config.AIDE_DEVICE_PASSWORD_FILE ?? '',
    pidFile: config.AIDE_BROKER_PID_FILE,
    brokerUrl: config.AIDE_DEVICE_MQTT_URL ?? config.MQTT_URL,
    caFile: config.AIDE_DEVICE_CA_FILE ?? config.AIDE_MQTT_CA_FILE,
    apiUrl: config.AIDE_API_ISSUER,
    check: {
      url: config.AIDE_BROKER_CHECK_URL ?? config.AIDE_DEVICE_MQTT_URL ?? config.MQTT_URL,
      caFile: config.AIDE_DEVICE_CA_FILE ?? config.AIDE_MQTT_CA_FILE,
      timeoutMs: config.AIDE_BROKER_CONFIRM_MS,
    },
  });
  try {
    await migrateCloudDb(pool);
    if (action === 'list') {
      const rows = await creds.list();
      if (flags.json === 'true') console.log(JSON.stringify(rows, null, 2));
      else {
        console.log('DEVICE\tSTATE\tISSUED\tLAST SEEN\tONLINE');
        for (const r of rows)
          console.log(
            [
              r.deviceId,
              r.state,
              r.credentialsIssuedAt ?? '-',
              r.lastSeenAt ?? '-',
              r.online ? 'yes' : 'no',
            ].join('\t'),
          );
      }
      return 0;
    }
    if (action === 'add') {
      const rotate = flags.rotate === 'true';
      const { bundle, broker } = await creds.add(deviceId, { rotate });
      const text = renderBundle(bundle);
      if (flags.out) {
        writeFileSync(flags.out, text, { mode: 0o600 });
        console.error(`credentials of ${bundle.deviceId} written to ${flags.out} (mode 0600)`);
      } else process.stdout.write(text);
      const id = bundle.deviceId;
      return reportBroker(
        broker,
        `broker reloaded and confirmed: it accepts ${id}'s new password${rotate ? ' (and no longer the old one)' : ''}`,
        rotate
          ? `the old password of ${id} may still work and the new one may be refused`
          : `${id} may be refused (it keeps retrying)`,
      );
    }
    const r = await creds.revoke(deviceId);
    const expired = r.expiredCommands ? `; ${r.expiredCommands} pending commands expired` : '';
    if (r.broker.state !== 'confirmed') {
      console.log(`${r.deviceId} revoked in the password file and the database${expired}`);
      return reportBroker(r.broker, '', `${r.deviceId} may still connect and stay connected`);
    }
    console.log(
      `${r.deviceId} revoked: the broker re-read its password file (confirmed by signing in): it refuses ${r.deviceId} and dropped its connection, if it had one${expired}`,
    );
    return 0;
  } catch (err) {
    if (isAppError(err)) {
      console.error(`aide cloud devices ${action}: ${(err as Error).message}`);
      return 1;
    }
    throw err;
  } finally {
    await pool.end();
  }
}
