import type { Clock } from '../../common/clock.js';
import { type Analytics, createAnalytics } from './analytics.js';
import { type ConversationsRepo, createConversationsRepo } from './conversations.js';
import { createCachedReads, type StoreDeps } from './deps.js';
import { createDosesRepo, type DosesRepo, horizonEndFor } from './doses.js';
import { createMeasurementsRepo, type MeasurementsRepo } from './measurements.js';
import { createMedicationsRepo, type MedicationsRepo } from './medications.js';
import { createPeopleRepo, type PeopleRepo } from './people.js';

export interface HealthStore {
  people: PeopleRepo;
  measurements: MeasurementsRepo;
  medications: MedicationsRepo;
  doses: DosesRepo;
  conversations: ConversationsRepo;
  analytics: Analytics;
  /** Plans doses through the end of tomorrow for everyone; call hourly (startHorizon does). */
  extendHorizon(): number;
  /** Keeps the planned-dose horizon rolling; returns a stop function. */
  startHorizon(everyMs?: number): () => void;
  deps: StoreDeps;
}

/**
 * The device's health store: repositories over SQLite with field encryption, the sync outbox written in
 * the same transaction as each change, and cache-aside reads.
 */
export function createHealthStore(deps: StoreDeps): HealthStore {
  const cached = createCachedReads(deps.cache);
  const people = createPeopleRepo(deps, cached);
  const medications = createMedicationsRepo(deps, people, cached);
  const doses = createDosesRepo(deps, people, medications, cached);
  const measurements = createMeasurementsRepo(deps, people);
  const conversations = createConversationsRepo(deps, people, cached);
  const analytics = createAnalytics(deps, people, medications, doses);

  // A new time zone moves every future dose: re-plan them with the profile change.
  const update = people.update;
  people.update = (id, patch) => {
    const before = people.getSync(id);
    const after = update(id, patch);
    if (after.timezone !== before.timezone)
      deps.db.transaction(() => doses.replanPerson(after.id)).immediate();
    return after;
  };

  function extendHorizon(): number {
    const now = deps.clock.now();
    let added = 0;
    for (const p of people.list())
      added += doses.materialize(now - 3600_000, horizonEndFor(now, p.timezone), p.id);
    return added;
  }

  return {
    people,
    measurements,
    medications,
    doses,
    conversations,
    analytics,
    extendHorizon,
    startHorizon(everyMs = 3600_000) {
      let timer: ReturnType<Clock['setTimeout']> | undefined;
      let stopped = false;
      const tick = () => {
        try {
          const added = extendHorizon();
          if (added) deps.log.debug({ added }, 'planned doses');
        } catch (err) {
          deps.log.error({ err }, 'planning doses failed');
        }
        if (!stopped) timer = deps.clock.setTimeout(tick, everyMs);
      };
      tick();
      return () => {
        stopped = true;
        if (timer) deps.clock.clearTimeout(timer);
      };
    },
    deps,
  };
}
