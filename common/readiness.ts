import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import { retryWithBackoff } from './resilience.js';

/** Each subsystem reports whether it is ready; /readyz answers 503 naming those that are not. */
export interface SubsystemState {
  ready: boolean;
  /** Short human text: why not ready, or which engine/URL is in use. Never secrets. */
  detail?: string;
  /** Optional subsystems (e.g. cloud sync while offline) are reported but do not fail readiness. */
  optional?: boolean;
}

export interface Readiness {
  set(name: string, state: SubsystemState): void;
  remove(name: string): void;
  snapshot(): { ready: boolean; subsystems: Record<string, SubsystemState>; notReady: string[] };
}

export function createReadiness(): Readiness {
  const states = new Map<string, SubsystemState>();
  return {
    set: (name, state) => void states.set(name, state),
    remove: (name) => void states.delete(name),
    snapshot() {
      const subsystems = Object.fromEntries(states);
      const notReady = [...states].filter(([, s]) => !s.ready && !s.optional).map(([n]) => n);
      return { ready: notReady.length === 0, subsystems, notReady };
    },
  };
}

/**
 * Runs `connect` until it succeeds, with jittered backoff, keeping `name` not ready (with the reason)
 * meanwhile, so a process with an unreachable dependency answers 503 naming it instead of crash-looping.
 * Stops trying when `signal` aborts.
 */
export function connectWithBackoff(
  name: string,
  connect: () => Promise<string>,
  deps: { readiness: Readiness; log: Logger; clock: Clock; signal: AbortSignal },
): Promise<void> {
  deps.readiness.set(name, { ready: false, detail: 'connecting' });
  const done = retryWithBackoff(
    async () => {
      const detail = await connect();
      deps.readiness.set(name, { ready: true, detail });
    },
    {
      attempts: Number.POSITIVE_INFINITY,
      baseMs: 250,
      maxMs: 10_000,
      clock: deps.clock,
      signal: deps.signal,
      shouldRetry: () => !deps.signal.aborted,
      onRetry: (err, attempt, delayMs) => {
        deps.readiness.set(name, { ready: false, detail: `unreachable: ${(err as Error).message}` });
        deps.log.warn({ attempt, delayMs, err: (err as Error).message }, `${name} not reachable, retrying`);
      },
    },
  );
  done.catch(() => {});
  return done;
}
