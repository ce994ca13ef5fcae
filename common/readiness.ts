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
