import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryCache } from './cache.js';

test('in-process cache: TTL expiry and least-recently-used eviction', async () => {
  let now = 0;
  const cache = createMemoryCache({ maxEntries: 2, now: () => now });
  await cache.set('a', { v: 1 }, 1000);
  await cache.set('b', 2, 1000);
  assert.deepEqual(await cache.get('a'), { v: 1 }); // a is now most recent
  await cache.set('c', 3, 1000); // evicts b
  assert.equal(await cache.get('b'), undefined);
  assert.equal(await cache.get('c'), 3);
  now = 1000;
  assert.equal(await cache.get('a'), undefined);
  // What a caller gets is its own copy.
  await cache.set('list', [3, 1, 2], 1000);
  ((await cache.get<number[]>('list')) as number[]).sort();
  assert.deepEqual(await cache.get('list'), [3, 1, 2]);
  await cache.set('d', 4, 10);
  await cache.del('d');
  assert.equal(await cache.get('d'), undefined);
});
