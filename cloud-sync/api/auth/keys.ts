import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type pg from 'pg';
import type { Clock } from '../../../common/clock.js';
import { inTx } from '../../db/tx.js';
import type { KeySealer } from './key-sealing.js';

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
  /** Encrypts private keys at rest (key-sealing.ts); without it they are stored as plain JWK. */
  sealer?: KeySealer;
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
      private_jwk: JWK | null;
      private_sealed: string | null;
      created_at: Date;
      retired_at: Date | null;
    }>(
      `SELECT kid, public_jwk, private_jwk, private_sealed, created_at, retired_at FROM signing_keys
        WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC`,
      [new Date(clock.now() - opts.verifyGraceMs)],
    );
    keys = await Promise.all(
      rows.map(async (r) => ({
        kid: r.kid,
        publicJwk: r.public_jwk,
        privateKey: await importJWK(privateJwkOf(r), SIGNING_ALG),
        publicKey: await importJWK(r.public_jwk, SIGNING_ALG),
        createdAt: r.created_at.getTime(),
        retiredAt: r.retired_at ? r.retired_at.getTime() : null,
      })),
    );
    loadedAt = clock.now();
  }

  function privateJwkOf(r: { kid: string; private_jwk: JWK | null; private_sealed: string | null }): JWK {
    if (r.private_sealed) {
      if (!opts.sealer)
        throw new Error(
          `signing key ${r.kid} is encrypted; set AIDE_JWT_KEY_ENCRYPTION_KEYS to the key-encryption keys`,
        );
      return opts.sealer.open(r.private_sealed, r.kid);
    }
    return r.private_jwk!;
  }

  /** Under the rotation lock: seals plain rows and re-seals rows under an older key-encryption key. */
  async function sealStored(client: pg.PoolClient): Promise<void> {
    const sealer = opts.sealer;
    if (!sealer) return;
    const { rows } = await client.query<{
      kid: string;
      private_jwk: JWK | null;
      private_sealed: string | null;
    }>(
      `SELECT kid, private_jwk, private_sealed FROM signing_keys
        WHERE private_jwk IS NOT NULL OR private_sealed NOT LIKE $1`,
      [`v1.${sealer.currentKeyId}.%`],
    );
    for (const r of rows) {
      await client.query('UPDATE signing_keys SET private_sealed = $2, private_jwk = NULL WHERE kid = $1', [
        r.kid,
        sealer.seal(privateJwkOf(r), r.kid),
      ]);
    }
  }

  const reload = () => (loading ??= load().finally(() => (loading = undefined)));

  async function rotate(o: { force?: boolean } = {}): Promise<string | undefined> {
    const created = await inTx(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [ROTATION_LOCK]);
      await sealStored(client);
      const { rows } = await client.query<{ kid: string; created_at: Date }>(
        'SELECT kid, created_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1',
      );
      const now = clock.now();
      if (rows[0] && !o.force && now - rows[0].created_at.getTime() < opts.rotateAfterMs) return undefined;
      const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, {
        crv: 'Ed25519',
        extractable: true,
      });
      const publicJwk = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(publicJwk);
      const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG };
      await client.query('UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL', [new Date(now)]);
      await client.query(
        'INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, private_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [
          kid,
          SIGNING_ALG,
          { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
          opts.sealer ? null : privateJwk,
          opts.sealer ? opts.sealer.seal(privateJwk, kid) : null,
          new Date(now),
        ],
      );
      return kid;
    });
    if (created) await reload();
    return created;
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
