import { DateTime } from 'luxon';
import { z } from 'zod';
import { type FastifyInstance, parse } from '../../common/http.js';
import { exportBundle, importBundle } from './fhir.js';
import type { HealthStore } from './health.js';
import { zoneOf } from './schedule.js';
import { measurementTypes } from './units.js';

const DAY = 86_400_000;

/** Query instants: ISO 8601 date-time, a local date (YYYY-MM-DD, midnight in the person's zone) or epoch ms. */
const instant = z
  .string()
  .refine(
    (s) =>
      /^\d{4}-\d{2}-\d{2}$/.test(s)
        ? DateTime.fromISO(s).isValid
        : /^\d{1,15}$/.test(s) || !Number.isNaN(Date.parse(s)),
    {
      message: 'must be an ISO 8601 date-time, a date YYYY-MM-DD or epoch milliseconds',
    },
  );

const toMs = (s: string | undefined, tz: string): number | undefined => {
  if (s === undefined) return undefined;
  if (/^\d{1,15}$/.test(s)) return Number(s);
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return DateTime.fromISO(s, { zone: zoneOf(tz) }).toMillis();
  return Date.parse(s);
};

const personQuery = { personId: z.string().optional() };
const rangeQuery = z.object({ ...personQuery, from: instant.optional(), to: instant.optional() }).strict();
const listQuery = z
  .object({
    ...personQuery,
    type: z.enum(measurementTypes).optional(),
    from: instant.optional(),
    to: instant.optional(),
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(500).optional(),
  })
  .strict();
const summaryQuery = rangeQuery.extend({ type: z.enum(measurementTypes) });
const idParams = z.object({ id: z.string().min(1).max(100) });
// Schemas are built once: building one per request costs more than the cached read it guards.
const personOnlyQuery = z.object(personQuery).strict();
const recentQuery = z
  .object({ ...personQuery, limit: z.coerce.number().int().min(1).max(200).optional() })
  .strict();
const doseAction = z
  .object({ via: z.string().max(40).optional(), at: z.number().int().nonnegative().optional() })
  .strict()
  .optional();

/** The health store's console API (paths and shapes as issue 4 lists them). */
export function registerStoreRoutes(app: FastifyInstance, store: HealthStore): void {
  const { people, measurements, medications, doses, analytics, conversations } = store;
  if (!app.hasContentTypeParser('application/fhir+json')) {
    app.addContentTypeParser('application/fhir+json', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch (err) {
        (err as { statusCode?: number }).statusCode = 400;
        done(err as Error, undefined);
      }
    });
  }
  const now = () => store.deps.clock.now();
  const tzOf = (personId?: string) => people.getSync(personId).timezone;
  const range = (
    q: { personId?: string; from?: string; to?: string },
    defaults: (now: number, tz: string) => [number, number],
  ) => {
    const tz = tzOf(q.personId);
    const [f, t] = defaults(now(), tz);
    return { from: toMs(q.from, tz) ?? f, to: toMs(q.to, tz) ?? t };
  };

  // --- people
  app.get('/api/people', async () => ({ items: people.list() }));
  app.get('/api/people/:id', async (req) => people.get(parse(idParams, req.params, 'params').id));
  app.post('/api/people', async (req, reply) => reply.code(201).send(people.create(req.body as never)));
  app.patch('/api/people/:id', async (req) =>
    people.update(parse(idParams, req.params, 'params').id, (req.body ?? {}) as never),
  );

  // --- measurements
  app.post('/api/measurements', async (req, reply) => {
    const body = req.body as Record<string, unknown> | undefined;
    return reply.code(201).send(await measurements.addQueued((body ?? {}) as never, { source: 'console' }));
  });
  app.get('/api/measurements', async (req) => {
    const q = parse(listQuery, req.query, 'query');
    const tz = tzOf(q.personId);
    return measurements.list({ ...q, from: toMs(q.from, tz), to: toMs(q.to, tz) });
  });
  app.get('/api/measurements/summary', async (req) => {
    const q = parse(summaryQuery, req.query, 'query');
    const r = range(q, (n) => [n - 30 * DAY, n + 1]);
    return analytics.summary({ type: q.type, personId: q.personId, ...r });
  });
  app.get('/api/measurements/:id', async (req) => measurements.get(parse(idParams, req.params, 'params').id));
  app.delete('/api/measurements/:id', async (req) => {
    const m = measurements.remove(parse(idParams, req.params, 'params').id);
    return { ...m, deleted: true };
  });

  // --- medications
  app.get('/api/medications', async (req) => {
    const q = parse(personOnlyQuery, req.query, 'query');
    return { items: await medications.list(q.personId) };
  });
  app.post('/api/medications', async (req, reply) =>
    reply.code(201).send(medications.create((req.body ?? {}) as never)),
  );
  app.get('/api/medications/:id', async (req) => medications.get(parse(idParams, req.params, 'params').id));
  app.patch('/api/medications/:id', async (req) =>
    medications.update(parse(idParams, req.params, 'params').id, (req.body ?? {}) as never),
  );
  app.delete('/api/medications/:id', async (req) => {
    const m = medications.remove(parse(idParams, req.params, 'params').id);
    return { ...m, deleted: true };
  });
  app.post('/api/medications/:id/taken', async (req) => {
    const body = parse(doseAction, req.body ?? {}) ?? {};
    return doses.confirmTaken(parse(idParams, req.params, 'params').id, {
      via: body.via ?? 'console',
      at: body.at,
    }).dose;
  });

  // --- doses
  app.get('/api/doses', async (req) => {
    const q = parse(rangeQuery, req.query, 'query');
    const r = range(q, (n, tz) => {
      const today = DateTime.fromMillis(n, { zone: zoneOf(tz) }).startOf('day');
      return [today.toMillis(), today.plus({ days: 2 }).toMillis()];
    });
    return {
      from: new Date(r.from).toISOString(),
      to: new Date(r.to).toISOString(),
      items: doses.list({ ...r, personId: q.personId }),
    };
  });
  for (const status of ['taken', 'skipped'] as const) {
    app.post(`/api/doses/:id/${status}`, async (req) => {
      const body = parse(doseAction, req.body ?? {}) ?? {};
      return doses.mark(parse(idParams, req.params, 'params').id, status, {
        via: body.via ?? 'console',
        at: body.at,
      }).dose;
    });
  }
  app.get('/api/adherence', async (req) => {
    const q = parse(rangeQuery, req.query, 'query');
    const r = range(q, (n) => [n - 30 * DAY, n]);
    return {
      from: new Date(r.from).toISOString(),
      to: new Date(r.to).toISOString(),
      items: analytics.adherence({ ...r, personId: q.personId }),
    };
  });

  // --- conversations
  app.get('/api/conversations/recent', async (req) => {
    const q = parse(recentQuery, req.query, 'query');
    return { items: await conversations.recent(q.personId, q.limit) };
  });

  // --- FHIR
  app.get('/api/export', async (req, reply) => {
    const q = parse(rangeQuery, req.query, 'query');
    const tz = tzOf(q.personId);
    const range = { from: toMs(q.from, tz), to: toMs(q.to, tz) };
    return reply.type('application/fhir+json').send(exportBundle(store, q.personId, range));
  });
  app.post('/api/import', async (req) => {
    const q = parse(personOnlyQuery, req.query, 'query');
    return importBundle(store, req.body, q.personId);
  });
}
