import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { timezone } from '../../../common/config.js';
import { fieldError, notFound } from '../../../common/errors.js';
import { type FastifyInstance, parse } from '../../../common/http.js';
import type { ApiDeps } from '../deps.js';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time like 22:00');
const settingsBody = z
  .object({
    emailEnabled: z.boolean(),
    pushEnabled: z.boolean(),
    smsEnabled: z.boolean(),
    phone: z
      .string()
      .regex(/^\+[1-9]\d{6,14}$/, 'must be an international number like +447700900123')
      .nullable(),
    quietStart: hhmm.nullable(),
    quietEnd: hhmm.nullable(),
    timezone: timezone(),
    includeValues: z.boolean(),
    /** Local time (in `timezone`) of the daily summary; null = none. */
    dailySummaryAt: hhmm.nullable(),
  })
  .partial()
  .strict();
const subscriptionBody = z
  .object({
    endpoint: z
      .string()
      .url('must be the push service URL')
      .max(2000)
      .refine(
        (u) =>
          u.startsWith('https://') || u.startsWith('http://127.0.0.1') || u.startsWith('http://localhost'),
        'must be https',
      ),
    keys: z.object({ p256dh: z.string().min(20).max(200), auth: z.string().min(8).max(100) }),
  })
  .passthrough();
const inboxQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }).strict();

interface PrefRow {
  email_enabled: boolean;
  push_enabled: boolean;
  sms_enabled: boolean;
  phone: string | null;
  quiet_start: string | null;
  quiet_end: string | null;
  timezone: string;
  include_values: boolean;
  daily_summary_at: string | null;
}
const defaults: PrefRow = {
  email_enabled: true,
  push_enabled: true,
  sms_enabled: false,
  phone: null,
  quiet_start: null,
  quiet_end: null,
  timezone: 'UTC',
  include_values: false,
  daily_summary_at: null,
};
const view = (r: PrefRow) => ({
  emailEnabled: r.email_enabled,
  pushEnabled: r.push_enabled,
  smsEnabled: r.sms_enabled,
  phone: r.phone,
  quietStart: r.quiet_start,
  quietEnd: r.quiet_end,
  timezone: r.timezone,
  includeValues: r.include_values,
  dailySummaryAt: r.daily_summary_at,
});

/** Each caregiver's notification settings, Web Push subscriptions and in-app inbox. */
export function registerNotificationRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { pool, requireUser, config, clock } = deps;
  const guard = { preHandler: requireUser };

  const load = async (userId: string): Promise<PrefRow> => {
    const { rows } = await pool.query<PrefRow>('SELECT * FROM notification_preferences WHERE user_id = $1', [
      userId,
    ]);
    return rows[0] ?? defaults;
  };

  app.get('/v1/me/notification-settings', guard, async (req) => ({
    settings: view(await load(req.auth!.userId)),
  }));

  app.put('/v1/me/notification-settings', guard, async (req) => {
    const body = parse(settingsBody, req.body);
    const cur = view(await load(req.auth!.userId));
    const next = { ...cur, ...body };
    if (next.smsEnabled && !next.phone) {
      throw fieldError('phone', 'required', 'phone: is required when SMS is on');
    }
    if ((next.quietStart === null) !== (next.quietEnd === null)) {
      throw fieldError(
        'quietEnd',
        'required',
        'quietStart, quietEnd: quiet hours need both a start and an end',
      );
    }
    await pool.query(
      `INSERT INTO notification_preferences (user_id, email_enabled, push_enabled, sms_enabled, phone, quiet_start, quiet_end, timezone, include_values, updated_at, daily_summary_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (user_id) DO UPDATE SET email_enabled = $2, push_enabled = $3, sms_enabled = $4, phone = $5, quiet_start = $6, quiet_end = $7,
         timezone = $8, include_values = $9, updated_at = $10, daily_summary_at = $11`,
      [
        req.auth!.userId,
        next.emailEnabled,
        next.pushEnabled,
        next.smsEnabled,
        next.phone,
        next.quietStart,
        next.quietEnd,
        next.timezone,
        next.includeValues,
        new Date(clock.now()),
        next.dailySummaryAt,
      ],
    );
    if (
      cur.quietStart !== next.quietStart ||
      cur.quietEnd !== next.quietEnd ||
      cur.timezone !== next.timezone
    ) {
      // Notifications held for the old quiet hours are looked at again on notify's next pass (released,
      // or held to the new end).
      await pool.query(
        'UPDATE notification_held SET release_at = $2 WHERE user_id = $1 AND released_at IS NULL AND release_at > $2',
        [req.auth!.userId, new Date(clock.now())],
      );
    }
    return { settings: next };
  });

  app.get('/v1/push/config', async () => ({ vapidPublicKey: config.VAPID_PUBLIC_KEY ?? null }));

  app.post('/v1/me/push-subscriptions', guard, async (req, reply) => {
    const body = parse(subscriptionBody, req.body);
    const id = randomUUID();
    await pool.query(
      `INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (endpoint) DO UPDATE SET user_id = $2, p256dh = $4, auth = $5`,
      [id, req.auth!.userId, body.endpoint, body.keys.p256dh, body.keys.auth, new Date(clock.now())],
    );
    reply.code(201);
    return { subscription: { endpoint: body.endpoint } };
  });

  app.delete('/v1/me/push-subscriptions', guard, async (req, reply) => {
    const { endpoint } = parse(z.object({ endpoint: z.string().url() }), req.query, 'query');
    await pool.query('DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2', [
      req.auth!.userId,
      endpoint,
    ]);
    reply.code(204);
  });

  app.get('/v1/me/notifications', guard, async (req) => {
    const q = parse(inboxQuery, req.query, 'query');
    // Only people the caller can still receive alerts for: revoking a caregiver hides the history too.
    const { rows } = await pool.query(
      `SELECT d.event_id, d.person_id, d.kind, d.priority, d.title, d.body, d.created_at, d.read_at
         FROM notification_deliveries d
        WHERE d.user_id = $1 AND d.channel = 'inapp'
          AND (EXISTS (SELECT 1 FROM caregiver_links l WHERE l.person_id = d.person_id::text AND l.user_id = $1 AND l.can_receive_alerts)
               OR EXISTS (SELECT 1 FROM people p JOIN device_owners o ON o.device_id = p.device_id WHERE p.id = d.person_id AND o.owner_user_id = $1))
        ORDER BY d.created_at DESC LIMIT $2`,
      [req.auth!.userId, q.limit],
    );
    return {
      notifications: rows.map((r) => ({
        id: r.event_id,
        personId: r.person_id,
        kind: r.kind,
        priority: r.priority,
        title: r.title,
        body: r.body,
        at: r.created_at.toISOString(),
        read: r.read_at !== null,
      })),
    };
  });

  app.post('/v1/me/notifications/:id/read', guard, async (req, reply) => {
    const { id } = parse(z.object({ id: z.string().min(1).max(100) }), req.params, 'params');
    const r = await pool.query(
      `UPDATE notification_deliveries SET read_at = COALESCE(read_at, $3) WHERE user_id = $1 AND event_id = $2 AND channel = 'inapp'`,
      [req.auth!.userId, id, new Date(clock.now())],
    );
    if (!r.rowCount) throw notFound(`notification ${id} not found`);
    reply.code(204);
  });
}
