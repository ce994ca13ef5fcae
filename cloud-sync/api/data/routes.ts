import { z } from 'zod';
import { notFound } from '../../../common/errors.js';
import { type FastifyInstance, type FastifyRequest, parse } from '../../../common/http.js';
import { measurementTypes } from '../../protocol/index.js';
import { auditActor, INBOX_COLUMNS } from '../audit.js';
import type { ApiDeps } from '../deps.js';
import {
  type AccessRow,
  accessFromRow,
  accessSql,
  normalizePersonId,
  type Permission,
  permissionSql,
  requirePermission,
} from '../people/access.js';
import { createMedications, medicationCreate, medicationPatch } from './medications.js';
import {
  adherenceReader,
  alertsReader,
  conversationTurnsReader,
  dosesReader,
  measurementsReader,
  prepared,
  type Reader,
} from './records.js';
import { registerDeviceSettingsRoutes } from './settings.js';

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
export const measurementQuery = range.extend({ type: z.enum(measurementTypes).optional() }).strict();
const adherenceQuery = z
  .object({ days: z.coerce.number().int().min(1).max(365, 'must be at most 365').default(7) })
  .strict();

/** Per permission, per reader SQL (string constants: their hashes are computed once). */
const combined = new Map<Permission, Map<string, string>>();

/** The reader's statement wrapped in the access check and the audit insert (built once per reader). */
function combinedSql(r: Reader<unknown, unknown>, permission: Permission): string {
  let forPermission = combined.get(permission);
  if (!forPermission) {
    forPermission = new Map();
    combined.set(permission, forPermission);
  }
  let sql = forPermission.get(r.sql);
  if (sql) return sql;
  const n = r.params.length;
  const ph = { P: '$1', U: `$${n + 1}`, R: `$${n + 2}`, T: `$${n + 3}` };
  sql = `WITH a AS (${accessSql(ph)}),
  ok AS (SELECT a.person_id, NOT (a.is_owner OR a.can_view_records IS NOT NULL) AS via_break_glass
           FROM a WHERE ${permissionSql(permission)}),
  d AS (SELECT row_number() OVER () AS d_n, x.* FROM (${r.sql}) x WHERE EXISTS (SELECT 1 FROM ok)),
  w AS (INSERT INTO audit_inbox (${INBOX_COLUMNS})
        SELECT ${ph.T}::timestamptz, ${ph.U}::uuid, ${ph.R}::text, 'read', ok.person_id, $${n + 4}::text, NULL,
               ok.via_break_glass, jsonb_build_object('count', (SELECT count(*) FROM d)) FROM ok
        RETURNING 1)
SELECT ${[
    'person_id',
    'device_id',
    'is_owner',
    'can_view_records',
    'can_receive_alerts',
    'can_manage_medicines',
    'break_glass',
  ]
    .map((c) => `CASE WHEN d.d_n IS NULL OR d.d_n = 1 THEN a.${c} END AS a_${c}`)
    .join(', ')},
       CASE WHEN d.d_n IS NULL OR d.d_n = 1 THEN (SELECT count(*) FROM w)::int END AS a_audited, d.*
  FROM a LEFT JOIN d ON true ORDER BY ${r.orderBy}`;
  forPermission.set(r.sql, sql);
  return sql;
}

export function registerDataRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { pool, access, audit, requireUser, clock } = deps;
  const guard = { preHandler: requireUser };
  const meds = createMedications({ pool, clock, audit });
  registerDeviceSettingsRoutes(app, deps);

  /**
   * One statement, one round trip: checks the caller's access (object level, in the same snapshot as the
   * data, so a revoked caregiver gets nothing on any replica), reads the data only when allowed, and
   * inserts the read's audit entry (ids and counts only) into audit_inbox. The statement commits before
   * the answer is sent, so no read is returned whose audit entry was not stored; the sealer chains it
   * into audit_log within milliseconds (see audit.ts).
   */
  async function read<R, T>(
    req: FastifyRequest,
    permission: Permission,
    resource: string,
    reader: (personId: string) => Reader<R, T>,
  ): Promise<T> {
    const { id } = parse(personParams, req.params, 'params');
    const personId = normalizePersonId(id);
    if (!personId) throw notFound(`person ${id} not found`);
    const r = reader(personId);
    const sql = combinedSql(r, permission);
    const auth = req.auth!;
    const { rows } = await pool.query(
      prepared(sql, [...r.params, auth.userId, auth.role, new Date(clock.now()), resource]),
    );
    // The access columns travel on one row only (the data rows would repeat them); d_n is null when
    // there are no data rows.
    const first = rows.find((x) => x.a_person_id !== null) as Record<string, unknown> | undefined;
    const row: AccessRow | undefined = first && {
      person_id: first.a_person_id as string,
      device_id: first.a_device_id as string,
      is_owner: first.a_is_owner as boolean,
      can_view_records: first.a_can_view_records as boolean | null,
      can_receive_alerts: first.a_can_receive_alerts as boolean | null,
      can_manage_medicines: first.a_can_manage_medicines as boolean | null,
      break_glass: first.a_break_glass as boolean,
    };
    requirePermission(row && accessFromRow(row), id, permission);
    // The SQL and JS permission rules agree (tested); a disagreement must not leak an unaudited read.
    if (first!.a_audited !== 1) throw new Error(`read of ${resource} was not audited`);
    audit.inboxWritten();
    return r.map(first!.d_n === null ? [] : (rows as R[]));
  }

  app.get('/v1/people/:id/measurements', guard, async (req) => {
    const q = parse(measurementQuery, req.query, 'query');
    return {
      measurements: await read(req, 'viewRecords', 'measurements', (pid) => measurementsReader(pid, q)),
    };
  });
  app.get('/v1/people/:id/doses', guard, async (req) => {
    const q = parse(range.strict(), req.query, 'query');
    return { doses: await read(req, 'viewRecords', 'doses', (pid) => dosesReader(pid, q)) };
  });
  app.get('/v1/people/:id/adherence', guard, async (req) => {
    const q = parse(adherenceQuery, req.query, 'query');
    const to = new Date(clock.now());
    const from = new Date(to.getTime() - q.days * 86_400_000);
    return {
      adherence: await read(req, 'viewRecords', 'adherence', (pid) =>
        adherenceReader(pid, { from: from.toISOString(), to: to.toISOString() }),
      ),
    };
  });
  app.get('/v1/people/:id/alerts', guard, async (req) => {
    const q = parse(range.strict(), req.query, 'query');
    return { alerts: await read(req, 'receiveAlerts', 'alerts', (pid) => alertsReader(pid, q)) };
  });
  app.get('/v1/people/:id/conversations', guard, async (req) => {
    const q = parse(range.strict(), req.query, 'query');
    return {
      turns: await read(req, 'viewRecords', 'conversations', (pid) => conversationTurnsReader(pid, q)),
    };
  });
  // Two queries (medicines and their pending commands): authorized first, audited before answering.
  app.get('/v1/people/:id/medications', guard, async (req) => {
    const { id } = parse(personParams, req.params, 'params');
    const a = await access.require(req, id, 'viewRecords');
    const medications = await meds.list(a.personId);
    await audit.recordRead({
      ...auditActor(req.auth!),
      action: 'read',
      personId: a.personId,
      resource: 'medications',
      breakGlass: a.breakGlass,
      detail: { count: medications.length },
    });
    return { medications };
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
