/** Time as a dependency: production uses the system clock, tests drive a manual one. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export type TimerHandle = { readonly id: number } | ReturnType<typeof setTimeout>;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, Math.min(ms, 2 ** 31 - 1))),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface ManualClock extends Clock {
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void;
  /** Jumps to an absolute time (forwards fires timers; backwards fires none, like a wall-clock step). */
  set(ms: number): void;
  pending(): number;
}

export function createManualClock(startMs: number | Date = Date.UTC(2026, 0, 1)): ManualClock {
  let now = typeof startMs === 'number' ? startMs : startMs.getTime();
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();

  const fireDue = (until: number) => {
    for (;;) {
      let best: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of timers)
        if (entry[1].at <= until && (!best || entry[1].at < best[1].at)) best = entry;
      if (!best) break;
      timers.delete(best[0]);
      now = Math.max(now, best[1].at);
      best[1].fn();
    }
    now = Math.max(now, until);
  };

  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return { id };
    },
    clearTimeout(h) {
      if (h && typeof h === 'object' && 'id' in h) timers.delete((h as { id: number }).id);
    },
    advance(ms) {
      fireDue(now + ms);
    },
    set(ms) {
      if (ms >= now) fireDue(ms);
      else now = ms;
    },
    pending: () => timers.size,
  };
}
