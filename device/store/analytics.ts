import { DateTime } from 'luxon';
import { fieldError } from '../../common/errors.js';
import type { StoreDeps } from './deps.js';
import { iso } from './deps.js';
import type { DosesRepo } from './doses.js';
import type { MedicationsRepo } from './medications.js';
import type { PeopleRepo, Targets } from './people.js';
import { zoneOf } from './schedule.js';
import { fromCanonical, type MeasurementType, preferredUnit, roundFor } from './units.js';

type Stat = number | { systolic: number; diastolic: number };

export interface Summary {
  type: MeasurementType;
  unit: string;
  from: string;
  to: string;
  count: number;
  min?: Stat;
  max?: Stat;
  mean?: Stat;
  latest?: { value: Stat; takenAt: string };
  /** Per local week (Monday start, the person's time zone). */
  trend: { weekStart: string; count: number; mean: Stat }[];
  /** Share (0–1) of readings outside the person's target range; absent when no target is set. */
  outOfRangeShare?: number;
  target?: Targets;
}

export interface Adherence {
  medicationId: string;
  medicationName: string;
  /** Doses whose due time is in range and already past. */
  due: number;
  taken: number;
  skipped: number;
  missed: number;
  /** Past due, not yet confirmed (within the grace period). */
  pending: number;
  /** taken / due, 0–100, rounded; absent when nothing was due. */
  percent?: number;
}

/** An unconfirmed dose this long past its due time counts as missed in adherence. */
export const MISSED_AFTER_MS = 2 * 3600_000;

export interface Analytics {
  summary(q: { type: MeasurementType; from: number; to: number; personId?: string }): Summary;
  adherence(q: { from: number; to: number; personId?: string }): Adherence[];
}

export function createAnalytics(deps: StoreDeps, people: PeopleRepo, meds: MedicationsRepo, doses: DosesRepo): Analytics {
  const { db, clock } = deps;
  const rowsStmt = db
    .prepare(
      'SELECT taken_at, value, value2 FROM measurements WHERE person_id = ? AND type = ? AND taken_at >= ? AND taken_at < ? AND deleted = 0 ORDER BY taken_at',
    )
    .raw(true);

  return {
    summary({ type, from, to, personId }) {
      if (!(to > from)) throw fieldError('to', 'after_from', `to must be after from, got from=${iso(from)} to=${iso(to)}`);
      const person = people.getSync(personId);
      const unit = preferredUnit(type, person.units);
      const conv = (v: number) => roundFor(type, unit, fromCanonical(type, unit, v));
      const bp = type === 'blood_pressure';
      const rows = rowsStmt.all(person.id, type, from, to) as [number, number, number | null][];
      const zone = zoneOf(person.timezone);
      const base: Summary = { type, unit, from: iso(from), to: iso(to), count: rows.length, trend: [] };
      if (!rows.length) return base;

      let min1 = Infinity, max1 = -Infinity, sum1 = 0, min2 = Infinity, max2 = -Infinity, sum2 = 0, out = 0;
      const t = person.targets;
      const t1 = bp ? t.systolic : t[type as keyof Targets];
      const t2 = bp ? t.diastolic : undefined;
      const outside = (v: number, r?: { min?: number; max?: number }) =>
        !!r && ((r.min !== undefined && v < r.min) || (r.max !== undefined && v > r.max));
      const weeks = new Map<number, { n: number; s1: number; s2: number }>();
      let weekEnd = -Infinity;
      let weekStart = 0;
      for (const [at, v1, v2] of rows) {
        if (v1 < min1) min1 = v1;
        if (v1 > max1) max1 = v1;
        sum1 += v1;
        if (bp) {
          const d = v2 as number;
          if (d < min2) min2 = d;
          if (d > max2) max2 = d;
          sum2 += d;
        }
        if (outside(v1, t1) || (bp && outside(v2 as number, t2))) out++;
        if (at >= weekEnd) {
          // Rows are in time order, so week boundaries are computed once per week, not per row.
          const start = DateTime.fromMillis(at, { zone }).startOf('week');
          weekStart = start.toMillis();
          weekEnd = start.plus({ weeks: 1 }).toMillis();
        }
        const w = weeks.get(weekStart) ?? { n: 0, s1: 0, s2: 0 };
        w.n++;
        w.s1 += v1;
        w.s2 += v2 ?? 0;
        weeks.set(weekStart, w);
      }
      const n = rows.length;
      const stat = (a: number, b: number): Stat => (bp ? { systolic: Math.round(a), diastolic: Math.round(b) } : conv(a));
      const last = rows[n - 1];
      return {
        ...base,
        min: stat(min1, min2),
        max: stat(max1, max2),
        mean: stat(sum1 / n, sum2 / n),
        latest: { value: stat(last[1], last[2] ?? 0), takenAt: iso(last[0]) },
        trend: [...weeks].map(([start, w]) => ({
          weekStart: DateTime.fromMillis(start, { zone }).toISODate() as string,
          count: w.n,
          mean: stat(w.s1 / w.n, w.s2 / w.n),
        })),
        ...(t1 || t2 ? { outOfRangeShare: Math.round((out / n) * 1000) / 1000, target: bp ? { systolic: t1, diastolic: t2 } : { [type]: t1 } } : {}),
      };
    },

    adherence({ from, to, personId }) {
      const pid = people.resolveId(personId);
      const now = clock.now();
      // Plan the past part of the range so doses nobody confirmed are counted.
      const list = doses.list({ from, to: Math.max(from + 1, Math.min(to, now)), personId: pid }).filter((d) => Date.parse(d.dueAt) < to);
      const byMed = new Map<string, Adherence>();
      for (const m of meds.listSync(pid, { includeDeleted: true })) {
        byMed.set(m.id, { medicationId: m.id, medicationName: m.name, due: 0, taken: 0, skipped: 0, missed: 0, pending: 0 });
      }
      for (const d of list) {
        const due = Date.parse(d.dueAt);
        if (due > now) continue;
        const a = byMed.get(d.medicationId);
        if (!a) continue;
        a.due++;
        if (d.status === 'taken') a.taken++;
        else if (d.status === 'skipped') a.skipped++;
        else if (d.status === 'missed' || now - due > MISSED_AFTER_MS) a.missed++;
        else a.pending++;
      }
      const current = new Set(meds.listSync(pid).map((m) => m.id));
      return [...byMed.values()]
        .filter((a) => a.due > 0 || current.has(a.medicationId))
        .map((a) => (a.due ? { ...a, percent: Math.round((a.taken / a.due) * 100) } : a));
    },
  };
}
