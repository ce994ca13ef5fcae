import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
} from 'cockatiel';
import { type Clock, systemClock } from './clock.js';
import { AppError, deadlineExceeded, unavailable } from './errors.js';
import type { Metrics } from './metrics.js';

/** Rejects with deadline_exceeded after `ms`; the work is told to stop through the AbortSignal. */
export async function withTimeout<T>(
  ms: number,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
  clock: Clock = systemClock,
): Promise<T> {
  const ac = new AbortController();
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => {
      const err = deadlineExceeded(`${what} did not answer within ${ms} ms`);
      ac.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([fn(ac.signal), deadline]);
  } finally {
    if (timer) clock.clearTimeout(timer);
  }
}

export interface RetryOptions {
  attempts?: number;
  baseMs?: number;
  maxMs?: number;
  clock?: Clock;
  /** Defaults to the error's own retryable flag (non-AppErrors are retried). */
  shouldRetry?: (err: unknown, attempt: number) => boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
  signal?: AbortSignal;
}

/** Full-jitter exponential backoff delay for attempt n (1-based). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function sleep(ms: number, clock: Clock = systemClock, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clock.clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const defaultShouldRetry = (err: unknown) => !(err instanceof AppError) || err.retryable;

export async function retryWithBackoff<T>(
  fn: (attempt: number) => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 5;
  const shouldRetry = opts.shouldRetry ?? defaultShouldRetry;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !shouldRetry(err, attempt) || opts.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, opts.baseMs ?? 200, opts.maxMs ?? 30_000, opts.random);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.clock, opts.signal);
    }
  }
}

export interface Breaker {
  name: string;
  execute<T>(fn: () => Promise<T>): Promise<T>;
  state(): 'closed' | 'open' | 'half_open';
  policy: CircuitBreakerPolicy;
}

const stateValue: Record<CircuitState, number> = {
  [CircuitState.Closed]: 0,
  [CircuitState.HalfOpen]: 1,
  [CircuitState.Open]: 2,
  [CircuitState.Isolated]: 2,
};

/**
 * A circuit breaker that opens after `failures` consecutive retryable failures and probes again after
 * `halfOpenAfterMs`. While open it fails fast with `unavailable`. Its state is the gauge
 * `aide_breaker_state{name}` (0 closed, 1 half open, 2 open).
 */
export function createBreaker(
  name: string,
  opts: { metrics?: Metrics; failures?: number; halfOpenAfterMs?: number } = {},
): Breaker {
  // Caller mistakes (invalid argument, not found...) say nothing about the dependency's health.
  const policy = circuitBreaker(
    handleWhen((err) => defaultShouldRetry(err)),
    {
      halfOpenAfter: opts.halfOpenAfterMs ?? 10_000,
      breaker: new ConsecutiveBreaker(opts.failures ?? 5),
    },
  );
  const gauge = opts.metrics?.gauge(
    'aide_breaker_state',
    'Circuit breaker state: 0 closed, 1 half open, 2 open',
    ['name'],
  );
  gauge?.set({ name }, 0);
  policy.onStateChange((s) => gauge?.set({ name }, stateValue[s]));

  return {
    name,
    policy,
    async execute(fn) {
      try {
        return await policy.execute(fn);
      } catch (err) {
        if (err instanceof BrokenCircuitError)
          throw unavailable(`${name} is unavailable (circuit open)`, { cause: err });
        throw err;
      }
    },
    state() {
      const s = policy.state;
      return s === CircuitState.Closed ? 'closed' : s === CircuitState.HalfOpen ? 'half_open' : 'open';
    },
  };
}
