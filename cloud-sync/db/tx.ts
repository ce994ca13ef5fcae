import type pg from 'pg';

/**
 * Runs fn in a transaction on one client of the pool: COMMIT when fn returns, ROLLBACK (its own failure
 * ignored, fn's error rethrown) when anything throws; the client goes back to the pool either way.
 */
export async function inTx<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
