import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';
import { ConfigError } from '../../../common/config.js';
import { notFound, unauthenticated, unavailable } from '../../../common/errors.js';
import { type FastifyInstance, parse } from '../../../common/http.js';
import { inTx } from '../../db/tx.js';
import { perIpAuthRate } from '../auth/guard.js';
import { newSession } from '../auth/session.js';
import type { ApiDeps } from '../deps.js';
import { normalizeEmail, type UserRow } from '../users.js';

// OpenID Connect sign-in (authorization code + PKCE S256, state, nonce). An identity links to an
// existing account only through an email the provider says is verified.

const providerConfig = z.object({
  issuer: z.string().url(),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  scopes: z.string().default('openid email profile'),
});
const providersSchema = z.record(
  z.string().regex(/^[a-z0-9-]{1,40}$/, 'provider names are lower-case letters, digits or -'),
  providerConfig,
);

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  id_token_signing_alg_values_supported?: string[];
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const STATE_TTL_MS = 10 * 60_000;
const LOGIN_CODE_TTL_MS = 60_000;

export function parseOidcProviders(json: string) {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new ConfigError(['AIDE_OIDC_PROVIDERS: must be JSON']);
  }
  const r = providersSchema.safeParse(raw);
  if (!r.success)
    throw new ConfigError(r.error.issues.map((i) => `AIDE_OIDC_PROVIDERS.${i.path.join('.')}: ${i.message}`));
  return r.data;
}

export function registerOidcRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { pool, clock, config, log } = deps;
  const perIp = perIpAuthRate(deps);
  const providers = parseOidcProviders(config.AIDE_OIDC_PROVIDERS);
  const discovered = new Map<
    string,
    Promise<{ d: Discovery; jwks: ReturnType<typeof createRemoteJWKSet> }>
  >();
  const callbackUrl = (name: string) =>
    `${config.AIDE_API_ISSUER.replace(/\/$/, '')}/v1/auth/oidc/${name}/callback`;

  function provider(name: string) {
    const p = providers[name];
    if (!p) throw notFound(`no sign-in provider called ${name}`);
    return p;
  }

  function discover(name: string) {
    let d = discovered.get(name);
    if (!d) {
      const p = provider(name);
      d = (async () => {
        const res = await fetch(`${p.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, {
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw new Error(`discovery answered ${res.status}`);
        const doc = (await res.json()) as Discovery;
        if (doc.issuer !== p.issuer) throw new Error('discovery issuer does not match the configured issuer');
        return { d: doc, jwks: createRemoteJWKSet(new URL(doc.jwks_uri)) };
      })();
      d.catch(() => discovered.delete(name));
      discovered.set(name, d);
    }
    return d.catch((err) => {
      log.warn({ provider: name, err: (err as Error).message }, 'oidc discovery failed');
      throw unavailable(`the ${name} sign-in service cannot be reached right now`);
    });
  }

  app.get('/v1/auth/oidc/:provider/start', async (req, reply) => {
    await perIp(req, reply);
    const { provider: name } = parse(z.object({ provider: z.string().max(40) }), req.params, 'params');
    const p = provider(name);
    const { d } = await discover(name);
    const state = randomBytes(32).toString('base64url');
    const nonce = randomBytes(32).toString('base64url');
    const verifier = randomBytes(48).toString('base64url');
    const now = clock.now();
    await pool.query(
      'INSERT INTO oidc_states (state_hash, provider, code_verifier, nonce, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [sha256(state), name, verifier, nonce, new Date(now), new Date(now + STATE_TTL_MS)],
    );
    const url = new URL(d.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: p.clientId,
      redirect_uri: callbackUrl(name),
      scope: p.scopes,
      state,
      nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    return reply.redirect(url.toString(), 302);
  });

  app.get('/v1/auth/oidc/:provider/callback', async (req, reply) => {
    const { provider: name } = parse(z.object({ provider: z.string().max(40) }), req.params, 'params');
    const q = parse(
      z
        .object({
          code: z.string().max(2000).optional(),
          state: z.string().max(200),
          error: z.string().max(200).optional(),
        })
        .passthrough(),
      req.query,
      'query',
    );
    const p = provider(name);
    // Single use: the state row is deleted as it is read.
    const { rows } = await pool.query<{
      provider: string;
      code_verifier: string;
      nonce: string;
      expires_at: Date;
    }>('DELETE FROM oidc_states WHERE state_hash = $1 RETURNING provider, code_verifier, nonce, expires_at', [
      sha256(q.state),
    ]);
    const st = rows[0];
    if (!st || st.provider !== name || st.expires_at.getTime() < clock.now())
      throw unauthenticated('sign-in link expired or already used; start again');
    if (q.error || !q.code) throw unauthenticated(`the sign-in service said no (${q.error ?? 'no code'})`);
    const { d, jwks } = await discover(name);
    const res = await fetch(d.token_endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(p.clientId)}:${encodeURIComponent(p.clientSecret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: q.code,
        redirect_uri: callbackUrl(name),
        code_verifier: st.code_verifier,
      }),
      signal: AbortSignal.timeout(10_000),
    });
    const tokenBody = (await res.json().catch(() => ({}))) as { id_token?: string; access_token?: string };
    if (!res.ok || !tokenBody.id_token) {
      log.warn({ provider: name, status: res.status }, 'oidc code exchange failed');
      throw unauthenticated('the sign-in service did not confirm who you are; start again');
    }
    let claims: { sub?: string; email?: unknown; email_verified?: unknown; nonce?: unknown; name?: unknown };
    try {
      ({ payload: claims } = await jwtVerify(tokenBody.id_token, jwks, {
        issuer: p.issuer,
        audience: p.clientId,
        algorithms: (d.id_token_signing_alg_values_supported ?? ['RS256']).filter(
          (a) => a !== 'none' && !a.startsWith('HS'),
        ),
        clockTolerance: 60,
        currentDate: new Date(clock.now()),
      }));
    } catch (err) {
      log.warn({ provider: name, err: (err as Error).message }, 'oidc id_token rejected');
      throw unauthenticated('the sign-in service’s answer could not be verified');
    }
    if (claims.nonce !== st.nonce || !claims.sub)
      throw unauthenticated('the sign-in answer does not belong to this sign-in');
    // Conformant providers may keep scope claims (email) out of the ID token: ask the userinfo endpoint.
    if (claims.email === undefined && d.userinfo_endpoint && tokenBody.access_token) {
      const ui = await fetch(d.userinfo_endpoint, {
        headers: { authorization: `Bearer ${tokenBody.access_token}` },
        signal: AbortSignal.timeout(10_000),
      });
      const info = (await ui.json().catch(() => ({}))) as {
        sub?: string;
        email?: unknown;
        email_verified?: unknown;
        name?: unknown;
      };
      if (ui.ok && info.sub === claims.sub)
        claims = {
          ...claims,
          email: info.email,
          email_verified: info.email_verified,
          name: info.name ?? claims.name,
        };
    }
    const user = await linkOrCreate(
      name,
      claims as { sub: string; email?: unknown; email_verified?: unknown; name?: unknown },
    );
    const code = randomBytes(32).toString('base64url');
    await pool.query('INSERT INTO oidc_login_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)', [
      sha256(code),
      user.id,
      new Date(clock.now() + LOGIN_CODE_TTL_MS),
    ]);
    log.info({ provider: name, userId: user.id }, 'signed in through oidc');
    return reply.redirect(`/#/oidc?code=${code}`, 302);
  });

  async function linkOrCreate(
    name: string,
    c: { sub: string; email?: unknown; email_verified?: unknown; name?: unknown },
  ): Promise<UserRow> {
    const known = await pool.query<UserRow>(
      'SELECT u.* FROM oidc_identities i JOIN users u ON u.id = i.user_id WHERE i.provider = $1 AND i.subject = $2',
      [name, c.sub],
    );
    if (known.rows[0]) return known.rows[0];
    // Linking by email needs the provider to vouch for it; otherwise anyone could claim any account.
    if (typeof c.email !== 'string' || c.email_verified !== true)
      throw unauthenticated('the sign-in service did not share a verified email address');
    const email = normalizeEmail(c.email);
    return inTx(pool, async (client) => {
      let user = (
        await client.query<UserRow>('SELECT * FROM users WHERE lower(email) = $1 FOR UPDATE', [email])
      ).rows[0];
      if (!user) {
        user = (
          await client.query<UserRow>(
            `INSERT INTO users (id, email, email_verified, display_name, created_at) VALUES ($1, $2, true, $3, $4) RETURNING *`,
            [
              randomUUID(),
              email,
              typeof c.name === 'string' ? c.name.slice(0, 100) : null,
              new Date(clock.now()),
            ],
          )
        ).rows[0]!;
      } else if (!user.email_verified) {
        await client.query('UPDATE users SET email_verified = true WHERE id = $1', [user.id]);
      }
      await client.query(
        'INSERT INTO oidc_identities (provider, subject, user_id, email, created_at) VALUES ($1, $2, $3, $4, $5)',
        [name, c.sub, user.id, email, new Date(clock.now())],
      );
      return user;
    });
  }

  app.post('/v1/auth/oidc/exchange', async (req, reply) => {
    await perIp(req, reply);
    const { code } = parse(z.object({ code: z.string().min(10).max(100) }).strict(), req.body);
    const { rows } = await pool.query<UserRow>(
      `WITH c AS (DELETE FROM oidc_login_codes WHERE code_hash = $1 AND expires_at > $2 RETURNING user_id)
       SELECT u.* FROM c JOIN users u ON u.id = c.user_id WHERE u.disabled_at IS NULL`,
      [sha256(code), new Date(clock.now())],
    );
    const user = rows[0];
    if (!user) throw unauthenticated('sign-in code expired or already used; start again');
    return newSession(deps, user);
  });

  app.get('/v1/auth/oidc/providers', async () => ({ providers: Object.keys(providers) }));
}
