import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import type pg from 'pg';
import { createKeySealer, parseKeyEncryptionKeys } from '../cloud-sync/api/auth/key-sealing.js';
import { createSigningKeys } from '../cloud-sync/api/auth/keys.js';
import { loadCloudConfig } from '../cloud-sync/config.js';
import { call, signUp, startApi } from './caregiver-helpers.js';
import { type PostgresServer, startPostgres } from './harness/index.js';
import { newPool, waitFor } from './support/common.js';

const kek = () => randomBytes(32).toString('base64');

describe('JWT signing keys are encrypted at rest', () => {
  let pgServer: PostgresServer;
  let db: pg.Pool;
  const k1 = `k1:${kek()}`;
  const k2 = `k2:${kek()}`;
  const env = (extra: Record<string, string> = {}) => ({
    DATABASE_URL: pgServer.url,
    AIDE_AUTH_RATE_LIMIT_PER_MIN: '1000',
    AIDE_RATE_LIMIT_PER_MIN: '1000',
    ...extra,
  });
  const rows = async () =>
    (
      await db.query<{ kid: string; private_jwk: { d?: string } | null; private_sealed: string | null }>(
        'SELECT kid, private_jwk, private_sealed, row_to_json(signing_keys)::text AS whole FROM signing_keys ORDER BY created_at',
      )
    ).rows as {
      kid: string;
      private_jwk: { d?: string } | null;
      private_sealed: string | null;
      whole: string;
    }[];

  before(async () => {
    pgServer = await startPostgres();
    db = newPool(pgServer.url, 2);
  });
  after(async () => {
    await db?.end();
    await pgServer?.stop();
  });

  test('configuration refuses a malformed key with the rule it broke', () => {
    assert.throws(
      () => loadCloudConfig({ env: { AIDE_JWT_KEY_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' } }),
      /32 bytes/,
    );
    assert.throws(() => loadCloudConfig({ env: { AIDE_JWT_KEY_ENCRYPTION_KEYS: 'no-colon' } }), /id:key/);
    const sealer = createKeySealer(parseKeyEncryptionKeys(k1));
    const sealed = sealer.seal({ kty: 'OKP', crv: 'Ed25519', x: 'x', d: 'secret-d' }, 'kid-a');
    assert.ok(!sealed.includes('secret-d'));
    assert.equal(sealer.open(sealed, 'kid-a').d, 'secret-d');
    assert.throws(() => sealer.open(sealed, 'kid-b'), /does not open/, 'the kid is bound to the ciphertext');
    assert.throws(
      () => createKeySealer(parseKeyEncryptionKeys(`k1:${kek()}`)).open(sealed, 'kid-a'),
      /does not open with key-encryption key "k1"/,
    );
    assert.throws(() => createKeySealer(parseKeyEncryptionKeys(k2)).open(sealed, 'kid-a'), /does not list/);
  });

  test('a plain key written before encryption is sealed on start; tokens keep working; rotation under a new key-encryption key', async () => {
    // 1. No key-encryption key: the private JWK is stored as is (and readiness says so).
    let api = await startApi(env());
    const u = await signUp(api.url, 'kek');
    const plain = await rows();
    assert.equal(plain.length, 1);
    const d = plain[0]!.private_jwk?.d;
    assert.ok(d, 'plain row holds the private scalar');
    const ready = await (await fetch(`${api.url}/readyz`)).json();
    assert.match(JSON.stringify(ready), /NOT encrypted at rest/);
    await api.close();

    // 2. With k1: the existing row is sealed; the DB row no longer holds the private key anywhere.
    api = await startApi(env({ AIDE_JWT_KEY_ENCRYPTION_KEYS: k1 }));
    const sealed = await rows();
    assert.equal(sealed.length, 1);
    assert.equal(sealed[0]!.private_jwk, null);
    assert.match(sealed[0]!.private_sealed!, /^v1\.k1\./);
    assert.ok(!sealed[0]!.whole.includes(d), 'no plaintext private key in the row');
    assert.equal((await call(api.url, 'GET', '/v1/me', { token: u.accessToken })).status, 200, 'old token');
    const login = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: u.email, password: u.password },
    });
    assert.equal(login.status, 200);
    assert.equal(decodeProtectedHeader(login.body.accessToken).kid, sealed[0]!.kid);
    await api.close();

    // 3. Rotate with k2 first (k1 still opens): the new key and the old one are sealed under k2.
    const keys = createSigningKeys({
      pool: db,
      clock: { now: () => Date.now(), setTimeout, clearTimeout } as never,
      rotateAfterMs: 1e12,
      verifyGraceMs: 3_600_000,
      sealer: createKeySealer(parseKeyEncryptionKeys(`${k2},${k1}`)),
    });
    const newKid = await keys.rotate({ force: true });
    assert.ok(newKid);
    const rotated = await rows();
    assert.equal(rotated.length, 2);
    for (const r of rotated) {
      assert.equal(r.private_jwk, null);
      assert.match(r.private_sealed!, /^v1\.k2\./, `${r.kid} re-sealed under k2`);
      assert.ok(!r.whole.includes(d));
    }

    // 4. An API holding only k1 cannot open them and says why; with k2 it signs with the new key.
    api = await startApi(env({ AIDE_JWT_KEY_ENCRYPTION_KEYS: k1 }), { ready: false });
    const notReady = await waitFor('readiness to name the key it cannot open', async () => {
      const body = JSON.stringify(await (await fetch(`${api.url}/readyz`)).json());
      return /does not list/.test(body) && body;
    });
    assert.match(notReady, /does not list/);
    assert.equal(api.handle.ctx.readiness.snapshot().ready, false, 'not ready without the key');
    await api.close();
    api = await startApi(env({ AIDE_JWT_KEY_ENCRYPTION_KEYS: `${k2},${k1}` }));
    const again = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: u.email, password: u.password },
    });
    assert.equal(again.status, 200);
    assert.equal(decodeProtectedHeader(again.body.accessToken).kid, newKid);
    assert.equal((await call(api.url, 'GET', '/v1/me', { token: u.accessToken })).status, 200);
    const jwks = await call(api.url, 'GET', '/.well-known/jwks.json');
    assert.equal(jwks.body.keys.length, 2, 'old and new key published');
    assert.ok(!JSON.stringify(jwks.body).includes(d), 'JWKS holds no private part');
    await api.close();
  });
});
