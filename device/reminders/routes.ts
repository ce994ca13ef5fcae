import { z } from 'zod';
import type { Clock } from '../../common/clock.js';
import { type FastifyInstance, parse } from '../../common/http.js';
import type { Db } from '../store/db.js';
import type { HealthStore } from '../store/health.js';
import type { ReminderScheduler } from './scheduler.js';
import { listAlerts, upcomingReminders } from './views.js';

/**
 * Console API for reminders:
 *   GET  /api/reminders/upcoming?personId&hours   doses coming up or still open, with their reminder state
 *   POST /api/reminders/:doseId/snooze {minutes?} remind again later (at most AIDE_REMINDER_MAX_SNOOZES times)
 *   GET  /api/reminders/events                    server-sent events: announce, snoozed, alert, closed
 *   GET  /api/alerts?personId&limit               alerts raised and whether the cloud acknowledged them
 */
const upcomingQuery = z
  .object({
    personId: z.string().max(100).optional(),
    hours: z.coerce.number().int().min(1).max(168).optional(),
  })
  .strict();
const alertsQuery = z
  .object({
    personId: z.string().max(100).optional(),
    limit: z.coerce.number().int().min(1).max(500).optional(),
  })
  .strict();
const doseParams = z.object({ doseId: z.string().min(1).max(100) });
const snoozeBody = z.object({ minutes: z.number().int().min(1).max(240).optional() }).strict();

export function registerReminderRoutes(
  app: FastifyInstance,
  deps: { db: Db; store: HealthStore; clock: Clock; scheduler: ReminderScheduler },
): void {
  app.get('/api/reminders/upcoming', async (req) => {
    const q = parse(upcomingQuery, req.query, 'query');
    return { items: upcomingReminders(deps, { personId: q.personId, withinMs: (q.hours ?? 24) * 3600_000 }) };
  });
  app.post('/api/reminders/:doseId/snooze', async (req) => {
    const { doseId } = parse(doseParams, req.params, 'params');
    const body = parse(snoozeBody, req.body ?? {});
    return deps.scheduler.snooze([doseId], {
      ...(body.minutes ? { minutes: body.minutes } : {}),
      via: 'console',
    });
  });
  app.get('/api/alerts', async (req) => {
    const q = parse(alertsQuery, req.query, 'query');
    return { items: listAlerts(deps, { personId: q.personId, limit: q.limit ?? 100 }) };
  });
  app.get('/api/reminders/events', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': reminders\n\n');
    if ((req.query as { replay?: string }).replay === '1')
      for (const e of deps.scheduler.recentEvents())
        res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    const off = deps.scheduler.onEvent((e) => res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`));
    req.raw.on('close', off);
  });
}
