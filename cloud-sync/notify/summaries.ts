import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import type { Clock } from '../../common/clock.js';
import type { AlertEvent } from './messages.js';

/** What the scheduler puts on notification_queue for one caregiver's daily summary of one person. */
export const summaryRecordPayload = z.object({
  id: z.string().min(1).max(100),
  personId: z.string().uuid('must be a UUID'),
  userId: z.string().uuid('must be a UUID'),
  localDay: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD'),
  windowStart: z.string().datetime({ offset: true }),
  windowEnd: z.string().datetime({ offset: true }),
});
export type SummaryRecord = z.infer<typeof summaryRecordPayload>;

/** A summary claimed but not on the queue after this long is taken over by another replica. */
export const SUMMARY_CLAIM_LEASE_MS = 60_000;
/** A summary is still sent this long after its time (a worker that was down catches up). */
export const SUMMARY_CATCH_UP = '2 hours';

/**
 * Stable per (caregiver, person, day): the event id, so every channel's idempotency key is stable too.
 * claimDueSummaries computes the same in SQL.
 */
export const summaryEventId = (userId: string, personId: string, localDay: string) =>
  `summary-${createHash('sha256').update(`${userId}|${personId}|${localDay}`).digest('hex').slice(0, 32)}`;

/**
 * Claims the summaries due now: caregivers whose chosen local time has passed today (within the
 * catch-up window) and who have no summary row for this local day yet, plus claims older than the
 * lease that never reached the queue. The (user, person, day) primary key lets one replica win.
 */
export async function claimDueSummaries(pool: pg.Pool, clock: Clock): Promise<SummaryRecord[]> {
  const now = new Date(clock.now());
  const { rows } = await pool.query<{
    user_id: string;
    person_id: string;
    local_day: string;
    window_start: Date;
    window_end: Date;
  }>(
    `WITH due AS (
       SELECT np.user_id, r.person_id, np.timezone,
              ($1::timestamptz AT TIME ZONE np.timezone)::date AS local_day,
              np.daily_summary_at::time AS at
         FROM notification_preferences np
         JOIN users u ON u.id = np.user_id AND u.disabled_at IS NULL
         JOIN (SELECT o.owner_user_id AS user_id, p.id AS person_id
                 FROM device_owners o JOIN people p ON p.device_id = o.device_id
               UNION
               SELECT l.user_id, l.person_id::uuid FROM caregiver_links l WHERE l.can_receive_alerts) r
           ON r.user_id = np.user_id
        WHERE np.daily_summary_at IS NOT NULL
          AND ($1::timestamptz AT TIME ZONE np.timezone)::time >= np.daily_summary_at::time
          AND ($1::timestamptz AT TIME ZONE np.timezone)::time - np.daily_summary_at::time < $2::interval
     ), fresh AS (
       INSERT INTO daily_summaries (user_id, person_id, local_day, event_id, window_start, window_end, claimed_at)
       SELECT d.user_id, d.person_id, d.local_day,
              'summary-' || left(encode(sha256(convert_to(d.user_id::text || '|' || d.person_id::text || '|' || to_char(d.local_day, 'YYYY-MM-DD'), 'UTF8')), 'hex'), 32),
              ((d.local_day + d.at) AT TIME ZONE d.timezone) - interval '24 hours',
              (d.local_day + d.at) AT TIME ZONE d.timezone, $1
         FROM due d
        WHERE NOT EXISTS (SELECT 1 FROM daily_summaries s
                           WHERE s.user_id = d.user_id AND s.person_id = d.person_id AND s.local_day = d.local_day)
       ON CONFLICT DO NOTHING
       RETURNING user_id, person_id, local_day, window_start, window_end
     ), stale AS (
       UPDATE daily_summaries SET claimed_at = $1
        WHERE published_at IS NULL AND claimed_at < $1::timestamptz - $3::interval
       RETURNING user_id, person_id, local_day, window_start, window_end
     )
     SELECT user_id, person_id, to_char(local_day, 'YYYY-MM-DD') AS local_day, window_start, window_end FROM fresh
     UNION ALL
     SELECT user_id, person_id, to_char(local_day, 'YYYY-MM-DD'), window_start, window_end FROM stale`,
    [now, SUMMARY_CATCH_UP, `${SUMMARY_CLAIM_LEASE_MS} milliseconds`],
  );
  return rows.map((r) => ({
    id: summaryEventId(r.user_id, r.person_id, r.local_day),
    personId: r.person_id,
    userId: r.user_id,
    localDay: r.local_day,
    windowStart: r.window_start.toISOString(),
    windowEnd: r.window_end.toISOString(),
  }));
}

interface DayCounts {
  taken: number;
  missed: number;
  skipped: number;
  pending: number;
  readings: number;
  alerts: number;
  emergencies: number;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The words of a summary; the counts are health data, so channels show them only per the opt-in. */
export function summaryText(c: DayCounts): string {
  const due = c.taken + c.missed + c.skipped + c.pending;
  const medicines =
    due === 0
      ? 'no medicines were due'
      : `medicines: ${c.taken} of ${due} taken${c.missed ? `, ${c.missed} missed` : ''}${c.skipped ? `, ${c.skipped} skipped` : ''}${c.pending ? `, ${c.pending} not yet confirmed` : ''}`;
  const alerts =
    c.alerts === 0
      ? 'no alerts'
      : `${plural(c.alerts, 'alert')}${c.emergencies ? ` (${plural(c.emergencies, 'emergency', 'emergencies')})` : ''}`;
  return `In the last 24 hours: ${medicines}; ${plural(c.readings, 'reading')}; ${alerts}.`;
}

/** Counts the person's day from the synced records and turns it into an event for the dispatcher. */
export async function composeSummary(pool: pg.Pool, s: SummaryRecord): Promise<AlertEvent> {
  const window = [s.personId, s.windowStart, s.windowEnd];
  const [doses, readings, alerts] = await Promise.all([
    pool.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM doses WHERE person_id = $1 AND due_at >= $2 AND due_at < $3 GROUP BY status`,
      window,
    ),
    pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM measurements WHERE person_id = $1 AND taken_at >= $2 AND taken_at < $3 AND NOT deleted`,
      window,
    ),
    pool.query<{ n: number; e: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE priority = 2)::int AS e FROM alerts
        WHERE person_id = $1 AND at >= $2 AND at < $3`,
      window,
    ),
  ]);
  const by = (st: string) => doses.rows.find((r) => r.status === st)?.n ?? 0;
  const message = summaryText({
    taken: by('taken'),
    missed: by('missed'),
    skipped: by('skipped'),
    pending: by('due'),
    readings: readings.rows[0]?.n ?? 0,
    alerts: alerts.rows[0]?.n ?? 0,
    emergencies: alerts.rows[0]?.e ?? 0,
  });
  return { id: s.id, personId: s.personId, type: 'daily_summary', priority: 0, message, at: s.windowEnd };
}

/** The notification_queue record for a claimed summary (kind `daily_summary`, keyed by person). */
export const summaryQueueRecord = (s: SummaryRecord, at: number) => ({
  messageId: randomUUID(),
  deviceId: '',
  kind: 'daily_summary',
  createdAt: new Date(at).toISOString(),
  payload: s,
});
