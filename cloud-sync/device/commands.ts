import type { Clock } from '../../common/clock.js';
import { isAppError } from '../../common/errors.js';
import type { Db } from '../../device/store/db.js';
import type { MedicationsRepo } from '../../device/store/medications.js';
import { getSetting, setSetting } from '../../device/store/settings.js';
import {
  type Command,
  type CommandKind,
  commandPayloads,
  issueFields,
  type MedicinePayload,
  PROTOCOL_VERSION,
} from '../protocol/index.js';

export type CommandResult = { result: 'applied' | 'duplicate' | 'stale' | 'rejected'; detail?: string };

/** What commands change on the device. Each call runs inside the inbox transaction. */
export interface CommandTarget {
  medicineVersion(id: string): { version: number; deleted: boolean } | undefined;
  upsertMedicine(m: MedicinePayload, exists: boolean): void;
  deleteMedicine(id: string): void;
  speak?(text: string, personId?: string): void;
}

/**
 * Applies downstream commands exactly once (the inbox table, keyed by command id, is written in the
 * same transaction as the change) and by version: a command whose version is not newer than what the
 * device holds (its own edits or an earlier command) is recorded as `stale` and changes nothing.
 */
export function createCommandApplier(deps: { db: Db; clock: Clock; target: CommandTarget }) {
  const { db, clock, target } = deps;
  const inboxGet = db.prepare('SELECT result FROM inbox WHERE message_id = ?');
  const inboxPut = db.prepare('INSERT INTO inbox (message_id, kind, applied_at, result) VALUES (?, ?, ?, ?)');
  const versionGet = db.prepare(
    'SELECT version FROM sync_command_versions WHERE entity = ? AND entity_id = ?',
  );
  const versionPut = db.prepare(
    `INSERT INTO sync_command_versions (entity, entity_id, version, applied_at) VALUES (?, ?, ?, ?)
     ON CONFLICT(entity, entity_id) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at`,
  );

  const lastCommandVersion = (entity: string, id: string) =>
    (versionGet.get(entity, id) as { version: number } | undefined)?.version ?? 0;

  function applyMedicine(kind: 'medicine_upsert' | 'medicine_delete', m: MedicinePayload): CommandResult {
    const local = target.medicineVersion(m.id);
    const newestKnown = Math.max(local?.version ?? 0, lastCommandVersion('medicine', m.id));
    if (m.version <= newestKnown) return { result: 'stale', detail: `device has version ${newestKnown}` };
    if (kind === 'medicine_delete' || m.deleted) {
      if (local && !local.deleted) target.deleteMedicine(m.id);
    } else {
      if (local?.deleted) return { result: 'stale', detail: 'deleted on the device' };
      target.upsertMedicine(m, local !== undefined);
    }
    versionPut.run('medicine', m.id, m.version, clock.now());
    return { result: 'applied' };
  }

  function applySettings(p: { version: number; values: Record<string, unknown> }): CommandResult {
    const cur = JSON.parse(getSetting(db, 'cloud_settings') ?? '{"version":0,"values":{}}') as {
      version: number;
      values: Record<string, unknown>;
    };
    if (p.version <= cur.version) return { result: 'stale', detail: `device has version ${cur.version}` };
    setSetting(
      db,
      clock,
      'cloud_settings',
      JSON.stringify({ version: p.version, values: { ...cur.values, ...p.values } }),
    );
    return { result: 'applied' };
  }

  /** Never throws for bad input (that is answered `rejected`); throws only when the store fails, so the command is re-sent. */
  function apply(raw: Command): CommandResult {
    const seen = inboxGet.get(raw.id) as { result: string | null } | undefined;
    if (seen) return { result: 'duplicate', detail: seen.result ?? undefined };
    let outcome: CommandResult;
    const schema = (commandPayloads as Record<string, (typeof commandPayloads)[CommandKind]>)[raw.kind];
    const parsed = schema?.safeParse(raw.payload);
    if (raw.v > PROTOCOL_VERSION || !schema)
      outcome = {
        result: 'rejected',
        detail: `unsupported ${raw.v > PROTOCOL_VERSION ? 'version' : 'kind'}`,
      };
    else if (!parsed?.success)
      outcome = { result: 'rejected', detail: issueFields(parsed!.error).join(', ') };
    else {
      try {
        outcome = db.transaction((): CommandResult => {
          const p = parsed.data as never;
          switch (raw.kind as CommandKind) {
            case 'medicine_upsert':
            case 'medicine_delete':
              return applyMedicine(raw.kind as 'medicine_upsert', p);
            case 'settings':
              return applySettings(p);
            case 'speak': {
              const s = p as { text: string; personId?: string };
              target.speak?.(s.text, s.personId);
              return { result: 'applied', detail: target.speak ? undefined : 'no voice attached' };
            }
          }
        })();
      } catch (err) {
        // A command the device cannot apply (unknown person, bad dates) will not apply on a re-send either.
        if (!isAppError(err) || err.retryable) throw err;
        outcome = { result: 'rejected', detail: err.code };
      }
    }
    inboxPut.run(raw.id, raw.kind, clock.now(), outcome.result);
    return outcome;
  }

  return { apply };
}

/** The health store as a command target: medicines through the repository (so the schedule re-plans). */
export function createStoreCommandTarget(deps: {
  db: Db;
  medications: MedicationsRepo;
  speak?: (text: string, personId?: string) => void;
}): CommandTarget {
  const { db, medications } = deps;
  const versionOf = db.prepare('SELECT version, deleted FROM medications WHERE id = ?');
  return {
    medicineVersion(id) {
      const r = versionOf.get(id) as { version: number; deleted: number } | undefined;
      return r ? { version: r.version, deleted: r.deleted === 1 } : undefined;
    },
    upsertMedicine(m, exists) {
      const fields = {
        name: m.name,
        dose: m.dose,
        form: m.form,
        instructions: m.instructions,
        times: m.times,
        days: m.days,
        startDate: m.startDate,
        endDate: m.endDate,
        active: m.active,
      };
      if (exists) medications.update(m.id, { ...fields, endDate: m.endDate ?? null, days: m.days ?? [] });
      else medications.create({ personId: m.personId, ...fields }, { id: m.id });
    },
    deleteMedicine: (id) => void medications.remove(id),
    speak: deps.speak,
  };
}
