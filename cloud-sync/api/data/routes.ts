import { z } from 'zod';
import { type FastifyInstance, type FastifyRequest, parse } from '../../../common/http.js';
import type { ApiDeps } from '../deps.js';
import type { Permission } from '../people/access.js';
import { createMedications, medicationCreate, medicationPatch } from './medications.js';
import { adherence, listAlerts, listConversationTurns, listDoses, listMeasurements } from './records.js';

const personParams = z.object({ id: z.string().min(1).max(100) });
const medParams = personParams.extend({ medId: z.string().uuid('must be a medication id (UUID)') });
const iso = z
  .string()
  .datetime({ offset: true, message: 'must be an ISO 8601 time like 2026-03-01T08:00:00Z' });
const range = z.object({
  from: iso.optional(),
  to: iso.optional(),
  limit: z.coerce.number().int().min(1).max(1000, 'must be at most 1000').default(100),
});
const measurementTypes = [
  'blood_pressure',
  'heart_rate',
  'oxygen_saturation',
  'steps',
  'sleep',
  'blood_glucose',
  'weight',
  'temperature',
] as const;
const measurementQuery = range.extend({ type: z.enum(measurementTypes).optional() }).strict();
const adherenceQuery = z
  .object({ days: z.coerce.number().int().min(1).max(365, 'must be at most 365').default(7) })
  .strict();

export function registerDataRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { pool, access, audit, requireUser, clock } = deps;
  const guard = { preHandler: requireUser };
  const meds = createMedications({ pool, clock, audit });

  /** Authorizes, runs the read, and queues its audit entry (ids and counts only). */
  async function read<T extends unknown[] | object>(
    req: FastifyRequest,
    permission: Permission,
    resource: string,
    fn: (personId: string) => Promise<T>,
  ): Promise<T> {
    const { id } = parse(personParams, req.params, 'params');
    const a = await access.require(req, id, permission);
    const out = await fn(a.personId);
    audit.recordRead({
      actorUserId: req.auth!.userId,
      actorRole: req.auth!.role,
      action: 'read',
      personId: a.personId,
      resource,
      breakGlass: a.breakGlass,
      detail: { count: Array.isArray(out) ? out.length : 1 },
    });
    return out;
  }

  app.get('/v1/people/:id/measurements', guard, async (req) => {
    const q = parse(measurementQuery, req.query, 'query');
    return {
      measurements: await read(req, 'viewRecords', 'measurements', (pid) => listMeasurements(pool, pid, q)),
    };
  });
  app.get('/v1/people/:id/doses', guard, async (req) => {
    const q = parse(range.strict(), req.query, 'query');
    return { doses: await read(req, 'viewRecords', 'doses', (pid) => listDoses(pool, pid, q)) };
  });
  app.get('/v1/people/:id/adherence', guard, async (req) => {
    const q = parse(adherenceQuery, req.query, 'query');
    const to = new Date(clock.now());
    const from = new Date(to.getTime() - q.days * 86_400_000);
    return {
      adherence: await read(req, 'viewRecords', 'adherence', (pid) =>
        adherence(pool, pid, { from: from.toISOString(), to: to.toISOString() }),
      ),
    };
  });
  app.get('/v1/people/:id/alerts', guard, async (req) => {
    const q = parse(range.strict(), req.query, 'query');
    return { alerts: await read(req, 'receiveAlerts', 'alerts', (pid) => listAlerts(pool, pid, q)) };
  });
  app.get('/v1/people/:id/conversations', guard, async (req) => {
    const q = parse(range.strict(), req.query, 'query');
    return {
      turns: await read(req, 'viewRecords', 'conversations', (pid) => listConversationTurns(pool, pid, q)),
    };
  });
  app.get('/v1/people/:id/medications', guard, async (req) => {
    return { medications: await read(req, 'viewRecords', 'medications', (pid) => meds.list(pid)) };
  });

  const actor = (req: FastifyRequest) => ({ userId: req.auth!.userId, role: req.auth!.role });
  const writer = async (req: FastifyRequest) => {
    const { id } = parse(personParams, req.params, 'params');
    const a = await access.require(req, id, 'manageMedicines');
    return a;
  };

  app.post('/v1/people/:id/medications', guard, async (req, reply) => {
    const body = parse(medicationCreate, req.body);
    const a = await writer(req);
    reply.code(202);
    return { medication: await meds.create(actor(req), a.personId, a.deviceId, body) };
  });
  app.patch('/v1/people/:id/medications/:medId', guard, async (req, reply) => {
    const { medId } = parse(medParams, req.params, 'params');
    const body = parse(medicationPatch, req.body);
    const a = await writer(req);
    reply.code(202);
    return { medication: await meds.change(actor(req), a.personId, a.deviceId, medId, body) };
  });
  app.delete('/v1/people/:id/medications/:medId', guard, async (req, reply) => {
    const { medId } = parse(medParams, req.params, 'params');
    const a = await writer(req);
    reply.code(202);
    return { medication: await meds.change(actor(req), a.personId, a.deviceId, medId, 'delete') };
  });
}
