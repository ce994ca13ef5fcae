import { spawn } from 'node:child_process';
import { chownSync, createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { conflict, invalidArgument, unavailable } from '../../common/errors.js';
import { type DeviceConfig, loadDeviceConfig } from '../config.js';
import { backupDeviceDb, listBackups, restoreDeviceDb } from './backup.js';
import { applyUpdate, compareVersions, currentRelease, sha256File, type UpdateDeps } from './update.js';

/** `aide backup|update|doctor|status` entry points; `flags` holds config variables and command options by name. */
export type Flags = Record<string, string | undefined>;

function config(flags: Flags): DeviceConfig {
  return loadDeviceConfig({ flags, file: flags.config });
}

export function consoleUrl(c: DeviceConfig): string {
  const host = ['0.0.0.0', '::', ''].includes(c.AIDE_HOST) ? '127.0.0.1' : c.AIDE_HOST;
  return `http://${host.includes(':') ? `[${host}]` : host}:${c.AIDE_PORT}`;
}

const dbFile = (c: DeviceConfig) => join(resolve(c.AIDE_DATA_DIR), 'aide.db');
const backupDir = (c: DeviceConfig) => c.AIDE_BACKUP_DIR ?? join(resolve(c.AIDE_DATA_DIR), 'backups');

export async function backupCommand(pos: string[], flags: Flags): Promise<void> {
  const c = config(flags);
  const [sub, file] = pos;
  if (sub === 'list') {
    const dir = backupDir(c);
    for (const f of listBackups(dir))
      console.log(`${join(dir, f)}\t${Math.round(statSync(join(dir, f)).size / 1024)} KiB`);
    return;
  }
  if (sub === 'restore') {
    if (!file) throw invalidArgument('aide backup restore: give the backup file (aide backup list)');
    const alive = await fetch(`${consoleUrl(c)}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
      () => true,
      () => false,
    );
    if (alive)
      throw conflict(
        `the agent is running at ${consoleUrl(c)}: stop it first (sudo systemctl stop aide-device), then restore`,
      );
    const r = await restoreDeviceDb({ dbFile: dbFile(c), backupFile: resolve(file) });
    console.log(
      `restored ${file}${r.saved ? `; the replaced store is kept as ${r.saved}` : ''}. Start the agent: sudo systemctl start aide-device`,
    );
    return;
  }
  if (sub !== undefined)
    throw invalidArgument(`aide backup: expected nothing, list or restore <file>, got ${sub}`);
  const keep = flags.keep ? Number(flags.keep) : c.AIDE_BACKUP_KEEP;
  if (!Number.isInteger(keep) || keep < 1)
    throw invalidArgument(`--keep must be a whole number of at least 1, got ${flags.keep}`);
  const r = await backupDeviceDb({ dbFile: dbFile(c), destDir: backupDir(c), keep });
  console.log(
    `backup: ${r.file} (${Math.round(r.bytes / 1024)} KiB); keeping ${r.kept.length}, removed ${r.removed.length}`,
  );
}

/** Runs a child as the owner of the data folder when we are root, so the store never gets root-owned files. */
function dataOwner(c: DeviceConfig): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0 || !existsSync(c.AIDE_DATA_DIR)) return {};
  const st = statSync(c.AIDE_DATA_DIR);
  return st.uid === 0 ? {} : { uid: st.uid, gid: st.gid };
}

function runInherit(
  cmd: string,
  args: string[],
  opts: { uid?: number; gid?: number; shell?: boolean } = {},
): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: 'inherit', ...opts });
    child.on('error', rej);
    child.on('close', (code) =>
      code === 0 ? res() : rej(new Error(`${cmd} ${args.join(' ')} exited ${code}`)),
    );
  });
}

function updateDeps(c: DeviceConfig, flags: Flags): UpdateDeps {
  const owner = dataOwner(c);
  const restartCommand = flags['restart-command'] ?? 'systemctl restart aide-device.service';
  const timeout = Number(flags['ready-timeout'] ?? 90);
  if (!(timeout > 0))
    throw invalidArgument(
      `--ready-timeout must be a number of seconds above 0, got ${flags['ready-timeout']}`,
    );
  return {
    root: resolve(flags.root ?? c.AIDE_INSTALL_ROOT),
    consoleUrl: consoleUrl(c),
    readyTimeoutMs: timeout * 1000,
    say: (line) => console.log(`update: ${line}`),
    migrate: (dir) => runInherit(process.execPath, [join(dir, 'bin', 'aide.js'), 'migrate', 'device'], owner),
    restart: () => runInherit('/bin/sh', ['-c', restartCommand]),
    async backup() {
      if (!existsSync(dbFile(c))) return undefined;
      const r = await backupDeviceDb({
        dbFile: dbFile(c),
        destDir: backupDir(c),
        keep: Math.max(c.AIDE_BACKUP_KEEP, 2),
      });
      if (owner.uid !== undefined) chownSync(r.file, owner.uid, owner.gid as number);
      return r.file;
    },
  };
}

export async function updateCommand(_pos: string[], flags: Flags): Promise<void> {
  const c = config(flags);
  if (flags.check === 'true') return checkForUpdate(c, flags);
  if (!flags.from)
    throw invalidArgument('aide update: --from <release folder or .tar.gz> is required (or --check)');
  const result = await applyUpdate(resolve(flags.from), updateDeps(c, flags));
  if (result.outcome === 'rolled_back') {
    console.error(`update failed: ${result.reason}; now running ${result.version}`);
    process.exitCode = 1;
  }
}

/** Reads the update channel; installs a newer release only when AIDE_UPDATE_AUTO is on. */
async function checkForUpdate(c: DeviceConfig, flags: Flags): Promise<void> {
  const root = resolve(flags.root ?? c.AIDE_INSTALL_ROOT);
  const running = currentRelease(root);
  if (!c.AIDE_UPDATE_URL) {
    console.log(
      `update: running ${running?.version ?? 'unknown'}; no update channel configured (AIDE_UPDATE_URL)`,
    );
    return;
  }
  const res = await fetch(c.AIDE_UPDATE_URL, { signal: AbortSignal.timeout(15_000) }).catch((err) => {
    throw unavailable(`update channel ${c.AIDE_UPDATE_URL} unreachable: ${(err as Error).message}`);
  });
  if (!res.ok) throw unavailable(`update channel ${c.AIDE_UPDATE_URL} answered ${res.status}`);
  const offer = (await res.json()) as { version?: string; url?: string; sha256?: string };
  if (!offer.version || !offer.url || !/^[0-9a-f]{64}$/.test(offer.sha256 ?? '')) {
    throw invalidArgument('update channel: answer must have version, url and a hex sha256');
  }
  if (running && compareVersions(offer.version, running.version) <= 0) {
    console.log(`update: running ${running.version}; channel offers ${offer.version}: up to date`);
    return;
  }
  if (existsSync(join(root, 'releases', offer.version, '.failed'))) {
    console.log(
      `update: ${offer.version} failed here before; not retrying it automatically (aide update --from to force)`,
    );
    return;
  }
  if (!c.AIDE_UPDATE_AUTO) {
    console.log(
      `update: ${offer.version} is available (running ${running?.version ?? 'unknown'}); install with AIDE_UPDATE_AUTO=1 or aide update --from`,
    );
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'aide-update-'));
  try {
    const tarball = join(dir, `aide-${offer.version}.tar.gz`);
    const dl = await fetch(new URL(offer.url, c.AIDE_UPDATE_URL), {
      signal: AbortSignal.timeout(30 * 60_000),
    });
    if (!dl.ok || !dl.body) throw unavailable(`download of ${offer.url} answered ${dl.status}`);
    await pipeline(
      Readable.fromWeb(dl.body as import('node:stream/web').ReadableStream),
      createWriteStream(tarball),
    );
    const sum = await sha256File(tarball);
    if (sum !== offer.sha256)
      throw invalidArgument(
        `download of ${offer.version}: sha256 is ${sum}, the channel says ${offer.sha256}; not installed`,
      );
    const result = await applyUpdate(tarball, updateDeps(c, flags));
    if (result.outcome === 'rolled_back') process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function doctorCommand(_pos: string[], flags: Flags): Promise<void> {
  const { formatChecks, mqttConnect, runCommand, runDoctor } = await import('./doctor.js');
  const c = config(flags);
  const checks = await runDoctor({ config: c, run: runCommand, mqttConnect, consoleUrl: consoleUrl(c) });
  if (flags.json === 'true') console.log(JSON.stringify(checks, null, 2));
  else console.log(formatChecks(checks));
  if (checks.some((x) => x.status === 'fail')) process.exitCode = 1;
}

export async function statusCommand(_pos: string[], flags: Flags): Promise<void> {
  const { collectStatus, formatStatus } = await import('./status.js');
  const c = config(flags);
  const s = await collectStatus(c, consoleUrl(c));
  console.log(flags.json === 'true' ? JSON.stringify(s, null, 2) : formatStatus(s));
  if (s.agent !== 'ready') process.exitCode = 1;
}
