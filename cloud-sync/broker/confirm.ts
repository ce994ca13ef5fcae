import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';

/**
 * How `aide cloud devices` confirms that Mosquitto applied a password-file change: after SIGHUP it only
 * knows the signal was sent, so it signs in to the broker with the credentials concerned, as a device
 * would, until the broker answers as the change says it should or the deadline passes.
 */
export interface BrokerCheck {
  /** Where to sign in (AIDE_BROKER_CHECK_URL, else the URL devices use); none: nothing can be confirmed. */
  url?: string;
  /** CA of the broker's TLS certificate (mqtts:// and wss:// only). */
  caFile?: string;
  /** How long to keep trying (AIDE_BROKER_CONFIRM_MS); 0 turns confirmation off. */
  timeoutMs: number;
  now?: () => number;
}

/** One CONNECT: the broker's answer, or why there was none. */
export type Login = { answer: 'accepted' } | { answer: 'refused' } | { answer: 'none'; why: string };

export type Confirmation = { confirmed: true } | { confirmed: false; reason: string };

// CONNACK reason codes meaning "these credentials are not valid here": MQTT 5 Bad user name or password
// (134) and Not authorized (135). Anything else (server busy, banned, …) says nothing about the file.
const REFUSED = new Set([134, 135]);

/** Signs in once as `username`; the probe's client id is its own, so no device session is taken over. */
export function tryLogin(
  check: Required<Pick<BrokerCheck, 'url'>> & Pick<BrokerCheck, 'caFile'>,
  username: string,
  password: string,
  timeoutMs: number,
): Promise<Login> {
  let ca: Buffer | undefined;
  try {
    ca = check.caFile && /^(mqtts|wss):/.test(check.url) ? readFileSync(check.caFile) : undefined;
  } catch (err) {
    return Promise.resolve({
      answer: 'none',
      why: `cannot read the CA file ${check.caFile}: ${(err as Error).message}`,
    });
  }
  return new Promise((resolve) => {
    let lastError = '';
    const client = mqtt.connect(check.url, {
      protocolVersion: 5,
      username,
      password,
      clientId: `aide-confirm-${randomBytes(6).toString('hex')}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      ca,
    });
    const done = (login: Login) => {
      clearTimeout(timer);
      client.removeAllListeners();
      client.on('error', () => {});
      client.end(true);
      resolve(login);
    };
    const timer = setTimeout(
      () => done({ answer: 'none', why: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    client.on('connect', () => done({ answer: 'accepted' }));
    client.on('error', (err: Error & { code?: number | string }) => {
      if (typeof err.code === 'number' && REFUSED.has(err.code)) done({ answer: 'refused' });
      else lastError = err.message;
    });
    // Socket errors (ECONNREFUSED, TLS) reach the stream, not always the client's 'error'.
    client.stream?.on?.('error', (err: Error) => {
      lastError = err.message;
    });
    client.on('close', () =>
      done({ answer: 'none', why: lastError || 'the connection closed before CONNACK' }),
    );
  });
}

/** Why this check cannot confirm anything, before trying; undefined when it can try. */
export function cannotConfirm(check: BrokerCheck): string | undefined {
  if (check.timeoutMs <= 0) return 'confirmation is off (AIDE_BROKER_CONFIRM_MS=0)';
  if (!check.url) return 'no broker URL to sign in to (set AIDE_BROKER_CHECK_URL)';
  return undefined;
}

/**
 * Signs in as `username` until the broker answers `expect` (it has re-read its files) or the deadline
 * passes. Never throws: what could not be confirmed is said in `reason`.
 */
export async function confirmLogin(
  check: BrokerCheck,
  username: string,
  password: string,
  expect: 'accepted' | 'refused',
): Promise<Confirmation> {
  const off = cannotConfirm(check);
  if (off || !check.url) return { confirmed: false, reason: off ?? 'no broker URL' };
  const now = check.now ?? Date.now;
  const deadline = now() + check.timeoutMs;
  let last: Login = { answer: 'none', why: 'not tried' };
  let pause = 20;
  for (;;) {
    const left = deadline - now();
    if (left <= 0) break;
    last = await tryLogin({ url: check.url, caFile: check.caFile }, username, password, left);
    if (last.answer === expect) return { confirmed: true };
    if (deadline - now() <= pause) break;
    // Polling Mosquitto's answer: it re-reads the files between two network events, usually within ms.
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 250);
  }
  const seconds = `${(check.timeoutMs / 1000).toFixed(1)} s`;
  return {
    confirmed: false,
    reason:
      last.answer === 'none'
        ? `could not sign in to ${check.url} as ${username} within ${seconds}: ${last.why}`
        : `after ${seconds} the broker at ${check.url} still ${last.answer === 'accepted' ? 'accepts' : 'refuses'} that password of ${username}`,
  };
}
