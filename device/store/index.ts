/**
 * The device health store. Repositories are plain functions over SQLite (better-sqlite3, synchronous
 * writes; every write commits its outbox message in the same transaction). Reads that go through the
 * cache (profile, medicine list, upcoming doses, recent conversation) return Promises.
 *
 *   const { store } = ctx;                                 // DeviceContext.store
 *   store.measurements.add({ type: 'weight', value: 70 }, { source: 'voice' });
 *   await store.medications.findByName('metformin');
 *   store.doses.confirmTaken(medId, { via: 'voice' });     // idempotent
 *   store.doses.list({ from, to });                        // recorded + planned doses
 *   dueInstants(schedule, 'Europe/Berlin', from, to);      // DST-exact schedule expansion
 */
export { type Adherence, type Analytics, MISSED_AFTER_MS, type Summary } from './analytics.js';
export { type Cache, createCache, createMemoryCache } from './cache.js';
export type { ConversationsRepo, Turn, TurnInput } from './conversations.js';
export { type CachedReads, type StoreDeps, ttl } from './deps.js';
export {
  CONFIRM_WINDOW_MS,
  type Dose,
  type DoseStatus,
  type DosesRepo,
  doseStatuses,
  horizonEndFor,
} from './doses.js';
export { exportBundle, importBundle, loinc } from './fhir.js';
export { createHealthStore, type HealthStore } from './health.js';
export {
  type BloodPressure,
  type Measurement,
  type MeasurementInput,
  type MeasurementsRepo,
  type Source,
  sources,
} from './measurements.js';
export {
  type Medication,
  type MedicationCreate,
  type MedicationPatch,
  type MedicationsRepo,
  scheduleOf,
} from './medications.js';
export { defaultTargets, type PeopleRepo, type Person, type Targets } from './people.js';
export { plausible } from './ranges.js';
export { registerStoreRoutes } from './routes.js';
export { masterKeyPath, openCrypto, openStoreRuntime, type StoreRuntime } from './runtime.js';
export {
  dueInstants,
  localDate,
  localToUtc,
  type MedicineSchedule,
  nextDue,
  type Weekday,
  weekdays,
} from './schedule.js';
export {
  canonicalUnit,
  fromCanonical,
  type MeasurementType,
  measurementTypes,
  type PreferredUnits,
  toCanonical,
} from './units.js';
