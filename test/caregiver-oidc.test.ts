import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
// @ts-expect-error oidc-provider ships no type declarations
import Provider from 'oidc-provider';
import type pg from 'pg';
import type { Browser } from 'playwright-core';
import { type ApiUnderTest, call, signUp, startApi } from './caregiver-helpers.js';
import { freePort, type PostgresServer, startPostgres } from './harness/index.js';
import { launchChromium } from './support/browser.js';
import { newPool } from './support/common.js';

/** Accounts at the identity provider: id → claims. */
const accounts: Record<string, { email: string; email_verified: boolean; name: string }> = {};

describe('sign-in with an external OpenID Connect provider (oidc-provider, authorization code + PKCE)', () => {
  let pgServer: PostgresServer;
  let api: ApiUnderTest;
  let idp: Server;
  let browser: Browser;
  let db: pg.Pool;

  before(async () => {
    pgServer = await startPostgres();
    db = newPool(pgServer.url, 2);
    const [idpPort, apiPort] = [await freePort(), await freePort()];
    const issuer = `http://127.0.0.1:${idpPort}`;
    const apiBase = `http://127.0.0.1:${apiPort}`;
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: 'aide',
          client_secret: 'aide-client-secret',
          redirect_uris: [`${apiBase}/v1/auth/oidc/testidp/callback`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
      pkce: { required: () => true },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      features: { devInteractions: { enabled: true } },
      cookies: { keys: ['test-cookie-key-0123456789'] },
      async findAccount(_ctx: unknown, id: string) {
        return {
          accountId: id,
          claims: async () => ({
            sub: id,
            ...(accounts[id] ?? { email: `${id}@idp.example`, email_verified: false, name: id }),
          }),
        };
      },
    });
    idp = provider.listen(idpPort) as unknown as Server;
    api = await startApi({
      DATABASE_URL: pgServer.url,
      AIDE_API_ISSUER: apiBase,
      AIDE_PORT: String(apiPort),
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
      AIDE_OIDC_PROVIDERS: JSON.stringify({
        testidp: { issuer, clientId: 'aide', clientSecret: 'aide-client-secret' },
      }),
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await api?.close();
    idp?.close();
    await db?.end();
    await pgServer?.stop();
  });

  /** Goes through the provider's login and consent pages in Chromium; returns the app page afterwards. */
  async function signInAt(login: string) {
    const page = await browser.newPage();
    await page.goto(`${api.url}/`);
    await page.getByRole('link', { name: 'Sign in with testidp' }).click();
    await page.locator('input[name=login]').fill(login);
    await page.locator('input[name=password]').fill('anything');
    await page.locator('button[type=submit]').click();
    await page
      .locator('button[type=submit]')
      .filter({ hasText: /continue/i })
      .click();
    return page;
  }

  test('a new caregiver signs in with the provider and gets an Aide account for the verified email', async () => {
    accounts.grace = { email: 'grace@idp.example', email_verified: true, name: 'Grace' };
    const page = await signInAt('grace');
    await page.getByRole('heading', { name: 'My people' }).waitFor({ timeout: 60_000 });
    const session = JSON.parse((await page.evaluate(() => sessionStorage.getItem('aide.session'))) ?? 'null');
    const me = await call(api.url, 'GET', '/v1/me', { token: session.accessToken });
    assert.equal(me.body.user.email, 'grace@idp.example');
    assert.equal(me.body.user.emailVerified, true);
    assert.ok(!page.url().includes('code='), 'the one-time code is removed from the address bar');
    await page.close();
  });

  test('an existing account is linked by verified email; an unverified email is refused', async () => {
    const existing = await signUp(api.url, 'henry');
    accounts.henry = { email: existing.email, email_verified: true, name: 'Henry' };
    const page = await signInAt('henry');
    await page.getByRole('heading', { name: 'My people' }).waitFor({ timeout: 60_000 });
    const session = JSON.parse((await page.evaluate(() => sessionStorage.getItem('aide.session'))) ?? 'null');
    assert.equal(session.user.id, existing.id, 'same account');
    await page.close();

    const victim = await signUp(api.url, 'ivy');
    accounts.mallory = { email: victim.email, email_verified: false, name: 'Mallory' };
    const p2 = await signInAt('mallory');
    await p2.waitForLoadState('networkidle');
    assert.match(await p2.content(), /verified email/);
    const { rows } = await db.query('SELECT count(*)::int AS n FROM oidc_identities WHERE user_id = $1', [
      victim.id,
    ]);
    assert.equal(rows[0].n, 0);
    await p2.close();
  });

  test('a callback with a forged or replayed state is refused; the start link uses PKCE S256', async () => {
    const start = await fetch(`${api.url}/v1/auth/oidc/testidp/start`, { redirect: 'manual' });
    assert.equal(start.status, 302);
    const loc = new URL(start.headers.get('location')!);
    assert.equal(loc.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(
      loc.searchParams.get('code_challenge') &&
        loc.searchParams.get('nonce') &&
        loc.searchParams.get('state'),
    );
    const forged = await call(api.url, 'GET', '/v1/auth/oidc/testidp/callback?code=abc&state=forged');
    assert.equal(forged.status, 401);
    assert.equal((await call(api.url, 'GET', '/v1/auth/oidc/nope/start')).status, 404);
    assert.equal(
      (await call(api.url, 'POST', '/v1/auth/oidc/exchange', { body: { code: 'not-a-real-code' } })).status,
      401,
    );
  });
});
