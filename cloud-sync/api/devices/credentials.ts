import { createHash, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { FastifyRequest } from 'fastify';
import { unauthenticated, unavailable } from '../../../common/errors.js';
import { deviceIdPattern } from '../../protocol/index.js';

/**
 * Devices prove who they are to the API with the MQTT credentials issued at provisioning (user name =
 * device id), checked against the same Mosquitto password file the broker uses (cloud-sync/broker/auth.ts),
 * so a device has one secret. Supports mosquitto_passwd's `$7$` (PBKDF2-SHA512) and `$6$` (salted SHA-512).
 */
export function createDeviceCredentials(opts: { passwordFile?: string }) {
  let entries = new Map<string, string>();
  let loadedStamp = '';

  function load(): Map<string, string> {
    if (!opts.passwordFile) throw unavailable('device sign-in is not configured (AIDE_DEVICE_PASSWORD_FILE)');
    // mosquitto_passwd rewrites the file (new inode, size, times): any of them changing means reading it again.
    const st = statSync(opts.passwordFile, { bigint: true });
    const stamp = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    if (stamp !== loadedStamp) {
      const next = new Map<string, string>();
      for (const line of readFileSync(opts.passwordFile, 'utf8').split('\n')) {
        const i = line.indexOf(':');
        if (i > 0) next.set(line.slice(0, i), line.slice(i + 1).trim());
      }
      entries = next;
      loadedStamp = stamp;
    }
    return entries;
  }

  function matches(stored: string, password: string): boolean {
    const parts = stored.split('$');
    let expected: Buffer;
    let actual: Buffer;
    if (parts[1] === '7' && parts.length === 5) {
      expected = Buffer.from(parts[4]!, 'base64');
      actual = pbkdf2Sync(
        password,
        Buffer.from(parts[3]!, 'base64'),
        Number(parts[2]),
        expected.length,
        'sha512',
      );
    } else if (parts[1] === '6' && parts.length === 4) {
      expected = Buffer.from(parts[3]!, 'base64');
      actual = createHash('sha512').update(password).update(Buffer.from(parts[2]!, 'base64')).digest();
    } else {
      return false;
    }
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  // Successful checks are remembered briefly so a chatty device does not pay PBKDF2 on every call. The key
  // covers the stored hash as well as the credentials presented: `aide cloud devices add --rotate` writes a
  // new hash (the old password's entry no longer matches: checked in full, refused at once) and `revoke`
  // removes the entry (no stored hash: refused before the memo is consulted).
  const recent = new Map<string, number>();

  return {
    /** The device id of a request carrying `Authorization: Basic base64(deviceId:password)`, or 401. */
    authenticate(req: FastifyRequest): string {
      const m = /^Basic ([A-Za-z0-9+/=]{4,400})$/.exec(req.headers.authorization ?? '');
      if (!m)
        throw unauthenticated('authorization: devices sign in with Basic <device id>:<device password>');
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const deviceId = decoded.slice(0, i);
      const password = decoded.slice(i + 1);
      if (i <= 0 || !deviceIdPattern.test(deviceId))
        throw unauthenticated('device credentials are not right');
      const stored = load().get(deviceId);
      const memo = createHash('sha256')
        .update(stored ?? '')
        .update('\n')
        .update(decoded)
        .digest('hex');
      const seen = recent.get(memo);
      if (stored && seen && seen > Date.now()) return deviceId;
      if (!stored || !matches(stored, password)) throw unauthenticated('device credentials are not right');
      if (recent.size > 10_000) recent.clear();
      recent.set(memo, Date.now() + 60_000);
      return deviceId;
    },
  };
}

export type DeviceCredentials = ReturnType<typeof createDeviceCredentials>;
