import type { Clock } from '../../common/clock.js';
import { isAppError } from '../../common/errors.js';
import type { Db } from '../../device/store/db.js';
import type { MedicationsRepo } from '../../device/store/medications.js';
import {
  type Command,
  type CommandKind,
  checkDeviceSettings,
  commandPayloads,
  type DeviceSettingKey,
  issueFields,
  type MedicinePayload,
  PROTOCOL_VERSION,
} from '../protocol/index.js';
import { readCloudSettings, writeCloudSettings } from './settings.js';

export type CommandResult = { result: 'applied' | 'duplicate' | 'stale' | 'rejected'; detail?: string };

/** What commands change on the device. Each call runs inside the inbox transaction. */
export interface CommandTarget {
  medicineVersion(id: string): { version: number; deleted: boolean } | undefined;
  upsertMedicine(m: MedicinePayload, exists: boolean): void;
  deleteMedicine(id: string): void;
  speak?(text: string, personId?: string): void;
  /** Store effects of new settings (inside the inbox transaction). */
  settingsToStore?(known: Partial<Record<DeviceSettingKey, unknown>>): void;
  /** Runtime effects once the new settings document is committed (its full values). */
  settingsApplied?(values: Record<string, unknown>): void;
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

  /**
   * A settings document is versioned as a whole: an older or equal version changes nothing. Values are
   * merged into what the device holds (`null` removes a key: the device's own configuration applies
   * again). A bad value of a known key rejects the whole command, naming the key and the rule; keys
   * this device does not know (a newer cloud) are kept for a later release and reported as ignored.
   */
  function applySettings(p: { version: number; values: Record<string, unknown> }): CommandResult {
    const check = checkDeviceSettings(p.values);
    if (!check.ok) return { result: 'rejected', detail: check.fields.join('; ') };
    const cur = readCloudSettings(db);
    if (p.version <= cur.version) return { result: 'stale', detail: `device has version ${cur.version}` };
    target.settingsToStore?.(check.known);
    const values = { ...cur.values, ...p.values };
    for (const [k, v] of Object.entries(values)) if (v === null) delete values[k];
    writeCloudSettings(db, clock, { version: p.version, values });
    return {
      result: 'applied',
      detail: check.unknown.length ? `ignored unknown settings: ${check.unknown.join(', ')}` : undefined,
    };
  }

  /** Never throws for bad input (that is answered `rejected`); throws only when the store fails, so the command is re-sent. */
  function apply(raw: Command): CommandResult {
    const seen = inboxGet.get(raw.id) as { result: string | null } | undefined;
    if (seen) return { result: 'duplicate', detail: seen.result ?? undefined };
    let outcome: CommandResult;
    let recorded = false;
    const schema = (commandPayloads as Record<string, (typeof commandPayloads)[CommandKind]>)[raw.kind];
    const parsed = schema?.safeParse(raw.payload);
    // A newer cloud's command (higher major version, unknown kind): refused now but not remembered, so
    // the same command sent again after this device is updated applies.
    if (raw.v > PROTOCOL_VERSION || !schema)
      return {
        result: 'rejected',
        detail: raw.v > PROTOCOL_VERSION ? `unsupported_version ${raw.v}` : `unsupported_kind ${raw.kind}`,
      };
    if (!parsed?.success) outcome = { result: 'rejected', detail: issueFields(parsed!.error).join(', ') };
    else {
      try {
        // The change and its inbox row commit together: a crash in between re-applies nothing.
        outcome = db.transaction((): CommandResult => {
          const done = applyKind(raw.kind as CommandKind, parsed.data as never);
          inboxPut.run(raw.id, raw.kind, clock.now(), done.result);
          return done;
        })();
        recorded = true;
      } catch (err) {
        // A command the device cannot apply (unknown person, bad dates) will not apply on a re-send either.
        if (!isAppError(err) || err.retryable) throw err;
        // A bad argument says which field and rule (e.g. a voice this device does not have).
        outcome = { result: 'rejected', detail: err.code === 'invalid_argument' ? err.message : err.code };
      }
      if (raw.kind === 'settings' && outcome.result === 'applied')
        target.settingsApplied?.(readCloudSettings(db).values);
    }
    if (!recorded) inboxPut.run(raw.id, raw.kind, clock.now(), outcome.result);
    return outcome;
  }

  function applyKind(kind: CommandKind, p: never): CommandResult {
    switch (kind) {
      case 'medicine_upsert':
      case 'medicine_delete':
        return applyMedicine(kind, p);
      case 'settings':
        return applySettings(p);
      case 'speak': {
        const s = p as { text: string; personId?: string };
        target.speak?.(s.text, s.personId);
        return { result: 'applied', detail: target.speak ? undefined : 'no voice attached' };
      }
    }
  }

  return { apply };
}

/** The health store as a command target: medicines through the repository (so the schedule re-plans). */
export function createStoreCommandTarget(deps: {
  db: Db;
  medications: MedicationsRepo;
  speak?: (text: string, personId?: string) => void;
  settings?: Pick<CommandTarget, 'settingsToStore' | 'settingsApplied'>;
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
    ...deps.settings,
  };
}
