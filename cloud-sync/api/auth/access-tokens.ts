import { randomUUID } from 'node:crypto';
import { type JWTHeaderParameters, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../../../common/clock.js';
import { unauthenticated } from '../../../common/errors.js';
import { SIGNING_ALG, type SigningKeys } from './keys.js';

export type Role = 'caregiver' | 'clinician' | 'admin';
export const ACCESS_TOKEN_TYPE = 'at+jwt';
/** Largest clock difference accepted between the signer and the verifier. */
export const CLOCK_TOLERANCE_S = 60;

export interface AccessClaims {
  userId: string;
  role: Role;
  /** Refresh-token family the token was issued with (the sign-in session). */
  sessionId: string;
}

export interface AccessTokens {
  sign(claims: AccessClaims): Promise<{ token: string; expiresAt: number }>;
  /** Verifies signature (EdDSA only), kid, typ, iss, aud, exp/iat/nbf; anything wrong → unauthenticated. */
  verify(token: string): Promise<AccessClaims>;
}

export function createAccessTokens(opts: {
  keys: SigningKeys;
  clock: Clock;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}): AccessTokens {
  const { keys, clock } = opts;
  const rejected = (why: string) => unauthenticated(`access token rejected: ${why}`);
  const verified = new Map<string, { claims: AccessClaims; expMs: number }>();

  return {
    async sign(c: AccessClaims) {
      const { kid, privateKey } = await keys.current();
      const iat = Math.floor(clock.now() / 1000);
      const exp = iat + opts.ttlSeconds;
      const token = await new SignJWT({ role: c.role, sid: c.sessionId })
        .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: ACCESS_TOKEN_TYPE })
        .setSubject(c.userId)
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(privateKey);
      return { token, expiresAt: exp * 1000 };
    },

    async verify(token) {
      // A token already verified is looked up, not re-verified, until it expires (bounded memory).
      const hit = verified.get(token);
      if (hit && hit.expMs + CLOCK_TOLERANCE_S * 1000 > clock.now()) return hit.claims;
      const claims = await verifyFully(token);
      if (verified.size >= 10_000) verified.delete(verified.keys().next().value as string);
      verified.set(token, claims);
      return claims.claims;
    },
  };

  async function verifyFully(token: string): Promise<{ claims: AccessClaims; expMs: number }> {
    {
      const getKey = async (header: JWTHeaderParameters) => {
        if (header.alg !== SIGNING_ALG) throw rejected(`algorithm ${String(header.alg)} is not allowed`);
        if (typeof header.kid !== 'string') throw rejected('kid is missing');
        const key = await keys.publicKey(header.kid);
        if (!key) throw rejected('unknown kid');
        return key;
      };
      try {
        const { payload } = await jwtVerify(token, getKey, {
          algorithms: [SIGNING_ALG],
          issuer: opts.issuer,
          audience: opts.audience,
          typ: ACCESS_TOKEN_TYPE,
          clockTolerance: CLOCK_TOLERANCE_S,
          currentDate: new Date(clock.now()),
          requiredClaims: ['sub', 'exp', 'iat', 'jti'],
          maxTokenAge: opts.ttlSeconds + CLOCK_TOLERANCE_S,
        });
        const role = payload.role;
        if (role !== 'caregiver' && role !== 'clinician' && role !== 'admin')
          throw rejected('role claim is invalid');
        if (typeof payload.sid !== 'string') throw rejected('sid claim is missing');
        return {
          claims: { userId: payload.sub as string, role, sessionId: payload.sid },
          expMs: (payload.exp as number) * 1000,
        };
      } catch (err) {
        if ((err as { code?: string }).code === 'unauthenticated') throw err;
        if (err instanceof joseErrors.JWTExpired) throw rejected('expired');
        if (err instanceof joseErrors.JWTClaimValidationFailed)
          throw rejected(`claim ${err.claim} failed: ${err.reason}`);
        if (err instanceof joseErrors.JOSEError)
          throw rejected(err.code.toLowerCase().replace(/^err_/, '').replaceAll('_', ' '));
        throw rejected('malformed');
      }
    }
  }
}
