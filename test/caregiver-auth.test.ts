import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, importJWK, SignJWT } from 'jose';
import type pg from 'pg';
import { type ApiUnderTest, call, signUp, startApi } from './caregiver-helpers.js';
import { type PostgresServer, startPostgres } from './harness/index.js';
import { newPool } from './support/common.js';

const ISS = 'http://api.test';
const AUD = 'aide-caregiver-api';
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('caregiver accounts and tokens', () => {
  let pgServer: PostgresServer;
  let api: ApiUnderTest;
  let db: pg.Pool;

  before(async () => {
    pgServer = await startPostgres();
    api = await startApi({
      DATABASE_URL: pgServer.url,
      AIDE_API_ISSUER: ISS,
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '1000',
      AIDE_RATE_LIMIT_PER_MIN: '1000',
    });
    db = newPool(pgServer.url, 2);
  });
  after(async () => {
    await api?.close();
    await db?.end();
    await pgServer?.stop();
  });

  /** The server's current private signing key, to mint tokens that are valid except for one claim. */
  async function serverKey() {
    const { rows } = await db.query('SELECT kid, private_jwk FROM signing_keys WHERE retired_at IS NULL');
    return { kid: rows[0].kid as string, key: await importJWK(rows[0].private_jwk, 'EdDSA') };
  }
  async function mint(claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
    const { kid, key } = await serverKey();
    const now = Math.floor(api.clock.now() / 1000);
    return new SignJWT({ role: 'caregiver', sid: 'x', ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt', ...header } as never)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .setJti('j1')
      .sign(key);
  }

  test('register, sign in, /v1/me; the password is stored as argon2id, never in clear', async () => {
    const u = await signUp(api.url, 'ada');
    const me = await call(api.url, 'GET', '/v1/me', { token: u.accessToken });
    assert.equal(me.status, 200);
    assert.equal(me.body.user.email, u.email);
    assert.equal(me.body.user.role, 'caregiver');
    const { rows } = await db.query('SELECT password_hash FROM users WHERE id = $1', [u.id]);
    assert.match(rows[0].password_hash, /^\$argon2id\$v=19\$/);
    const login = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: u.email.toUpperCase(), password: u.password },
    });
    assert.equal(login.status, 200);
    assert.equal(login.body.user.id, u.id);
    assert.equal(login.body.expiresIn, 1800);
    const header = JSON.parse(Buffer.from(login.body.accessToken.split('.')[0], 'base64url').toString());
    assert.equal(header.alg, 'EdDSA');
    assert.equal(header.typ, 'at+jwt');
    assert.ok(header.kid);
    const jwks = await call(api.url, 'GET', '/.well-known/jwks.json');
    assert.ok(
      jwks.body.keys.some((k: { kid: string; d?: string }) => k.kid === header.kid && k.d === undefined),
      'JWKS publishes the public key only',
    );
  });

  test('bad registration names the field and rule and creates nothing', async () => {
    const r = await call(api.url, 'POST', '/v1/auth/register', {
      body: { email: 'not-an-email', password: 'short' },
    });
    assert.equal(r.status, 400);
    const fields = r.body.error.details.map((d: { field: string }) => d.field).sort();
    assert.deepEqual(fields, ['email', 'password']);
    assert.match(r.body.error.message, /password: must be at least 10 characters/);
    const dup = await signUp(api.url, 'dup');
    const again = await call(api.url, 'POST', '/v1/auth/register', {
      body: { email: dup.email, password: 'another password 1' },
    });
    assert.equal(again.status, 409);
  });

  test('a wrong password and an unknown email get the same answer; repeated failures back off with 429 + Retry-After', async () => {
    const u = await signUp(api.url, 'bob');
    const wrong = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: u.email, password: 'wrong password!' },
    });
    const unknown = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: `nobody.${u.email}`, password: 'wrong password!' },
    });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.deepEqual(wrong.body, unknown.body);
    for (let i = 0; i < 4; i++)
      await call(api.url, 'POST', '/v1/auth/login', {
        body: { email: u.email, password: 'wrong password!' },
      });
    const locked = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: u.email, password: u.password },
    });
    assert.equal(locked.status, 429, 'even the right password waits while backed off');
    assert.ok(Number(locked.headers.get('retry-after')) >= 1);
    // Unknown emails back off the same way, so the lock does not reveal which accounts exist.
    for (let i = 0; i < 5; i++)
      await call(api.url, 'POST', '/v1/auth/login', { body: { email: `ghost.${u.email}`, password: 'x' } });
    const ghost = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: `ghost.${u.email}`, password: 'x' },
    });
    assert.equal(ghost.status, 429);
    api.clock.shift(20 * 60_000);
    const later = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: u.email, password: u.password },
    });
    assert.equal(later.status, 200);
  });

  test('token attacks are refused with 401', async () => {
    const u = await signUp(api.url, 'eve');
    const good = await mint({ sub: u.id, iss: ISS, aud: AUD });
    assert.equal(
      (await call(api.url, 'GET', '/v1/me', { token: good })).status,
      200,
      'control: a correctly minted token works',
    );
    const { kid } = await serverKey();
    const [, payload] = good.split('.');

    const attacks: Record<string, string> = {};
    attacks['alg none'] = `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${payload}.`;
    // HS256 signed with the server's public key as the HMAC secret (key confusion).
    const { rows } = await db.query('SELECT public_jwk FROM signing_keys WHERE kid = $1', [kid]);
    for (const [name, secret] of [
      ['HS256 with public JWK', JSON.stringify(rows[0].public_jwk)],
      ['HS256 with public x', rows[0].public_jwk.x],
    ]) {
      const h = b64({ alg: 'HS256', typ: 'at+jwt', kid });
      attacks[name] =
        `${h}.${payload}.${createHmac('sha256', secret).update(`${h}.${payload}`).digest('base64url')}`;
    }
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    attacks['RS256 with attacker key, server kid'] = await new SignJWT({ role: 'admin', sid: 'x' })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' })
      .setSubject(u.id)
      .setIssuer(ISS)
      .setAudience(AUD)
      .setIssuedAt()
      .setExpirationTime('10m')
      .setJti('a')
      .sign(rsa.privateKey);
    const attacker = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    attacks['unknown kid'] = await new SignJWT({ role: 'caregiver', sid: 'x' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'attacker-kid', typ: 'at+jwt' })
      .setSubject(u.id)
      .setIssuer(ISS)
      .setAudience(AUD)
      .setIssuedAt()
      .setExpirationTime('10m')
      .setJti('a')
      .sign(attacker.privateKey);
    attacks['attacker key, server kid'] = await new SignJWT({ role: 'caregiver', sid: 'x' })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
      .setSubject(u.id)
      .setIssuer(ISS)
      .setAudience(AUD)
      .setIssuedAt()
      .setExpirationTime('10m')
      .setJti('a')
      .sign(attacker.privateKey);
    attacks['wrong aud'] = await mint({ sub: u.id, iss: ISS, aud: 'some-other-api' });
    attacks['wrong iss'] = await mint({ sub: u.id, iss: 'https://evil.example', aud: AUD });
    attacks['wrong typ'] = await mint({ sub: u.id, iss: ISS, aud: AUD }, { typ: 'JWT' });
    attacks['no kid'] = await mint({ sub: u.id, iss: ISS, aud: AUD }, { kid: undefined });
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    attacks['tampered role'] =
      `${good.split('.')[0]}.${b64({ ...claims, role: 'admin' })}.${good.split('.')[2]}`;
    attacks['tampered signature'] = `${good.slice(0, -4)}AAAA`;
    attacks.garbage = 'not.a.jwt';
    for (const [name, token] of Object.entries(attacks)) {
      const r = await call(api.url, 'GET', '/v1/me', { token });
      assert.equal(r.status, 401, `${name} must be refused, got ${r.status}`);
      assert.equal(r.body.error.code, 'unauthenticated');
    }
    assert.equal((await call(api.url, 'GET', '/v1/me')).status, 401, 'no token');
    assert.equal(
      (await call(api.url, 'GET', '/v1/me', { headers: { authorization: `Basic ${good}` } })).status,
      401,
      'wrong scheme',
    );
  });

  test('an access token expires after 30 minutes, with at most 60 s of clock tolerance', async () => {
    const u = await signUp(api.url, 'tim');
    api.clock.shift(30 * 60_000 + 30_000);
    assert.equal(
      (await call(api.url, 'GET', '/v1/me', { token: u.accessToken })).status,
      200,
      'within tolerance',
    );
    api.clock.shift(40_000);
    const r = await call(api.url, 'GET', '/v1/me', { token: u.accessToken });
    assert.equal(r.status, 401);
    assert.match(r.body.error.message, /expired/);
  });

  test('refresh rotates the token; reusing a spent one revokes the whole session; logout ends it', async () => {
    const u = await signUp(api.url, 'rae');
    const r1 = await call(api.url, 'POST', '/v1/auth/refresh', { body: { refreshToken: u.refreshToken } });
    assert.equal(r1.status, 200);
    assert.notEqual(r1.body.refreshToken, u.refreshToken);
    assert.equal((await call(api.url, 'GET', '/v1/me', { token: r1.body.accessToken })).status, 200);
    // A thief replays the first token: refused, and the legitimate new token dies with it.
    const replay = await call(api.url, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: u.refreshToken },
    });
    assert.equal(replay.status, 401);
    const victim = await call(api.url, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: r1.body.refreshToken },
    });
    assert.equal(victim.status, 401, 'family revoked');
    const { rows } = await db.query(
      "SELECT count(*)::int AS n FROM refresh_tokens WHERE user_id = $1 AND revoke_reason = 'reuse detected'",
      [u.id],
    );
    assert.ok(rows[0].n >= 1);
    // A refresh token is stored hashed.
    const stored = await db.query('SELECT token_hash FROM refresh_tokens WHERE user_id = $1', [u.id]);
    for (const s of stored.rows) assert.ok(!s.token_hash.toString().includes('aide_rt_'));

    const login = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: u.email, password: u.password },
    });
    assert.equal(
      (await call(api.url, 'POST', '/v1/auth/logout', { body: { refreshToken: login.body.refreshToken } }))
        .status,
      204,
    );
    assert.equal(
      (await call(api.url, 'POST', '/v1/auth/refresh', { body: { refreshToken: login.body.refreshToken } }))
        .status,
      401,
    );
    assert.equal(
      (await call(api.url, 'POST', '/v1/auth/refresh', { body: { refreshToken: 'aide_rt_made_up' } })).status,
      401,
    );
  });

  test('signing keys rotate: old tokens verify until they expire, new tokens use the new kid', async () => {
    const u = await signUp(api.url, 'kim');
    const oldKid = JSON.parse(Buffer.from(u.accessToken.split('.')[0]!, 'base64url').toString()).kid;
    const { rows: before } = await db.query('SELECT count(*)::int AS n FROM signing_keys');
    // Age the current key past AIDE_JWT_ROTATE_DAYS (30); the next replica to start (or the hourly check) rotates.
    await db.query(
      "UPDATE signing_keys SET created_at = created_at - interval '31 days' WHERE retired_at IS NULL",
    );
    const login = async () =>
      (await call(api.url, 'POST', '/v1/auth/login', { body: { email: u.email, password: u.password } })).body
        .accessToken as string;
    const replica = await startApi(
      { DATABASE_URL: pgServer.url, AIDE_API_ISSUER: ISS },
      { clock: api.clock },
    );
    await replica.close();
    const { rows: afterRows } = await db.query('SELECT count(*)::int AS n FROM signing_keys');
    assert.equal(afterRows[0].n, before[0].n + 1, 'a replica starting with an over-age key rotated it once');
    await api.handle.ctx.readiness.snapshot();
    const jwks = await call(api.url, 'GET', '/.well-known/jwks.json');
    api.clock.shift(61_000); // replicas re-read the key table at least once a minute
    const fresh = await login();
    const freshKid = JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid;
    assert.notEqual(freshKid, oldKid);
    assert.equal((await call(api.url, 'GET', '/v1/me', { token: fresh })).status, 200);
    assert.equal(
      (await call(api.url, 'GET', '/v1/me', { token: u.accessToken })).status,
      200,
      'a token signed by the retired key still works',
    );
    const jwks2 = await call(api.url, 'GET', '/.well-known/jwks.json');
    const kids = jwks2.body.keys.map((k: { kid: string }) => k.kid);
    assert.ok(
      kids.includes(oldKid) && kids.includes(freshKid),
      `JWKS has both keys: ${kids} (before: ${jwks.body.keys.length})`,
    );
    api.clock.shift(32 * 60_000);
    assert.equal((await call(api.url, 'GET', '/v1/me', { token: u.accessToken })).status, 401);
    const jwks3 = await call(api.url, 'GET', '/.well-known/jwks.json');
    assert.ok(
      !jwks3.body.keys.some((k: { kid: string }) => k.kid === oldKid),
      'the retired key is unpublished after its tokens expired',
    );
  });

  test('the logs never contain a password, token or email', async () => {
    const u = await signUp(api.url, 'logcheck');
    await call(api.url, 'POST', '/v1/auth/login', { body: { email: u.email, password: 'wrong password!' } });
    await call(api.url, 'GET', '/v1/me', { token: u.accessToken });
    const logs = api.logs();
    assert.ok(logs.length > 0);
    assert.ok(!logs.includes(u.password), 'password');
    assert.ok(!logs.includes(u.accessToken.split('.')[2]!), 'access token');
    assert.ok(!logs.includes(u.refreshToken), 'refresh token');
    assert.ok(!logs.includes(u.email), 'email');
    assert.ok(!/aide_rt_/.test(logs));
  });
});
