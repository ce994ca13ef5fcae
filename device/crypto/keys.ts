import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../../common/clock.js';
import { AppError } from '../../common/errors.js';
import type { Db } from '../store/db.js';
import { open, seal, sealedKeyId } from './aead.js';

/**
 * Reads the master key (32 bytes, hex or base64 text, or raw) from `file`, creating it with mode 0600 on
 * first start. The master key never enters the database; it only wraps the data keys stored there.
 */
export function loadMasterKey(file: string, opts: { create?: boolean } = {}): Buffer {
  if (!existsSync(file)) {
    if (opts.create === false) {
      throw keyError(
        `master key file ${file} does not exist, but this database holds data encrypted under one (restore the file or set AIDE_KEY_FILE)`,
      );
    }
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) chmodSync(file, 0o600); // tighten a copied or provisioned file that others could read
  const raw = readFileSync(file);
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) return Buffer.from(text, 'base64');
  if (raw.length === 32) return raw;
  throw keyError(
    `master key file ${file} must hold 32 bytes (64 hex digits or base64), got ${raw.length} bytes`,
  );
}

function keyError(message: string): AppError {
  return new AppError('internal', message, {
    details: [{ field: 'AIDE_KEY_FILE', rule: 'master_key', message }],
  });
}

export interface KeyRing {
  /** The active data key (read from the database, so a rotation by another process is seen at once). */
  active(): { id: number; key: Buffer };
  /** Any data key by id, unwrapped on first use. */
  get(id: number): Buffer;
  /** Creates a new data key, makes it the active one and returns its id. */
  rotate(): number;
  /** Forgets data keys no ciphertext uses any more (the caller checked); returns how many. */
  retire(ids: number[]): number;
  ids(): number[];
}

const wrapAad = (id: number) => `aide-data-key:${id}`;

export function createKeyRing(deps: { db: Db; clock: Clock; masterKey: Buffer }): KeyRing {
  const { db, clock, masterKey } = deps;
  const unwrapped = new Map<number, Buffer>();
  const selectActive = db.prepare('SELECT id FROM data_keys WHERE active = 1');
  const selectOne = db.prepare('SELECT wrapped FROM data_keys WHERE id = ?');

  function get(id: number): Buffer {
    const hit = unwrapped.get(id);
    if (hit) return hit;
    const row = selectOne.get(id) as { wrapped: Buffer } | undefined;
    if (!row) throw keyError(`data key ${id} is not in this database (retired or from another device)`);
    let key: Buffer;
    try {
      key = open(masterKey, row.wrapped, wrapAad(id));
    } catch {
      throw keyError(`data key ${id} cannot be unwrapped: the master key file does not match this database`);
    }
    unwrapped.set(id, key);
    return key;
  }

  function rotate(): number {
    return db
      .transaction(() => {
        const next =
          ((db.prepare('SELECT max(id) AS m FROM data_keys').get() as { m: number | null }).m ?? 0) + 1;
        const key = randomBytes(32);
        const now = clock.now();
        db.prepare('UPDATE data_keys SET active = 0, retired_at = ? WHERE active = 1').run(now);
        db.prepare('INSERT INTO data_keys (id, wrapped, active, created_at) VALUES (?, ?, 1, ?)').run(
          next,
          seal(masterKey, 0, key, wrapAad(next)),
          now,
        );
        unwrapped.set(next, key);
        return next;
      })
      .immediate();
  }

  const ring: KeyRing = {
    active() {
      const row = selectActive.get() as { id: number } | undefined;
      const id = row ? row.id : rotate();
      return { id, key: get(id) };
    },
    get,
    rotate,
    retire(ids) {
      let n = 0;
      const del = db.prepare('DELETE FROM data_keys WHERE id = ? AND active = 0');
      db.transaction(() => {
        for (const id of ids) n += del.run(id).changes;
      }).immediate();
      for (const id of ids) unwrapped.delete(id);
      return n;
    },
    ids: () =>
      (db.prepare('SELECT id FROM data_keys ORDER BY id').all() as { id: number }[]).map((r) => r.id),
  };
  ring.active(); // create the first data key on first start, and fail fast on a wrong master key
  return ring;
}

export { sealedKeyId };
