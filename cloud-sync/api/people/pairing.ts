import { createHash, randomInt } from 'node:crypto';
import type pg from 'pg';
import type { Clock } from '../../../common/clock.js';
import { inTx } from '../../db/tx.js';

export const PAIRING_CODE_TTL_MS = 10 * 60_000;

/** Codes are compared by hash: the table never holds a usable code. */
export const hashPairingCode = (code: string) =>
  createHash('sha256').update(code.replace(/[\s-]/g, '')).digest('hex');

/**
 * Makes a new 8-digit pairing code for a device (shown as "1234 5678" or spoken digit by digit) and
 * invalidates the device's earlier unclaimed codes. Called on the cloud side when the device asks for
 * one over its sync channel; the device then shows or speaks it.
 */
export async function createPairingCode(
  pool: pg.Pool,
  clock: Clock,
  deviceId: string,
): Promise<{ code: string; expiresAt: string }> {
  const code = String(randomInt(0, 100_000_000)).padStart(8, '0');
  const now = clock.now();
  const expiresAt = new Date(now + PAIRING_CODE_TTL_MS);
  await inTx(pool, async (client) => {
    await client.query('DELETE FROM pairing_codes WHERE device_id = $1 AND claimed_at IS NULL', [deviceId]);
    await client.query(
      'INSERT INTO pairing_codes (code_hash, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4)',
      [hashPairingCode(code), deviceId, new Date(now), expiresAt],
    );
  });
  return { code, expiresAt: expiresAt.toISOString() };
}
