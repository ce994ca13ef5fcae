import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { notFound } from '../../common/errors.js';
import type { CachedReads, StoreDeps } from './deps.js';
import { iso, ttl, uniqueId } from './deps.js';
import { zoneOf } from './schedule.js';
import { defaultUnits, type PreferredUnits } from './units.js';
import { inputError } from './validation.js';

/** Target ranges in canonical units, keyed by measurement field. */
export const targetKeys = [
  'systolic',
  'diastolic',
  'heart_rate',
  'oxygen_saturation',
  'blood_glucose',
  'weight',
  'temperature',
  'steps',
  'sleep',
] as const;
export type TargetKey = (typeof targetKeys)[number];
export type Targets = Partial<Record<TargetKey, { min?: number; max?: number }>>;

export const defaultTargets: Targets = {
  systolic: { min: 90, max: 140 },
  diastolic: { min: 60, max: 90 },
  heart_rate: { min: 50, max: 100 },
  oxygen_saturation: { min: 92, max: 100 },
  blood_glucose: { min: 70, max: 180 },
  temperature: { min: 36, max: 37.9 },
};

export interface Person {
  id: string;
  name: string;
  timezone: string;
  locale: string;
  units: PreferredUnits;
  targets: Targets;
  primary: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
}

const timezoneSchema = z.string().refine(
  (tz) => {
    try {
      zoneOf(tz);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IANA time zone such as Europe/Berlin' },
);
const unitsSchema = z
  .object({
    glucose: z.enum(['mg/dL', 'mmol/L']),
    weight: z.enum(['kg', 'lb']),
    temperature: z.enum(['°C', '°F']),
  })
  .partial()
  .strict();
const rangeSchema = z
  .object({ min: z.number().finite().optional(), max: z.number().finite().optional() })
  .strict()
  .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, {
    message: 'min must not exceed max',
  });
const targetsSchema = z.partialRecord(z.enum(targetKeys), rangeSchema);

export const personCreateSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    timezone: timezoneSchema.optional(),
    locale: z.string().min(2).max(35).optional(),
    units: unitsSchema.optional(),
    targets: targetsSchema.optional(),
  })
  .strict();
export const personPatchSchema = personCreateSchema.partial().strict();
export type PersonCreate = z.input<typeof personCreateSchema>;
export type PersonPatch = z.input<typeof personPatchSchema>;

interface PersonRow {
  id: string;
  name_enc: Buffer;
  timezone: string;
  locale: string;
  units: string;
  targets: string;
  is_primary: number;
  version: number;
  created_at: number;
  updated_at: number;
}

export interface PeopleRepo {
  /** The first person (created on first start); requests without personId act for them. */
  primaryId(): string;
  /** Resolves an optional person id to an existing one (default: the first person). */
  resolveId(personId?: string): string;
  /** Cached 2 h; invalidated on every change. */
  get(personId?: string): Promise<Person>;
  getSync(personId?: string): Person;
  list(): Person[];
  create(input: PersonCreate, opts?: { id?: string; primary?: boolean }): Person;
  update(personId: string, patch: PersonPatch): Person;
  /** Creates the first person on first start; returns their id (decrypts nothing, so a damaged row cannot stop start-up). */
  ensurePrimary(defaults: { timezone: string; locale: string; name?: string }): string;
}

export function createPeopleRepo(deps: StoreDeps, cached: CachedReads): PeopleRepo {
  const { db, clock, outbox, crypto } = deps;
  const newId = deps.newId ?? randomUUID;
  const aad = (id: string) => `people:${id}:name`;
  const selectOne = db.prepare('SELECT * FROM people WHERE id = ?');
  const selectPrimary = db.prepare('SELECT id FROM people WHERE is_primary = 1 ORDER BY created_at LIMIT 1');
  let primary: string | undefined;
  const known = new Set<string>();

  const toPerson = (r: PersonRow): Person => ({
    id: r.id,
    name: crypto.decrypt(r.name_enc, aad(r.id)),
    timezone: r.timezone,
    locale: r.locale,
    units: { ...defaultUnits, ...JSON.parse(r.units) },
    targets: JSON.parse(r.targets),
    primary: r.is_primary === 1,
    version: r.version,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  });

  const enqueue = (p: Person) =>
    outbox.enqueue('person', {
      id: p.id,
      name: p.name,
      timezone: p.timezone,
      locale: p.locale,
      units: p.units,
      targets: p.targets,
      version: p.version,
      updatedAt: p.updatedAt,
    });

  function getSync(personId?: string): Person {
    const id = repo.resolveId(personId);
    return toPerson(selectOne.get(id) as PersonRow);
  }

  const repo: PeopleRepo = {
    primaryId() {
      if (primary) return primary;
      const row = selectPrimary.get() as { id: string } | undefined;
      if (!row) throw notFound('no person on this device yet');
      primary = row.id;
      return primary;
    },
    resolveId(personId) {
      if (!personId) return repo.primaryId();
      // People are never deleted, so a known id needs no query (this sits on every cached read).
      if (known.has(personId)) return personId;
      if (selectOne.get(personId)) {
        known.add(personId);
        return personId;
      }
      throw notFound(`person ${personId} does not exist`, {
        details: [{ field: 'personId', rule: 'exists', message: `no person with id ${personId}` }],
      });
    },
    get: (personId) => {
      const id = repo.resolveId(personId);
      return cached.read('person', id, ttl.profile, () => getSync(id));
    },
    getSync,
    list: () =>
      (db.prepare('SELECT * FROM people ORDER BY created_at, id').all() as PersonRow[]).map(toPerson),
    create(input, opts = {}) {
      const parsed = personCreateSchema.safeParse(input);
      if (!parsed.success) throw inputError(parsed.error);
      const v = parsed.data;
      const id = opts.id ?? newId();
      const now = clock.now();
      const person = uniqueId('person', id, () =>
        db
          .transaction(() => {
            const isPrimary = opts.primary || !selectPrimary.get() ? 1 : 0;
            db.prepare(
              `INSERT INTO people (id, name_enc, timezone, locale, units, targets, is_primary, version, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
            ).run(
              id,
              crypto.encrypt(v.name, aad(id)),
              v.timezone ?? 'UTC',
              v.locale ?? 'en-GB',
              JSON.stringify({ ...defaultUnits, ...v.units }),
              JSON.stringify({ ...defaultTargets, ...v.targets }),
              isPrimary,
              now,
              now,
            );
            const p = getSync(id);
            enqueue(p);
            return p;
          })
          .immediate(),
      );
      cached.invalidate('people', 'all');
      return person;
    },
    update(personId, patch) {
      const parsed = personPatchSchema.safeParse(patch);
      if (!parsed.success) throw inputError(parsed.error);
      const v = parsed.data;
      const id = repo.resolveId(personId);
      const person = db
        .transaction(() => {
          const cur = getSync(id);
          const next = {
            name: v.name ?? cur.name,
            timezone: v.timezone ?? cur.timezone,
            locale: v.locale ?? cur.locale,
            units: { ...cur.units, ...v.units },
            targets: { ...cur.targets, ...v.targets },
          };
          db.prepare(
            `UPDATE people SET name_enc = ?, timezone = ?, locale = ?, units = ?, targets = ?, version = version + 1, updated_at = ?
           WHERE id = ?`,
          ).run(
            crypto.encrypt(next.name, aad(id)),
            next.timezone,
            next.locale,
            JSON.stringify(next.units),
            JSON.stringify(next.targets),
            clock.now(),
            id,
          );
          const p = getSync(id);
          enqueue(p);
          return p;
        })
        .immediate();
      cached.invalidate('person', id);
      return person;
    },
    ensurePrimary(defaults) {
      const row = selectPrimary.get() as { id: string } | undefined;
      if (row) return row.id;
      return repo.create(
        { name: defaults.name ?? 'Me', timezone: defaults.timezone, locale: defaults.locale },
        { primary: true },
      ).id;
    },
  };
  return repo;
}
