import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError } from '../../common/errors.js';

/**
 * AES-256-GCM envelope: `A1` | key id (uint32 BE) | iv (12) | tag (16) | ciphertext.
 * The key id travels with the ciphertext so a row can be read after the data key rotates; the caller's
 * associated data (row id and field) binds a ciphertext to the row it belongs to.
 */
const MAGIC = Buffer.from('A1');
const HEADER = 2 + 4 + 12 + 16;

export function seal(key: Buffer, keyId: number, plain: Buffer, aad: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  const head = Buffer.alloc(6);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(keyId, 2);
  return Buffer.concat([head, iv, cipher.getAuthTag(), body]);
}

/** The key id a ciphertext was sealed with (throws on something that is not our envelope). */
export function sealedKeyId(sealed: Buffer): number {
  if (sealed.length < HEADER || sealed[0] !== MAGIC[0] || sealed[1] !== MAGIC[1]) {
    throw decryptError('not an Aide ciphertext (bad header)');
  }
  return sealed.readUInt32BE(2);
}

export function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  sealedKeyId(sealed);
  const iv = sealed.subarray(6, 18);
  const tag = sealed.subarray(18, 34);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(HEADER)), decipher.final()]);
  } catch (err) {
    throw decryptError(
      'authentication failed: the data was altered, belongs to another row, or the key is wrong',
      err,
    );
  }
}

export function decryptError(why: string, cause?: unknown): AppError {
  return new AppError('internal', `decryption failed: ${why}`, {
    cause,
    details: [{ field: 'ciphertext', rule: 'aes_gcm_auth', message: why }],
  });
}
