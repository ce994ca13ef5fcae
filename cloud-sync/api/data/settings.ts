import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import { invalidArgument } from '../../../common/errors.js';
import { type FastifyInstance, type FastifyRequest, parse } from '../../../common/http.js';
import { inTx } from '../../db/tx.js';
import { checkDeviceSettings, deviceSettingKeys, isDeviceSettingKey } from '../../protocol/index.js';
import { auditActor } from '../audit.js';
import type { ApiDeps } from '../deps.js';
import type { SyncStatus } from './medications.js';

/**
 * Speaker settings a caregiver sets from the cloud (`GET`/`PUT`/`PATCH /v1/people/{id}/device-settings`).
 * Like medicines, the device is the system of record: a change is written as a `settings` command into
 * `device_commands` (delivered by sync) and shows as "pending" until the device acknowledges it.
 *
 * Each command carries the cloud's whole document (`{version, values}`) at a version above every one
 * sent before, so a device that missed or re-ordered earlier commands ends at the latest document (an
 * older one arriving late is `stale` and changes nothing). Only keys a caregiver has set travel: a key
 * never set stays the device's own configuration. `PATCH` changes the keys named (`null` hands a key
 * back to the device's configuration); `PUT` replaces the document (keys set before and not named are
 * sent as `null` once). Values are checked with the device's own rules (checkDeviceSettings).
 */

interface SettingsRow {
  role: 'latest' | 'confirmed' | 'live';
  id: string;
  version: number;
  values: Record<string, unknown>;
  acked_at: Date | null;
  result: string | null;
  result_detail: string | null;
  expires_at: Date | null;
}

export interface SettingsDocument {
  version: number;
  values: Record<string, unknown>;
}

const body = z
  .object({
    values: z
      .record(z.string(), z.unknown(), { message: 'must be an object of setting: value' })
      .refine((v) => Object.keys(v).length > 0, 'must name at least one setting'),
  })
  .strict();

/** 400 naming each key and rule; unknown keys are refused here (the cloud knows every key it offers). */
function checked(values: Record<string, unknown>): Record<string, unknown> {
  const details: { field: string; rule: string; message: string }[] = [];
  for (const k of Object.keys(values))
    if (!isDeviceSettingKey(k)) {
      const rule = `is not a speaker setting (${deviceSettingKeys.join(', ')})`;
      details.push({ field: `values.${k}`, rule, message: `values.${k}: ${rule}` });
    }
  const check = checkDeviceSettings(values);
  if (!check.ok)
    for (const f of check.fields) {
      const i = f.indexOf(': ');
      details.push({ field: f.slice(0, i), rule: f.slice(i + 2), message: f });
    }
  if (details.length) throw invalidArgument(details.map((d) => d.message).join('; '), { details });
  return values;
}

const withoutNulls = (values: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null));

const statusOf = (c: SettingsRow, now: number): SyncStatus => {
  if (c.acked_at) return c.result === 'applied' || c.result === 'duplicate' ? 'confirmed' : 'rejected';
  if (c.expires_at && c.expires_at.getTime() <= now) return 'expired';
  return 'pending';
};

// The newest command (its status is what the caregiver sees), the newest the device applied, and the
// newest still standing (applied or on its way: the base of the next change); plus the highest version
// sent or reported by the device (a `stale` answer says "device has version N").
const STATE_SQL = `
  WITH c AS (SELECT id, (payload->>'version')::int AS version, payload->'values' AS values, created_at,
                    acked_at, result, result_detail, expires_at
               FROM device_commands WHERE device_id = $1 AND kind = 'settings')
  (SELECT 'latest' AS role, * FROM c ORDER BY version DESC, created_at DESC LIMIT 1)
  UNION ALL
  (SELECT 'confirmed', * FROM c WHERE result IN ('applied', 'duplicate') ORDER BY version DESC, created_at DESC LIMIT 1)
  UNION ALL
  (SELECT 'live', * FROM c WHERE result IN ('applied', 'duplicate')
      OR (acked_at IS NULL AND (expires_at IS NULL OR expires_at > $2))
    ORDER BY version DESC, created_at DESC LIMIT 1)`;
const MAX_SQL = `
  SELECT greatest(max((payload->>'version')::int),
                  max((substring(result_detail from 'device has version ([0-9]+)'))::int)) AS max
    FROM device_commands WHERE device_id = $1 AND kind = 'settings'`;

export function createDeviceSettings(deps: Pick<ApiDeps, 'pool' | 'clock' | 'audit'>) {
  const { pool, clock, audit } = deps;

  async function state(db: pg.Pool | pg.PoolClient, deviceId: string) {
    const now = clock.now();
    const { rows } = await db.query<SettingsRow>(STATE_SQL, [deviceId, new Date(now)]);
    const by = (role: SettingsRow['role']) => rows.find((r) => r.role === role);
    const latest = by('latest');
    const confirmed = by('confirmed');
    const live = by('live');
    return {
      /** What the speaker will use once everything sent has arrived (keys not named: its own configuration). */
      version: live?.version ?? 0,
      values: live ? withoutNulls(live.values) : {},
      /** What the speaker has acknowledged. */
      confirmed: confirmed ? { version: confirmed.version, values: withoutNulls(confirmed.values) } : null,
      sync: latest
        ? {
            status: statusOf(latest, now),
            commandId: latest.id,
            version: latest.version,
            detail: latest.result_detail,
          }
        : { status: 'confirmed' as SyncStatus, commandId: null, version: 0, detail: null },
      keys: deviceSettingKeys,
    };
  }

  async function change(
    actor: { userId: string; role: string },
    personId: string,
    deviceId: string,
    mode: 'put' | 'patch',
    values: Record<string, unknown>,
  ) {
    return inTx(pool, async (client) => {
      // One writer per device at a time: versions strictly increase and each change builds on the last.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`device-settings:${deviceId}`]);
      const cur = await state(client, deviceId);
      const { rows } = await client.query<{ max: number | null }>(MAX_SQL, [deviceId]);
      const version = (rows[0]?.max ?? 0) + 1;
      const doc: SettingsDocument = {
        version,
        values:
          mode === 'patch'
            ? { ...cur.values, ...values }
            : {
                ...Object.fromEntries(Object.keys(cur.values).map((k) => [k, null])),
                ...values,
              },
      };
      const commandId = randomUUID();
      await client.query(
        'INSERT INTO device_commands (id, device_id, kind, payload, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)',
        [commandId, deviceId, 'settings', JSON.stringify(doc), new Date(clock.now()), actor.userId],
      );
      await audit.appendInTx(client, [
        {
          ...auditActor(actor),
          action: 'update',
          personId,
          resource: 'device_settings',
          resourceId: deviceId,
          // Which settings, never their values.
          detail: { commandId, version, keys: Object.keys(values) },
        },
      ]);
      return {
        ...cur,
        version,
        values: withoutNulls(doc.values),
        sync: { status: 'pending' as SyncStatus, commandId, version, detail: null },
      };
    });
  }

  return { state, change };
}

const personParams = z.object({ id: z.string().min(1).max(100) });

export function registerDeviceSettingsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { access, audit, requireUser } = deps;
  const guard = { preHandler: requireUser };
  const settings = createDeviceSettings(deps);

  app.get('/v1/people/:id/device-settings', guard, async (req) => {
    const { id } = parse(personParams, req.params, 'params');
    const a = await access.require(req, id, 'viewRecords');
    const deviceSettings = await settings.state(deps.pool, a.deviceId);
    await audit.recordRead({
      ...auditActor(req.auth!),
      action: 'read',
      personId: a.personId,
      resource: 'device_settings',
      resourceId: a.deviceId,
      breakGlass: a.breakGlass,
      detail: { version: deviceSettings.version },
    });
    return { deviceSettings };
  });

  // Owner, or a caregiver allowed to change medicines (settings travel down the same way): 403 without
  // the permission, 404 for a person the caller has no link to.
  const write = (mode: 'put' | 'patch') => async (req: FastifyRequest, reply: { code(n: number): void }) => {
    const { values } = parse(body, req.body);
    checked(values);
    const { id } = parse(personParams, req.params, 'params');
    const a = await access.require(req, id, 'manageMedicines');
    reply.code(202);
    const actor = { userId: req.auth!.userId, role: req.auth!.role };
    return { deviceSettings: await settings.change(actor, a.personId, a.deviceId, mode, values) };
  };
  app.put('/v1/people/:id/device-settings', guard, write('put'));
  app.patch('/v1/people/:id/device-settings', guard, write('patch'));
}
