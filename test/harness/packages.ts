// Finds the server binaries the harness needs; installs the Debian package when running
// as root, otherwise fails naming the package to install.
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { run } from './process.js';

let aptUpdated = false;

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Absolute path of an executable on PATH (plus the sbin folders), or undefined. */
export function which(command: string, extraDirs: string[] = []): string | undefined {
  if (command.includes('/')) return existsSync(command) ? command : undefined;
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter),
    '/usr/sbin',
    '/usr/local/sbin',
    '/sbin',
    ...extraDirs,
  ];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function aptInstall(packages: string[]): Promise<void> {
  if (!isRoot()) {
    throw new Error(
      `missing Debian package(s) ${packages.join(', ')}: install with: sudo apt-get install -y ${packages.join(' ')}`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lockWait = ['-o', 'DPkg::Lock::Timeout=600'];
  if (!aptUpdated) {
    await run('apt-get', [...lockWait, 'update', '-q'], { env, timeoutMs: 600_000 });
    aptUpdated = true;
  }
  await run('apt-get', [...lockWait, 'install', '-y', '-q', '--no-install-recommends', ...packages], {
    env,
    timeoutMs: 1_200_000,
  });
}

/** Path of `command`, installing Debian package `pkg` first when it is missing. */
export async function ensureCommand(command: string, pkg: string, extraDirs: string[] = []): Promise<string> {
  let path = which(command, extraDirs);
  if (path) return path;
  await aptInstall([pkg]);
  path = which(command, extraDirs);
  if (!path) throw new Error(`Debian package ${pkg} is installed but ${command} is still not found`);
  return path;
}

/** PostgreSQL server binaries live outside PATH on Debian: newest /usr/lib/postgresql/<v>/bin. */
export function postgresBinDirs(): string[] {
  try {
    return readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `/usr/lib/postgresql/${v}/bin`);
  } catch {
    return [];
  }
}

function findPostgresBin(command: string): string | undefined {
  // One version's folder first, so initdb, postgres and pg_isready match.
  for (const dir of postgresBinDirs()) {
    const path = join(dir, command);
    if (existsSync(path)) return path;
  }
  return which(command);
}

export async function ensurePostgresBin(command: string): Promise<string> {
  const found = findPostgresBin(command);
  if (found) return found;
  await aptInstall(['postgresql']);
  const path = findPostgresBin(command);
  if (!path) throw new Error(`Debian package postgresql is installed but ${command} is still not found`);
  return path;
}
