import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Clock } from '../../../common/clock.js';
import { notFound, permissionDenied } from '../../../common/errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type Permission = 'viewRecords' | 'receiveAlerts' | 'manageMedicines' | 'manageCaregivers';
export const caregiverPermissions = ['viewRecords', 'receiveAlerts', 'manageMedicines'] as const;

export interface PersonAccess {
  personId: string;
  deviceId: string;
  isOwner: boolean;
  /** True when an admin reads through a break-glass grant (read-only, audited as such). */
  breakGlass: boolean;
  permissions: Set<Permission>;
}

export interface AccessRow {
  person_id: string;
  device_id: string;
  is_owner: boolean;
  can_view_records: boolean | null;
  can_receive_alerts: boolean | null;
  can_manage_medicines: boolean | null;
  break_glass: boolean;
}

/** Ids are matched in lower case: the text columns that reference people hold `people.id::text`. */
export const normalizePersonId = (id: string): string | undefined =>
  UUID.test(id) ? id.toLowerCase() : undefined;

/**
 * The access row of user $U (role $R, time $T) to person $P, as SQL that other statements embed (the data
 * routes check access, read and audit in one statement). `p` is the placeholder map, e.g. {P: '$1', ...}.
 * $P is a UUID (lower case, see normalizePersonId).
 */
export function accessSql(p: { P: string; U: string; R: string; T: string }): string {
  return `SELECT p.id::text AS person_id, p.device_id::text AS device_id,
              (o.owner_user_id IS NOT NULL) AS is_owner,
              l.can_view_records, l.can_receive_alerts, l.can_manage_medicines,
              (${p.R}::text = 'admin' AND EXISTS (SELECT 1 FROM break_glass_grants g
                 WHERE g.admin_user_id = ${p.U}::uuid AND g.person_id = p.id::text AND g.expires_at > ${p.T}::timestamptz)) AS break_glass
         FROM people p
         LEFT JOIN device_owners o ON o.device_id = p.device_id::text AND o.owner_user_id = ${p.U}::uuid
         LEFT JOIN caregiver_links l ON l.person_id = p.id::text AND l.user_id = ${p.U}::uuid
        WHERE p.id = ${p.P}::uuid`;
}

/**
 * SQL truth value over an accessSql row aliased `a`: does it grant `permission`? The same rules as
 * accessFromRow (an owner has every permission; an admin with a break-glass grant and no link may only view).
 */
export function permissionSql(permission: Permission): string {
  const linked = '(a.is_owner OR a.can_view_records IS NOT NULL)';
  switch (permission) {
    case 'viewRecords':
      return `(a.is_owner OR a.can_view_records IS TRUE OR (NOT ${linked} AND a.break_glass))`;
    case 'receiveAlerts':
      return '(a.is_owner OR a.can_receive_alerts IS TRUE)';
    case 'manageMedicines':
      return '(a.is_owner OR a.can_manage_medicines IS TRUE)';
    case 'manageCaregivers':
      return 'a.is_owner';
  }
}

/** The caller's access from its row; undefined when the caller has no link to the person (→ 404). */
export function accessFromRow(r: AccessRow): PersonAccess | undefined {
  const permissions = new Set<Permission>();
  if (r.is_owner) for (const p of [...caregiverPermissions, 'manageCaregivers'] as const) permissions.add(p);
  if (r.can_view_records) permissions.add('viewRecords');
  if (r.can_receive_alerts) permissions.add('receiveAlerts');
  if (r.can_manage_medicines) permissions.add('manageMedicines');
  const linked = r.is_owner || r.can_view_records !== null;
  if (!linked && !r.break_glass) return undefined;
  if (!linked && r.break_glass) permissions.add('viewRecords');
  return {
    personId: r.person_id,
    deviceId: r.device_id,
    isOwner: r.is_owner,
    breakGlass: !linked && r.break_glass,
    permissions,
  };
}

/** 404 without any link, 403 without the permission. */
export function requirePermission(
  access: PersonAccess | undefined,
  personId: string,
  permission: Permission,
): PersonAccess {
  if (!access) throw notFound(`person ${personId} not found`);
  if (!access.permissions.has(permission)) {
    throw permissionDenied(`you do not have the ${permission} permission for this person; ask the owner`);
  }
  return access;
}

/**
 * Object-level authorization, checked on every request against the database (so revoking a caregiver
 * takes effect on their next request, on every replica). A person the caller has no link to is reported
 * as not found, never as forbidden, so ids cannot be probed.
 */
export function createAccessControl(opts: { pool: pg.Pool; clock: Clock }) {
  const { pool, clock } = opts;
  const sql = accessSql({ P: '$1', U: '$2', R: '$3', T: '$4' });

  async function lookup(userId: string, role: string, personId: string): Promise<PersonAccess | undefined> {
    const id = normalizePersonId(personId);
    if (!id) return undefined;
    const { rows } = await pool.query<AccessRow>(sql, [id, userId, role, new Date(clock.now())]);
    return rows[0] ? accessFromRow(rows[0]) : undefined;
  }

  return {
    lookup,
    /** The caller's access to `personId` with `permission`: 404 without any link, 403 without that permission. */
    async require(req: FastifyRequest, personId: string, permission: Permission): Promise<PersonAccess> {
      const auth = req.auth!;
      return requirePermission(await lookup(auth.userId, auth.role, personId), personId, permission);
    },
  };
}

export type AccessControl = ReturnType<typeof createAccessControl>;
