import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '../../common/clock.js';
import { conflict, fieldError, isAppError, notFound } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import type { Db } from '../store/db.js';
import type { HealthStore } from '../store/health.js';
import type { Outbox } from '../store/outbox.js';
import { missedDoseAlertData } from './alert-data.js';
import { inQuiet, quietEnd, type ReminderSettings } from './settings.js';
import { type AnnouncementKind, alertMessage, announcement, type SpokenDose } from './speech.js';

/**
 * The durable reminder scheduler. One timer: it sleeps until the next thing to do (a dose coming due, a
 * re-ask, a snooze ending, an escalation step, a held summary alert) or at most `maxSleepMs`, so a
 * wall-clock step is noticed. Every wake re-reads SQLite; what was announced is recorded per dose in
 * `reminder_state` in the same transaction that decides it, so restarts and clock jumps neither skip
 * nor double a reminder. Speech goes out after the commit (fire and forget).
 *
 * Each person's part of a pass runs in its own savepoint: a person whose reminders cannot be written (a
 * store fault) is rolled back, logged by id and retried a minute later, and everyone else is reminded.
 *
 * Per dose: due → announced (first, or "late" after a restart within the grace window) → re-asked every
 * `reaskMs` of silence → a last reminder `escalateMs` after the first one (not before a snooze ends) →
 * a caregiver alert one re-ask later → recorded missed at the end of the grace window. A dose older than
 * the grace window that was never announced (device off, clock step) is recorded missed, not announced.
 */

const LATE_AFTER_MS = 60_000;
/** Due doses older than this that were never seen are left alone (they predate the reminders). */
const LOOKBACK_MS = 7 * 86_400_000;
const RETRY_AFTER_ERROR_MS = 60_000;
/** A wake-up this far from its planned wall-clock time means the clock was stepped. */
const STEP_MS = 60_000;
/** Events kept in memory for late subscribers (a console page opened after a reminder). */
const RECENT_EVENTS = 200;

export type ReminderEvent =
  | {
      type: 'announce';
      personId: string;
      doseIds: string[];
      items: { doseId: string; kind: AnnouncementKind }[];
      text: string;
      late: boolean;
      at: string;
    }
  | {
      type: 'alert';
      personId: string;
      alertId: string;
      kind: 'dose' | 'summary';
      doseIds: string[];
      at: string;
    }
  | { type: 'closed'; doseId: string; outcome: string; at: string }
  | { type: 'snoozed'; doseIds: string[]; until: string; at: string };

export interface StateRow {
  dose_id: string;
  person_id: string;
  due_at: number;
  stage: 'waiting' | 'announced' | 'snoozed' | 'final' | 'alerted' | 'closed';
  first_announced_at: number | null;
  last_announced_at: number | null;
  announcements: number;
  late: number;
  snoozes: number;
  snoozed_until: number | null;
  final_at: number | null;
  alert_id: string | null;
  next_at: number | null;
  outcome: string | null;
  updated_at: number;
}

interface DoseRow {
  id: string;
  person_id: string;
  medication_id: string;
  due_at: number;
  status: string;
}

export interface Prompt {
  personId: string;
  doseIds: string[];
  conversationId: string;
  mode: 'ask' | 'offer_snooze';
  askedAt: number;
  superseded: boolean;
}

export interface SchedulerDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  store: HealthStore;
  outbox: Outbox;
  settings: ReminderSettings;
  /** The device's spoken output (voice.speak); absent: console and log only. */
  speak?: (text: string, personId: string) => Promise<void> | void;
}

export interface ReminderScheduler {
  /** Reads what is due from SQLite and arms the timer (catching up on anything missed while off). */
  start(): void;
  stop(): void;
  /** Re-read after a change (a dose confirmed, a medicine added): runs what is due and re-arms. */
  poke(): void;
  snooze(
    doseIds: string[],
    opts?: { minutes?: number; via?: string },
  ): { doseIds: string[]; until: string; snoozes: number };
  /** Announced, still unconfirmed doses of a person (what "I took it" can refer to). */
  openDoses(
    personId: string,
  ): { doseId: string; medicationId: string; name: string; dueAt: number; stage: string }[];
  prompt(personId: string): Prompt | undefined;
  setPrompt(personId: string, patch: Partial<Pick<Prompt, 'doseIds' | 'mode' | 'superseded'>>): void;
  state(doseId: string): StateRow | undefined;
  onEvent(fn: (e: ReminderEvent) => void): () => void;
  /** The last events since this process started, oldest first. */
  recentEvents(): ReminderEvent[];
  /** Timer wake-ups, passes run (wake-ups and pokes), CPU spent in passes (ms, listeners included). */
  /** True while the scheduler itself queues an alert (so the outbox observer leaves it to reminder_alerts). */
  raisingAlert(): boolean;
  stats(): { wakeups: number; ticks: number; cpuMs: number; nextWakeAt?: number };
  settings: ReminderSettings;
}

export function createReminderScheduler(deps: SchedulerDeps): ReminderScheduler {
  const { db, clock, log, metrics, store, outbox, settings: cfg } = deps;
  const listeners = new Set<(e: ReminderEvent) => void>();
  const announced = metrics.counter('aide_reminder_announcements_total', 'Reminder announcements by kind', [
    'kind',
  ]);
  const alertsRaised = metrics.counter('aide_reminder_alerts_total', 'Caregiver alerts raised by reminders', [
    'kind',
  ]);
  const missedTotal = metrics.counter(
    'aide_reminder_missed_total',
    'Doses recorded missed by the scheduler',
    ['announced'],
  );
  const wakeCounter = metrics.counter('aide_reminder_wakeups_total', 'Scheduler timer wake-ups');

  const q = {
    /** Everyone with something to do now: a dose newly due, a reminder step, a held alert. */
    duePeople: db.prepare(
      `SELECT d.person_id FROM doses d WHERE d.status = 'due' AND d.due_at <= @now AND d.due_at > @since
         AND NOT EXISTS (SELECT 1 FROM reminder_state r WHERE r.dose_id = d.id)
       UNION SELECT person_id FROM reminder_state WHERE next_at IS NOT NULL AND next_at <= @now
       UNION SELECT person_id FROM reminder_alert_backlog WHERE release_at <= @now
       ORDER BY 1`,
    ),
    unseen: db.prepare(
      `SELECT d.id, d.person_id, d.medication_id, d.due_at, d.status FROM doses d
       WHERE d.person_id = ? AND d.status = 'due' AND d.due_at <= ? AND d.due_at > ?
         AND NOT EXISTS (SELECT 1 FROM reminder_state r WHERE r.dose_id = d.id) ORDER BY d.due_at, d.id`,
    ),
    // The next-wake queries leave out people whose last pass failed (they wait for their retry time).
    nextUnseen: db.prepare(
      `SELECT min(d.due_at) AS t FROM doses d WHERE d.status = 'due' AND d.due_at > ?
         AND d.person_id NOT IN (SELECT value FROM json_each(?))
         AND NOT EXISTS (SELECT 1 FROM reminder_state r WHERE r.dose_id = d.id)`,
    ),
    dueRows: db.prepare(
      `SELECT * FROM reminder_state WHERE person_id = ? AND next_at IS NOT NULL AND next_at <= ?
       ORDER BY next_at, due_at, dose_id`,
    ),
    nextRow: db.prepare(
      `SELECT min(next_at) AS t FROM reminder_state WHERE next_at IS NOT NULL
         AND person_id NOT IN (SELECT value FROM json_each(?))`,
    ),
    nextBacklog: db.prepare(
      'SELECT min(release_at) AS t FROM reminder_alert_backlog WHERE person_id NOT IN (SELECT value FROM json_each(?))',
    ),
    closeConfirmed: db.prepare(
      `UPDATE reminder_state SET stage = 'closed', next_at = NULL, updated_at = ?,
         outcome = (SELECT status FROM doses WHERE id = reminder_state.dose_id)
       WHERE next_at IS NOT NULL AND (SELECT status FROM doses WHERE id = reminder_state.dose_id) <> 'due'
       RETURNING dose_id, outcome`,
    ),
    dose: db.prepare('SELECT id, person_id, medication_id, due_at, status FROM doses WHERE id = ?'),
    row: db.prepare('SELECT * FROM reminder_state WHERE dose_id = ?'),
    insert: db.prepare(
      `INSERT INTO reminder_state (dose_id, person_id, due_at, stage, first_announced_at, last_announced_at, announcements, late,
         snoozes, snoozed_until, final_at, alert_id, next_at, outcome, updated_at)
       VALUES (@dose_id, @person_id, @due_at, @stage, @first_announced_at, @last_announced_at, @announcements, @late,
         @snoozes, @snoozed_until, @final_at, @alert_id, @next_at, @outcome, @updated_at)
       ON CONFLICT (dose_id) DO UPDATE SET stage = excluded.stage, first_announced_at = excluded.first_announced_at,
         last_announced_at = excluded.last_announced_at, announcements = excluded.announcements, late = excluded.late,
         snoozes = excluded.snoozes, snoozed_until = excluded.snoozed_until, final_at = excluded.final_at,
         alert_id = excluded.alert_id, next_at = excluded.next_at, outcome = excluded.outcome, updated_at = excluded.updated_at`,
    ),
    openForPerson: db.prepare(
      `SELECT r.*, d.medication_id FROM reminder_state r JOIN doses d ON d.id = r.dose_id
       WHERE r.person_id = ? AND r.next_at IS NOT NULL AND r.first_announced_at IS NOT NULL AND d.status = 'due'
       ORDER BY r.due_at, r.dose_id`,
    ),
    prompt: db.prepare('SELECT * FROM reminder_prompts WHERE person_id = ?'),
    upsertPrompt: db.prepare(
      `INSERT INTO reminder_prompts (person_id, dose_ids, conversation_id, mode, asked_at, superseded) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (person_id) DO UPDATE SET dose_ids = excluded.dose_ids, conversation_id = excluded.conversation_id,
         mode = excluded.mode, asked_at = excluded.asked_at, superseded = excluded.superseded`,
    ),
    alertsSince: db.prepare(
      'SELECT medication_ids, raised_at FROM reminder_alerts WHERE person_id = ? AND raised_at >= ?',
    ),
    insertAlert: db.prepare(
      'INSERT INTO reminder_alerts (id, person_id, kind, medication_ids, dose_ids, priority, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    insertBacklog: db.prepare(
      'INSERT OR IGNORE INTO reminder_alert_backlog (dose_id, person_id, medication_id, due_at, release_at) VALUES (?, ?, ?, ?, ?)',
    ),
    releasable: db.prepare(
      'SELECT * FROM reminder_alert_backlog WHERE person_id = ? AND release_at <= ? ORDER BY due_at',
    ),
    deleteBacklog: db.prepare('DELETE FROM reminder_alert_backlog WHERE dose_id = ?'),
  };

  let timer: TimerHandle | undefined;
  let nextWakeAt: number | undefined;
  let stopped = true;
  let inTick = false;
  let pokeQueued = false;
  let depth = 0;
  let wakeups = 0;
  let ticks = 0;
  let cpuMicros = 0;
  let raising = false;
  /** People whose part of a pass failed, and when to try them again. */
  const retryAt = new Map<string, number>();

  const recent: ReminderEvent[] = [];
  const emit = (e: ReminderEvent) => {
    recent.push(e);
    if (recent.length > RECENT_EVENTS) recent.shift();
    for (const fn of listeners) {
      try {
        fn(e);
      } catch (err) {
        log.warn({ err }, 'reminder event listener failed');
      }
    }
  };
  const iso = (ms: number) => new Date(ms).toISOString();

  // ------------------------------------------------------------------ one pass over what is due

  interface Utterance {
    parts: { kind: AnnouncementKind; doses: SpokenDose[] }[];
    spokenDoseIds: string[];
    silentDoseIds: string[];
    late: boolean;
    text?: string;
  }

  function tick(): void {
    if (stopped) return;
    const c0 = process.cpuUsage();
    try {
      runTick();
    } finally {
      const c = process.cpuUsage(c0);
      cpuMicros += c.user + c.system;
    }
  }

  function runTick(): void {
    const now = clock.now();
    inTick = true;
    ticks++;
    let utterances = new Map<string, Utterance>();
    const events: ReminderEvent[] = [];
    const counted: (() => void)[] = [];
    try {
      db.transaction(() => {
        utterances = pass(now, events, counted);
      }).immediate();
    } catch (err) {
      log.error({ err }, 'reminder pass failed; retrying');
      inTick = false;
      arm(now + RETRY_AFTER_ERROR_MS, now);
      return;
    } finally {
      inTick = false;
    }
    for (const count of counted) count();
    for (const e of events) emit(e);
    deliver(utterances, now);
    depth++;
    try {
      plan();
    } finally {
      depth--;
    }
  }

  interface PassCache {
    meds: Map<string, { name: string; dose?: string; instructions?: string; active: boolean }>;
    zones: Map<string, string>;
  }

  /**
   * Closes doses confirmed elsewhere, then runs each person's reminders in a savepoint. Metric updates
   * go to `counted`, to run once the pass is committed.
   */
  function pass(now: number, events: ReminderEvent[], counted: (() => void)[]): Map<string, Utterance> {
    for (const c of q.closeConfirmed.all(now) as { dose_id: string; outcome: string }[]) {
      events.push({ type: 'closed', doseId: c.dose_id, outcome: c.outcome, at: iso(now) });
    }
    for (const [id, at] of retryAt) if (at <= now) retryAt.delete(id);
    const cache: PassCache = { meds: new Map(), zones: new Map() };
    const out = new Map<string, Utterance>();
    const people = q.duePeople.all({ now, since: now - LOOKBACK_MS }) as { person_id: string }[];
    for (const { person_id: personId } of people) {
      if (retryAt.has(personId)) continue;
      const mine: ReminderEvent[] = [];
      const myCounts: (() => void)[] = [];
      try {
        // Nested in the pass's transaction this is a savepoint: a failure undoes this person's changes only.
        const u = db.transaction(() => personPass(personId, now, mine, myCounts, cache))();
        if (u) out.set(personId, u);
        events.push(...mine);
        counted.push(...myCounts);
      } catch (err) {
        retryAt.set(personId, now + RETRY_AFTER_ERROR_MS);
        // Ids and error codes only: an error's message can quote what was being written.
        log.error(
          {
            personId,
            code: isAppError(err) ? err.code : ((err as { code?: unknown }).code ?? (err as Error).name),
            ...(isAppError(err) ? { fields: err.details.map((d) => `${d.field}: ${d.rule}`) } : {}),
          },
          "one person's reminders failed; the others go on, this person is retried in a minute",
        );
      }
    }
    return out;
  }

  /** One person's part of a pass; what they are to hear, if anything. */
  function personPass(
    personId: string,
    now: number,
    events: ReminderEvent[],
    counted: (() => void)[],
    cache: PassCache,
  ): Utterance | undefined {
    const out = new Map<string, Utterance>();
    const { meds: medCache, zones: tzCache } = cache;
    const tz = (personId: string) => {
      let z = tzCache.get(personId);
      if (!z) {
        z = store.people.getSync(personId).timezone;
        tzCache.set(personId, z);
      }
      return z;
    };
    const medOf = (medicationId: string) => {
      let m = medCache.get(medicationId);
      if (!m) {
        try {
          const med = store.medications.get(medicationId);
          m = {
            name: med.name,
            ...(med.dose ? { dose: med.dose } : {}),
            ...(med.instructions ? { instructions: med.instructions } : {}),
            active: med.active,
          };
        } catch {
          m = { name: 'medicine', active: false }; // deleted
        }
        medCache.set(medicationId, m);
      }
      return m;
    };
    const spoken = (doseId: string, medicationId: string, dueAt: number): SpokenDose => {
      const { active: _a, ...m } = medOf(medicationId);
      return { doseId, ...m, dueAt };
    };
    /** A medicine stopped or deleted after its dose came due: say nothing more about it. */
    const cancel = (r: ReturnType<typeof blankRow> | StateRow) => {
      q.insert.run({ ...r, stage: 'closed', outcome: 'cancelled', next_at: null, updated_at: now });
      events.push({ type: 'closed', doseId: r.dose_id, outcome: 'cancelled', at: iso(now) });
    };
    const utter = (personId: string) => {
      let u = out.get(personId);
      if (!u) {
        u = { parts: [], spokenDoseIds: [], silentDoseIds: [], late: false };
        out.set(personId, u);
      }
      return u;
    };
    const say = (personId: string, kind: AnnouncementKind, d: SpokenDose, silent: boolean) => {
      const u = utter(personId);
      if (silent) {
        u.silentDoseIds.push(d.doseId);
        return;
      }
      let part = u.parts.find(
        (p) => p.kind === kind && (kind === 'reask' || kind === 'final' || p.doses[0]!.dueAt === d.dueAt),
      );
      if (!part) {
        part = { kind, doses: [] };
        u.parts.push(part);
      }
      part.doses.push(d);
      u.spokenDoseIds.push(d.doseId);
      if (kind === 'late') u.late = true;
      counted.push(() => announced.inc({ kind }));
    };
    const finalAt = (r: Pick<StateRow, 'first_announced_at' | 'snoozed_until'>) =>
      Math.max((r.first_announced_at ?? now) + cfg.escalateMs, r.snoozed_until ?? 0);
    const toAlert: { personId: string; doseId: string; medicationId: string; dueAt: number }[] = [];
    /** Queues the caregiver alert for an announced dose, unless one was already raised for it. */
    const alertOnce = (r: StateRow, medicationId: string) => {
      if (!r.alert_id)
        toAlert.push({ personId: r.person_id, doseId: r.dose_id, medicationId, dueAt: r.due_at });
    };
    /** An announced dose nobody confirmed: recorded missed and closed. */
    const closeMissed = (r: StateRow) => {
      store.doses.mark(r.dose_id, 'missed', { via: 'reminder', at: now });
      q.insert.run({ ...r, stage: 'closed', outcome: 'missed', next_at: null, updated_at: now });
      counted.push(() => missedTotal.inc({ announced: 'true' }));
      events.push({ type: 'closed', doseId: r.dose_id, outcome: 'missed', at: iso(now) });
    };

    // 1. Doses that came due since the last pass.
    for (const d of q.unseen.all(personId, now, now - LOOKBACK_MS) as DoseRow[]) {
      const base = blankRow(d, now);
      if (!medOf(d.medication_id).active) {
        cancel(base);
        continue;
      }
      if (now - d.due_at > cfg.graceMs) {
        store.doses.mark(d.id, 'missed', { via: 'reminder', at: now });
        q.insert.run({ ...base, stage: 'closed', outcome: 'missed_unannounced', next_at: null });
        counted.push(() => missedTotal.inc({ announced: 'false' }));
        events.push({ type: 'closed', doseId: d.id, outcome: 'missed_unannounced', at: iso(now) });
        toAlert.push({ personId: d.person_id, doseId: d.id, medicationId: d.medication_id, dueAt: d.due_at });
        continue;
      }
      if (cfg.quietHoldsFirst && cfg.quiet && inQuiet(now, tz(d.person_id), cfg.quiet)) {
        q.insert.run({ ...base, stage: 'waiting', next_at: quietEnd(now, tz(d.person_id), cfg.quiet) });
        continue;
      }
      const late = now - d.due_at > LATE_AFTER_MS;
      say(d.person_id, late ? 'late' : 'first', spoken(d.id, d.medication_id, d.due_at), false);
      const row = {
        ...base,
        stage: 'announced' as const,
        first_announced_at: now,
        last_announced_at: now,
        announcements: 1,
        late: late ? 1 : 0,
      };
      q.insert.run({ ...row, next_at: Math.min(now + cfg.reaskMs, finalAt(row)) });
    }

    // 2. Re-asks, snoozes ending, escalation steps.
    for (const r of q.dueRows.all(personId, now) as StateRow[]) {
      const d = q.dose.get(r.dose_id) as DoseRow | undefined;
      if (d?.status !== 'due') continue; // closed above
      if (!medOf(d.medication_id).active) {
        cancel(r);
        continue;
      }
      // Overslept (device off, clock stepped) past the grace window: nothing more is said for this dose.
      if (r.next_at !== null && now - r.next_at > cfg.reaskMs && now - r.due_at > cfg.graceMs) {
        alertOnce(r, d.medication_id);
        closeMissed(r);
        continue;
      }
      const zone = tz(r.person_id);
      const quiet = inQuiet(now, zone, cfg.quiet);
      if (r.stage === 'waiting' || r.stage === 'snoozed') {
        // A snooze the person asked for is honoured even in quiet hours.
        // Never announced yet: held by quiet hours (first, or late), or snoozed ahead of its time (again).
        const kind: AnnouncementKind =
          r.first_announced_at != null || r.snoozes
            ? 'again'
            : now - r.due_at > LATE_AFTER_MS
              ? 'late'
              : 'first';
        say(r.person_id, kind, spoken(r.dose_id, d.medication_id, r.due_at), false);
        const row = {
          ...r,
          stage: 'announced' as const,
          first_announced_at: r.first_announced_at ?? now,
          last_announced_at: now,
          announcements: r.announcements + 1,
          late: kind === 'late' ? 1 : r.late,
        };
        q.insert.run({
          ...row,
          next_at: Math.min(now + cfg.reaskMs, Math.max(finalAt(row), now + 1)),
          updated_at: now,
        });
      } else if (r.stage === 'announced') {
        const fa = finalAt(r);
        if (now >= fa) {
          say(r.person_id, 'final', spoken(r.dose_id, d.medication_id, r.due_at), quiet);
          q.insert.run({
            ...r,
            stage: 'final',
            final_at: now,
            last_announced_at: now,
            announcements: r.announcements + (quiet ? 0 : 1),
            next_at: now + cfg.reaskMs,
            updated_at: now,
          });
        } else {
          say(r.person_id, 'reask', spoken(r.dose_id, d.medication_id, r.due_at), quiet);
          q.insert.run({
            ...r,
            last_announced_at: quiet ? r.last_announced_at : now,
            announcements: r.announcements + (quiet ? 0 : 1),
            next_at: Math.min(now + cfg.reaskMs, fa),
            updated_at: now,
          });
        }
      } else if (r.stage === 'final') {
        alertOnce(r, d.medication_id);
        const closeAt = Math.max(r.due_at + cfg.graceMs, now + 1);
        q.insert.run({ ...r, stage: 'alerted', next_at: closeAt, updated_at: now });
      } else if (r.stage === 'alerted') {
        closeMissed(r);
      }
    }

    // 3. Caregiver alerts: one per moment and person; a medicine alerted within the window waits for a summary.
    raiseAlerts(toAlert, now, events, tz, counted);
    releaseBacklog(personId, now, events, tz, counted);

    // 4. What each person hears becomes their open prompt and a conversation turn.
    const u = out.get(personId);
    if (u?.parts.length) {
      for (const p of u.parts)
        p.doses.sort((x, y) => x.name.localeCompare(y.name) || x.doseId.localeCompare(y.doseId));
      // Bounded (ANNOUNCEMENT_MAX_CHARS), so the turn below is always within what the store keeps.
      const text = announcement(u.parts, tz(personId));
      u.text = text;
      const prev = q.prompt.get(personId) as { conversation_id: string; asked_at: number } | undefined;
      const conversationId =
        prev && now - prev.asked_at < 30 * 60_000 && now >= prev.asked_at
          ? prev.conversation_id
          : randomUUID();
      q.upsertPrompt.run(personId, JSON.stringify(u.spokenDoseIds), conversationId, 'ask', now, 0);
      store.conversations.addTurn({ personId, conversationId, role: 'assistant', text, at: now });
      const items = u.parts.flatMap((p) => p.doses.map((d) => ({ doseId: d.doseId, kind: p.kind })));
      events.push({
        type: 'announce',
        personId,
        doseIds: u.spokenDoseIds,
        items,
        text,
        late: u.late,
        at: iso(now),
      });
    }
    return u;
  }

  function blankRow(d: DoseRow, now: number) {
    return {
      dose_id: d.id,
      person_id: d.person_id,
      due_at: d.due_at,
      stage: 'waiting' as StateRow['stage'],
      first_announced_at: null as number | null,
      last_announced_at: null as number | null,
      announcements: 0,
      late: 0,
      snoozes: 0,
      snoozed_until: null as number | null,
      final_at: null as number | null,
      alert_id: null as string | null,
      next_at: null as number | null,
      outcome: null as string | null,
      updated_at: now,
    };
  }

  function raiseAlerts(
    items: { personId: string; doseId: string; medicationId: string; dueAt: number }[],
    now: number,
    events: ReminderEvent[],
    tz: (p: string) => string,
    counted: (() => void)[],
  ) {
    const byPerson = new Map<string, typeof items>();
    for (const it of items) byPerson.set(it.personId, [...(byPerson.get(it.personId) ?? []), it]);
    for (const [personId, list] of byPerson) {
      const recent = (
        q.alertsSince.all(personId, now - cfg.alertWindowMs) as {
          medication_ids: string;
          raised_at: number;
        }[]
      ).map((a) => ({
        meds: new Set(JSON.parse(a.medication_ids) as string[]),
        at: a.raised_at,
      }));
      const fresh: typeof list = [];
      for (const it of list) {
        const last = Math.max(
          -Infinity,
          ...recent.filter((a) => a.meds.has(it.medicationId)).map((a) => a.at),
        );
        if (Number.isFinite(last))
          q.insertBacklog.run(it.doseId, personId, it.medicationId, it.dueAt, last + cfg.alertWindowMs);
        else fresh.push(it);
      }
      if (fresh.length) raise(personId, 'dose', fresh, now, events, tz(personId), counted);
    }
  }

  function releaseBacklog(
    personId: string,
    now: number,
    events: ReminderEvent[],
    tz: (p: string) => string,
    counted: (() => void)[],
  ) {
    const rows = q.releasable.all(personId, now) as {
      dose_id: string;
      person_id: string;
      medication_id: string;
      due_at: number;
    }[];
    const byPerson = new Map<string, typeof rows>();
    for (const r of rows) {
      q.deleteBacklog.run(r.dose_id);
      const d = q.dose.get(r.dose_id) as DoseRow | undefined;
      if (!d || d.status === 'taken' || d.status === 'skipped') continue; // confirmed after all
      byPerson.set(r.person_id, [...(byPerson.get(r.person_id) ?? []), r]);
    }
    for (const [personId, list] of byPerson) {
      raise(
        personId,
        'summary',
        list.map((r) => ({ personId, doseId: r.dose_id, medicationId: r.medication_id, dueAt: r.due_at })),
        now,
        events,
        tz(personId),
        counted,
      );
    }
  }

  function raise(
    personId: string,
    kind: 'dose' | 'summary',
    items: { doseId: string; medicationId: string; dueAt: number }[],
    now: number,
    events: ReminderEvent[],
    zone: string,
    counted: (() => void)[],
  ) {
    const id = randomUUID();
    const person = store.people.getSync(personId);
    const names = store.medications.namesSync(personId);
    const named = items.map((i) => ({ name: names.get(i.medicationId) ?? 'medicine', dueAt: i.dueAt }));
    const medicationIds = [...new Set(items.map((i) => i.medicationId))];
    const doseIds = items.map((i) => i.doseId);
    const payload = {
      id,
      personId,
      type: 'missed_dose',
      priority: 1,
      message: alertMessage(person.name, named, zone, kind === 'summary'),
      at: iso(now),
      data: missedDoseAlertData(kind, items),
    };
    raising = true;
    try {
      outbox.enqueue('alert', payload, { priority: 1, messageId: id });
    } finally {
      raising = false;
    }
    q.insertAlert.run(id, personId, kind, JSON.stringify(medicationIds), JSON.stringify(doseIds), 1, now);
    if (kind === 'dose')
      db.prepare(
        'UPDATE reminder_state SET alert_id = ? WHERE dose_id IN (SELECT value FROM json_each(?))',
      ).run(id, JSON.stringify(doseIds));
    counted.push(() => alertsRaised.inc({ kind }));
    events.push({ type: 'alert', personId, alertId: id, kind, doseIds, at: iso(now) });
  }

  function deliver(utterances: Map<string, Utterance>, now: number) {
    for (const [personId, u] of utterances) {
      if (u.silentDoseIds.length)
        log.info({ doseIds: u.silentDoseIds, count: u.silentDoseIds.length }, 'reminder held (quiet hours)');
      const text = u.text;
      if (!text) continue;
      log.info(
        {
          doseIds: u.spokenDoseIds,
          count: u.spokenDoseIds.length,
          kinds: u.parts.map((p) => p.kind),
          late: u.late,
          at: iso(now),
        },
        'reminder announced',
      );
      if (deps.speak) {
        Promise.resolve()
          .then(() => deps.speak!(text, personId))
          .catch((err) =>
            log.warn(
              { err: { message: (err as Error).message } },
              'speaking a reminder failed (still on the console)',
            ),
          );
      }
    }
  }

  // ------------------------------------------------------------------ the one timer

  function plan(): void {
    if (stopped) return;
    const now = clock.now();
    const waiting = JSON.stringify([...retryAt.keys()]);
    const cands = [
      (q.nextUnseen.get(now - LOOKBACK_MS, waiting) as { t: number | null }).t,
      (q.nextRow.get(waiting) as { t: number | null }).t,
      (q.nextBacklog.get(waiting) as { t: number | null }).t,
      ...retryAt.values(),
      now + cfg.maxSleepMs,
    ].filter((t): t is number => t !== null);
    const next = Math.min(...cands);
    if (next <= now && depth < 3) {
      tick();
      return;
    }
    arm(Math.max(next, now + 1), now);
  }

  function arm(at: number, now: number) {
    if (timer) clock.clearTimeout(timer);
    nextWakeAt = at;
    timer = clock.setTimeout(() => {
      timer = undefined;
      wakeups++;
      wakeCounter.inc();
      // Timers run on monotonic time; a wall clock that moved by more than a minute meanwhile was stepped
      // (NTP after booting with a stale clock). Plan doses for the new "today" before looking at them.
      const drift = clock.now() - at;
      if (Math.abs(drift) > STEP_MS) {
        log.warn({ driftMs: drift }, 'wall clock stepped; re-reading the schedule');
        try {
          store.extendHorizon();
        } catch (err) {
          log.error({ err }, 'planning doses after a clock step failed');
        }
      }
      tick();
    }, at - now);
  }

  function poke() {
    if (stopped || pokeQueued) return;
    pokeQueued = true;
    queueMicrotask(() => {
      pokeQueued = false;
      if (!inTick && !stopped) tick();
    });
  }

  // ------------------------------------------------------------------ API

  function readPrompt(personId: string): Prompt | undefined {
    const r = q.prompt.get(personId) as
      | {
          person_id: string;
          dose_ids: string;
          conversation_id: string;
          mode: Prompt['mode'];
          asked_at: number;
          superseded: number;
        }
      | undefined;
    if (!r) return undefined;
    return {
      personId,
      doseIds: JSON.parse(r.dose_ids),
      conversationId: r.conversation_id,
      mode: r.mode,
      askedAt: r.asked_at,
      superseded: r.superseded === 1,
    };
  }

  return {
    settings: cfg,
    start() {
      if (!stopped) return;
      stopped = false;
      tick();
    },
    stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      timer = undefined;
    },
    poke: () => {
      if (!inTick) poke();
    },
    snooze(doseIds, opts = {}) {
      const minutes = opts.minutes ?? cfg.snoozeMs / 60_000;
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > 240) {
        throw fieldError('minutes', 'range', `minutes must be a whole number from 1 to 240, got ${minutes}`);
      }
      const now = clock.now();
      const until = now + minutes * 60_000;
      let snoozes = 0;
      db.transaction(() => {
        for (const id of doseIds) {
          const d = q.dose.get(id) as DoseRow | undefined;
          if (!d)
            throw notFound(`dose ${id} does not exist`, {
              details: [{ field: 'doseId', rule: 'exists', message: `no dose with id ${id}` }],
            });
          if (d.status !== 'due') {
            throw conflict(`dose ${id} is already ${d.status}`, {
              details: [{ field: 'doseId', rule: 'status_due', message: `dose is ${d.status}, not due` }],
            });
          }
          const r = (q.row.get(id) as StateRow | undefined) ?? blankRow(d, now);
          if (r.stage === 'closed')
            throw conflict(`dose ${id} is closed`, {
              details: [{ field: 'doseId', rule: 'open', message: 'dose is closed' }],
            });
          if (r.snoozes >= cfg.maxSnoozes) {
            throw conflict(`dose ${id} was already snoozed ${r.snoozes} times (at most ${cfg.maxSnoozes})`, {
              details: [
                { field: 'doseId', rule: 'max_snoozes', message: `at most ${cfg.maxSnoozes} snoozes` },
              ],
            });
          }
          const at = r.first_announced_at == null ? Math.max(until, d.due_at + minutes * 60_000) : until;
          q.insert.run({
            ...r,
            stage: r.first_announced_at == null ? 'waiting' : 'snoozed',
            snoozes: r.snoozes + 1,
            snoozed_until: at,
            next_at: at,
            updated_at: now,
          });
          snoozes = Math.max(snoozes, r.snoozes + 1);
        }
      }).immediate();
      emit({ type: 'snoozed', doseIds, until: iso(until), at: iso(now) });
      log.info({ doseIds, minutes, via: opts.via ?? 'console' }, 'reminder snoozed');
      poke();
      return { doseIds, until: iso(until), snoozes };
    },
    openDoses(personId) {
      const rows = q.openForPerson.all(personId) as (StateRow & { medication_id: string })[];
      const names = store.medications.namesSync(personId);
      const active = new Set(
        store.medications
          .listSync(personId)
          .filter((m) => m.active)
          .map((m) => m.id),
      );
      return rows
        .filter((r) => active.has(r.medication_id))
        .map((r) => ({
          doseId: r.dose_id,
          medicationId: r.medication_id,
          name: names.get(r.medication_id) ?? '',
          dueAt: r.due_at,
          stage: r.stage,
        }));
    },
    prompt: readPrompt,
    setPrompt(personId, patch) {
      const cur = readPrompt(personId);
      if (!cur) return;
      const next = { ...cur, ...patch };
      q.upsertPrompt.run(
        personId,
        JSON.stringify(next.doseIds),
        next.conversationId,
        next.mode,
        next.askedAt,
        next.superseded ? 1 : 0,
      );
    },
    state: (doseId) => q.row.get(doseId) as StateRow | undefined,
    onEvent(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    recentEvents: () => [...recent],
    raisingAlert: () => raising,
    stats: () => ({
      wakeups,
      ticks,
      cpuMs: cpuMicros / 1000,
      ...(nextWakeAt !== undefined ? { nextWakeAt } : {}),
    }),
  };
}

/**
 * Calls `onChange` after the store changes doses or schedules (confirmations from the agent or the
 * console, new medicines, re-planning), so the scheduler re-reads SQLite at once instead of polling.
 */
export function observeDoseChanges(store: HealthStore, onChange: () => void): void {
  const doses = store.doses;
  const mark = doses.mark.bind(doses);
  doses.mark = (id, status, opts) => {
    const r = mark(id, status, opts);
    if (r.changed) onChange();
    return r;
  };
  const confirmTaken = doses.confirmTaken.bind(doses);
  doses.confirmTaken = (medicationId, opts) => {
    const r = confirmTaken(medicationId, opts);
    if (r.changed) onChange();
    return r;
  };
  const materialize = doses.materialize.bind(doses);
  doses.materialize = (from, to, personId) => {
    const added = materialize(from, to, personId);
    if (added) onChange();
    return added;
  };
  store.medications.onScheduleChange(() => onChange());
}
