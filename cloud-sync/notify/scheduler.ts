import type pg from 'pg';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import { inTx } from '../db/tx.js';
import type { Dispatcher } from './dispatcher.js';
import type { AlertEvent } from './messages.js';
import { claimDueSummaries, type SummaryRecord, summaryQueueRecord } from './summaries.js';

export interface SchedulerOptions {
  pool: pg.Pool;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  dispatcher: Dispatcher;
  /** Puts records on notification_queue (the same topic the alerts come from). */
  publish(records: { key: string; value: string }[]): Promise<void>;
  /** Held notifications released per tick and transaction. */
  releaseBatch?: number;
}

/**
 * The time-driven half of notify, run every AIDE_NOTIFY_TICK_MS by every replica:
 * - daily summaries that came due are claimed (one row per caregiver, person and local day, so one
 *   replica wins) and put on notification_queue, where the consumer composes and delivers them;
 * - notifications held in quiet hours whose release time came are delivered (rows locked with
 *   SKIP LOCKED, so two replicas never take the same one).
 */
export function createScheduler(opts: SchedulerOptions) {
  const { pool, clock, log, metrics, dispatcher } = opts;
  const summaries = metrics.counter('aide_notify_summaries_total', 'Daily summaries by stage', ['stage']);
  const released = metrics.counter('aide_notify_released_total', 'Held notifications by outcome', [
    'outcome',
  ]);

  async function publishSummaries(): Promise<number> {
    const due: SummaryRecord[] = await claimDueSummaries(pool, clock);
    if (due.length === 0) return 0;
    summaries.inc({ stage: 'claimed' }, due.length);
    await opts.publish(
      due.map((s) => ({ key: s.personId, value: JSON.stringify(summaryQueueRecord(s, clock.now())) })),
    );
    await pool.query(
      `UPDATE daily_summaries SET published_at = $2 WHERE event_id = ANY($1::text[]) AND published_at IS NULL`,
      [due.map((s) => s.id), new Date(clock.now())],
    );
    summaries.inc({ stage: 'queued' }, due.length);
    log.info({ summaries: due.length }, 'daily summaries queued');
    return due.length;
  }

  async function releaseHeld(): Promise<number> {
    const n = await inTx(pool, async (client) => {
      const { rows } = await client.query<{ event_id: string; user_id: string; event: AlertEvent }>(
        `SELECT event_id, user_id, event FROM notification_held
          WHERE released_at IS NULL AND release_at <= $1
          ORDER BY release_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [new Date(clock.now()), opts.releaseBatch ?? 100],
      );
      for (const r of rows) {
        const outcome = await dispatcher.release(r.event, r.user_id);
        if (typeof outcome === 'object') {
          // Quiet hours were changed and still cover now: keep holding until their new end.
          await client.query(
            'UPDATE notification_held SET release_at = $3 WHERE event_id = $1 AND user_id = $2',
            [r.event_id, r.user_id, new Date(outcome.releaseAt)],
          );
          released.inc({ outcome: 'still_quiet' });
          continue;
        }
        await client.query(
          'UPDATE notification_held SET released_at = $3 WHERE event_id = $1 AND user_id = $2',
          [r.event_id, r.user_id, new Date(clock.now())],
        );
        released.inc({ outcome });
      }
      return rows.length;
    });
    if (n) log.info({ released: n }, 'held notifications released');
    return n;
  }

  let running: Promise<void> | undefined;
  return {
    /** One pass; overlapping calls share the pass in progress. */
    tick(): Promise<void> {
      running ??= (async () => {
        try {
          await publishSummaries();
          while ((await releaseHeld()) === (opts.releaseBatch ?? 100)) {}
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'notify scheduler pass failed; next tick retries');
        } finally {
          running = undefined;
        }
      })();
      return running;
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
