import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { conflict, notFound, permissionDenied } from '../../../common/errors.js';
import { type FastifyInstance, type FastifyReply, type FastifyRequest, parse } from '../../../common/http.js';
import { inTx } from '../../db/tx.js';
import { auditActor } from '../audit.js';
import { enforceRate } from '../auth/guard.js';
import type { ApiDeps } from '../deps.js';
import { findUserByEmail } from '../users.js';
import type { PersonAccess } from './access.js';
import { inviteByEmail } from './invitations.js';
import { hashPairingCode } from './pairing.js';

const personParams = z.object({ id: z.string().min(1).max(100) });
const caregiverParams = personParams.extend({ userId: z.string().uuid('must be a user id (UUID)') });
const permissionsBody = z
  .object({
    viewRecords: z.boolean().optional(),
    receiveAlerts: z.boolean().optional(),
    manageMedicines: z.boolean().optional(),
  })
  .strict();
const inviteBody = z
  .object({
    email: z.string().trim().max(254).email('must be an email address'),
    permissions: permissionsBody.default({}),
  })
  .strict();
const patchBody = z.object({ permissions: permissionsBody }).strict();
const claimBody = z
  .object({
    code: z
      .string()
      .trim()
      .regex(/^\d{4}[\s-]?\d{4}$/, 'must be the 8-digit code the device shows, like 1234 5678'),
  })
  .strict();
const breakGlassBody = z
  .object({
    personId: z.string().min(1).max(100),
    reason: z.string().trim().min(10, 'must explain why, in at least 10 characters').max(500),
  })
  .strict();
const auditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z.coerce.number().int().positive().optional(),
});

const BREAK_GLASS_MS = 60 * 60_000;

export const permissionsOf = (a: PersonAccess) => ({
  viewRecords: a.permissions.has('viewRecords'),
  receiveAlerts: a.permissions.has('receiveAlerts'),
  manageMedicines: a.permissions.has('manageMedicines'),
  manageCaregivers: a.permissions.has('manageCaregivers'),
});

interface PersonRow {
  id: string;
  device_id: string;
  data: Record<string, unknown>;
  is_owner: boolean;
  can_view_records: boolean | null;
  can_receive_alerts: boolean | null;
  can_manage_medicines: boolean | null;
}

const personView = (r: PersonRow) => ({
  id: r.id,
  deviceId: r.device_id,
  name: (r.data.name as string | undefined) ?? null,
  timezone: (r.data.timezone as string | undefined) ?? null,
  /** Target ranges per measurement type, as the device set them (canonical units). */
  targets: (r.data.targets as Record<string, unknown> | undefined) ?? {},
  isOwner: r.is_owner,
  permissions: {
    viewRecords: r.is_owner || !!r.can_view_records,
    receiveAlerts: r.is_owner || !!r.can_receive_alerts,
    manageMedicines: r.is_owner || !!r.can_manage_medicines,
    manageCaregivers: r.is_owner,
  },
});

export function registerPeopleRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { pool, clock, access, audit, requireUser, limiter } = deps;
  const guard = { preHandler: requireUser };

  async function listPeople(userId: string, where = 'TRUE', params: unknown[] = []): Promise<PersonRow[]> {
    const { rows } = await pool.query<PersonRow>(
      `SELECT p.id::text AS id, p.device_id::text AS device_id, to_jsonb(p) AS data, (o.owner_user_id IS NOT NULL) AS is_owner,
              l.can_view_records, l.can_receive_alerts, l.can_manage_medicines
         FROM people p
         LEFT JOIN device_owners o ON o.device_id = p.device_id::text AND o.owner_user_id = $1
         LEFT JOIN caregiver_links l ON l.person_id = p.id::text AND l.user_id = $1
        WHERE (o.owner_user_id IS NOT NULL OR l.user_id IS NOT NULL) AND ${where}
        ORDER BY p.id`,
      [userId, ...params],
    );
    return rows;
  }

  app.post('/v1/devices/claim', guard, async (req: FastifyRequest, reply: FastifyReply) => {
    // Guessing codes: 10 tries per user per hour on top of the general budget.
    await enforceRate(limiter, `claim:${req.auth!.userId}`, 10, reply).catch((err) => {
      throw Object.assign(err, {
        message: 'too many pairing attempts; wait a while and read the code from the device again',
      });
    });
    const { code } = parse(claimBody, req.body);
    const deviceId = await inTx(pool, async (client) => {
      const { rows } = await client.query<{ device_id: string; expires_at: Date; claimed_at: Date | null }>(
        'SELECT device_id, expires_at, claimed_at FROM pairing_codes WHERE code_hash = $1 FOR UPDATE',
        [hashPairingCode(code)],
      );
      const row = rows[0];
      if (!row || row.claimed_at || row.expires_at.getTime() <= clock.now()) {
        throw notFound('pairing code not found or expired; ask the device for a new code');
      }
      const owner = await client.query<{ owner_user_id: string }>(
        'SELECT owner_user_id FROM device_owners WHERE device_id = $1 FOR UPDATE',
        [row.device_id],
      );
      if (owner.rows[0] && owner.rows[0].owner_user_id !== req.auth!.userId) {
        throw conflict('this device already has an owner; ask them to invite you as a caregiver');
      }
      await client.query(
        'INSERT INTO device_owners (device_id, owner_user_id, claimed_at) VALUES ($1, $2, $3) ON CONFLICT (device_id) DO NOTHING',
        [row.device_id, req.auth!.userId, new Date(clock.now())],
      );
      await client.query('UPDATE pairing_codes SET claimed_at = $2, claimed_by = $3 WHERE code_hash = $1', [
        hashPairingCode(code),
        new Date(clock.now()),
        req.auth!.userId,
      ]);
      await audit.appendInTx(client, [
        { ...auditActor(req.auth!), action: 'claim', resource: 'device', resourceId: row.device_id },
      ]);
      return row.device_id;
    });
    deps.log.info({ userId: req.auth!.userId, deviceId }, 'device claimed');
    const people = await listPeople(req.auth!.userId, 'p.device_id::text = $2', [deviceId]);
    reply.code(201);
    return { device: { id: deviceId }, people: people.map(personView) };
  });

  app.get('/v1/people', guard, async (req) => {
    const rows = await listPeople(req.auth!.userId);
    return { people: rows.map(personView) };
  });

  app.get('/v1/people/:id', guard, async (req) => {
    const { id } = parse(personParams, req.params, 'params');
    const a = await access.require(req, id, 'viewRecords');
    const rows = await listPeople(req.auth!.userId, 'p.id = $2::uuid', [id]);
    await audit.recordRead({
      ...auditActor(req.auth!),
      action: 'read',
      personId: id,
      resource: 'person',
      breakGlass: a.breakGlass,
    });
    const data = rows[0]
      ? personView(rows[0])
      : {
          id,
          deviceId: a.deviceId,
          name: null,
          timezone: null,
          targets: {},
          isOwner: false,
          permissions: permissionsOf(a),
        };
    return { person: data };
  });

  app.get('/v1/people/:id/caregivers', guard, async (req) => {
    const { id } = parse(personParams, req.params, 'params');
    const a = await access.require(req, id, 'viewRecords');
    const { rows } = await pool.query<{
      user_id: string;
      email: string;
      display_name: string | null;
      owner: boolean;
      v: boolean;
      r: boolean;
      m: boolean;
    }>(
      `SELECT o.owner_user_id AS user_id, u.email, u.display_name, true AS owner, true AS v, true AS r, true AS m
         FROM device_owners o JOIN users u ON u.id = o.owner_user_id WHERE o.device_id = $1
       UNION ALL
       SELECT l.user_id, u.email, u.display_name, false, l.can_view_records, l.can_receive_alerts, l.can_manage_medicines
         FROM caregiver_links l JOIN users u ON u.id = l.user_id WHERE l.person_id = $2`,
      [a.deviceId, id],
    );
    return {
      caregivers: rows.map((r) => ({
        userId: r.user_id,
        email: r.email,
        displayName: r.display_name,
        isOwner: r.owner,
        permissions: {
          viewRecords: r.v,
          receiveAlerts: r.r,
          manageMedicines: r.m,
          manageCaregivers: r.owner,
        },
      })),
    };
  });

  app.post('/v1/people/:id/caregivers', guard, async (req, reply) => {
    const { id } = parse(personParams, req.params, 'params');
    const body = parse(inviteBody, req.body);
    const a = await access.require(req, id, 'manageCaregivers');
    const invitee = await findUserByEmail(pool, body.email);
    const p = { viewRecords: true, receiveAlerts: true, manageMedicines: false, ...body.permissions };
    // No account yet: an emailed, single-use invitation (invitations.ts), 202.
    if (!invitee) return inviteByEmail(deps, req, reply, { personId: id, email: body.email, permissions: p });
    if (invitee.id === req.auth!.userId) throw conflict('you are the owner already');
    await inTx(pool, async (client) => {
      const now = new Date(clock.now());
      await client.query(
        `INSERT INTO caregiver_links (person_id, user_id, can_view_records, can_receive_alerts, can_manage_medicines, invited_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (person_id, user_id) DO UPDATE SET can_view_records = $3, can_receive_alerts = $4, can_manage_medicines = $5, updated_at = $7`,
        [id, invitee.id, p.viewRecords, p.receiveAlerts, p.manageMedicines, req.auth!.userId, now],
      );
      await audit.appendInTx(client, [
        {
          ...auditActor(req.auth!),
          action: 'grant',
          personId: id,
          resource: 'caregiver',
          resourceId: invitee.id,
          detail: { permissions: p },
        },
      ]);
    });
    reply.code(201);
    return {
      caregiver: {
        userId: invitee.id,
        email: invitee.email,
        displayName: invitee.display_name,
        isOwner: false,
        permissions: { ...p, manageCaregivers: false },
      },
      deviceId: a.deviceId,
    };
  });

  app.patch('/v1/people/:id/caregivers/:userId', guard, async (req) => {
    const { id, userId } = parse(caregiverParams, req.params, 'params');
    const body = parse(patchBody, req.body);
    await access.require(req, id, 'manageCaregivers');
    const sets: string[] = [];
    const vals: unknown[] = [id, userId, new Date(clock.now())];
    const column: Record<string, string> = {
      viewRecords: 'can_view_records',
      receiveAlerts: 'can_receive_alerts',
      manageMedicines: 'can_manage_medicines',
    };
    for (const [k, v] of Object.entries(body.permissions)) {
      vals.push(v);
      sets.push(`${column[k]} = $${vals.length}`);
    }
    const row = await inTx(pool, async (client) => {
      const { rows } = await client.query(
        `UPDATE caregiver_links SET updated_at = $3${sets.map((s) => `, ${s}`).join('')} WHERE person_id = $1 AND user_id = $2
         RETURNING can_view_records, can_receive_alerts, can_manage_medicines`,
        vals,
      );
      if (!rows[0]) throw notFound(`caregiver ${userId} not found for this person`);
      await audit.appendInTx(client, [
        {
          ...auditActor(req.auth!),
          action: 'update',
          personId: id,
          resource: 'caregiver',
          resourceId: userId,
          detail: { permissions: body.permissions },
        },
      ]);
      return rows[0];
    });
    return {
      caregiver: {
        userId,
        permissions: {
          viewRecords: row.can_view_records,
          receiveAlerts: row.can_receive_alerts,
          manageMedicines: row.can_manage_medicines,
          manageCaregivers: false,
        },
      },
    };
  });

  app.delete('/v1/people/:id/caregivers/:userId', guard, async (req, reply) => {
    const { id, userId } = parse(caregiverParams, req.params, 'params');
    const self = userId === req.auth!.userId;
    const a = await deps.access.lookup(req.auth!.userId, req.auth!.role, id);
    if (!a || a.breakGlass) throw notFound(`person ${id} not found`);
    if (!self && !a.permissions.has('manageCaregivers'))
      throw permissionDenied('only the owner can remove caregivers');
    await inTx(pool, async (client) => {
      const { rowCount } = await client.query(
        'DELETE FROM caregiver_links WHERE person_id = $1 AND user_id = $2',
        [id, userId],
      );
      if (!rowCount) throw notFound(`caregiver ${userId} not found for this person`);
      await audit.appendInTx(client, [
        {
          ...auditActor(req.auth!),
          action: 'revoke',
          personId: id,
          resource: 'caregiver',
          resourceId: userId,
        },
      ]);
    });
    reply.code(204);
  });

  app.get('/v1/people/:id/audit', guard, async (req) => {
    const { id } = parse(personParams, req.params, 'params');
    const q = parse(auditQuery, req.query, 'query');
    await access.require(req, id, 'manageCaregivers');
    await audit.flush();
    return { entries: await audit.list(id, { limit: q.limit, beforeSeq: q.before }) };
  });

  app.post('/v1/admin/break-glass', guard, async (req, reply) => {
    if (req.auth!.role !== 'admin') throw permissionDenied('break-glass access is for administrators only');
    const body = parse(breakGlassBody, req.body);
    const { rows } = await pool.query('SELECT 1 FROM people WHERE id::text = $1', [
      body.personId.toLowerCase(),
    ]);
    if (!rows[0]) throw notFound(`person ${body.personId} not found`);
    const grant = { id: randomUUID(), expiresAt: new Date(clock.now() + BREAK_GLASS_MS) };
    await inTx(pool, async (client) => {
      await client.query(
        'INSERT INTO break_glass_grants (id, admin_user_id, person_id, reason, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [grant.id, req.auth!.userId, body.personId, body.reason, new Date(clock.now()), grant.expiresAt],
      );
      await audit.appendInTx(client, [
        {
          ...auditActor(req.auth!),
          action: 'break_glass',
          personId: body.personId,
          resource: 'person',
          resourceId: grant.id,
          breakGlass: true,
        },
      ]);
    });
    deps.log.warn(
      { adminId: req.auth!.userId, personId: body.personId, grantId: grant.id },
      'break-glass access granted',
    );
    reply.code(201);
    return { grant: { id: grant.id, personId: body.personId, expiresAt: grant.expiresAt.toISOString() } };
  });

  app.get('/v1/admin/audit/verify', guard, async (req) => {
    if (req.auth!.role !== 'admin') throw permissionDenied('audit verification is for administrators only');
    await audit.flush();
    return audit.verify();
  });
}
