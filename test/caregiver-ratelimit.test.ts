import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, signUp, spawnCloudApi, stopAide } from './caregiver-helpers.js';
import { type PostgresServer, type RedisServer, startPostgres, startRedis } from './harness/index.js';
import type { AideProcess } from './support/spawn-aide.js';

describe('rate limits shared by two API processes through a real Redis', () => {
  let pgServer: PostgresServer;
  let redis: RedisServer;
  let a: AideProcess;
  let b: AideProcess;

  before(async () => {
    [pgServer, redis] = await Promise.all([startPostgres(), startRedis()]);
    const env = {
      DATABASE_URL: pgServer.url,
      REDIS_URL: redis.url,
      AIDE_RATE_LIMIT_PER_MIN: '10',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '6',
      AIDE_ARGON2_MEMORY_KIB: '8192',
    };
    // One after the other: the first migrates, the second finds the schema ready.
    a = await spawnCloudApi(env);
    b = await spawnCloudApi(env);
  });
  after(async () => {
    for (const p of [a, b]) await stopAide(p);
    await Promise.all([pgServer?.stop(), redis?.stop()]);
  });

  test('a user gets 10 requests a minute in total across both replicas, then 429 with Retry-After', async () => {
    const u = await signUp(a.url, 'busy');
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      for (const p of [a, b]) {
        const r = await call(p.url, 'GET', '/v1/me', { token: u.accessToken });
        statuses.push(r.status);
        if (r.status === 429) retryAfter ??= r.headers.get('retry-after');
      }
    }
    assert.equal(statuses.filter((s) => s === 200).length, 10, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 6);
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);
    // Another user has their own budget.
    const other = await signUp(b.url, 'calm');
    assert.equal((await call(a.url, 'GET', '/v1/me', { token: other.accessToken })).status, 200);
  });

  test('auth routes are limited per IP across replicas', async () => {
    // Both signUps above spent 2 of the 6; four more logins pass, the next is refused on either replica.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (const p of [a, b])
        statuses.push(
          (
            await call(p.url, 'POST', '/v1/auth/login', {
              body: { email: `x${i}@example.org`, password: 'whatever 123' },
            })
          ).status,
        );
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429]);
  });

  test('when Redis is down the API keeps answering (fails open) and reports it', async () => {
    await redis.stop();
    const r = await call(a.url, 'GET', '/.well-known/jwks.json');
    assert.equal(r.status, 200);
    const login = await call(b.url, 'POST', '/v1/auth/login', {
      body: { email: 'y@example.org', password: 'whatever 123' },
    });
    assert.equal(login.status, 401, 'not 500 and not 429');
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    assert.match(metrics, /aide_ratelimit_errors_total [1-9]/);
  });
});
