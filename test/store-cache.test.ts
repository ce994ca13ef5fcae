import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';
import { quick, type RedisServer, startRedis } from './harness/index.js';

// Cache-aside in front of SQLite: reads after writes are never stale, and a dead Redis only costs speed.
const dirs: string[] = [];
const handles: DeviceHandle[] = [];
after(async () => {
  for (const h of handles) await h.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function device(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'aide-store-cache-'));
  dirs.push(dir);
  const dev = await startDevice(
    loadDeviceConfig({
      env: { AIDE_DATA_DIR: dir, AIDE_PORT: '0', AIDE_LOG_LEVEL: 'silent', AIDE_TIMEZONE: 'UTC', ...env },
    }),
  );
  handles.push(dev);
  return dev;
}

const api = (dev: DeviceHandle) => async (method: string, path: string, body?: unknown) => {
  const res = await fetch(dev.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
};

async function cacheCount(dev: DeviceHandle, result: string): Promise<number> {
  const text = await (await fetch(`${dev.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('aide_cache_requests_total{') && l.includes(`result="${result}"`))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

/** Repeated reads until Redis answers a hit (on a loaded machine the first commands may time out and trip the breaker). */
async function eventuallyHits(dev: DeviceHandle, before: number, what: string) {
  // Each command may take at most 200 ms and every failure re-opens the breaker for 2 s, so a busy
  // machine can need several probes: wait long enough for them.
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    for (let i = 0; i < 3; i++) await fetch(`${dev.url}/api/medications`).then((r) => r.arrayBuffer());
    if ((await cacheCount(dev, 'hit')) > before) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.fail(`${what}: no cache hit within 45 s`);
}

async function breakerState(dev: DeviceHandle): Promise<string | undefined> {
  const text = await (await fetch(`${dev.url}/metrics`)).text();
  return text.match(/aide_breaker_state\{name="cache_redis"\} (\d)/)?.[1];
}

/**
 * Waits for the Redis breaker to show open (2). Every 2 s it lets one probe through (half open, 1) and,
 * Redis still down, opens again within 200 ms; a scrape in that moment must not fail the test.
 */
async function breakerOpens(dev: DeviceHandle) {
  const deadline = Date.now() + 15_000;
  let state: string | undefined;
  while (Date.now() < deadline) {
    state = await breakerState(dev);
    if (state === '2') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`breaker not open while Redis is down (state ${state})`);
}

async function readAfterWrite(dev: DeviceHandle, label: string) {
  const call = api(dev);
  const me = dev.ctx.store.people.primaryId();
  // profile: warm, change, read
  await dev.ctx.store.people.get();
  await dev.ctx.store.people.get();
  await call('PATCH', `/api/people/${me}`, { name: `${label} name` });
  assert.equal((await dev.ctx.store.people.get()).name, `${label} name`);
  // medicine list: warm, add, read
  const before = (await call('GET', '/api/medications')).body.items.length;
  await call('GET', '/api/medications');
  const created = await call('POST', '/api/medications', { name: `${label} med`, times: ['08:00'] });
  assert.equal(created.status, 201);
  const list = (await call('GET', '/api/medications')).body.items;
  assert.equal(list.length, before + 1);
  // rename, read again
  await call('PATCH', `/api/medications/${created.body.id}`, { name: `${label} renamed` });
  assert.ok(
    (await call('GET', '/api/medications')).body.items.some(
      (m: { name: string }) => m.name === `${label} renamed`,
    ),
  );
  // conversation
  await dev.ctx.store.conversations.recent();
  dev.ctx.store.conversations.addTurn({ role: 'user', text: `${label} hello` });
  assert.equal((await dev.ctx.store.conversations.recent()).at(-1)?.text, `${label} hello`);
  // upcoming doses follow a schedule change
  await dev.ctx.store.doses.upcoming();
  await call('PATCH', `/api/medications/${created.body.id}`, { active: false });
  assert.ok(!(await dev.ctx.store.doses.upcoming()).some((d) => d.medicationId === created.body.id));
}

describe('cache', () => {
  test('in-process cache: hits are counted and every read after a write is fresh', async () => {
    const dev = await device();
    assert.equal(dev.ctx.cache.kind, 'memory');
    await readAfterWrite(dev, 'mem');
    assert.ok((await cacheCount(dev, 'hit')) > 0);
    assert.ok((await cacheCount(dev, 'miss')) > 0);
    const ratio = Number(
      (await (await fetch(`${dev.url}/metrics`)).text()).match(/^aide_cache_hit_ratio (\S+)$/m)?.[1],
    );
    assert.ok(ratio > 0 && ratio < 1, `hit ratio ${ratio}`);
  });

  test('Redis: fresh after writes; killed mid-test, reads and writes go on from SQLite; back again, still fresh', {
    skip: quick && 'slow (AIDE_TEST_QUICK)',
    timeout: 180_000,
  }, async () => {
    let redis: RedisServer | undefined;
    try {
      redis = await startRedis();
      const dev = await device({ REDIS_URL: redis.url });
      assert.equal(dev.ctx.cache.kind, 'redis');
      const call = api(dev);
      await readAfterWrite(dev, 'up');
      await eventuallyHits(dev, 0, 'Redis serves hits');

      await redis.kill();
      const errorsBefore = await cacheCount(dev, 'error');
      for (let i = 0; i < 20; i++) {
        const r = await call('GET', '/api/medications');
        assert.equal(r.status, 200);
      }
      // Reads stay fast because the breaker stops sending commands to the dead Redis (no wall-clock
      // assertion: a loaded CI machine is slow for other reasons).
      await breakerOpens(dev);
      await readAfterWrite(dev, 'down');
      assert.ok((await cacheCount(dev, 'error')) > errorsBefore, 'the error metric shows Redis is down');
      await breakerOpens(dev);

      await redis.restart();
      // The breaker probes again after 2 s; by then ioredis has reconnected.
      await new Promise((r) => setTimeout(r, 2500));
      const hitsBefore = await cacheCount(dev, 'hit');
      await readAfterWrite(dev, 'back');
      await eventuallyHits(dev, hitsBefore, 'Redis serves hits again');
    } finally {
      await redis?.dispose();
    }
  });
});
