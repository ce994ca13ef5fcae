// Real receivers for the notify tests: Debian's aiosmtpd as the SMTP server, an HTTP server speaking
// Twilio's Messages API, and a Web Push endpoint that checks VAPID and decrypts RFC 8291 payloads.
import { createDecipheriv, createECDH, createHmac, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { importJWK, jwtVerify } from 'jose';
import { canConnect, freePort, makeTempDir, spawnManaged, waitUntilReady } from './harness/process.js';

export interface MailMessage {
  raw: string;
  to: string;
  subject: string;
  messageId: string;
}

/** `python3 -m aiosmtpd` with its Maildir handler: every accepted message becomes a file. */
export async function startSmtp(): Promise<{
  url: string;
  messages(): MailMessage[];
  stop(): Promise<void>;
}> {
  const dir = makeTempDir('smtp');
  const maildir = join(dir, 'maildir');
  const port = await freePort();
  const proc = spawnManaged({
    name: 'aiosmtpd',
    command: '/usr/bin/python3',
    args: ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir],
    cwd: dir,
    logFile: join(dir, 'smtp.log'),
  });
  // Python and aiosmtpd's imports can take a while on a loaded CI machine.
  await waitUntilReady(proc, 'aiosmtpd', () => canConnect(port), 30_000);
  const header = (raw: string, name: string) =>
    new RegExp(`^${name}: (.*)$`, 'mi').exec(raw)?.[1]?.trim() ?? '';
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages() {
      const files: { path: string; order: number[] }[] = [];
      for (const sub of ['new', 'cur']) {
        let names: string[] = [];
        try {
          names = readdirSync(join(maildir, sub));
        } catch {}
        for (const f of names) files.push({ path: join(maildir, sub, f), order: arrivalOrder(f) });
      }
      // In arrival order: readdir's order is not, and Python names files `<sec>.M<µs>P<pid>Q<n>.<host>`
      // with µs not zero-padded, so a name sort puts M100000 before the earlier M99999.
      files.sort(
        (a, b) => a.order[0]! - b.order[0]! || a.order[1]! - b.order[1]! || a.order[2]! - b.order[2]!,
      );
      return files.map(({ path }) => {
        const raw = readFileSync(path, 'utf8');
        return {
          raw,
          to: header(raw, 'To'),
          subject: header(raw, 'Subject'),
          messageId: header(raw, 'Message-ID'),
        };
      });
    },
    stop: () => proc.stop(),
  };
}

/** Seconds, microseconds and the per-process counter from a Maildir file name written by Python's mailbox. */
function arrivalOrder(name: string): number[] {
  const m = /^(\d+)\.M(\d+)P\d+Q(\d+)\./.exec(name);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const listen = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );

export interface SmsReceived {
  to: string;
  from: string;
  body: string;
}

/** Twilio-shaped: POST /2010-04-01/Accounts/{sid}/Messages.json with Basic auth and form fields. */
export async function startSmsProvider(sid: string, token: string) {
  const received: SmsReceived[] = [];
  let failWith = 0;
  let requests = 0;
  const server = createServer(async (req, res) => {
    const body = (await readBody(req)).toString();
    requests++;
    const expectedAuth = `Basic ${Buffer.from(`${sid}:${token}`).toString('base64')}`;
    if (req.method !== 'POST' || req.url !== `/2010-04-01/Accounts/${sid}/Messages.json`)
      return res.writeHead(404).end();
    if (req.headers.authorization !== expectedAuth)
      return res.writeHead(401).end('{"code":20003,"message":"Authenticate"}');
    if (failWith)
      return res
        .writeHead(failWith, { 'content-type': 'application/json' })
        .end('{"message":"provider trouble"}');
    const form = new URLSearchParams(body);
    const msg = { to: form.get('To') ?? '', from: form.get('From') ?? '', body: form.get('Body') ?? '' };
    if (!/^\+\d{7,15}$/.test(msg.to)) return res.writeHead(400).end('{"code":21211,"message":"Invalid To"}');
    received.push(msg);
    res
      .writeHead(201, { 'content-type': 'application/json' })
      .end(JSON.stringify({ sid: `SM${randomBytes(16).toString('hex')}`, status: 'queued', to: msg.to }));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    requests: () => requests,
    failWith: (status: number) => {
      failWith = status;
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A browser's side of a push subscription: P-256 key pair and auth secret (RFC 8291 §3). */
export function makeSubscriptionKeys() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    ecdh,
    p256dh: ecdh.getPublicKey().toString('base64url'),
    auth: randomBytes(16).toString('base64url'),
  };
}

const hmac = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();

/** Decrypts an aes128gcm (RFC 8188) body encrypted for the subscription per RFC 8291. */
export function decryptWebPush(body: Buffer, keys: ReturnType<typeof makeSubscriptionKeys>): string {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  if (ciphertext.length > rs) throw new Error('multi-record payloads are not expected');
  const uaPublic = keys.ecdh.getPublicKey();
  const ecdhSecret = keys.ecdh.computeSecret(asPublic);
  const prkKey = hmac(Buffer.from(keys.auth, 'base64url'), ecdhSecret);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic, Buffer.from([1])]);
  const ikm = hmac(prkKey, keyInfo);
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([
    decipher.update(ciphertext.subarray(0, ciphertext.length - 16)),
    decipher.final(),
  ]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error('missing last-record padding delimiter');
  return padded.subarray(0, end).toString('utf8');
}

export interface PushReceived {
  path: string;
  payload: Record<string, unknown>;
  urgency: string | undefined;
}

/**
 * A push service: checks the VAPID JWT (RFC 8292) against the server's public key, decrypts the payload
 * with the subscription's private key. Paths under /gone/ answer 410 like an expired subscription.
 */
export async function startPushService(vapidPublicKey: string) {
  const received: PushReceived[] = [];
  const subscriptions = new Map<string, ReturnType<typeof makeSubscriptionKeys>>();
  const errors: string[] = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    try {
      if (req.url?.startsWith('/gone/')) return res.writeHead(410).end();
      const m = /^vapid t=([^,]+),\s*k=(.+)$/.exec(req.headers.authorization ?? '');
      if (!m || m[2] !== vapidPublicKey) throw new Error('VAPID header missing or wrong key');
      const pub = Buffer.from(m[2], 'base64url');
      const jwk = {
        kty: 'EC',
        crv: 'P-256',
        x: pub.subarray(1, 33).toString('base64url'),
        y: pub.subarray(33, 65).toString('base64url'),
      };
      const { payload } = await jwtVerify(m[1]!, await importJWK(jwk, 'ES256'), { algorithms: ['ES256'] });
      if (payload.aud !== `http://127.0.0.1:${port}`) throw new Error(`VAPID aud ${payload.aud}`);
      if (req.headers['content-encoding'] !== 'aes128gcm')
        throw new Error('content-encoding must be aes128gcm');
      const keys = subscriptions.get(req.url ?? '');
      if (!keys) return res.writeHead(404).end();
      received.push({
        path: req.url!,
        payload: JSON.parse(decryptWebPush(body, keys)),
        urgency: req.headers.urgency as string | undefined,
      });
      res.writeHead(201).end();
    } catch (err) {
      errors.push((err as Error).message);
      res.writeHead(400).end();
    }
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    errors,
    /** A new subscription at this service, as a browser's PushManager.subscribe() would return. */
    subscribe(name: string) {
      const keys = makeSubscriptionKeys();
      const path = `/push/${name}`;
      subscriptions.set(path, keys);
      return { endpoint: `http://127.0.0.1:${port}${path}`, keys: { p256dh: keys.p256dh, auth: keys.auth } };
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
