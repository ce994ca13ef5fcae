// Shared by the caregiver-*.test.ts files: an in-process `aide cloud api` on real PostgreSQL/Redis,
// a clock tests can move forward, captured logs, and a small JSON client.
import { Writable } from 'node:stream';
import type pg from 'pg';
import { createPairingCode } from '../cloud-sync/api/people/pairing.js';
import { type CloudService, loadCloudConfig } from '../cloud-sync/config.js';
import { type CloudHandle, startCloudService } from '../cloud-sync/main.js';
import type { Clock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { freePort } from './harness/index.js';
import { waitFor } from './support/common.js';
import { type AideProcess, spawnAide } from './support/spawn-aide.js';

/** Real time plus an offset the test controls (timers stay real). */
export interface ShiftClock extends Clock {
  shift(ms: number): void;
}

export function createShiftClock(): ShiftClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    shift: (ms) => {
      offset += ms;
    },
  };
}

export interface ApiUnderTest {
  handle: CloudHandle;
  url: string;
  clock: ShiftClock;
  /** Every log line the service wrote. */
  logs(): string;
  close(): Promise<void>;
}

/**
 * `aide cloud <service>` in-process on a free port, logging at debug level; every chunk of its log
 * goes to `onLog`.
 */
export async function startServiceLogged(
  service: CloudService,
  env: Record<string, string>,
  opts: { clock?: Clock; onLog: (text: string) => void; name?: string },
): Promise<CloudHandle> {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      opts.onLog(chunk.toString());
      cb();
    },
  });
  // AIDE_PORT=0 falls back to the service's default port in cloud-sync/main.ts, so ask for a free one.
  const config = loadCloudConfig({
    env: {
      AIDE_PORT: String(await freePort()),
      AIDE_LOG_LEVEL: 'debug',
      AIDE_ARGON2_MEMORY_KIB: '8192',
      ...env,
    },
  });
  return startCloudService(service, config, {
    clock: opts.clock,
    log: createLogger({ level: 'debug', name: opts.name, destination: sink }),
  });
}

export async function startApi(
  env: Record<string, string>,
  /** `ready: false` returns once the database is migrated, for an API that is meant to stay not ready. */
  opts: { clock?: ShiftClock; ready?: boolean } = {},
): Promise<ApiUnderTest> {
  let captured = '';
  const clock = opts.clock ?? createShiftClock();
  const handle = await startServiceLogged('api', env, {
    clock,
    name: 'aide-api',
    onLog: (text) => {
      captured += text;
    },
  });
  await handle.ctx.databaseReady;
  // Wait until the first signing key exists. A loaded CI machine can take more than a few seconds, and a
  // test that went on before it would fail at some later request for a reason this names.
  if (opts.ready !== false)
    await waitFor(
      'the API ready (first signing key)',
      () => handle.ctx.readiness.snapshot().ready,
      60_000,
      50,
    );
  return { handle, url: handle.url, clock, logs: () => captured, close: () => handle.close() };
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: any;
}

export async function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: res.status, headers: res.headers, body };
}

let seq = 0;
/** Registers a fresh account and returns its session. */
export async function signUp(
  base: string,
  name = 'user',
): Promise<{ id: string; email: string; password: string; accessToken: string; refreshToken: string }> {
  const email = `${name}.${process.pid}.${++seq}@example.org`;
  const password = `correct horse ${seq} battery`;
  const r = await call(base, 'POST', '/v1/auth/register', { body: { email, password, displayName: name } });
  if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`);
  return {
    id: r.body.user.id,
    email,
    password,
    accessToken: r.body.accessToken,
    refreshToken: r.body.refreshToken,
  };
}

/** A device and its person as ingest would have stored them (cloud-sync/db/migrations/010_sync.sql). */
export async function addDeviceWithPerson(
  db: { query(sql: string, params?: unknown[]): Promise<unknown> },
  deviceId: string,
  personId: string,
  name: string,
): Promise<void> {
  await db.query('INSERT INTO devices (device_id) VALUES ($1) ON CONFLICT DO NOTHING', [deviceId]);
  await db.query(
    `INSERT INTO people (id, device_id, name, timezone, version, updated_at, message_id) VALUES ($1, $2, $3, 'Europe/London', 1, now(), gen_random_uuid())`,
    [personId, deviceId, name],
  );
}

/** `who` claims the device with a fresh pairing code, as the app's "Connect speaker" does. */
export async function claimDevice(
  api: { url: string; clock: Clock },
  db: pg.Pool,
  who: { accessToken: string },
  deviceId: string,
): Promise<void> {
  const { code } = await createPairingCode(db, api.clock, deviceId);
  const r = await call(api.url, 'POST', '/v1/devices/claim', { token: who.accessToken, body: { code } });
  if (r.status !== 201) throw new Error(`claim of ${deviceId} failed: ${r.status} ${JSON.stringify(r.body)}`);
}

/** `aide cloud api` as a real process on a free port, returned once its /readyz answers 200. */
export async function spawnCloudApi(env: Record<string, string>): Promise<AideProcess> {
  const p = await spawnAide(['cloud', 'api', '--port', String(await freePort())], env);
  // Throws if it never gets ready (a silent give-up after 10 s made later requests fail on a loaded machine).
  await waitFor(
    'aide cloud api /readyz 200',
    async () => (await fetch(`${p.url}/readyz`)).status === 200,
    60_000,
    100,
  );
  return p;
}

/** Sends `signal` to an aide process and waits for it to exit; nothing if it never started or already exited. */
export async function stopAide(
  p: AideProcess | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  await p.exited;
}
