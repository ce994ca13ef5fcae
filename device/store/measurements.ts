import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { z } from 'zod';
import { type ErrorDetail, fieldError, notFound } from '../../common/errors.js';
import type { StoreDeps } from './deps.js';
import { iso, uniqueId } from './deps.js';
import type { PeopleRepo, Person } from './people.js';
import { checkRange, rangeError } from './ranges.js';
import {
  canonicalUnit,
  fromCanonical,
  type MeasurementType,
  measurementTypes,
  normalizeUnit,
  preferredUnit,
  roundFor,
  toCanonical,
  unitsFor,
} from './units.js';
import { inputError } from './validation.js';

export const sources = ['voice', 'console', 'device', 'sync'] as const;
export type Source = (typeof sources)[number];

export type BloodPressure = { systolic: number; diastolic: number; pulse?: number };

export interface Measurement {
  id: string;
  personId: string;
  type: MeasurementType;
  /** In the person's preferred unit. */
  value: number | BloodPressure;
  unit: string;
  /** The unit the reading was given in. */
  inputUnit: string;
  /** In the canonical unit (what the store keeps and sync sends). */
  canonical: { value: number | BloodPressure; unit: string };
  takenAt: string;
  source: Source;
  note?: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** Instants: ISO 8601 with offset, or epoch milliseconds. */
export const instantSchema = z.union([
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
  z.number().int().nonnegative(),
]);

export const measurementInputSchema = z
  .object({
    personId: z.string().optional(),
    type: z.enum(measurementTypes),
    value: z
      .union(
        [
          z.number(),
          z.object({ systolic: z.number(), diastolic: z.number(), pulse: z.number().optional() }).strict(),
        ],
        {
          error: 'must be a number (or {systolic, diastolic} for blood_pressure)',
        },
      )
      .optional(),
    systolic: z.number().optional(),
    diastolic: z.number().optional(),
    pulse: z.number().optional(),
    unit: z.string().max(20).optional(),
    takenAt: instantSchema.optional(),
    note: z.string().max(2000).optional(),
    source: z.enum(sources).optional(),
  })
  .strict();
export type MeasurementInput = z.input<typeof measurementInputSchema>;

export interface ListQuery {
  personId?: string;
  type?: MeasurementType;
  from?: number;
  to?: number;
  cursor?: string;
  limit?: number;
}

export interface MeasurementsRepo {
  /** Validates, converts to the canonical unit and stores one reading (and its outbox message) atomically. */
  add(input: MeasurementInput, opts?: { id?: string; source?: Source }): Measurement;
  /**
   * Like add, for concurrent callers (the console): validated at once, then written with the other writes
   * that arrived in the same event-loop turn in one transaction (group commit: one fsync for all). The
   * promise resolves after the commit; one failing write does not fail the others.
   */
  addQueued(input: MeasurementInput, opts?: { id?: string; source?: Source }): Promise<Measurement>;
  /** Many readings in one transaction: all or nothing. */
  addMany(inputs: MeasurementInput[], opts?: { source?: Source }): Measurement[];
  get(id: string): Measurement;
  /** Newest first; `nextCursor` continues after the last item, stable under concurrent inserts. */
  list(q?: ListQuery): { items: Measurement[]; nextCursor?: string };
  latest(type: MeasurementType, personId?: string): Measurement | undefined;
  remove(id: string): Measurement;
}

interface Row {
  id: string;
  person_id: string;
  type: MeasurementType;
  value: number;
  value2: number | null;
  value3: number | null;
  input_unit: string;
  taken_at: number;
  source: Source;
  note_enc: Buffer | null;
  deleted: number;
  version: number;
  created_at: number;
  updated_at: number;
}

const FUTURE_SLACK_MS = 5 * 60_000;

export function createMeasurementsRepo(deps: StoreDeps, people: PeopleRepo): MeasurementsRepo {
  const { db, clock, outbox, crypto } = deps;
  const newId = deps.newId ?? randomUUID;
  const aad = (id: string) => `measurements:${id}:note`;
  const insert = db.prepare(
    `INSERT INTO measurements (id, person_id, type, value, value2, value3, input_unit, taken_at, source, note_enc, version, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
  );
  const selectOne = db.prepare('SELECT * FROM measurements WHERE id = ? AND deleted = 0');
  // One prepared statement per filter combination (at most 16).
  const listStatements = new Map<string, Statement<unknown[]>>();
  const personOf = (id: string): Person => people.getSync(id);

  function toMeasurement(r: Row, person?: Person): Measurement {
    const p = person ?? personOf(r.person_id);
    const unit = preferredUnit(r.type, p.units);
    const conv = (v: number) => roundFor(r.type, unit, fromCanonical(r.type, unit, v));
    const canon: number | BloodPressure =
      r.type === 'blood_pressure'
        ? {
            systolic: r.value,
            diastolic: r.value2 as number,
            ...(r.value3 != null ? { pulse: r.value3 } : {}),
          }
        : r.value;
    return {
      id: r.id,
      personId: r.person_id,
      type: r.type,
      value: typeof canon === 'number' ? conv(canon) : canon,
      unit,
      inputUnit: r.input_unit,
      canonical: { value: canon, unit: canonicalUnit[r.type] },
      takenAt: iso(r.taken_at),
      source: r.source,
      ...(r.note_enc ? { note: crypto.decrypt(r.note_enc, aad(r.id)) } : {}),
      version: r.version,
      createdAt: iso(r.created_at),
      updatedAt: iso(r.updated_at),
    };
  }

  const payload = (m: Measurement, deleted = false) => ({
    id: m.id,
    personId: m.personId,
    type: m.type,
    value: m.canonical.value,
    unit: m.canonical.unit,
    inputUnit: m.inputUnit,
    takenAt: m.takenAt,
    source: m.source,
    ...(m.note !== undefined ? { note: m.note } : {}),
    version: m.version,
    updatedAt: m.updatedAt,
    ...(deleted ? { deleted: true } : {}),
  });

  /** Validation and conversion; every problem is listed, and nothing is written on any. */
  function prepare(input: MeasurementInput, source: Source) {
    const parsed = measurementInputSchema.safeParse(input);
    if (!parsed.success) throw inputError(parsed.error);
    const v = parsed.data;
    const personId = people.resolveId(v.personId);
    const person = personOf(personId);
    const type = v.type;
    const unitGiven = v.unit ?? (type === 'blood_pressure' ? undefined : preferredUnit(type, person.units));
    const unit = normalizeUnit(type, unitGiven);
    if (!unit) {
      throw fieldError(
        'unit',
        'enum',
        `unit for ${type} must be one of ${unitsFor(type).join(', ')}, got ${v.unit}`,
      );
    }
    const problems: ErrorDetail[] = [];
    let values: [number, number | null, number | null];
    if (type === 'blood_pressure') {
      const obj = typeof v.value === 'object' ? v.value : undefined;
      const sys = v.systolic ?? obj?.systolic;
      const dia = v.diastolic ?? obj?.diastolic;
      const pulse = v.pulse ?? obj?.pulse;
      if (sys === undefined)
        problems.push({
          field: 'systolic',
          rule: 'required',
          message: 'systolic is required for blood_pressure',
        });
      if (dia === undefined)
        problems.push({
          field: 'diastolic',
          rule: 'required',
          message: 'diastolic is required for blood_pressure',
        });
      if (sys !== undefined) pushIf(problems, checkRange('systolic', sys, 'mmHg', sys));
      if (dia !== undefined) pushIf(problems, checkRange('diastolic', dia, 'mmHg', dia));
      if (pulse !== undefined) pushIf(problems, checkRange('pulse', pulse, 'bpm', pulse));
      if (sys !== undefined && dia !== undefined && !problems.length && !(sys > dia)) {
        problems.push({
          field: 'systolic',
          rule: 'greater_than_diastolic',
          message: `systolic must be greater than diastolic, got ${sys}/${dia}`,
        });
      }
      values = [sys as number, dia as number, pulse ?? null];
    } else {
      if (typeof v.value !== 'number') {
        problems.push({
          field: 'value',
          rule: 'required',
          message: `value must be a number for ${type}, got ${v.value === undefined ? 'nothing' : 'an object'}`,
        });
        values = [Number.NaN, null, null];
      } else {
        const canonical = toCanonical(type, unit, v.value);
        pushIf(problems, checkRange(type, canonical, unit, v.value));
        values = [canonical, null, null];
      }
    }
    const now = clock.now();
    const takenAt = v.takenAt ?? now;
    if (takenAt > now + FUTURE_SLACK_MS) {
      problems.push({
        field: 'takenAt',
        rule: 'not_future',
        message: `takenAt must not be in the future, got ${iso(takenAt)}`,
      });
    }
    if (problems.length) throw rangeError(problems);
    return { personId, person, type, unit, values, takenAt, note: v.note, source: v.source ?? source };
  }

  function write(p: ReturnType<typeof prepare>, id: string): Measurement {
    const now = clock.now();
    insert.run(
      id,
      p.personId,
      p.type,
      p.values[0],
      p.values[1],
      p.values[2],
      p.unit,
      p.takenAt,
      p.source,
      crypto.encryptOpt(p.note, aad(id)),
      now,
      now,
    );
    const m: Measurement = toMeasurement(
      {
        id,
        person_id: p.personId,
        type: p.type,
        value: p.values[0],
        value2: p.values[1],
        value3: p.values[2],
        input_unit: p.unit,
        taken_at: p.takenAt,
        source: p.source,
        note_enc: null,
        deleted: 0,
        version: 1,
        created_at: now,
        updated_at: now,
      },
      p.person,
    );
    if (p.note !== undefined) m.note = p.note;
    outbox.enqueue('measurement', payload(m));
    return m;
  }

  type Pending = {
    p: ReturnType<typeof prepare>;
    id: string;
    resolve: (m: Measurement) => void;
    reject: (e: unknown) => void;
  };
  const queue: Pending[] = [];
  let scheduled = false;
  function flush() {
    scheduled = false;
    const items = queue.splice(0);
    let results: Measurement[] | undefined;
    try {
      results = db.transaction(() => items.map((it) => write(it.p, it.id))).immediate();
    } catch {
      // Fall back to one transaction per write so each caller gets its own outcome.
      for (const it of items) {
        try {
          it.resolve(db.transaction(() => write(it.p, it.id)).immediate());
        } catch (err) {
          it.reject(err);
        }
      }
      return;
    }
    for (const [i, it] of items.entries()) it.resolve(results[i]);
  }

  const repo: MeasurementsRepo = {
    addQueued(input, opts = {}) {
      const p = prepare(input, opts.source ?? 'console');
      return new Promise((resolve, reject) => {
        queue.push({ p, id: opts.id ?? newId(), resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    add(input, opts = {}) {
      const p = prepare(input, opts.source ?? 'console');
      const id = opts.id ?? newId();
      return uniqueId('measurement', id, () => db.transaction(() => write(p, id)).immediate());
    },
    addMany(inputs, opts = {}) {
      const prepared = inputs.map((input, i) => {
        try {
          return prepare(input, opts.source ?? 'console');
        } catch (err) {
          if (err instanceof Error && 'details' in err) {
            const e = err as Error & { details: ErrorDetail[] };
            e.details = e.details.map((d) => ({ ...d, field: `[${i}].${d.field}` }));
            e.message = `[${i}] ${e.message}`;
          }
          throw err;
        }
      });
      return db.transaction(() => prepared.map((p) => write(p, newId()))).immediate();
    },
    get(id) {
      const r = selectOne.get(id) as Row | undefined;
      if (!r) throw notFound(`measurement ${id} does not exist`);
      return toMeasurement(r);
    },
    list(q = {}) {
      const personId = people.resolveId(q.personId);
      const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
      const where = ['person_id = ?', 'deleted = 0'];
      const args: (string | number)[] = [personId];
      if (q.type) {
        where.push('type = ?');
        args.push(q.type);
      }
      if (q.from !== undefined) {
        where.push('taken_at >= ?');
        args.push(q.from);
      }
      if (q.to !== undefined) {
        where.push('taken_at < ?');
        args.push(q.to);
      }
      if (q.cursor) {
        const c = decodeCursor(q.cursor);
        // A row-value comparison is an index range, so a deep page costs what the first one does.
        where.push('(taken_at, id) < (?, ?)');
        args.push(c.t, c.id);
      }
      const sql = `SELECT * FROM measurements WHERE ${where.join(' AND ')} ORDER BY taken_at DESC, id DESC LIMIT ?`;
      let stmt = listStatements.get(sql);
      if (!stmt) {
        stmt = db.prepare(sql);
        listStatements.set(sql, stmt);
      }
      const rows = stmt.all(...args, limit + 1) as Row[];
      const person = personOf(personId);
      const items = rows.slice(0, limit).map((r) => toMeasurement(r, person));
      const last = rows.length > limit ? rows[limit - 1] : undefined;
      return { items, ...(last ? { nextCursor: encodeCursor(last.taken_at, last.id) } : {}) };
    },
    latest(type, personId) {
      return repo.list({ personId, type, limit: 1 }).items[0];
    },
    remove(id) {
      return db
        .transaction(() => {
          const r = selectOne.get(id) as Row | undefined;
          if (!r) throw notFound(`measurement ${id} does not exist`);
          const now = clock.now();
          db.prepare(
            'UPDATE measurements SET deleted = 1, version = version + 1, updated_at = ? WHERE id = ?',
          ).run(now, id);
          const m = toMeasurement({ ...r, version: r.version + 1, updated_at: now });
          outbox.enqueue('measurement', payload(m, true));
          return m;
        })
        .immediate();
    },
  };
  return repo;
}

function pushIf(list: ErrorDetail[], d: ErrorDetail | undefined) {
  if (d) list.push(d);
}

export function encodeCursor(t: number, id: string): string {
  return Buffer.from(`${t}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { t: number; id: string } {
  const [t, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!id || !/^\d+$/.test(t ?? ''))
    throw fieldError('cursor', 'format', 'cursor is not one this API returned');
  return { t: Number(t), id };
}
