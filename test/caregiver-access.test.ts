import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { createPairingCode } from '../cloud-sync/api/people/pairing.js';
import { type ApiUnderTest, addDeviceWithPerson, call, signUp, startApi } from './caregiver-helpers.js';
import { type PostgresServer, startPostgres } from './harness/index.js';
import { newPool } from './support/common.js';

describe('pairing, caregivers, object-level authorization and the audit log', () => {
  let pgServer: PostgresServer;
  let api: ApiUnderTest;
  let db: pg.Pool;
  const personA = randomUUID();
  const personB = randomUUID();
  type Session = Awaited<ReturnType<typeof signUp>>;
  let ownerA: Session,
    ownerB: Session,
    helper: Session,
    viewer: Session,
    stranger: Session,
    clinician: Session,
    admin: Session;

  const code = (deviceId: string) => createPairingCode(db, api.clock, deviceId).then((c) => c.code);
  const relogin = async (s: Session) => {
    const r = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: s.email, password: s.password },
    });
    s.accessToken = r.body.accessToken;
  };

  before(async () => {
    pgServer = await startPostgres();
    db = newPool(pgServer.url, 2);
    // The broker's password file, as provisioning writes it (mosquitto_passwd, PBKDF2-SHA512).
    const passwordFile = join(mkdtempSync(join(tmpdir(), 'aide-pw-')), 'passwd');
    writeFileSync(passwordFile, '');
    execFileSync('mosquitto_passwd', ['-b', passwordFile, 'dev-a', 'device-a-secret']);
    api = await startApi({
      DATABASE_URL: pgServer.url,
      AIDE_RATE_LIMIT_PER_MIN: '10000',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
      AIDE_DEVICE_PASSWORD_FILE: passwordFile,
    });
    await addDeviceWithPerson(db, 'dev-a', personA, 'Alice');
    await addDeviceWithPerson(db, 'dev-b', personB, 'Bert');
    [ownerA, ownerB, helper, viewer, stranger, clinician, admin] = await Promise.all(
      ['owner-a', 'owner-b', 'helper', 'viewer', 'stranger', 'clinician', 'admin'].map((n) =>
        signUp(api.url, n),
      ),
    );
    await db.query("UPDATE users SET role = 'clinician' WHERE id = $1", [clinician.id]);
    await db.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    await relogin(clinician);
    await relogin(admin);
  });
  after(async () => {
    await api?.close();
    await db?.end();
    await pgServer?.stop();
  });

  test('claiming a device with its pairing code makes the caller its owner', async () => {
    const bad = await call(api.url, 'POST', '/v1/devices/claim', {
      token: ownerA.accessToken,
      body: { code: 'abc' },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /code: must be the 8-digit code/);
    const wrong = await call(api.url, 'POST', '/v1/devices/claim', {
      token: ownerA.accessToken,
      body: { code: '0000 0000' },
    });
    assert.equal(wrong.status, 404);
    const expired = await code('dev-a');
    api.clock.shift(11 * 60_000);
    assert.equal(
      (
        await call(api.url, 'POST', '/v1/devices/claim', {
          token: ownerA.accessToken,
          body: { code: expired },
        })
      ).status,
      404,
      'expired',
    );
    api.clock.shift(-11 * 60_000);

    const c = await code('dev-a');
    const claim = await call(api.url, 'POST', '/v1/devices/claim', {
      token: ownerA.accessToken,
      body: { code: `${c.slice(0, 4)} ${c.slice(4)}` },
    });
    assert.equal(claim.status, 201, JSON.stringify(claim.body));
    assert.equal(claim.body.device.id, 'dev-a');
    assert.deepEqual(
      claim.body.people.map((p: { id: string }) => p.id),
      [personA],
    );
    assert.equal(claim.body.people[0].name, 'Alice');
    assert.equal(
      (await call(api.url, 'POST', '/v1/devices/claim', { token: stranger.accessToken, body: { code: c } }))
        .status,
      404,
      'a code works once',
    );
    const second = await code('dev-a');
    assert.equal(
      (
        await call(api.url, 'POST', '/v1/devices/claim', {
          token: stranger.accessToken,
          body: { code: second },
        })
      ).status,
      409,
      'owned devices are not taken over',
    );
    assert.equal(
      (
        await call(api.url, 'POST', '/v1/devices/claim', {
          token: ownerB.accessToken,
          body: { code: await code('dev-b') },
        })
      ).status,
      201,
    );

    const mine = await call(api.url, 'GET', '/v1/people', { token: ownerA.accessToken });
    assert.deepEqual(
      mine.body.people.map((p: { id: string }) => p.id),
      [personA],
    );
    assert.equal(mine.body.people[0].permissions.manageCaregivers, true);
    assert.deepEqual(
      (await call(api.url, 'GET', '/v1/people', { token: stranger.accessToken })).body.people,
      [],
    );
  });

  test('a device signs in with its MQTT credentials to get a pairing code to speak; a caregiver claims with it', async () => {
    const basic = (u: string, p: string) => ({
      authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`,
    });
    assert.equal(
      (await call(api.url, 'POST', '/v1/device/pairing-code', { headers: basic('dev-a', 'wrong') })).status,
      401,
    );
    assert.equal(
      (await call(api.url, 'POST', '/v1/device/pairing-code', { headers: basic('dev-b', 'device-a-secret') }))
        .status,
      401,
    );
    assert.equal((await call(api.url, 'POST', '/v1/device/pairing-code')).status, 401);
    const r = await call(api.url, 'POST', '/v1/device/pairing-code', {
      headers: basic('dev-a', 'device-a-secret'),
    });
    assert.equal(r.status, 201);
    assert.match(r.body.code, /^\d{8}$/);
    assert.equal(r.body.spoken, r.body.code.split('').join(' '));
    // dev-a is already owned by owner-a: the code is real but the device is not taken over.
    assert.equal(
      (
        await call(api.url, 'POST', '/v1/devices/claim', {
          token: stranger.accessToken,
          body: { code: r.body.code },
        })
      ).status,
      409,
    );
    assert.equal(
      (
        await call(api.url, 'POST', '/v1/devices/claim', {
          token: ownerA.accessToken,
          body: { code: r.body.code },
        })
      ).status,
      201,
      'the owner re-pairing is fine',
    );
  });

  test('the owner invites caregivers with permissions; permissions are enforced; revoking takes effect at once', async () => {
    const invite = await call(api.url, 'POST', `/v1/people/${personA}/caregivers`, {
      token: ownerA.accessToken,
      body: {
        email: helper.email,
        permissions: { viewRecords: true, receiveAlerts: true, manageMedicines: true },
      },
    });
    assert.equal(invite.status, 201, JSON.stringify(invite.body));
    const v = await call(api.url, 'POST', `/v1/people/${personA}/caregivers`, {
      token: ownerA.accessToken,
      body: { email: viewer.email, permissions: { viewRecords: false } },
    });
    assert.equal(v.status, 201);
    const nobody = await call(api.url, 'POST', `/v1/people/${personA}/caregivers`, {
      token: ownerA.accessToken,
      body: { email: 'nobody@example.org' },
    });
    // No account and no SMTP here: an emailed invitation is impossible, and the API says so (invitations: caregiver-invitations.test.ts).
    assert.equal(nobody.status, 503);
    assert.match(nobody.body.error.message, /no account uses this email/);
    // A caregiver cannot invite others (403: they know the person), a stranger gets 404.
    assert.equal(
      (
        await call(api.url, 'POST', `/v1/people/${personA}/caregivers`, {
          token: helper.accessToken,
          body: { email: stranger.email },
        })
      ).status,
      403,
    );
    assert.equal(
      (
        await call(api.url, 'POST', `/v1/people/${personA}/caregivers`, {
          token: stranger.accessToken,
          body: { email: stranger.email },
        })
      ).status,
      404,
    );

    assert.equal(
      (await call(api.url, 'GET', `/v1/people/${personA}`, { token: helper.accessToken })).status,
      200,
    );
    assert.equal(
      (await call(api.url, 'GET', `/v1/people/${personA}`, { token: viewer.accessToken })).status,
      403,
      'no viewRecords permission',
    );
    const list = await call(api.url, 'GET', `/v1/people/${personA}/caregivers`, {
      token: ownerA.accessToken,
    });
    assert.equal(list.body.caregivers.length, 3);
    assert.equal(list.body.caregivers.find((c: { isOwner: boolean }) => c.isOwner).userId, ownerA.id);

    const patch = await call(api.url, 'PATCH', `/v1/people/${personA}/caregivers/${viewer.id}`, {
      token: ownerA.accessToken,
      body: { permissions: { viewRecords: true } },
    });
    assert.equal(patch.status, 200);
    assert.equal(
      (await call(api.url, 'GET', `/v1/people/${personA}`, { token: viewer.accessToken })).status,
      200,
      'granted at once',
    );

    const del = await call(api.url, 'DELETE', `/v1/people/${personA}/caregivers/${helper.id}`, {
      token: ownerA.accessToken,
    });
    assert.equal(del.status, 204);
    assert.equal(
      (await call(api.url, 'GET', `/v1/people/${personA}`, { token: helper.accessToken })).status,
      404,
      'revoked at once, same access token',
    );
  });

  test('roles x endpoints x own/other person: every cross-person request is denied with 404', async () => {
    const endpoints: [string, string, unknown?][] = [
      ['GET', '/v1/people/:id'],
      ['GET', '/v1/people/:id/caregivers'],
      ['GET', '/v1/people/:id/audit'],
      ['POST', '/v1/people/:id/caregivers', { email: 'x@example.org' }],
      ['PATCH', `/v1/people/:id/caregivers/${viewer.id}`, { permissions: { viewRecords: true } }],
      ['DELETE', `/v1/people/:id/caregivers/${viewer.id}`],
      ['GET', '/v1/people/:id/device-settings'],
      ['PATCH', '/v1/people/:id/device-settings', { values: { 'speech.rate': 150 } }],
      ['PUT', '/v1/people/:id/device-settings', { values: { 'speech.rate': 150 } }],
    ];
    const callers: [string, Session][] = [
      ['owner of A', ownerA],
      ['caregiver of A', viewer],
      ['stranger', stranger],
      ['clinician', clinician],
      ['admin without break-glass', admin],
    ];
    for (const [who, s] of callers) {
      for (const [method, path, body] of endpoints) {
        for (const target of [personB, randomUUID(), 'not-a-uuid']) {
          const r = await call(api.url, method, path.replace(':id', target), { token: s.accessToken, body });
          assert.equal(r.status, 404, `${who} ${method} ${path} on another person → ${r.status}`);
          assert.ok(!JSON.stringify(r.body).includes('Bert'));
        }
      }
    }
    // Their own person works for the owner.
    for (const [method, path] of endpoints.slice(0, 3)) {
      assert.equal(
        (await call(api.url, method, path.replace(':id', personA), { token: ownerA.accessToken })).status,
        200,
        `${method} ${path} own`,
      );
    }
  });

  test('admins read health data only through an audited, time-limited break-glass grant', async () => {
    assert.equal(
      (await call(api.url, 'GET', `/v1/people/${personB}`, { token: admin.accessToken })).status,
      404,
    );
    const notAdmin = await call(api.url, 'POST', '/v1/admin/break-glass', {
      token: clinician.accessToken,
      body: { personId: personB, reason: 'clinical emergency review' },
    });
    assert.equal(notAdmin.status, 403);
    const short = await call(api.url, 'POST', '/v1/admin/break-glass', {
      token: admin.accessToken,
      body: { personId: personB, reason: 'x' },
    });
    assert.equal(short.status, 400);
    const grant = await call(api.url, 'POST', '/v1/admin/break-glass', {
      token: admin.accessToken,
      body: { personId: personB, reason: 'support ticket 4711, family asked' },
    });
    assert.equal(grant.status, 201);
    assert.equal(
      (await call(api.url, 'GET', `/v1/people/${personB}`, { token: admin.accessToken })).status,
      200,
    );
    assert.equal(
      (
        await call(api.url, 'POST', `/v1/people/${personB}/caregivers`, {
          token: admin.accessToken,
          body: { email: admin.email },
        })
      ).status,
      403,
      'read-only',
    );
    const audit = await call(api.url, 'GET', `/v1/people/${personB}/audit`, { token: ownerB.accessToken });
    const actions = audit.body.entries.map(
      (e: { action: string; breakGlass: boolean; actorUserId: string }) =>
        `${e.action}:${e.breakGlass}:${e.actorUserId === admin.id}`,
    );
    assert.ok(actions.includes('break_glass:true:true'), actions.join());
    assert.ok(actions.includes('read:true:true'), actions.join());
    api.clock.shift(61 * 60_000);
    assert.equal(
      (
        await call(api.url, 'GET', `/v1/people/${personB}`, {
          token: (
            await call(api.url, 'POST', '/v1/auth/login', {
              body: { email: admin.email, password: admin.password },
            })
          ).body.accessToken,
        })
      ).status,
      404,
      'grant expired',
    );
  });

  test('the audit log records reads and changes, is append-only, and detects tampering', async () => {
    await relogin(ownerA); // the previous test moved the clock past the token's lifetime
    const r = await call(api.url, 'GET', `/v1/people/${personA}/audit`, { token: ownerA.accessToken });
    assert.equal(r.status, 200);
    const actions = new Set(r.body.entries.map((e: { action: string }) => e.action));
    for (const a of ['grant', 'update', 'revoke', 'read'])
      assert.ok(actions.has(a), `audit has ${a}: ${[...actions]}`);
    assert.ok(!JSON.stringify(r.body).includes('Alice'), 'no personal text in the audit log');
    await relogin(admin);
    const ok = await call(api.url, 'GET', '/v1/admin/audit/verify', { token: admin.accessToken });
    assert.equal(ok.body.ok, true);
    assert.ok(ok.body.entries > 5);
    await assert.rejects(db.query("UPDATE audit_log SET action = 'nothing' WHERE seq = 2"), /append-only/);
    await assert.rejects(db.query('DELETE FROM audit_log WHERE seq = 2'), /append-only/);
    // Someone with superuser rights bypasses the trigger: the chain shows where.
    await db.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
    await db.query('UPDATE audit_log SET actor_user_id = NULL WHERE seq = 3');
    await db.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update');
    const broken = await call(api.url, 'GET', '/v1/admin/audit/verify', { token: admin.accessToken });
    assert.deepEqual([broken.body.ok, broken.body.brokenAt], [false, 3]);
  });
});
