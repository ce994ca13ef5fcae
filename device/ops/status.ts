import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { DeviceConfig } from '../config.js';
import { listBackups } from './backup.js';
import { currentRelease } from './update.js';

export interface DeviceStatus {
  console: string;
  agent: 'ready' | 'not ready' | 'not running';
  deviceId?: string;
  release?: string;
  sync?: string;
  outboxSize?: number;
  /** When the latest reminder was spoken and where it stands (taken, snoozed, alerted…); no medicine names. */
  lastReminder?: { at: string; status: string };
  engines: { name: string; ready: boolean; detail?: string }[];
  lastBackup?: { file: string; at: string };
}

interface ApiStatus {
  deviceId?: string;
  sync?: string;
  outboxSize?: number;
  lastReminder?: { at: string; status: string };
  readiness?: { ready: boolean; subsystems: Record<string, { ready: boolean; detail?: string }> };
}

/**
 * Asks the running agent (console /api/status and /readyz) and, when it is down, reads the store
 * directly (read-only) so the sync backlog is visible either way.
 */
export async function collectStatus(c: DeviceConfig, consoleUrl: string): Promise<DeviceStatus> {
  const status: DeviceStatus = { console: consoleUrl, agent: 'not running', engines: [] };
  status.release = currentRelease(c.AIDE_INSTALL_ROOT)?.version;
  try {
    const api = (await (
      await fetch(`${consoleUrl}/api/status`, { signal: AbortSignal.timeout(3000) })
    ).json()) as ApiStatus;
    const ready = await fetch(`${consoleUrl}/readyz`, { signal: AbortSignal.timeout(3000) });
    status.agent = ready.ok ? 'ready' : 'not ready';
    status.deviceId = api.deviceId;
    status.sync = api.sync;
    status.outboxSize = api.outboxSize;
    status.lastReminder = api.lastReminder;
    status.engines = Object.entries(api.readiness?.subsystems ?? {}).map(([name, s]) => ({
      name,
      ready: s.ready,
      detail: s.detail,
    }));
  } catch {
    // not running: fall through to the store
  }
  const dbFile = join(resolve(c.AIDE_DATA_DIR), 'aide.db');
  if (existsSync(dbFile) && (status.outboxSize === undefined || !status.lastReminder)) {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const has = (t: string) =>
        !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t);
      if (status.outboxSize === undefined && has('outbox'))
        status.outboxSize = (db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
      if (!status.lastReminder && has('reminder_state')) {
        const row = db
          .prepare(
            'SELECT last_announced_at AS at, stage, outcome FROM reminder_state WHERE last_announced_at IS NOT NULL ORDER BY last_announced_at DESC LIMIT 1',
          )
          .get() as { at: number; stage: string; outcome: string | null } | undefined;
        if (row)
          status.lastReminder = { at: new Date(row.at).toISOString(), status: row.outcome ?? row.stage };
      }
    } finally {
      db.close();
    }
  }
  const backups = c.AIDE_BACKUP_DIR ?? join(resolve(c.AIDE_DATA_DIR), 'backups');
  const newest = listBackups(backups).at(-1);
  if (newest)
    status.lastBackup = {
      file: join(backups, newest),
      at: statSync(join(backups, newest)).mtime.toISOString(),
    };
  return status;
}

export function formatStatus(s: DeviceStatus): string {
  const engines = s.engines.length
    ? s.engines
        .map((e) => `${e.name} ${e.ready ? 'ok' : 'NOT READY'}${e.detail ? ` (${e.detail})` : ''}`)
        .join('; ')
    : 'unknown (agent not answering)';
  return [
    `agent:         ${s.agent} at ${s.console}${s.deviceId ? ` (device ${s.deviceId})` : ''}`,
    `release:       ${s.release ?? 'not installed under AIDE_INSTALL_ROOT'}`,
    `sync:          ${s.sync ?? 'unknown'}; backlog ${s.outboxSize ?? '?'} message(s) waiting for the cloud`,
    `last reminder: ${s.lastReminder ? `${s.lastReminder.at} (${s.lastReminder.status})` : 'none yet'}`,
    `engines:       ${engines}`,
    `last backup:   ${s.lastBackup ? `${s.lastBackup.at} ${s.lastBackup.file}` : 'none yet'}`,
  ].join('\n');
}
