// Issue 9, hot path guarantees across two `aide cloud api` processes on one PostgreSQL and one Redis:
// logout and refresh-token reuse end the session's access tokens at once on both replicas; revoking a
// caregiver on one replica takes effect on the other at once; every read is audited before it is
// answered (a read whose audit entry cannot be stored gets no data), and entries a killed replica left
// unsealed join the hash chain through the other replica.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { addDeviceWithPerson, call, signUp, spawnCloudApi, stopAide } from './caregiver-helpers.js';
import { type PostgresServer, type RedisServer, startPostgres, startRedis } from './harness/index.js';
import { newPool } from './support/common.js';
import type { AideProcess } from './support/spawn-aide.js';

describe('revocation and audit across two API processes (real PostgreSQL and Redis)', () => {
  let pgServer: PostgresServer;
  let redis: RedisServer;
  let db: pg.Pool;
  let a: AideProcess;
  let b: AideProcess;
  let env: Record<string, string>;
  const person = randomUUID();
  const device = `dev-rv-${process.pid}`;

  const start = () => spawnCloudApi(env);
  const stop = stopAide;
  const measurements = (base: string, token: string) =>
    call(base, 'GET', `/v1/people/${person}/measurements?limit=5`, { token });

  before(async () => {
    [pgServer, redis] = await Promise.all([startPostgres(), startRedis()]);
    env = {
      DATABASE_URL: pgServer.url,
      REDIS_URL: redis.url,
      AIDE_RATE_LIMIT_PER_MIN: '10000',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
      AIDE_ARGON2_MEMORY_KIB: '8192',
    };
    // One after the other: the first migrates, the second finds the schema ready.
    a = await start();
    b = await start();
    db = newPool(pgServer.url, 2);
    await addDeviceWithPerson(db, device, person, 'Rosa');
    await db.query(
      `INSERT INTO measurements (id, device_id, person_id, type, value, unit, taken_at, version, updated_at, message_id)
       SELECT gen_random_uuid(), $2, $1, 'heart_rate', 60 + i, 'bpm', now() - make_interval(mins => i), 1, now(), gen_random_uuid()
         FROM generate_series(1, 10) i`,
      [person, device],
    );
  });
  after(async () => {
    await Promise.all([stop(a), stop(b)]);
    await db?.end();
    await Promise.all([pgServer?.stop(), redis?.stop()]);
  });

  /** A signed-up user who owns the test person's device. */
  async function owner(name: string) {
    const u = await signUp(a.url, name);
    await db.query(
      `INSERT INTO device_owners (device_id, owner_user_id, claimed_at) VALUES ($1, $2, now())
       ON CONFLICT (device_id) DO UPDATE SET owner_user_id = $2`,
      [device, u.id],
    );
    return u;
  }

  test('logout on one replica makes the access token unusable on both at once; other sessions live on', async () => {
    const u = await owner('leaver');
    const other = await call(b.url, 'POST', '/v1/auth/login', {
      body: { email: u.email, password: u.password },
    });
    assert.equal(other.status, 200);
    for (const p of [a, b]) assert.equal((await measurements(p.url, u.accessToken)).status, 200);

    assert.equal(
      (await call(a.url, 'POST', '/v1/auth/logout', { body: { refreshToken: u.refreshToken } })).status,
      204,
    );
    for (const p of [a, b]) {
      const r = await measurements(p.url, u.accessToken);
      assert.equal(r.status, 401, `replica ${p.url}`);
      assert.match(r.body.error.message, /signed out or revoked/);
      assert.equal(r.body.measurements, undefined);
      assert.equal((await call(p.url, 'GET', '/v1/me', { token: u.accessToken })).status, 401);
    }
    // The other sign-in of the same account is a different session.
    assert.equal((await measurements(b.url, other.body.accessToken)).status, 200);
    // The refresh token is gone too.
    assert.equal(
      (await call(b.url, 'POST', '/v1/auth/refresh', { body: { refreshToken: u.refreshToken } })).status,
      401,
    );
  });

  test('refresh-token reuse revokes the family: its access tokens stop working on both replicas', async () => {
    const u = await owner('leaked');
    const rotated = await call(a.url, 'POST', '/v1/auth/refresh', { body: { refreshToken: u.refreshToken } });
    assert.equal(rotated.status, 200);
    assert.equal((await measurements(b.url, rotated.body.accessToken)).status, 200);
    // The old refresh token comes back: someone holds a copy.
    const reuse = await call(b.url, 'POST', '/v1/auth/refresh', { body: { refreshToken: u.refreshToken } });
    assert.equal(reuse.status, 401);
    for (const p of [a, b])
      for (const token of [u.accessToken, rotated.body.accessToken])
        assert.equal((await measurements(p.url, token)).status, 401);
  });

  test('while Redis is down the database answers: a logged-out token stays refused', async () => {
    const u = await owner('offline');
    assert.equal((await measurements(a.url, u.accessToken)).status, 200);
    await redis.stop();
    try {
      // The rate limit fails open, but revocation does not: the guard asks PostgreSQL.
      assert.equal((await measurements(b.url, u.accessToken)).status, 200);
      const out = await call(a.url, 'POST', '/v1/auth/logout', { body: { refreshToken: u.refreshToken } });
      assert.equal(out.status, 503, 'the client is told to repeat the logout');
      assert.match(out.body.error.message, /send the same logout again/);
      for (const p of [a, b]) assert.equal((await measurements(p.url, u.accessToken)).status, 401);
    } finally {
      await redis.restart();
    }
    // Back up: the replica publishes the mark it could not store, so Redis itself refuses the token.
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      let marks: string[] = [];
      // Up to 30 s: the replica retries every second once its Redis client has reconnected.
      for (let i = 0; i < 150 && marks.length === 0; i++) {
        marks = await client.keys(`aide:rv:{${u.id}}:*`).catch(() => []);
        if (marks.length === 0) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(marks.length, 1, 'the revocation mark reached Redis once it was back');
      const ttl = await client.pttl(marks[0]!);
      assert.ok(ttl > 30 * 60_000 && ttl <= 32 * 60_000, `mark lives as long as a token can: ${ttl} ms`);
    } finally {
      client.disconnect();
    }
    for (const p of [a, b]) assert.equal((await measurements(p.url, u.accessToken)).status, 401);
  });

  test('revoking a caregiver on one replica: their next read on the other replica is 404', async () => {
    const boss = await owner('boss');
    const helper = await signUp(b.url, 'helper');
    await db.query(
      `INSERT INTO caregiver_links (person_id, user_id, can_view_records, can_receive_alerts, created_at, updated_at)
       VALUES ($1, $2, true, false, now(), now())`,
      [person, helper.id],
    );
    assert.equal((await measurements(b.url, helper.accessToken)).status, 200);
    // Permission without the right one: 403, no data, no audit entry.
    const alerts = await call(b.url, 'GET', `/v1/people/${person}/alerts`, { token: helper.accessToken });
    assert.equal(alerts.status, 403);
    const del = await call(a.url, 'DELETE', `/v1/people/${person}/caregivers/${helper.id}`, {
      token: boss.accessToken,
    });
    assert.equal(del.status, 204);
    const r = await measurements(b.url, helper.accessToken);
    assert.equal(r.status, 404);
    assert.equal(r.body.measurements, undefined);
    // Upper-case id: the same person, the same answer.
    assert.equal(
      (
        await call(b.url, 'GET', `/v1/people/${person.toUpperCase()}/measurements`, {
          token: boss.accessToken,
        })
      ).status,
      200,
    );
  });

  test('a read whose audit entry cannot be stored is not answered', async () => {
    const u = await owner('audited');
    await db.query(
      `ALTER TABLE audit_inbox ADD CONSTRAINT test_refuse_reads CHECK (action <> 'read') NOT VALID`,
    );
    try {
      const r = await measurements(a.url, u.accessToken);
      assert.equal(r.status, 500);
      assert.equal(r.body.measurements, undefined);
      assert.ok(!JSON.stringify(r.body).includes('heart_rate'));
    } finally {
      await db.query('ALTER TABLE audit_inbox DROP CONSTRAINT test_refuse_reads');
    }
    assert.equal((await measurements(a.url, u.accessToken)).status, 200);
  });

  test('entries a killed replica left unsealed join the chain through the other; the chain verifies', async () => {
    const u = await owner('witness');
    const { rows: before } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_log WHERE actor_user_id = $1 AND action = 'read'`,
      [u.id],
    );
    assert.equal(before[0]!.n, 0);
    for (let i = 0; i < 3; i++) assert.equal((await measurements(a.url, u.accessToken)).status, 200);
    // Stored before the answers were sent: after a SIGKILL each read is in the inbox or already chained.
    await stop(a, 'SIGKILL');
    const { rows: stored } = await db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM audit_inbox WHERE actor_user_id = $1)
            + (SELECT count(*) FROM audit_log WHERE actor_user_id = $1 AND action = 'read') AS n`,
      [u.id],
    );
    assert.equal(Number(stored[0]!.n), 3);
    // An entry a dead replica never sealed (written as the read statement writes it).
    await db.query(
      `INSERT INTO audit_inbox (at, actor_user_id, actor_role, action, person_id, resource, detail)
       VALUES (now(), $1, 'caregiver', 'read', $2, 'doses', '{"count": 0}')`,
      [u.id, person],
    );
    // The other replica seals them (its audit view flushes the inbox first).
    const audit = await call(b.url, 'GET', `/v1/people/${person}/audit?limit=100`, { token: u.accessToken });
    assert.equal(audit.status, 200);
    const mine = audit.body.entries.filter(
      (e: { actorUserId: string; action: string; resource: string; detail: { count: number } }) =>
        e.actorUserId === u.id && e.action === 'read' && e.resource === 'measurements',
    );
    assert.equal(mine.length, 3);
    for (const e of mine) assert.deepEqual(e.detail, { count: 5 });
    assert.ok(
      audit.body.entries.some(
        (e: { actorUserId: string; resource: string }) => e.actorUserId === u.id && e.resource === 'doses',
      ),
      'the orphaned entry was sealed by the live replica',
    );
    const { rows: left } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_inbox');
    assert.equal(left[0]!.n, 0);
    await assert.rejects(db.query('DELETE FROM audit_inbox'), /only removed by sealing/);
    // The chain, recomputed from the first entry, is intact.
    const { rows } = await db.query<{ seq: string; prev_hash: string; hash: string }>(
      'SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq',
    );
    rows.forEach((r, i) => {
      assert.equal(Number(r.seq), i + 1);
      if (i > 0) assert.equal(r.prev_hash, rows[i - 1]!.hash);
    });
    a = await start();
    const admin = await signUp(a.url, 'auditor');
    await db.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [admin.id]);
    const relogin = await call(a.url, 'POST', '/v1/auth/login', {
      body: { email: admin.email, password: admin.password },
    });
    const verify = await call(a.url, 'GET', '/v1/admin/audit/verify', { token: relogin.body.accessToken });
    assert.equal(verify.status, 200);
    assert.equal(verify.body.ok, true);
    assert.equal(verify.body.entries, rows.length);
  });
});
