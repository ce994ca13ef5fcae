import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import { retryWithBackoff } from '../../common/resilience.js';
import { type Channel, type ChannelName, PermanentChannelError, type Recipient } from './channels/channel.js';
import { type AlertEvent, composeMessage } from './messages.js';
import { inQuietHours, quietHoursEnd } from './quiet-hours.js';

interface RecipientRow {
  user_id: string;
  email: string;
  person_name: string;
  email_enabled: boolean | null;
  push_enabled: boolean | null;
  sms_enabled: boolean | null;
  phone: string | null;
  quiet_start: string | null;
  quiet_end: string | null;
  timezone: string | null;
  include_values: boolean | null;
  subs: { id: string; endpoint: string; p256dh: string; auth: string }[] | null;
}

export interface DispatcherOptions {
  pool: pg.Pool;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  channels: Channel[];
  /** Attempts per channel before moving to the next (default 3). */
  attemptsPerChannel?: number;
  retryBaseMs?: number;
  appUrl?: string;
}

/** Order in which a normal alert tries channels; the first that succeeds ends the chain. */
const CHAIN: ChannelName[] = ['push', 'email', 'sms'];

/**
 * Delivers one alert to every caregiver of its person who receives alerts. Each (event, channel,
 * recipient) has one row in notification_deliveries, claimed before sending, so a redelivered record
 * never sends twice once a send is recorded. The in-app row is written in one statement: exactly once.
 */
export function createDispatcher(opts: DispatcherOptions) {
  const { pool, clock, log, metrics } = opts;
  const delivered = metrics.counter(
    'aide_notify_deliveries_total',
    'Notification deliveries by channel and outcome',
    ['channel', 'outcome'],
  );
  const deadLetters = metrics.counter(
    'aide_notify_dead_letters_total',
    'Alerts no channel could deliver to a recipient',
  );
  const resends = metrics.counter(
    'aide_notify_resends_total',
    'Deliveries sent again after a worker died mid-send: not_received (safe) or maybe_received (possible duplicate)',
    ['channel', 'certainty'],
  );
  const held = metrics.counter(
    'aide_notify_held_total',
    'Notifications held until the recipient’s quiet hours end',
  );
  const channels = new Map(opts.channels.map((c) => [c.name, c]));
  const attempts = opts.attemptsPerChannel ?? 3;

  async function recipients(personId: string): Promise<RecipientRow[]> {
    const { rows } = await pool.query<RecipientRow>(
      `WITH r AS (
         SELECT o.owner_user_id AS user_id FROM people p JOIN device_owners o ON o.device_id = p.device_id WHERE p.id = $1
         UNION
         SELECT l.user_id FROM caregiver_links l WHERE l.person_id = $1::text AND l.can_receive_alerts
       )
       SELECT u.id AS user_id, u.email, (SELECT name FROM people WHERE id = $1) AS person_name,
              np.email_enabled, np.push_enabled, np.sms_enabled, np.phone, np.quiet_start, np.quiet_end, np.timezone, np.include_values,
              (SELECT json_agg(json_build_object('id', s.id, 'endpoint', s.endpoint, 'p256dh', s.p256dh, 'auth', s.auth))
                 FROM push_subscriptions s WHERE s.user_id = u.id) AS subs
         FROM r JOIN users u ON u.id = r.user_id AND u.disabled_at IS NULL
         LEFT JOIN notification_preferences np ON np.user_id = u.id`,
      [personId],
    );
    return rows;
  }

  /** Claims the (event, channel, user) row. Returns false when an earlier run already finished it. */
  async function claim(
    e: AlertEvent,
    channel: string,
    userId: string,
    title: string,
    body: string,
  ): Promise<boolean> {
    const now = new Date(clock.now());
    const ins = await pool.query(
      `INSERT INTO notification_deliveries (event_id, channel, user_id, person_id, kind, priority, status, title, body, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'sending', $7, $8, $9, $9) ON CONFLICT DO NOTHING`,
      [e.id, channel, userId, e.personId, e.type, e.priority, title, body, now],
    );
    if (ins.rowCount) return true;
    const { rows } = await pool.query<{ status: string }>(
      'SELECT status FROM notification_deliveries WHERE event_id = $1 AND channel = $2 AND user_id = $3',
      [e.id, channel, userId],
    );
    const status = rows[0]?.status;
    // 'sending' on a channel with a commit step (email): a worker died before the server's last step,
    // so the receiver cannot have the message. On HTTP channels the request may have gone through.
    if (status === 'sending') {
      resends.inc({
        channel,
        certainty: channels.get(channel as ChannelName)?.hasCommitStep ? 'not_received' : 'maybe_received',
      });
      return true;
    }
    // 'submitting': it died between the server's last step and recording the outcome. Unknowable
    // (SMTP has no idempotent submit): send again under the same Message-ID, and count it.
    if (status === 'submitting') {
      resends.inc({ channel, certainty: 'maybe_received' });
      // The row stays 'submitting' (once uncertain, every later resend is counted as uncertain too).
      log.warn({ eventId: e.id, channel, userId }, 'resending a message the server may have accepted');
      return true;
    }
    return false;
  }

  /** The message is with the server and about to be committed (email: before the end-of-data). */
  async function submitting(e: AlertEvent, channel: string, userId: string): Promise<void> {
    await pool.query(
      `UPDATE notification_deliveries SET status = 'submitting', updated_at = $4
        WHERE event_id = $1 AND channel = $2 AND user_id = $3`,
      [e.id, channel, userId, new Date(clock.now())],
    );
  }

  async function finish(
    e: AlertEvent,
    channel: string,
    userId: string,
    status: 'sent' | 'failed' | 'skipped',
    tries: number,
    error?: string,
  ) {
    await pool.query(
      `UPDATE notification_deliveries SET status = $4, attempts = attempts + $5, last_error = $6, updated_at = $7, sent_at = CASE WHEN $4 = 'sent' THEN $7 ELSE sent_at END
        WHERE event_id = $1 AND channel = $2 AND user_id = $3`,
      [e.id, channel, userId, status, tries, error ?? null, new Date(clock.now())],
    );
    delivered.inc({ channel, outcome: status });
  }

  async function prior(e: AlertEvent, userId: string): Promise<Map<string, string>> {
    const { rows } = await pool.query<{ channel: string; status: string }>(
      'SELECT channel, status FROM notification_deliveries WHERE event_id = $1 AND user_id = $2',
      [e.id, userId],
    );
    return new Map(rows.map((r) => [r.channel, r.status]));
  }

  /** One channel with retries (backoff + jitter). Returns true when sent. */
  async function tryChannel(
    e: AlertEvent,
    ch: Channel,
    recipient: Recipient,
    row: RecipientRow,
  ): Promise<boolean> {
    const key = createHash('sha256')
      .update(`${e.id}|${ch.name}|${recipient.userId}`)
      .digest('hex')
      .slice(0, 40);
    const msg = composeMessage(
      e,
      row.person_name ?? 'your person',
      // Alert emails never carry the device's text; a daily summary's counts follow the opt-in on every channel.
      ch.name === 'email' && e.type !== 'daily_summary' ? false : !!row.include_values,
      key,
      opts.appUrl,
    );
    if (!(await claim(e, ch.name, recipient.userId, msg.title, msg.body))) {
      const { rows } = await pool.query<{ status: string }>(
        'SELECT status FROM notification_deliveries WHERE event_id = $1 AND channel = $2 AND user_id = $3',
        [e.id, ch.name, recipient.userId],
      );
      return rows[0]?.status === 'sent';
    }
    let tries = 0;
    try {
      await retryWithBackoff(
        async () => {
          tries++;
          await ch.send(recipient, msg, {
            beforeCommit: () => submitting(e, ch.name, recipient.userId),
          });
        },
        {
          attempts,
          baseMs: opts.retryBaseMs ?? 500,
          maxMs: 10_000,
          clock,
          shouldRetry: (err) => !(err instanceof PermanentChannelError),
        },
      );
      await finish(e, ch.name, recipient.userId, 'sent', tries);
      return true;
    } catch (err) {
      await finish(e, ch.name, recipient.userId, 'failed', tries, (err as Error).message.slice(0, 200));
      log.warn(
        { eventId: e.id, channel: ch.name, userId: recipient.userId, tries, err: (err as Error).message },
        'notification channel failed',
      );
      return false;
    }
  }

  const quietOf = (row: RecipientRow) => ({
    start: row.quiet_start,
    end: row.quiet_end,
    timezone: row.timezone ?? 'UTC',
  });

  /**
   * Keeps a normal notification until the recipient's quiet hours end (persisted, so a restart keeps it).
   * A row already released stays released: a redelivered Kafka record does not send it again.
   */
  async function hold(e: AlertEvent, row: RecipientRow): Promise<void> {
    const now = clock.now();
    const r = await pool.query(
      `INSERT INTO notification_held (event_id, user_id, person_id, event, held_at, release_at)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [
        e.id,
        row.user_id,
        e.personId,
        JSON.stringify(e),
        new Date(now),
        new Date(quietHoursEnd(now, quietOf(row))),
      ],
    );
    if (r.rowCount) held.inc();
  }

  /** `deliverNow`: the caller checked quiet hours (a release of held notifications). */
  async function toRecipient(e: AlertEvent, row: RecipientRow, deliverNow = false): Promise<void> {
    const recipient: Recipient = {
      userId: row.user_id,
      email: row.email,
      phone: row.phone,
      pushSubscriptions: row.subs ?? [],
    };
    const emergency = e.priority >= 2;
    // In-app first: it is the record the web app shows, written exactly once.
    const inapp = composeMessage(e, row.person_name ?? 'your person', true, e.id, opts.appUrl);
    const now = new Date(clock.now());
    const ins = await pool.query(
      `INSERT INTO notification_deliveries (event_id, channel, user_id, person_id, kind, priority, status, attempts, title, body, created_at, updated_at, sent_at)
       VALUES ($1, 'inapp', $2, $3, $4, $5, 'sent', 1, $6, $7, $8, $8, $8) ON CONFLICT DO NOTHING`,
      [e.id, row.user_id, e.personId, e.type, e.priority, inapp.title, inapp.body, now],
    );
    if (ins.rowCount) delivered.inc({ channel: 'inapp', outcome: 'sent' });

    const enabled: Record<ChannelName, boolean> = {
      push: row.push_enabled ?? true,
      email: row.email_enabled ?? true,
      sms: row.sms_enabled ?? false,
    };
    const usable = CHAIN.map((n) => channels.get(n)).filter(
      (c): c is Channel => !!c && enabled[c.name] && c.reaches(recipient),
    );
    if (usable.length === 0) return;
    if (!emergency && !deliverNow && inQuietHours(clock.now(), quietOf(row))) {
      // Nothing sent yet on any channel for this event (a redelivery after a send goes on as usual).
      if ((await prior(e, row.user_id)).size <= 1) return hold(e, row);
    }
    let ok: boolean;
    if (emergency) {
      // Every channel at once.
      ok = (await Promise.all(usable.map((c) => tryChannel(e, c, recipient, row)))).some(Boolean);
    } else {
      ok = false;
      for (const c of usable) {
        if (await tryChannel(e, c, recipient, row)) {
          ok = true;
          break;
        }
      }
    }
    if (!ok) {
      const r = await pool.query(
        `INSERT INTO notification_dead_letters (event_id, user_id, reason, record, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [
          e.id,
          row.user_id,
          `all channels failed: ${usable.map((c) => c.name).join(', ')}`,
          JSON.stringify({ id: e.id, personId: e.personId, type: e.type, priority: e.priority, at: e.at }),
          now,
        ],
      );
      if (r.rowCount) deadLetters.inc();
      log.error({ eventId: e.id, userId: row.user_id }, 'notification dead-lettered: no channel delivered');
    }
  }

  return {
    /** Delivers one alert to all its recipients (safe to call again for the same alert). */
    async dispatch(e: AlertEvent): Promise<number> {
      const rows = await recipients(e.personId);
      await Promise.all(rows.map((r) => toRecipient(e, r)));
      return rows.length;
    },
    /**
     * Delivers an event to one recipient only (a daily summary is per caregiver). False when the user
     * no longer receives this person's notifications.
     */
    async dispatchTo(e: AlertEvent, userId: string): Promise<boolean> {
      const row = (await recipients(e.personId)).find((r) => r.user_id === userId);
      if (!row) return false;
      await toRecipient(e, row);
      return true;
    },
    /**
     * A held notification whose release time came: delivered now, or, when the recipient's quiet hours
     * moved and still cover now, the new end of quiet hours (the caller keeps holding it until then).
     */
    async release(e: AlertEvent, userId: string): Promise<{ releaseAt: number } | 'sent' | 'gone'> {
      const row = (await recipients(e.personId)).find((r) => r.user_id === userId);
      if (!row) return 'gone';
      if (e.priority < 2 && inQuietHours(clock.now(), quietOf(row)))
        return { releaseAt: quietHoursEnd(clock.now(), quietOf(row)) };
      await toRecipient(e, row, true);
      return 'sent';
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
