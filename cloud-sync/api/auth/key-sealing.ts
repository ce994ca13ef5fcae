import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { JWK } from 'jose';

/**
 * Encryption at rest of the JWT signing keys' private halves: AES-256-GCM under a key-encryption key
 * from configuration (AIDE_JWT_KEY_ENCRYPTION_KEYS). The sealed form names its key id, so a new
 * key-encryption key can be introduced while rows sealed under the old one still open.
 *
 * Format: `v1.<keyId>.<iv b64url>.<ciphertext+tag b64url>`; the signing key's kid is the associated
 * data, so a sealed private key copied onto another row does not open.
 */
export interface KeySealer {
  /** Id of the key new rows are sealed with. */
  currentKeyId: string;
  seal(privateJwk: JWK, kid: string): string;
  open(sealed: string, kid: string): JWK;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** Parses `id:base64key[,id:base64key...]`; the first key seals, all open. Throws naming the rule broken. */
export function parseKeyEncryptionKeys(spec: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const part of spec.split(',').map((p) => p.trim())) {
    const i = part.indexOf(':');
    const id = i > 0 ? part.slice(0, i) : '';
    if (!KEY_ID.test(id))
      throw new Error('each entry must be id:key with an id of letters, digits, - or _ (at most 32)');
    const key = Buffer.from(part.slice(i + 1), 'base64');
    if (key.length !== 32)
      throw new Error(`key ${id} must be 32 bytes in base64 (openssl rand -base64 32), got ${key.length}`);
    if (keys.has(id)) throw new Error(`key id ${id} appears twice`);
    keys.set(id, key);
  }
  if (keys.size === 0) throw new Error('must name at least one key');
  return keys;
}

export function createKeySealer(keys: Map<string, Buffer>): KeySealer {
  const currentKeyId = keys.keys().next().value;
  if (!currentKeyId) throw new Error('no key-encryption key');
  return {
    currentKeyId,
    seal(privateJwk, kid) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', keys.get(currentKeyId)!, iv);
      cipher.setAAD(Buffer.from(kid));
      const ct = Buffer.concat([
        cipher.update(JSON.stringify(privateJwk), 'utf8'),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      return `v1.${currentKeyId}.${iv.toString('base64url')}.${ct.toString('base64url')}`;
    },
    open(sealed, kid) {
      const [v, keyId, iv, ct] = sealed.split('.');
      if (v !== 'v1' || !keyId || !iv || !ct)
        throw new Error(`signing key ${kid}: sealed form not understood`);
      const key = keys.get(keyId);
      if (!key)
        throw new Error(
          `signing key ${kid} is sealed with key-encryption key "${keyId}", which AIDE_JWT_KEY_ENCRYPTION_KEYS does not list`,
        );
      const data = Buffer.from(ct, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(kid));
      decipher.setAuthTag(data.subarray(data.length - 16));
      try {
        const plain = Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]);
        return JSON.parse(plain.toString('utf8')) as JWK;
      } catch {
        throw new Error(`signing key ${kid} does not open with key-encryption key "${keyId}" (wrong key?)`);
      }
    },
  };
}
