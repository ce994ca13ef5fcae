import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type pg from 'pg';
import type { Clock } from '../../../common/clock.js';

export const SIGNING_ALG = 'EdDSA';
/** Arbitrary constant: serializes key rotation across API replicas. */
const ROTATION_LOCK = 7_401_090_050;
/** How long a replica trusts its cached key list before reading the table again. */
export const KEY_CACHE_MS = 60_000;

type KeyObject = Awaited<ReturnType<typeof importJWK>>;

interface StoredKey {
  kid: string;
  publicJwk: JWK;
  privateKey: KeyObject;
  publicKey: KeyObject;
  createdAt: number;
  retiredAt: number | null;
}

export interface SigningKeys {
  /** The key that signs new tokens (the newest unretired key). */
  current(): Promise<{ kid: string; privateKey: KeyObject }>;
  /** Public key for a kid, reloading from the database (at most every few seconds) when it is unknown. */
  publicKey(kid: string): Promise<KeyObject | undefined>;
  /** Published keys: current and recently retired ones whose tokens may still be valid. */
  jwks(): Promise<{ keys: JWK[] }>;
  /** Makes a new key when the current one is older than rotateAfterMs (or `force`). Returns the new kid, if any. */
  rotate(opts?: { force?: boolean }): Promise<string | undefined>;
  reload(): Promise<void>;
}

export interface SigningKeysOptions {
  pool: pg.Pool;
  clock: Clock;
  /** A key older than this is replaced. */
  rotateAfterMs: number;
  /**
   * How long a retired key stays published: the access-token lifetime plus clock tolerance plus
   * KEY_CACHE_MS (a replica may sign with a key for that long after another replica retired it).
   */
  verifyGraceMs: number;
}

/**
 * Ed25519 signing keys kept in PostgreSQL so every replica signs and verifies with the same set.
 * Rotation adds a new key and retires the old one; the old one keeps verifying until its tokens expire.
 */
export function createSigningKeys(opts: SigningKeysOptions): SigningKeys {
  const { pool, clock } = opts;
  let keys: StoredKey[] = [];
  let loadedAt = 0;
  let loading: Promise<void> | undefined;

  async function load(): Promise<void> {
    const { rows } = await pool.query<{
      kid: string;
      public_jwk: JWK;
      private_jwk: JWK;
      created_at: Date;
      retired_at: Date | null;
    }>(
      `SELECT kid, public_jwk, private_jwk, created_at, retired_at FROM signing_keys
        WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC`,
      [new Date(clock.now() - opts.verifyGraceMs)],
    );
    keys = await Promise.all(
      rows.map(async (r) => ({
        kid: r.kid,
        publicJwk: r.public_jwk,
        privateKey: await importJWK(r.private_jwk, SIGNING_ALG),
        publicKey: await importJWK(r.public_jwk, SIGNING_ALG),
        createdAt: r.created_at.getTime(),
        retiredAt: r.retired_at ? r.retired_at.getTime() : null,
      })),
    );
    loadedAt = clock.now();
  }

  const reload = () => (loading ??= load().finally(() => (loading = undefined)));

  async function rotate(o: { force?: boolean } = {}): Promise<string | undefined> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [ROTATION_LOCK]);
      const { rows } = await client.query<{ kid: string; created_at: Date }>(
        'SELECT kid, created_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1',
      );
      const now = clock.now();
      if (rows[0] && !o.force && now - rows[0].created_at.getTime() < opts.rotateAfterMs) {
        await client.query('COMMIT');
        return undefined;
      }
      const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, {
        crv: 'Ed25519',
        extractable: true,
      });
      const publicJwk = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(publicJwk);
      const privateJwk = await exportJWK(privateKey);
      await client.query('UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL', [new Date(now)]);
      await client.query(
        'INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, created_at) VALUES ($1, $2, $3, $4, $5)',
        [
          kid,
          SIGNING_ALG,
          { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
          { ...privateJwk, kid, alg: SIGNING_ALG },
          new Date(now),
        ],
      );
      await client.query('COMMIT');
      await reload();
      return kid;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  return {
    async current() {
      if (keys.length === 0 || clock.now() - loadedAt > KEY_CACHE_MS) await reload();
      let key = keys.find((k) => k.retiredAt === null);
      if (!key) {
        await rotate({ force: keys.length !== 0 });
        key = keys.find((k) => k.retiredAt === null);
      }
      if (!key) throw new Error('no signing key available');
      return { kid: key.kid, privateKey: key.privateKey };
    },
    async publicKey(kid) {
      let key = keys.find((k) => k.kid === kid);
      if (!key && clock.now() - loadedAt > 5_000) {
        await reload();
        key = keys.find((k) => k.kid === kid);
      }
      if (key && key.retiredAt !== null && key.retiredAt + opts.verifyGraceMs < clock.now()) return undefined;
      return key?.publicKey;
    },
    async jwks() {
      if (keys.length === 0 || clock.now() - loadedAt > KEY_CACHE_MS) await reload();
      const now = clock.now();
      return {
        keys: keys
          .filter((k) => k.retiredAt === null || k.retiredAt + opts.verifyGraceMs > now)
          .map((k) => k.publicJwk),
      };
    },
    rotate,
    reload,
  };
}
