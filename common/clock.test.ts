import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createManualClock } from './clock.js';

test('a manual clock fires timers in time order as it advances', () => {
  const clock = createManualClock(1000);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 200);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 100);
  const c = clock.setTimeout(() => fired.push('c'), 150);
  clock.clearTimeout(c);
  clock.advance(150);
  assert.deepEqual(fired, ['a@1100']);
  clock.advance(100);
  assert.deepEqual(fired, ['a@1100', 'b@1200']);
  assert.equal(clock.now(), 1250);
});

test('a wall-clock step backwards fires nothing; a step forwards fires what became due', () => {
  const clock = createManualClock(10_000);
  let fired = 0;
  clock.setTimeout(() => fired++, 1000);
  clock.set(5000);
  assert.equal(fired, 0);
  clock.set(20_000);
  assert.equal(fired, 1);
  assert.equal(clock.pending(), 0);
});
