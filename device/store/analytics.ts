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

export function createAnalytics(
  deps: StoreDeps,
  people: PeopleRepo,
  meds: MedicationsRepo,
  doses: DosesRepo,
): Analytics {
  const { db, clock } = deps;
  const latestStmt = db.prepare(
    `SELECT taken_at, value, value2 FROM measurements INDEXED BY measurements_summary
     WHERE person_id = ? AND type = ? AND taken_at >= ? AND taken_at < ? AND deleted = 0 ORDER BY taken_at DESC LIMIT 1`,
  );

  return {
    summary({ type, from, to, personId }) {
      if (!(to > from) || !Number.isFinite(from) || !Number.isFinite(to)) {
        const show = (t: number) => (Number.isFinite(t) ? iso(t) : String(t));
        throw fieldError('to', 'after_from', `to must be after from, got from=${show(from)} to=${show(to)}`);
      }
      const person = people.getSync(personId);
      const unit = preferredUnit(type, person.units);
      const conv = (v: number) => roundFor(type, unit, fromCanonical(type, unit, v));
      const bp = type === 'blood_pressure';
      const zone = zoneOf(person.timezone);
      const t = person.targets;
      const t1 = bp ? t.systolic : t[type as keyof Targets];
      const t2 = bp ? t.diastolic : undefined;
      // Local weeks (Monday start) covering the range, clipped to it: exact across DST changes.
      const weeks: [number, number][] = [];
      for (
        let w = DateTime.fromMillis(from, { zone }).startOf('week');
        w.toMillis() < to;
        w = w.plus({ weeks: 1 })
      ) {
        weeks.push([Math.max(from, w.toMillis()), Math.min(to, w.plus({ weeks: 1 }).toMillis())]);
      }
      // SQLite aggregates per week over the covering index; JavaScript never sees the rows.
      const values = weeks.map(() => '(?, ?)').join(', ');
      const lo = (r?: { min?: number }) => r?.min ?? -Number.MAX_VALUE;
      const hi = (r?: { max?: number }) => r?.max ?? Number.MAX_VALUE;
      const agg = db
        .prepare(
          `WITH w(s, e) AS (VALUES ${values})
           SELECT w.s AS s, count(*) AS n, min(m.value) AS min1, max(m.value) AS max1, sum(m.value) AS sum1,
                  min(m.value2) AS min2, max(m.value2) AS max2, sum(m.value2) AS sum2,
                  sum(CASE WHEN m.value < ? OR m.value > ? OR (m.value2 IS NOT NULL AND (m.value2 < ? OR m.value2 > ?)) THEN 1 ELSE 0 END) AS out
           FROM w JOIN measurements m INDEXED BY measurements_summary
             ON m.person_id = ? AND m.type = ? AND m.taken_at >= w.s AND m.taken_at < w.e AND m.deleted = 0
           GROUP BY w.s ORDER BY w.s`,
        )
        .all(...weeks.flat(), lo(t1), hi(t1), lo(t2), hi(t2), person.id, type) as {
        s: number;
        n: number;
        min1: number;
        max1: number;
        sum1: number;
        min2: number | null;
        max2: number | null;
        sum2: number | null;
        out: number;
      }[];
      const base: Summary = { type, unit, from: iso(from), to: iso(to), count: 0, trend: [] };
      const n = agg.reduce((a, w) => a + w.n, 0);
      if (!n) return base;
      const stat = (a: number, b: number | null): Stat =>
        bp ? { systolic: Math.round(a), diastolic: Math.round(b ?? 0) } : conv(a);
      const sum = (k: 'sum1' | 'sum2') => agg.reduce((a, w) => a + (w[k] ?? 0), 0);
      const last = latestStmt.get(person.id, type, from, to) as {
        taken_at: number;
        value: number;
        value2: number | null;
      };
      const out = agg.reduce((a, w) => a + w.out, 0);
      return {
        ...base,
        count: n,
        min: stat(
          Math.min(...agg.map((w) => w.min1)),
          bp ? Math.min(...agg.map((w) => w.min2 as number)) : null,
        ),
        max: stat(
          Math.max(...agg.map((w) => w.max1)),
          bp ? Math.max(...agg.map((w) => w.max2 as number)) : null,
        ),
        mean: stat(sum('sum1') / n, bp ? sum('sum2') / n : null),
        latest: { value: stat(last.value, last.value2), takenAt: iso(last.taken_at) },
        trend: agg.map((w) => ({
          weekStart: DateTime.fromMillis(w.s, { zone }).startOf('week').toISODate() as string,
          count: w.n,
          mean: stat(w.sum1 / w.n, w.sum2 === null ? null : w.sum2 / w.n),
        })),
        ...(t1 || t2
          ? {
              outOfRangeShare: Math.round((out / n) * 1000) / 1000,
              target: bp ? { systolic: t1, diastolic: t2 } : { [type]: t1 },
            }
          : {}),
      };
    },

    adherence({ from, to, personId }) {
      const pid = people.resolveId(personId);
      const now = clock.now();
      // Plan the past part of the range so doses nobody confirmed are counted.
      const list = doses
        .list({ from, to: Math.max(from + 1, Math.min(to, now)), personId: pid })
        .filter((d) => Date.parse(d.dueAt) < to);
      const byMed = new Map<string, Adherence>();
      for (const m of meds.listSync(pid, { includeDeleted: true })) {
        byMed.set(m.id, {
          medicationId: m.id,
          medicationName: m.name,
          due: 0,
          taken: 0,
          skipped: 0,
          missed: 0,
          pending: 0,
        });
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
