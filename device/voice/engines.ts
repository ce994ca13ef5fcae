import { unavailable } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import { withTimeout } from '../../common/resilience.js';

/** An engine that loaded, or the reason it did not. */
export type EngineSlot<E> = { name: string; engine?: E; error?: string };

/** Loads each configured engine in order; a failure is kept as the reason, never thrown. */
export function loadEngines<E>(
  names: string[],
  factories: Record<string, () => E>,
  log: Logger,
  kind: string,
): EngineSlot<E>[] {
  return names.map((name) => {
    const make = factories[name];
    if (!make)
      return {
        name,
        error: `unknown ${kind} engine "${name}" (known: ${Object.keys(factories).join(', ')})`,
      };
    try {
      return { name, engine: make() };
    } catch (err) {
      const error = (err as Error).message;
      log.warn({ kind, engine: name, reason: error }, 'speech engine not available, next one takes over');
      return { name, error };
    }
  });
}

/** "pocketsphinx (sherpa: model folder not found: …)" — which engine serves and why the others do not. */
export function describeSlots<E>(slots: EngineSlot<E>[]): { active?: string; detail: string } {
  const active = slots.find((s) => s.engine)?.name;
  const skipped = slots.filter((s) => !s.engine).map((s) => `${s.name}: ${s.error}`);
  return { active, detail: `${active ?? 'none'}${skipped.length ? ` (${skipped.join('; ')})` : ''}` };
}

/**
 * Runs `fn` on each loaded engine in order, each under its own deadline; the first that answers wins.
 * Failures are logged and counted; when all fail the last error says why.
 */
export async function firstThatWorks<E extends { name: string }, T>(
  slots: EngineSlot<E>[],
  timeoutMs: number,
  what: string,
  fn: (engine: E, signal: AbortSignal) => Promise<T>,
  deps: { log: Logger; metrics: Metrics },
): Promise<{ value: T; engine: string }> {
  const failures = deps.metrics.counter(
    'aide_voice_engine_failures_total',
    'Speech engine calls that failed or timed out',
    ['engine', 'what'],
  );
  let last: unknown;
  for (const slot of slots) {
    if (!slot.engine) continue;
    const engine = slot.engine;
    try {
      const value = await withTimeout(timeoutMs, `${what} (${engine.name})`, (signal) => fn(engine, signal));
      return { value, engine: engine.name };
    } catch (err) {
      last = err;
      failures.inc({ engine: engine.name, what });
      deps.log.warn(
        { engine: engine.name, what, reason: (err as Error).message },
        'speech engine failed, trying the next one',
      );
    }
  }
  throw last ?? unavailable(`${what}: no engine is available`);
}
