import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { fieldError, notFound } from '../../common/errors.js';
import type { CachedReads, StoreDeps } from './deps.js';
import { iso, ttl } from './deps.js';
import { type Medication, type MedicationsRepo, opt, scheduleOf } from './medications.js';
import type { PeopleRepo } from './people.js';
import { dueInstants, zoneOf } from './schedule.js';

export const doseStatuses = ['due', 'taken', 'skipped', 'missed'] as const;
export type DoseStatus = (typeof doseStatuses)[number];

export interface Dose {
  id: string;
  personId: string;
  medicationId: string;
  medicationName: string;
  /** ISO 8601 UTC. */
  dueAt: string;
  status: DoseStatus;
  confirmedAt?: string;
  confirmedVia?: string;
  version: number;
  updatedAt: string;
}

interface Row {
  id: string;
  person_id: string;
  medication_id: string;
  due_at: number;
  status: DoseStatus;
  confirmed_at: number | null;
  confirmed_via: string | null;
  version: number;
  created_at: number;
  updated_at: number;
}

/** Longest range one API call may plan (dose rows are materialized for it). */
export const MAX_RANGE_MS = 400 * 86_400_000;
/** How far from a due time "I took it" still counts for that dose. */
export const CONFIRM_WINDOW_MS = 4 * 3600_000;

export interface DosesRepo {
  /** Writes planned doses in [from, to) (idempotent: unique per medicine and due time); returns rows added. */
  materialize(from: number, to: number, personId?: string): number;
  /** Recorded and planned doses in [from, to), oldest first. */
  list(q: { from: number; to: number; personId?: string }): Dose[];
  /** Doses due in the next `withinMs` (default 24 h), cached 30 min and invalidated on changes. */
  upcoming(personId?: string, withinMs?: number): Promise<Dose[]>;
  get(id: string): Dose;
  /**
   * Sets a dose's status; the same status again changes nothing (no new version, no outbox message), and
   * `missed` only applies to a dose still `due`. taken/skipped may correct each other or a `missed`.
   */
  mark(
    id: string,
    status: Exclude<DoseStatus, 'due'>,
    opts?: { via?: string; at?: number },
  ): { dose: Dose; changed: boolean };
  /**
   * "I took my metformin": marks the dose of that medicine nearest to `at` (within the window) taken.
   * Saying it twice changes nothing the second time.
   */
  confirmTaken(
    medicationId: string,
    opts?: { at?: number; via?: string; windowMs?: number },
  ): { dose: Dose; changed: boolean };
  /** Re-plans future doses after a schedule, activity or time zone change (within the caller's transaction). */
  replan(med: Medication): void;
  replanPerson(personId: string): void;
}

export function createDosesRepo(
  deps: StoreDeps,
  people: PeopleRepo,
  meds: MedicationsRepo,
  cached: CachedReads,
): DosesRepo {
  const { db, clock, outbox } = deps;
  const newId = deps.newId ?? randomUUID;
  const insert = db.prepare(
    `INSERT INTO doses (id, person_id, medication_id, due_at, status, version, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'due', 1, ?, ?) ON CONFLICT (medication_id, due_at) DO NOTHING`,
  );
  const selectOne = db.prepare('SELECT * FROM doses WHERE id = ?');
  const selectRange = db.prepare(
    'SELECT * FROM doses WHERE person_id = ? AND due_at >= ? AND due_at < ? ORDER BY due_at, medication_id',
  );

  const toDose = (r: Row, names: Map<string, string>): Dose => ({
    id: r.id,
    personId: r.person_id,
    medicationId: r.medication_id,
    medicationName: names.get(r.medication_id) ?? '',
    dueAt: iso(r.due_at),
    status: r.status,
    ...opt('confirmedAt', r.confirmed_at == null ? undefined : iso(r.confirmed_at)),
    ...opt('confirmedVia', r.confirmed_via ?? undefined),
    version: r.version,
    updatedAt: iso(r.updated_at),
  });

  /**
   * Doses before the medicine was entered are not planned (nobody was asked to take them), and a changed
   * schedule applies from the change on: earlier doses keep the schedule that held then.
   */
  function plannedInstants(m: Medication, tz: string, from: number, to: number): number[] {
    if (!m.active) return [];
    return dueInstants(scheduleOf(m), tz, Math.max(from, Date.parse(m.scheduleSince)), to);
  }

  function materializeMeds(list: Medication[], tz: string, from: number, to: number): number {
    const now = clock.now();
    let added = 0;
    for (const m of list) {
      for (const t of plannedInstants(m, tz, from, to))
        added += insert.run(newId(), m.personId, m.id, t, now, now).changes;
    }
    return added;
  }

  function checkRange(from: number, to: number) {
    const show = (t: number) => (Number.isFinite(t) ? iso(t) : String(t));
    if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) {
      throw fieldError('to', 'after_from', `to must be after from, got from=${show(from)} to=${show(to)}`);
    }
    if (to - from > MAX_RANGE_MS) {
      throw fieldError(
        'to',
        'max_range',
        `range must be at most 400 days, got ${Math.ceil((to - from) / 86_400_000)} days`,
      );
    }
  }

  function setStatus(r: Row, status: Exclude<DoseStatus, 'due'>, via: string | undefined, at: number) {
    const now = clock.now();
    const confirmedAt = status === 'missed' ? null : at;
    db.prepare(
      'UPDATE doses SET status = ?, confirmed_at = ?, confirmed_via = ?, version = version + 1, updated_at = ? WHERE id = ?',
    ).run(status, confirmedAt, status === 'missed' ? null : (via ?? null), now, r.id);
    const dose = toDose(selectOne.get(r.id) as Row, meds.namesSync(r.person_id));
    outbox.enqueue('dose_event', {
      id: dose.id,
      personId: dose.personId,
      medicationId: dose.medicationId,
      medicationName: dose.medicationName,
      dueAt: dose.dueAt,
      status: dose.status,
      ...opt('confirmedAt', dose.confirmedAt),
      ...opt('confirmedVia', dose.confirmedVia),
      version: dose.version,
      updatedAt: dose.updatedAt,
    });
    return dose;
  }

  const repo: DosesRepo = {
    materialize(from, to, personId) {
      const pid = people.resolveId(personId);
      const tz = people.getSync(pid).timezone;
      const list = meds.listSync(pid);
      const added = db.transaction(() => materializeMeds(list, tz, from, to)).immediate();
      if (added) cached.invalidate('doses', pid);
      return added;
    },
    list(q) {
      checkRange(q.from, q.to);
      const pid = people.resolveId(q.personId);
      repo.materialize(q.from, q.to, pid);
      const names = meds.namesSync(pid);
      return (selectRange.all(pid, q.from, q.to) as Row[]).map((r) => toDose(r, names));
    },
    upcoming(personId, withinMs = 24 * 3600_000) {
      const pid = people.resolveId(personId);
      const hour = Math.floor(clock.now() / 3600_000) * 3600_000;
      return cached.read(
        'doses',
        pid,
        ttl.upcomingDoses,
        () => {
          const now = clock.now();
          return repo.list({ from: now, to: now + withinMs, personId: pid });
        },
        `${hour}:${withinMs}`,
      );
    },
    get(id) {
      const r = selectOne.get(id) as Row | undefined;
      if (!r) throw notFound(`dose ${id} does not exist`);
      return toDose(r, meds.namesSync(r.person_id));
    },
    mark(id, status, opts = {}) {
      const result = db
        .transaction(() => {
          const r = selectOne.get(id) as Row | undefined;
          if (!r) throw notFound(`dose ${id} does not exist`);
          // Same status again changes nothing; "missed" never overwrites an answer someone gave (a late
          // escalation racing a confirmation must not undo it).
          if (r.status === status || (status === 'missed' && r.status !== 'due')) {
            return { dose: toDose(r, meds.namesSync(r.person_id)), changed: false };
          }
          return { dose: setStatus(r, status, opts.via, opts.at ?? clock.now()), changed: true };
        })
        .immediate();
      if (result.changed) cached.invalidate('doses', result.dose.personId);
      return result;
    },
    confirmTaken(medicationId, opts = {}) {
      const med = meds.get(medicationId);
      const at = opts.at ?? clock.now();
      const window = opts.windowMs ?? CONFIRM_WINDOW_MS;
      const result = db
        .transaction(() => {
          const tz = people.getSync(med.personId).timezone;
          materializeMeds([med], tz, at - window, at + window + 1);
          const r = db
            .prepare(
              `SELECT * FROM doses WHERE medication_id = ? AND due_at BETWEEN ? AND ?
             ORDER BY abs(due_at - ?), due_at LIMIT 1`,
            )
            .get(medicationId, at - window, at + window, at) as Row | undefined;
          if (!r) {
            throw fieldError(
              'medicationId',
              'dose_in_window',
              `no dose of this medicine is due within ${window / 3600_000} h of ${iso(at)}`,
            );
          }
          if (r.status === 'taken') return { dose: toDose(r, meds.namesSync(r.person_id)), changed: false };
          return { dose: setStatus(r, 'taken', opts.via ?? 'voice', at), changed: true };
        })
        .immediate();
      cached.invalidate('doses', med.personId);
      return result;
    },
    replan(med) {
      const now = clock.now();
      const tz = people.getSync(med.personId).timezone;
      const future = db
        .prepare("SELECT id, due_at FROM doses WHERE medication_id = ? AND status = 'due' AND due_at >= ?")
        .all(med.id, now) as { id: string; due_at: number }[];
      const horizonEnd = horizonEndFor(now, tz);
      const maxDue = future.reduce((m, r) => Math.max(m, r.due_at), horizonEnd);
      const keep = new Set(plannedInstants(med, tz, now, maxDue + 1));
      const del = db.prepare('DELETE FROM doses WHERE id = ?');
      for (const r of future) if (!keep.has(r.due_at)) del.run(r.id);
      materializeMeds([med], tz, now, horizonEnd);
      cached.invalidate('doses', med.personId);
    },
    replanPerson(personId) {
      const now = clock.now();
      db.prepare('UPDATE medications SET schedule_since = max(schedule_since, ?) WHERE person_id = ?').run(
        now,
        personId,
      );
      for (const m of meds.listSync(personId)) repo.replan(m);
    },
  };
  meds.onScheduleChange((m) => repo.replan(m));
  return repo;
}

/** The rolling horizon: planned doses exist through the end of tomorrow, local time. */
export function horizonEndFor(now: number, timezone: string): number {
  return DateTime.fromMillis(now, { zone: zoneOf(timezone) })
    .startOf('day')
    .plus({ days: 2 })
    .toMillis();
}
