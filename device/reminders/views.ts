import type { Clock } from '../../common/clock.js';
import type { Db } from '../store/db.js';
import type { HealthStore } from '../store/health.js';
import type { ReminderScheduler, StateRow } from './scheduler.js';

/** What the console shows: doses coming up or still open, and the alerts reminders raised. */

export interface UpcomingReminder {
  doseId: string;
  personId: string;
  medicationId: string;
  medicationName: string;
  dueAt: string;
  status: string;
  /** When the scheduler will next speak or act for this dose. */
  nextReminderAt: string;
  stage: StateRow['stage'] | 'pending';
  announcements: number;
  late: boolean;
  snoozes: number;
  snoozedUntil?: string;
  alertId?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function upcomingReminders(
  deps: { store: HealthStore; clock: Clock; scheduler: ReminderScheduler },
  q: { personId?: string; withinMs: number },
): UpcomingReminder[] {
  const now = deps.clock.now();
  const personId = deps.store.people.resolveId(q.personId);
  const graceMs = deps.scheduler.settings.graceMs;
  const doses = deps.store.doses.list({
    from: now - graceMs - deps.scheduler.settings.escalateMs,
    to: now + q.withinMs,
    personId,
  });
  const out: UpcomingReminder[] = [];
  for (const d of doses) {
    if (d.status !== 'due') continue;
    const r = deps.scheduler.state(d.id);
    if (r && r.next_at === null) continue;
    const dueAt = Date.parse(d.dueAt);
    out.push({
      doseId: d.id,
      personId: d.personId,
      medicationId: d.medicationId,
      medicationName: d.medicationName,
      dueAt: d.dueAt,
      status: d.status,
      nextReminderAt: iso(r?.next_at ?? Math.max(dueAt, now)),
      stage: r?.stage ?? 'pending',
      announcements: r?.announcements ?? 0,
      late: r?.late === 1,
      snoozes: r?.snoozes ?? 0,
      ...(r?.snoozed_until ? { snoozedUntil: iso(r.snoozed_until) } : {}),
      ...(r?.alert_id ? { alertId: r.alert_id } : {}),
    });
  }
  return out.sort(
    (a, b) => a.nextReminderAt.localeCompare(b.nextReminderAt) || a.dueAt.localeCompare(b.dueAt),
  );
}

export interface AlertView {
  id: string;
  personId: string;
  type: string;
  /** dose / summary: raised by reminders; agent: raised by the agent (emergency, out-of-range reading, message). */
  kind: 'dose' | 'summary' | 'agent';
  priority: number;
  raisedAt: string;
  medicines: { id: string; name: string }[];
  doseIds: string[];
  /** pending: still in the outbox; acknowledged: the cloud acknowledged it (outbox row gone); rejected: refused by the cloud. */
  delivery: 'pending' | 'acknowledged' | 'rejected';
  acknowledged: boolean;
}

export function listAlerts(
  deps: { db: Db; store: HealthStore },
  q: { personId?: string; limit: number },
): AlertView[] {
  const { db, store } = deps;
  /** The newest rows of an alert table, of one person or of everyone. */
  const newest = (table: 'reminder_alerts' | 'device_alerts') =>
    q.personId
      ? db
          .prepare(`SELECT * FROM ${table} WHERE person_id = ? ORDER BY raised_at DESC, id LIMIT ?`)
          .all(store.people.resolveId(q.personId), q.limit)
      : db.prepare(`SELECT * FROM ${table} ORDER BY raised_at DESC, id LIMIT ?`).all(q.limit);
  const rows = newest('reminder_alerts') as {
    id: string;
    person_id: string;
    kind: 'dose' | 'summary';
    medication_ids: string;
    dose_ids: string;
    priority: number;
    raised_at: number;
  }[];
  const inOutbox = db.prepare('SELECT 1 FROM outbox WHERE message_id = ?');
  const hasRejected = !!db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sync_rejected'")
    .get();
  const rejected = hasRejected ? db.prepare('SELECT 1 FROM sync_rejected WHERE message_id = ?') : undefined;
  const names = new Map<string, Map<string, string>>();
  const nameOf = (personId: string, medId: string) => {
    let m = names.get(personId);
    if (!m) {
      m = store.medications.namesSync(personId);
      names.set(personId, m);
    }
    return m.get(medId) ?? '';
  };
  const delivery = (id: string) =>
    (inOutbox.get(id) ? 'pending' : rejected?.get(id) ? 'rejected' : 'acknowledged') as AlertView['delivery'];
  const others = newest('device_alerts') as {
    id: string;
    person_id: string;
    type: string;
    priority: number;
    raised_at: number;
  }[];
  const fromAgent: AlertView[] = others.map((r) => {
    const d = delivery(r.id);
    return {
      id: r.id,
      personId: r.person_id,
      type: r.type,
      kind: 'agent',
      priority: r.priority,
      raisedAt: iso(r.raised_at),
      medicines: [],
      doseIds: [],
      delivery: d,
      acknowledged: d === 'acknowledged',
    };
  });
  const fromReminders: AlertView[] = rows.map((r) => {
    const d = delivery(r.id);
    return {
      id: r.id,
      personId: r.person_id,
      type: 'missed_dose',
      kind: r.kind,
      priority: r.priority,
      raisedAt: iso(r.raised_at),
      medicines: (JSON.parse(r.medication_ids) as string[]).map((id) => ({
        id,
        name: nameOf(r.person_id, id),
      })),
      doseIds: JSON.parse(r.dose_ids),
      delivery: d,
      acknowledged: d === 'acknowledged',
    };
  });
  return [...fromAgent, ...fromReminders]
    .sort((a, b) => b.raisedAt.localeCompare(a.raisedAt) || a.id.localeCompare(b.id))
    .slice(0, q.limit);
}

/**
 * Records every other alert queued in the outbox (the agent's emergencies, out-of-range readings and
 * messages), inside the caller's transaction, so GET /api/alerts can show it and its delivery.
 */
export function recordOutboxAlerts(
  db: Db,
  outbox: {
    enqueue: (kind: string, payload: unknown, opts?: { priority?: 0 | 1 | 2; messageId?: string }) => string;
  },
  clock: Clock,
  skip: () => boolean,
): void {
  const insert = db.prepare(
    'INSERT OR IGNORE INTO device_alerts (id, person_id, type, priority, raised_at) VALUES (?, ?, ?, ?, ?)',
  );
  const enqueue = outbox.enqueue.bind(outbox);
  outbox.enqueue = (kind, payload, opts) => {
    const id = enqueue(kind, payload, opts);
    if (kind === 'alert' && !skip()) {
      const p = (payload ?? {}) as { personId?: string; type?: string; priority?: number };
      insert.run(
        id,
        String(p.personId ?? ''),
        String(p.type ?? 'device'),
        Number(p.priority ?? opts?.priority ?? 0),
        clock.now(),
      );
    }
    return id;
  };
}
