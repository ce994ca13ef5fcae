import type { PayloadSealer } from '../store/outbox.js';
import { open, seal, sealedKeyId } from './aead.js';
import type { KeyRing } from './keys.js';

/**
 * Field encryption for the store: strings in, BLOBs out. The associated data names the table, row id and
 * field (`people:<id>:name`), so a ciphertext copied onto another row or field fails to decrypt.
 */
export interface FieldCrypto {
  encrypt(plain: string, aad: string): Buffer;
  decrypt(sealed: Buffer, aad: string): string;
  encryptOpt(plain: string | undefined | null, aad: string): Buffer | null;
  decryptOpt(sealed: Buffer | null | undefined, aad: string): string | undefined;
  /** Seals outbox payloads (and cache values) with the same data keys. */
  sealer: PayloadSealer;
  keyIdOf(sealed: Buffer): number;
  ring: KeyRing;
}

export function createFieldCrypto(ring: KeyRing): FieldCrypto {
  const sealBuf = (plain: Buffer, aad: string) => {
    const { id, key } = ring.active();
    return seal(key, id, plain, aad);
  };
  const openBuf = (sealed: Buffer, aad: string) => open(ring.get(sealedKeyId(sealed)), sealed, aad);
  const fc: FieldCrypto = {
    encrypt: (plain, aad) => sealBuf(Buffer.from(plain, 'utf8'), aad),
    decrypt: (sealed, aad) => openBuf(sealed, aad).toString('utf8'),
    encryptOpt: (plain, aad) => (plain === undefined || plain === null ? null : fc.encrypt(plain, aad)),
    decryptOpt: (sealed, aad) => (sealed ? fc.decrypt(sealed, aad) : undefined),
    sealer: { seal: sealBuf, open: openBuf },
    keyIdOf: sealedKeyId,
    ring,
  };
  return fc;
}
