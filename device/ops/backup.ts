import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { invalidArgument, notFound } from '../../common/errors.js';

/** Backup files are named by their UTC time so a plain sort is oldest-to-newest. */
const backupName = /^aide-\d{8}T\d{9}Z\.db$/;

export interface BackupResult {
  file: string;
  bytes: number;
  kept: string[];
  removed: string[];
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:.]/g, '');
}

/**
 * Copies the live store with SQLite's online backup API (the agent keeps writing meanwhile), checks
 * the copy's integrity, makes it a self-contained file (no WAL), publishes it atomically by rename, then
 * keeps only the newest `keep` copies.
 */
export async function backupDeviceDb(opts: {
  dbFile: string;
  destDir: string;
  keep: number;
  now?: Date;
}): Promise<BackupResult> {
  if (!existsSync(opts.dbFile))
    throw notFound(`device store ${opts.dbFile} does not exist: start the agent once or check AIDE_DATA_DIR`);
  mkdirSync(opts.destDir, { recursive: true, mode: 0o700 });
  const file = join(opts.destDir, `aide-${stamp(opts.now ?? new Date())}.db`);
  const partial = `${file}.partial`;
  rmSync(partial, { force: true });

  const source = new Database(opts.dbFile, { fileMustExist: true });
  try {
    source.pragma('busy_timeout = 5000');
    await source.backup(partial);
  } finally {
    source.close();
  }
  const copy = new Database(partial);
  try {
    const check = copy.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new Error(`backup copy failed integrity_check: ${String(check)}`);
    copy.pragma('journal_mode = DELETE');
  } catch (err) {
    copy.close();
    rmSync(partial, { force: true });
    throw err;
  }
  copy.close();
  chmodSync(partial, 0o600); // health records: owner only, whatever the umask
  renameSync(partial, file);
  const { kept, removed } = pruneBackups(opts.destDir, opts.keep);
  return { file, bytes: statSync(file).size, kept, removed };
}

/** Deletes all but the newest `keep` backups; ignores files that are not ours. */
export function pruneBackups(dir: string, keep: number): { kept: string[]; removed: string[] } {
  const all = listBackups(dir);
  const removed = all.slice(0, Math.max(0, all.length - keep));
  for (const f of removed) rmSync(join(dir, f), { force: true });
  return { kept: all.slice(removed.length), removed };
}

/** Backup file names, oldest first. */
export function listBackups(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => backupName.test(f))
    .sort();
}

/**
 * Puts a backup back as the live store. The agent must be stopped (the caller checks). The store
 * being replaced is first copied, WAL included, to aide.db.before-restore-<time> so a restore can
 * itself be undone.
 */
export async function restoreDeviceDb(opts: {
  dbFile: string;
  backupFile: string;
  now?: Date;
}): Promise<{ saved?: string }> {
  if (!existsSync(opts.backupFile))
    throw notFound(`backup ${opts.backupFile} does not exist (aide backup list)`);
  const check = new Database(opts.backupFile, { readonly: true, fileMustExist: true });
  try {
    const ok = check.pragma('integrity_check', { simple: true });
    if (ok !== 'ok')
      throw invalidArgument(
        `backup ${opts.backupFile} failed integrity_check: ${String(ok)}; choose another`,
      );
    if (!check.prepare("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").get()) {
      throw invalidArgument(`${opts.backupFile} is not an Aide store backup (no schema_migrations table)`);
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_NOTADB')
      throw invalidArgument(`${opts.backupFile} is not an SQLite database`);
    throw err;
  } finally {
    check.close();
  }
  let saved: string | undefined;
  if (existsSync(opts.dbFile)) {
    saved = `${opts.dbFile}.before-restore-${stamp(opts.now ?? new Date())}`;
    const live = new Database(opts.dbFile, { fileMustExist: true });
    try {
      await live.backup(saved);
    } finally {
      live.close();
    }
    chmodSync(saved, 0o600);
  }
  const partial = `${opts.dbFile}.partial`;
  copyFileSync(opts.backupFile, partial);
  chmodSync(partial, 0o600);
  for (const f of [opts.dbFile, `${opts.dbFile}-wal`, `${opts.dbFile}-shm`]) rmSync(f, { force: true });
  renameSync(partial, opts.dbFile);
  return { saved };
}
