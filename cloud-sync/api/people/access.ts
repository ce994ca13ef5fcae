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

interface AccessRow {
  person_id: string;
  device_id: string;
  is_owner: boolean;
  can_view_records: boolean | null;
  can_receive_alerts: boolean | null;
  can_manage_medicines: boolean | null;
  break_glass: boolean;
}

/**
 * Object-level authorization, checked on every request against the database (so revoking a caregiver
 * takes effect on their next request). A person the caller has no link to is reported as not found,
 * never as forbidden, so ids cannot be probed.
 */
export function createAccessControl(opts: { pool: pg.Pool; clock: Clock }) {
  const { pool, clock } = opts;

  async function lookup(userId: string, role: string, personId: string): Promise<PersonAccess | undefined> {
    if (!UUID.test(personId)) return undefined;
    const { rows } = await pool.query<AccessRow>(
      `SELECT p.id::text AS person_id, p.device_id::text AS device_id,
              (o.owner_user_id IS NOT NULL) AS is_owner,
              l.can_view_records, l.can_receive_alerts, l.can_manage_medicines,
              ($3 = 'admin' AND EXISTS (SELECT 1 FROM break_glass_grants g
                 WHERE g.admin_user_id = $2 AND g.person_id = p.id::text AND g.expires_at > $4)) AS break_glass
         FROM people p
         LEFT JOIN device_owners o ON o.device_id = p.device_id::text AND o.owner_user_id = $2
         LEFT JOIN caregiver_links l ON l.person_id = p.id::text AND l.user_id = $2
        WHERE p.id = $1::uuid`,
      [personId, userId, role, new Date(clock.now())],
    );
    const r = rows[0];
    if (!r) return undefined;
    const permissions = new Set<Permission>();
    if (r.is_owner)
      for (const p of [...caregiverPermissions, 'manageCaregivers'] as const) permissions.add(p);
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

  return {
    lookup,
    /** The caller's access to `personId` with `permission`: 404 without any link, 403 without that permission. */
    async require(req: FastifyRequest, personId: string, permission: Permission): Promise<PersonAccess> {
      const auth = req.auth!;
      const access = await lookup(auth.userId, auth.role, personId);
      if (!access) throw notFound(`person ${personId} not found`);
      if (!access.permissions.has(permission)) {
        throw permissionDenied(`you do not have the ${permission} permission for this person; ask the owner`);
      }
      return access;
    },
  };
}

export type AccessControl = ReturnType<typeof createAccessControl>;
