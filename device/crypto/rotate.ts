import type { Logger } from '../../common/log.js';
import type { Db } from '../store/db.js';
import type { FieldCrypto } from './fields.js';

/** Every encrypted column: table, id column, blob column, and how its associated data is formed. */
export const encryptedColumns: { table: string; id: string; column: string; aad: (id: string) => string }[] =
  [
    { table: 'people', id: 'id', column: 'name_enc', aad: (id) => `people:${id}:name` },
    { table: 'measurements', id: 'id', column: 'note_enc', aad: (id) => `measurements:${id}:note` },
    { table: 'medications', id: 'id', column: 'name_enc', aad: (id) => `medications:${id}:name` },
    { table: 'medications', id: 'id', column: 'dose_enc', aad: (id) => `medications:${id}:dose` },
    {
      table: 'medications',
      id: 'id',
      column: 'instructions_enc',
      aad: (id) => `medications:${id}:instructions`,
    },
    {
      table: 'conversation_turns',
      id: 'id',
      column: 'text_enc',
      aad: (id) => `conversation_turns:${id}:text`,
    },
    { table: 'outbox', id: 'message_id', column: 'payload', aad: (id) => id },
  ];

const keyIdBlob = (id: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(id);
  return b;
};

export interface RotationResult {
  keyId: number;
  reencrypted: number;
  retiredKeys: number[];
  ms: number;
}

/**
 * `aide keys rotate`: a new data key becomes active (the running agent picks it up on its next write:
 * every store write reads the active key inside its own IMMEDIATE transaction), then every ciphertext is
 * re-encrypted in small transactions so the agent's writes interleave. A row the agent changed meanwhile
 * is skipped by the compare-and-set and picked up by the next pass. Old keys are deleted once nothing uses them.
 */
export function rotateDataKey(deps: {
  db: Db;
  crypto: FieldCrypto;
  log?: Logger;
  batchSize?: number;
  onBatch?: () => void;
}): RotationResult {
  const { db, crypto } = deps;
  const t0 = Date.now();
  const batch = deps.batchSize ?? 500;
  const keyId = crypto.ring.rotate();
  const current = keyIdBlob(keyId);
  let reencrypted = 0;
  for (const c of encryptedColumns) {
    const select = db.prepare(
      `SELECT ${c.id} AS id, ${c.column} AS blob FROM ${c.table}
       WHERE ${c.column} IS NOT NULL AND substr(${c.column}, 3, 4) != ? LIMIT ?`,
    );
    const update = db.prepare(`UPDATE ${c.table} SET ${c.column} = ? WHERE ${c.id} = ? AND ${c.column} = ?`);
    for (;;) {
      const rows = select.all(current, batch) as { id: string; blob: Buffer }[];
      if (!rows.length) break;
      db.transaction(() => {
        for (const r of rows) {
          const plain = crypto.sealer.open(r.blob, c.aad(r.id));
          reencrypted += update.run(crypto.sealer.seal(plain, c.aad(r.id)), r.id, r.blob).changes;
        }
      }).immediate();
      deps.onBatch?.();
    }
  }
  // Delete old keys nobody references, checked and deleted under the write lock.
  const retiredKeys = db
    .transaction(() => {
      const old = crypto.ring.ids().filter((id) => id !== keyId);
      const unused = old.filter((id) =>
        encryptedColumns.every(
          (c) =>
            !db
              .prepare(
                `SELECT 1 FROM ${c.table} WHERE ${c.column} IS NOT NULL AND substr(${c.column}, 3, 4) = ? LIMIT 1`,
              )
              .get(keyIdBlob(id)),
        ),
      );
      crypto.ring.retire(unused);
      return unused;
    })
    .immediate();
  const result = { keyId, reencrypted, retiredKeys, ms: Date.now() - t0 };
  deps.log?.info(result, 'data key rotated');
  return result;
}
