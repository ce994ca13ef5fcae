import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createManualClock } from './clock.js';
import { AppError, invalidArgument, unavailable } from './errors.js';
import { createMetrics } from './metrics.js';
import { backoffDelay, createBreaker, retryWithBackoff, withTimeout } from './resilience.js';

test('backoff grows exponentially with jitter and is capped', () => {
  assert.equal(
    backoffDelay(1, 100, 10_000, () => 0),
    50,
  );
  assert.equal(
    backoffDelay(1, 100, 10_000, () => 1),
    100,
  );
  assert.equal(
    backoffDelay(4, 100, 10_000, () => 1),
    800,
  );
  assert.equal(
    backoffDelay(20, 100, 10_000, () => 1),
    10_000,
  );
});

test('retry retries retryable failures and gives up on caller mistakes', async () => {
  let calls = 0;
  const value = await retryWithBackoff(
    async () => {
      calls++;
      if (calls < 3) throw unavailable('not yet');
      return 'done';
    },
    { baseMs: 1, maxMs: 2 },
  );
  assert.equal(value, 'done');
  assert.equal(calls, 3);

  let badCalls = 0;
  await assert.rejects(
    retryWithBackoff(
      async () => {
        badCalls++;
        throw invalidArgument('systolic must be a number');
      },
      { baseMs: 1 },
    ),
    /systolic/,
  );
  assert.equal(badCalls, 1);
});

test('timeout rejects with deadline_exceeded and aborts the work', async () => {
  const clock = createManualClock();
  let aborted = false;
  const p = withTimeout(
    8000,
    'cloud LLM',
    (signal) =>
      new Promise((_, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(signal.reason);
        });
      }),
    clock,
  );
  clock.advance(8000);
  await assert.rejects(
    p,
    (err: unknown) =>
      err instanceof AppError && err.code === 'deadline_exceeded' && /8000 ms/.test(err.message),
  );
  assert.ok(aborted);
});

test('breaker opens after consecutive failures, fails fast, and shows its state as a metric', async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  // Half open after 1 s, not 50 ms: on a loaded machine a 50 ms stall before the "still open" call below
  // would let that call through and fail the test.
  const breaker = createBreaker('llm', { metrics, failures: 3, halfOpenAfterMs: 1000 });
  for (let i = 0; i < 3; i++)
    await assert.rejects(breaker.execute(async () => Promise.reject(unavailable('down'))));
  assert.equal(breaker.state(), 'open');
  let called = false;
  await assert.rejects(
    breaker.execute(async () => {
      called = true;
    }),
    (err: unknown) =>
      err instanceof AppError && err.code === 'unavailable' && /circuit open/.test(err.message),
  );
  assert.equal(called, false);
  assert.match(await metrics.registry.metrics(), /aide_breaker_state\{name="llm"\} 2/);

  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(await breaker.execute(async () => 'back'), 'back');
  assert.equal(breaker.state(), 'closed');
  assert.match(await metrics.registry.metrics(), /aide_breaker_state\{name="llm"\} 0/);
});

test('caller mistakes do not open the breaker', async () => {
  const breaker = createBreaker('store', { failures: 2 });
  for (let i = 0; i < 5; i++)
    await assert.rejects(breaker.execute(async () => Promise.reject(invalidArgument('bad'))));
  assert.equal(breaker.state(), 'closed');
});
