import { type Algorithm, hash, verify } from '@node-rs/argon2';

/** Algorithm.Argon2id (a const enum, which isolated modules cannot read). */
const ARGON2ID = 2 as Algorithm;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(phc: string, password: string): Promise<boolean>;
  /** Spends the same time as a real verify, so an unknown email answers as slowly as a known one. */
  verifyDummy(password: string): Promise<void>;
}

/** argon2id (RFC 9106) with OWASP's minimum profile by default: 19 MiB, 2 passes, 1 lane. */
export function createPasswordHasher(opts: { memoryKib?: number; timeCost?: number } = {}): PasswordHasher {
  const params = {
    algorithm: ARGON2ID,
    memoryCost: opts.memoryKib ?? 19456,
    timeCost: opts.timeCost ?? 2,
    parallelism: 1,
  };
  let dummy: Promise<string> | undefined;
  return {
    hash: (password) => hash(password, params),
    async verify(phc, password) {
      try {
        return await verify(phc, password);
      } catch {
        return false;
      }
    },
    async verifyDummy(password) {
      dummy ??= hash('not-a-real-password-0000', params);
      await verify(await dummy, password).catch(() => false);
    },
  };
}
