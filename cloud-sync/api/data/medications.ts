import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import type { Clock } from '../../../common/clock.js';
import { notFound } from '../../../common/errors.js';
import { inTx } from '../../db/tx.js';
import type { MedicinePayload } from '../../protocol/index.js';
import { type AuditLog, auditActor } from '../audit.js';

// Caregivers change medicines on the device, which is the system of record: a change is written as a
// device command (device_commands, delivered by sync) and shows as "pending" until the device acknowledges.

const time = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time like 08:00');
const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date like 2026-03-01');
const day = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
const fields = {
  name: z.string().trim().min(1, 'is required').max(100, 'must be at most 100 characters'),
  dose: z.string().trim().max(100).optional(),
  form: z.string().trim().max(50).optional(),
  instructions: z.string().trim().max(500).optional(),
  times: z.array(time).min(1, 'needs at least one time').max(12, 'at most 12 times a day'),
  days: z.array(day).min(1).max(7).optional(),
  startDate: date.optional(),
  endDate: date.optional(),
  active: z.boolean().optional(),
};
export const medicationCreate = z.object(fields).strict();
export const medicationPatch = z
  .object(fields)
  .partial()
  .strict()
  .refine((v) => Object.keys(v).length > 0, 'must change at least one field');

export type SyncStatus = 'pending' | 'confirmed' | 'rejected' | 'expired';

interface CommandRow {
  id: string;
  kind: string;
  payload: MedicinePayload;
  created_at: Date;
  acked_at: Date | null;
  result: string | null;
  result_detail: string | null;
  expires_at: Date | null;
}

interface MedicineRow {
  id: string;
  name: string;
  dose: string | null;
  form: string | null;
  instructions: string | null;
  times: string[];
  /** Written from validated input (the payload's weekday names). */
  days: NonNullable<MedicinePayload['days']> | null;
  start_date: string;
  end_date: string | null;
  active: boolean;
  deleted: boolean;
  version: number;
  updated_at: Date;
}

const commandStatus = (c: CommandRow, now: number): SyncStatus => {
  if (c.acked_at) return c.result === 'applied' || c.result === 'duplicate' ? 'confirmed' : 'rejected';
  if (c.expires_at && c.expires_at.getTime() <= now) return 'expired';
  return 'pending';
};

const fromRow = (personId: string, r: MedicineRow): MedicinePayload => ({
  id: r.id,
  personId,
  name: r.name,
  ...(r.dose ? { dose: r.dose } : {}),
  ...(r.form ? { form: r.form } : {}),
  ...(r.instructions ? { instructions: r.instructions } : {}),
  times: r.times,
  ...(r.days ? { days: r.days } : {}),
  startDate: r.start_date,
  ...(r.end_date ? { endDate: r.end_date } : {}),
  active: r.active,
  version: r.version,
  updatedAt: r.updated_at.toISOString(),
  ...(r.deleted ? { deleted: true } : {}),
});

export function createMedications(opts: { pool: pg.Pool; clock: Clock; audit: AuditLog }) {
  const { pool, clock, audit } = opts;

  async function state(db: pg.Pool | pg.PoolClient, personId: string, medId?: string) {
    const meds = await db.query<MedicineRow>(
      `SELECT id, name, dose, form, instructions, times, days, to_char(start_date, 'YYYY-MM-DD') AS start_date,
              to_char(end_date, 'YYYY-MM-DD') AS end_date, active, deleted, version, updated_at
         FROM medicines WHERE person_id = $1 AND ($2::uuid IS NULL OR id = $2)`,
      [personId, medId ?? null],
    );
    // The latest medicine command per medicine id for this person.
    const cmds = await db.query<CommandRow>(
      `SELECT DISTINCT ON (payload->>'id') id, kind, payload, created_at, acked_at, result, result_detail, expires_at
         FROM device_commands
        WHERE kind IN ('medicine_upsert', 'medicine_delete') AND payload->>'personId' = $1 AND ($2::text IS NULL OR payload->>'id' = $2)
        ORDER BY payload->>'id', created_at DESC`,
      [personId, medId ?? null],
    );
    const now = clock.now();
    const out = new Map<
      string,
      {
        medicine: MedicinePayload;
        sync: { status: SyncStatus; commandId: string | null; detail: string | null };
      }
    >();
    for (const r of meds.rows)
      out.set(r.id, {
        medicine: fromRow(personId, r),
        sync: { status: 'confirmed', commandId: null, detail: null },
      });
    for (const c of cmds.rows) {
      const stored = out.get(c.payload.id);
      const status = commandStatus(c, now);
      // Newer than what the device has reported: show the intended state and its command's status.
      if (!stored || c.payload.version > stored.medicine.version) {
        out.set(c.payload.id, {
          medicine: c.payload,
          sync: { status, commandId: c.id, detail: c.result_detail },
        });
      } else if (c.payload.version === stored.medicine.version) {
        stored.sync = {
          status: status === 'pending' ? 'confirmed' : status,
          commandId: c.id,
          detail: c.result_detail,
        };
      }
    }
    return out;
  }

  async function writeCommand(
    client: pg.PoolClient,
    deviceId: string,
    userId: string,
    kind: 'medicine_upsert' | 'medicine_delete',
    payload: MedicinePayload,
  ) {
    const id = randomUUID();
    await client.query(
      'INSERT INTO device_commands (id, device_id, kind, payload, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)',
      [id, deviceId, kind, JSON.stringify(payload), new Date(clock.now()), userId],
    );
    return id;
  }

  const view = (e: {
    medicine: MedicinePayload;
    sync: { status: SyncStatus; commandId: string | null; detail: string | null };
  }) => ({ ...e.medicine, sync: e.sync });

  return {
    async list(personId: string, includeDeleted = false) {
      const all = [...(await state(pool, personId)).values()];
      return all
        .filter((e) => includeDeleted || !e.medicine.deleted || e.sync.status === 'pending')
        .map(view);
    },

    async create(a: Actor, personId: string, deviceId: string, body: z.infer<typeof medicationCreate>) {
      const today = new Date(clock.now()).toISOString().slice(0, 10);
      const payload: MedicinePayload = {
        id: randomUUID(),
        personId,
        startDate: today,
        active: true,
        ...body,
        version: 1,
        updatedAt: new Date(clock.now()).toISOString(),
      };
      const commandId = await inTx(pool, async (client) => {
        const id = await writeCommand(client, deviceId, a.userId, 'medicine_upsert', payload);
        await audit.appendInTx(client, [
          {
            ...auditActor(a),
            action: 'create',
            personId,
            resource: 'medication',
            resourceId: payload.id,
            detail: { commandId: id },
          },
        ]);
        return id;
      });
      return { ...payload, sync: { status: 'pending' as SyncStatus, commandId, detail: null } };
    },

    async change(
      a: Actor,
      personId: string,
      deviceId: string,
      medId: string,
      patch: Partial<z.infer<typeof medicationCreate>> | 'delete',
    ) {
      return inTx(pool, async (client) => {
        // Serialize concurrent edits of one medicine so versions stay strictly increasing.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`medicine:${medId}`]);
        const current = (await state(client, personId, medId)).get(medId);
        if (!current || (current.medicine.deleted && current.sync.status !== 'rejected'))
          throw notFound(`medication ${medId} not found`);
        const base = current.medicine;
        const payload: MedicinePayload =
          patch === 'delete'
            ? {
                ...base,
                deleted: true,
                version: base.version + 1,
                updatedAt: new Date(clock.now()).toISOString(),
              }
            : {
                ...base,
                ...patch,
                version: base.version + 1,
                updatedAt: new Date(clock.now()).toISOString(),
              };
        const kind = patch === 'delete' ? 'medicine_delete' : 'medicine_upsert';
        const commandId = await writeCommand(client, deviceId, a.userId, kind, payload);
        await audit.appendInTx(client, [
          {
            ...auditActor(a),
            action: patch === 'delete' ? 'delete' : 'update',
            personId,
            resource: 'medication',
            resourceId: medId,
            detail: { commandId, fields: patch === 'delete' ? [] : Object.keys(patch) },
          },
        ]);
        return { ...payload, sync: { status: 'pending' as SyncStatus, commandId, detail: null } };
      });
    },
  };
}

export interface Actor {
  userId: string;
  role: string;
}

export type Medications = ReturnType<typeof createMedications>;
