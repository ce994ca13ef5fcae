import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { conflict, invalidArgument, notFound } from '../../common/errors.js';
import type { CachedReads, StoreDeps } from './deps.js';
import { iso, ttl } from './deps.js';
import type { PeopleRepo } from './people.js';
import {
  datePattern,
  type MedicineSchedule,
  timePattern,
  type Weekday,
  weekdays,
  zoneOf,
} from './schedule.js';
import { inputError } from './validation.js';

export interface Medication {
  id: string;
  personId: string;
  name: string;
  dose?: string;
  form?: string;
  instructions?: string;
  times: string[];
  days?: Weekday[];
  startDate: string;
  endDate?: string;
  active: boolean;
  /** Doses are planned with this schedule from this instant on (set when the schedule changes). */
  scheduleSince: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

const dateSchema = z
  .string()
  .regex(datePattern, 'must be a date YYYY-MM-DD')
  .refine((s) => DateTime.fromISO(s).isValid, { message: 'must be a real calendar date' });

const fields = {
  name: z.string().trim().min(1).max(200),
  dose: z.string().trim().max(200).optional(),
  form: z.string().trim().max(100).optional(),
  instructions: z.string().trim().max(2000).optional(),
  times: z.array(z.string().regex(timePattern, 'must be HH:MM (24-hour)')).min(1).max(24),
  days: z.array(z.enum(weekdays)).max(7).optional(),
  startDate: dateSchema.optional(),
  endDate: dateSchema.optional().nullable(),
  active: z.boolean().optional(),
};
const endAfterStart = (v: { startDate?: string; endDate?: string | null }) =>
  !v.startDate || !v.endDate || v.endDate >= v.startDate;

export const medicationCreateSchema = z
  .object({ personId: z.string().optional(), ...fields })
  .strict()
  .refine(endAfterStart, { message: 'endDate must not be before startDate', path: ['endDate'] });
export const medicationPatchSchema = z.object(fields).partial().strict();
export type MedicationCreate = z.input<typeof medicationCreateSchema>;
export type MedicationPatch = z.input<typeof medicationPatchSchema>;

interface Row {
  id: string;
  person_id: string;
  name_enc: Buffer;
  dose_enc: Buffer | null;
  form: string | null;
  instructions_enc: Buffer | null;
  times: string;
  days: string | null;
  start_date: string;
  end_date: string | null;
  active: number;
  schedule_since: number;
  deleted: number;
  version: number;
  created_at: number;
  updated_at: number;
}

export interface MedicationsRepo {
  create(input: MedicationCreate, opts?: { id?: string }): Medication;
  update(id: string, patch: MedicationPatch): Medication;
  remove(id: string): Medication;
  get(id: string): Medication;
  /** Active and inactive, not deleted; cached 1 h, invalidated on every change. */
  list(personId?: string): Promise<Medication[]>;
  listSync(personId?: string, opts?: { includeDeleted?: boolean }): Medication[];
  /** A person's medicine names by id, deleted ones included (doses and alerts outlive their medicine). */
  namesSync(personId: string): Map<string, string>;
  /** Medicines whose name (or dose text) matches what someone said, best first. */
  findByName(spoken: string, personId?: string): Promise<Medication[]>;
  /** Called after a schedule change so doses can be re-planned. */
  onScheduleChange(fn: (m: Medication) => void): void;
}

export const scheduleOf = (m: Medication): MedicineSchedule => ({
  times: m.times,
  days: m.days,
  startDate: m.startDate,
  endDate: m.endDate,
});

export function createMedicationsRepo(
  deps: StoreDeps,
  people: PeopleRepo,
  cached: CachedReads,
): MedicationsRepo {
  const { db, clock, outbox, crypto } = deps;
  const newId = deps.newId ?? randomUUID;
  const aad = (id: string, field: string) => `medications:${id}:${field}`;
  const selectOne = db.prepare('SELECT * FROM medications WHERE id = ? AND deleted = 0');
  const listeners: ((m: Medication) => void)[] = [];

  const toMedication = (r: Row): Medication => ({
    id: r.id,
    personId: r.person_id,
    name: crypto.decrypt(r.name_enc, aad(r.id, 'name')),
    ...opt('dose', crypto.decryptOpt(r.dose_enc, aad(r.id, 'dose'))),
    ...opt('form', r.form ?? undefined),
    ...opt('instructions', crypto.decryptOpt(r.instructions_enc, aad(r.id, 'instructions'))),
    times: JSON.parse(r.times),
    ...opt('days', r.days ? JSON.parse(r.days) : undefined),
    startDate: r.start_date,
    ...opt('endDate', r.end_date ?? undefined),
    active: r.active === 1,
    scheduleSince: iso(r.schedule_since),
    version: r.version,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  });

  const enqueue = (m: Medication, deleted = false) =>
    outbox.enqueue('medicine', {
      id: m.id,
      personId: m.personId,
      name: m.name,
      ...opt('dose', m.dose),
      ...opt('form', m.form),
      ...opt('instructions', m.instructions),
      times: m.times,
      ...opt('days', m.days),
      startDate: m.startDate,
      ...opt('endDate', m.endDate),
      active: m.active,
      version: m.version,
      updatedAt: m.updatedAt,
      ...(deleted ? { deleted: true } : {}),
    });

  function getRow(id: string): Row {
    const r = selectOne.get(id) as Row | undefined;
    if (!r)
      throw notFound(`medication ${id} does not exist`, {
        details: [{ field: 'id', rule: 'exists', message: `no medication with id ${id}` }],
      });
    return r;
  }

  function listSync(personId?: string, opts: { includeDeleted?: boolean } = {}) {
    const pid = people.resolveId(personId);
    const rows = db
      .prepare(
        `SELECT * FROM medications WHERE person_id = ? ${opts.includeDeleted ? '' : 'AND deleted = 0'} ORDER BY created_at, id`,
      )
      .all(pid) as Row[];
    return rows.map(toMedication);
  }

  function write(m: Medication) {
    db.prepare(
      `INSERT INTO medications (id, person_id, name_enc, dose_enc, form, instructions_enc, times, days, start_date, end_date, active, schedule_since, deleted, version, created_at, updated_at)
       VALUES (@id, @person_id, @name_enc, @dose_enc, @form, @instructions_enc, @times, @days, @start_date, @end_date, @active, @schedule_since, 0, @version, @created_at, @updated_at)
       ON CONFLICT(id) DO UPDATE SET name_enc = excluded.name_enc, dose_enc = excluded.dose_enc, form = excluded.form,
         instructions_enc = excluded.instructions_enc, times = excluded.times, days = excluded.days,
         start_date = excluded.start_date, end_date = excluded.end_date, active = excluded.active,
         schedule_since = excluded.schedule_since,
         version = excluded.version, updated_at = excluded.updated_at`,
    ).run({
      id: m.id,
      person_id: m.personId,
      name_enc: crypto.encrypt(m.name, aad(m.id, 'name')),
      dose_enc: crypto.encryptOpt(m.dose, aad(m.id, 'dose')),
      form: m.form ?? null,
      instructions_enc: crypto.encryptOpt(m.instructions, aad(m.id, 'instructions')),
      times: JSON.stringify([...new Set(m.times)].sort()),
      days: m.days?.length ? JSON.stringify(m.days) : null,
      start_date: m.startDate,
      end_date: m.endDate ?? null,
      active: m.active ? 1 : 0,
      schedule_since: Date.parse(m.scheduleSince),
      version: m.version,
      created_at: Date.parse(m.createdAt),
      updated_at: Date.parse(m.updatedAt),
    });
  }

  /** A created or changed medicine, inside the caller's transaction: stored, queued for sync, re-planned. */
  function save(m: Medication): Medication {
    if (m.endDate && m.endDate < m.startDate) {
      throw invalidArgument(`endDate must not be before startDate, got ${m.endDate} < ${m.startDate}`, {
        details: [{ field: 'endDate', rule: 'after_start', message: 'endDate must not be before startDate' }],
      });
    }
    write(m);
    enqueue(m);
    for (const fn of listeners) fn(m);
    return m;
  }

  const repo: MedicationsRepo = {
    create(input, opts = {}) {
      const parsed = medicationCreateSchema.safeParse(input);
      if (!parsed.success) throw inputError(parsed.error);
      const v = parsed.data;
      const personId = people.resolveId(v.personId);
      const tz = people.getSync(personId).timezone;
      const now = clock.now();
      const id = opts.id ?? newId();
      const m = db
        .transaction(() => {
          if (db.prepare('SELECT 1 FROM medications WHERE id = ?').get(id)) {
            throw conflict(`medication ${id} already exists`, {
              details: [{ field: 'id', rule: 'unique', message: `medication ${id} already exists` }],
            });
          }
          const med: Medication = {
            id,
            personId,
            name: v.name,
            ...opt('dose', v.dose),
            ...opt('form', v.form),
            ...opt('instructions', v.instructions),
            times: [...new Set(v.times)].sort(),
            ...opt('days', v.days?.length ? v.days : undefined),
            startDate: v.startDate ?? (DateTime.fromMillis(now, { zone: zoneOf(tz) }).toISODate() as string),
            ...opt('endDate', v.endDate ?? undefined),
            active: v.active ?? true,
            scheduleSince: iso(now),
            version: 1,
            createdAt: iso(now),
            updatedAt: iso(now),
          };
          return save(med);
        })
        .immediate();
      cached.invalidate('medicines', personId);
      return m;
    },
    update(id, patch) {
      const parsed = medicationPatchSchema.safeParse(patch);
      if (!parsed.success) throw inputError(parsed.error);
      const v = parsed.data;
      const m = db
        .transaction(() => {
          const cur = toMedication(getRow(id));
          const next: Medication = { ...cur, version: cur.version + 1, updatedAt: iso(clock.now()) };
          for (const [k, val] of Object.entries(v)) {
            if (val === undefined) continue;
            if (val === null) delete (next as unknown as Record<string, unknown>)[k];
            else (next as unknown as Record<string, unknown>)[k] = val;
          }
          if (v.days && !v.days.length) delete next.days;
          next.times = [...new Set(next.times)].sort();
          const key = (m: Medication) =>
            JSON.stringify([m.times, m.days ?? null, m.startDate, m.endDate ?? null, m.active]);
          if (key(next) !== key(cur)) next.scheduleSince = next.updatedAt;
          return save(next);
        })
        .immediate();
      cached.invalidate('medicines', m.personId);
      return m;
    },
    remove(id) {
      const m = db
        .transaction(() => {
          const cur = toMedication(getRow(id));
          const now = iso(clock.now());
          const next: Medication = {
            ...cur,
            active: false,
            scheduleSince: now,
            version: cur.version + 1,
            updatedAt: now,
          };
          write(next);
          db.prepare('UPDATE medications SET deleted = 1 WHERE id = ?').run(id);
          enqueue(next, true);
          for (const fn of listeners) fn(next);
          return next;
        })
        .immediate();
      cached.invalidate('medicines', m.personId);
      return m;
    },
    get: (id) => toMedication(getRow(id)),
    list(personId) {
      const pid = people.resolveId(personId);
      return cached.read('medicines', pid, ttl.medicines, () => listSync(pid));
    },
    listSync,
    namesSync: (personId) => new Map(listSync(personId, { includeDeleted: true }).map((m) => [m.id, m.name])),
    async findByName(spoken, personId) {
      const words = normalize(spoken)
        .split(' ')
        .filter((w) => w.length > 2);
      const meds = (await repo.list(personId)).filter((m) => m.active);
      const scored = meds
        .map((m) => {
          const name = normalize(m.name);
          const whole = normalize(spoken).includes(name) || name.includes(normalize(spoken)) ? 10 : 0;
          const partial = words.filter((w) =>
            name.split(' ').some((n) => n.startsWith(w) || w.startsWith(n)),
          ).length;
          return { m, score: whole + partial };
        })
        .filter((s) => s.score > 0)
        .sort((a, b) => b.score - a.score);
      return scored.map((s) => s.m);
    },
    onScheduleChange: (fn) => void listeners.push(fn),
  };
  return repo;
}

const normalize = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();

/** `{key: value}` when value is defined, `{}` otherwise (keeps optional fields absent, not undefined). */
export function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
