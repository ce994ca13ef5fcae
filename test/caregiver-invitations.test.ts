// Inviting a caregiver who has no account: the emailed single-use link (real SMTP server), accepting
// after sign-up, the address check, revoking, replacing, expiry; real PostgreSQL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import {
  type ApiUnderTest,
  addDeviceWithPerson,
  call,
  claimDevice,
  signUp,
  startApi,
} from './caregiver-helpers.js';
import { startSmtp } from './caregiver-receivers.js';
import { type PostgresServer, startPostgres } from './harness/index.js';
import { newPool, waitFor } from './support/common.js';

describe('caregiver invitations by email', () => {
  let pgServer: PostgresServer;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let api: ApiUnderTest;
  let db: pg.Pool;
  const person = randomUUID();
  let owner: Awaited<ReturnType<typeof signUp>>;
  let n = 0;
  const freshEmail = () => `invitee${++n}.${process.pid}@example.org`;
  const password = 'a long enough password 1';

  const invite = (email: string, permissions: Record<string, boolean> = {}, token = owner.accessToken) =>
    call(api.url, 'POST', `/v1/people/${person}/caregivers`, { token, body: { email, permissions } });
  /** The token in the link of the newest email to `email`. */
  async function linkTokenFor(email: string): Promise<string> {
    await waitFor(`email to ${email}`, () => smtp.messages().some((m) => m.to.includes(email)));
    const mails = smtp.messages().filter((m) => m.to.includes(email));
    const raw = mails[mails.length - 1]!.raw.replace(/=\r?\n/g, '');
    const m = /#\/invite\/([A-Za-z0-9_-]{43})/.exec(raw);
    assert.ok(m, 'the email holds the link');
    return m[1]!;
  }
  const register = async (email: string) => {
    const r = await call(api.url, 'POST', '/v1/auth/register', { body: { email, password } });
    assert.equal(r.status, 201);
    return r.body as { accessToken: string; user: { id: string } };
  };
  const accept = (token: string, accessToken: string) =>
    call(api.url, 'POST', '/v1/invitations/accept', { token: accessToken, body: { token } });

  before(async () => {
    [pgServer, smtp] = await Promise.all([startPostgres(), startSmtp()]);
    db = newPool(pgServer.url, 2);
    api = await startApi({
      DATABASE_URL: pgServer.url,
      SMTP_URL: smtp.url,
      AIDE_API_ISSUER: 'https://care.example.org',
      AIDE_RATE_LIMIT_PER_MIN: '10000',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
    });
    await addDeviceWithPerson(db, 'dev-inv', person, 'Alice');
    owner = await signUp(api.url, 'owner');
    await claimDevice(api, db, owner, 'dev-inv');
  });
  after(async () => {
    await api?.close();
    await db?.end();
    await Promise.all([pgServer?.stop(), smtp?.stop()]);
  });

  test('an address with no account gets an emailed link; after signing up with it, accepting grants the listed permissions once', async () => {
    const email = freshEmail();
    const r = await invite(email, { manageMedicines: true, receiveAlerts: false });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.invitation.status, 'pending');
    assert.deepEqual(r.body.invitation.permissions, {
      viewRecords: true,
      receiveAlerts: false,
      manageMedicines: true,
    });
    const token = await linkTokenFor(email);
    const mail = smtp.messages().find((m) => m.to.includes(email))!;
    assert.match(mail.subject, /invited to help look after Alice/);
    assert.match(mail.raw.replace(/=\r?\n/g, ''), /https:\/\/care\.example\.org\/#\/invite\//);

    // Only the hash is stored.
    const { rows } = await db.query(
      'SELECT row_to_json(caregiver_invitations)::text AS t FROM caregiver_invitations',
    );
    assert.ok(
      rows.every((x) => !x.t.includes(token)),
      'no token in the database',
    );
    assert.ok(!api.logs().includes(token), 'no token in the logs');

    const list = await call(api.url, 'GET', `/v1/people/${person}/invitations`, { token: owner.accessToken });
    assert.deepEqual(
      list.body.invitations.map((i: { email: string; status: string }) => [i.email, i.status]),
      [[email, 'pending']],
    );

    // Someone else who got hold of the link cannot use it.
    const other = await signUp(api.url, 'other');
    const wrong = await accept(token, other.accessToken);
    assert.equal(wrong.status, 403);
    assert.match(wrong.body.error.message, /sent to another email address/);
    assert.equal(
      (await call(api.url, 'GET', `/v1/people/${person}`, { token: other.accessToken })).status,
      404,
    );

    const invitee = await register(email.toUpperCase());
    const before = await call(api.url, 'GET', `/v1/people/${person}`, { token: invitee.accessToken });
    assert.equal(before.status, 404, 'no access before accepting');
    const ok = await accept(token, invitee.accessToken);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.personId, person);
    const people = await call(api.url, 'GET', '/v1/people', { token: invitee.accessToken });
    assert.deepEqual(people.body.people[0].permissions, {
      viewRecords: true,
      receiveAlerts: false,
      manageMedicines: true,
      manageCaregivers: false,
    });
    const again = await accept(token, invitee.accessToken);
    assert.equal(again.status, 409, 'single use');
    const after = await call(api.url, 'GET', `/v1/people/${person}/invitations`, {
      token: owner.accessToken,
    });
    assert.equal(after.body.invitations.length, 0, 'accepted: no longer pending');
    const audit = await call(api.url, 'GET', `/v1/people/${person}/audit`, { token: owner.accessToken });
    const actions = audit.body.entries.map(
      (e: { action: string; resource: string }) => `${e.action}:${e.resource}`,
    );
    assert.ok(actions.includes('invite:invitation') && actions.includes('grant:caregiver'), actions.join());
    // A caregiver without manageCaregivers sees no invitations.
    const denied = await call(api.url, 'GET', `/v1/people/${person}/invitations`, {
      token: invitee.accessToken,
    });
    assert.equal(denied.status, 403);
  });

  test('a withdrawn invitation and one replaced by a newer invitation no longer work', async () => {
    const email = freshEmail();
    assert.equal((await invite(email)).status, 202);
    const first = await linkTokenFor(email);
    assert.equal((await invite(email, { receiveAlerts: false })).status, 202);
    await waitFor('second email', () => smtp.messages().filter((m) => m.to.includes(email)).length === 2);
    const second = await linkTokenFor(email);
    assert.notEqual(first, second);
    const list = await call(api.url, 'GET', `/v1/people/${person}/invitations`, { token: owner.accessToken });
    const mine = list.body.invitations.filter((i: { email: string }) => i.email === email);
    assert.equal(mine.length, 1, 'the newer invitation replaced the older');

    const invitee = await register(email);
    assert.equal((await accept(first, invitee.accessToken)).status, 404);
    const del = await call(api.url, 'DELETE', `/v1/people/${person}/invitations/${mine[0].id}`, {
      token: owner.accessToken,
    });
    assert.equal(del.status, 204);
    const r = await accept(second, invitee.accessToken);
    assert.equal(r.status, 404);
    assert.match(r.body.error.message, /withdrawn/);
    assert.equal(
      (await call(api.url, 'GET', `/v1/people/${person}`, { token: invitee.accessToken })).status,
      404,
    );
    const twice = await call(api.url, 'DELETE', `/v1/people/${person}/invitations/${mine[0].id}`, {
      token: owner.accessToken,
    });
    assert.equal(twice.status, 404);
  });

  test('an invitation expires (7 days by default)', async () => {
    const email = freshEmail();
    assert.equal((await invite(email)).status, 202);
    const token = await linkTokenFor(email);
    api.clock.shift(7 * 24 * 3_600_000 + 60_000);
    const invitee = await register(email);
    const r = await accept(token, invitee.accessToken);
    assert.equal(r.status, 409);
    assert.match(r.body.error.message, /expired/);
    const owner2 = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: owner.email, password: owner.password },
    });
    const list = await call(api.url, 'GET', `/v1/people/${person}/invitations`, {
      token: owner2.body.accessToken,
    });
    assert.equal(list.body.invitations.find((i: { email: string }) => i.email === email)?.status, 'expired');
  });

  test('each caregiver sends at most 10 invitation emails a minute', async () => {
    api.clock.shift(60_000);
    const login = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: owner.email, password: owner.password },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++)
      statuses.push((await invite(freshEmail(), {}, login.body.accessToken)).status);
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(202));
    assert.equal(statuses[10], 429);
  });

  test('bad input names the field; without SMTP the API says why it cannot invite', async () => {
    const owner2 = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: owner.email, password: owner.password },
    });
    const bad = await call(api.url, 'POST', '/v1/invitations/accept', {
      token: owner2.body.accessToken,
      body: { token: 'short' },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /token: must be the code from the invitation link/);
    const noSmtp = await startApi({
      DATABASE_URL: pgServer.url,
      AIDE_RATE_LIMIT_PER_MIN: '10000',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
    });
    try {
      const login = await call(noSmtp.url, 'POST', '/v1/auth/login', {
        body: { email: owner.email, password: owner.password },
      });
      const r = await call(noSmtp.url, 'POST', `/v1/people/${person}/caregivers`, {
        token: login.body.accessToken,
        body: { email: freshEmail() },
      });
      assert.equal(r.status, 503);
      assert.match(r.body.error.message, /SMTP_URL is not set/);
    } finally {
      await noSmtp.close();
    }
  });
});
