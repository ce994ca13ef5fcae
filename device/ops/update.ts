import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, relative } from 'node:path';
import { invalidArgument, unavailable } from '../../common/errors.js';

/**
 * Side-by-side releases: <root>/releases/<version>/ each hold a whole Aide (code + production
 * node_modules); <root>/current is a symlink to the running one and <root>/previous to the one
 * before. Switching is one atomic rename of a symlink, so a power cut leaves either version.
 */
export interface UpdateDeps {
  root: string;
  /** Runs the new release's migrations (as the data folder's owner). Rejects on failure. */
  migrate(releaseDir: string): Promise<void>;
  /** Restarts the agent so it runs from <root>/current (systemctl restart, or a test supervisor). */
  restart(): Promise<void>;
  /** The agent's console, e.g. http://127.0.0.1:8080 (readiness is <url>/readyz). */
  consoleUrl: string;
  readyTimeoutMs: number;
  /** Called before migrating: a store backup to return to by hand if the new schema is ever wrong. */
  backup?(): Promise<string | undefined>;
  say(line: string): void;
  /** How many releases to keep on disk (current and previous are always kept). */
  keepReleases?: number;
}

export interface UpdateResult {
  outcome: 'updated' | 'rolled_back' | 'unchanged';
  version: string;
  previous?: string;
  reason?: string;
}

const versionPattern = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/;

export function currentRelease(root: string): { version: string; dir: string } | undefined {
  const link = join(root, 'current');
  if (!existsSync(link)) return undefined;
  const dir = realpathSync(link);
  return { version: basename(dir), dir };
}

/** Installs `from` (a release folder or .tar.gz) beside the running release and switches to it if it becomes ready. */
export async function applyUpdate(from: string, deps: UpdateDeps): Promise<UpdateResult> {
  const releases = join(deps.root, 'releases');
  mkdirSync(releases, { recursive: true, mode: 0o755 });
  const staging = await stageRelease(from, releases);
  let version: string;
  try {
    version = readVersion(staging);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  const before = currentRelease(deps.root);
  const target = join(releases, version);
  if (before?.version === version) {
    // Never replace the folder the agent runs from; a rebuilt release needs a new version.
    rmSync(staging, { recursive: true, force: true });
    deps.say(`already running ${version}; nothing to do`);
    return { outcome: 'unchanged', version };
  }
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  rmSync(join(target, '.failed'), { force: true });
  deps.say(`installed ${version} in ${target}`);

  if (deps.backup) {
    const file = await deps.backup();
    if (file) deps.say(`store backed up to ${file}`);
  }
  try {
    await deps.migrate(target);
  } catch (err) {
    writeFileSync(join(target, '.failed'), `migrations failed: ${(err as Error).message}\n`);
    throw unavailable(
      `migrations of ${version} failed, still running ${before?.version ?? 'nothing'}: ${(err as Error).message}`,
    );
  }
  deps.say(`migrations of ${version} applied`);

  switchTo(deps.root, target, before?.dir);
  deps.say(`switched current → ${version}; restarting`);
  const restartedAt = Date.now();
  await deps.restart();
  const ready = await waitForNewProcessReady(deps.consoleUrl, restartedAt, deps.readyTimeoutMs);
  if (ready.ok) {
    deps.say(`${version} is ready`);
    pruneReleases(deps.root, deps.keepReleases ?? 3);
    return { outcome: 'updated', version, previous: before?.version };
  }

  const reason = `${version} did not become ready within ${Math.round(deps.readyTimeoutMs / 1000)} s (${ready.reason})`;
  writeFileSync(join(target, '.failed'), `${reason}\n`);
  if (!before) throw unavailable(`${reason}; there is no previous release to roll back to`);
  deps.say(`${reason}; rolling back to ${before.version}`);
  switchTo(deps.root, before.dir, undefined);
  const again = Date.now();
  await deps.restart();
  const back = await waitForNewProcessReady(deps.consoleUrl, again, deps.readyTimeoutMs);
  deps.say(
    back.ok
      ? `rolled back: ${before.version} is ready`
      : `rolled back to ${before.version} but it is not ready either (${back.reason})`,
  );
  return { outcome: 'rolled_back', version: before.version, previous: version, reason };
}

/** Copies a folder (or unpacks a .tar.gz) into a fresh staging folder under `releases`. */
async function stageRelease(from: string, releases: string): Promise<string> {
  if (!existsSync(from)) throw invalidArgument(`--from: ${from} does not exist`);
  const isDir = statSync(from).isDirectory();
  if (!isDir && !/\.(tar\.gz|tgz)$/.test(from))
    throw invalidArgument(`--from: must be a release folder or a .tar.gz, got ${from}`);
  const staging = mkdtempSync(join(releases, '.staging-'));
  try {
    if (isDir) {
      const skip = new Set(['.git', 'data', 'coverage']);
      cpSync(from, staging, {
        recursive: true,
        verbatimSymlinks: true,
        filter: (src) => !skip.has(relative(from, src).split('/')[0]),
      });
    } else {
      await run('tar', ['-xzf', from, '-C', staging]);
      // Release tarballs usually hold one top folder (aide-0.2.0/); lift its contents up.
      const entries = readdirSync(staging);
      if (entries.length === 1 && statSync(join(staging, entries[0])).isDirectory()) {
        const top = join(staging, entries[0]);
        for (const e of readdirSync(top)) renameSync(join(top, e), join(staging, e));
        rmSync(top, { recursive: true });
      }
    }
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return staging;
}

function readVersion(dir: string): string {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) throw invalidArgument('--from: the release has no package.json at its top');
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
  if (pkg.name !== 'aide')
    throw invalidArgument(`--from: package.json name must be "aide", got ${JSON.stringify(pkg.name)}`);
  if (!pkg.version || !versionPattern.test(pkg.version)) {
    throw invalidArgument(
      `--from: package.json version must look like 1.2.3, got ${JSON.stringify(pkg.version)}`,
    );
  }
  if (!existsSync(join(dir, 'bin', 'aide.js')))
    throw invalidArgument('--from: the release has no bin/aide.js');
  return pkg.version;
}

/** Atomically points <root>/current at `target` (and <root>/previous at what it replaced). */
export function switchTo(root: string, target: string, previousDir: string | undefined): void {
  const rel = relative(root, target);
  const tmp = join(root, `.current-${process.pid}`);
  rmSync(tmp, { force: true });
  symlinkSync(rel, tmp);
  renameSync(tmp, join(root, 'current'));
  if (previousDir) {
    const ptmp = join(root, `.previous-${process.pid}`);
    rmSync(ptmp, { force: true });
    symlinkSync(relative(root, previousDir), ptmp);
    renameSync(ptmp, join(root, 'previous'));
  }
}

function pruneReleases(root: string, keep: number): void {
  const releases = join(root, 'releases');
  const pinned = new Set(
    ['current', 'previous'].map((l) => existsSync(join(root, l)) && realpathSync(join(root, l))),
  );
  const dirs = readdirSync(releases)
    .filter((d) => !d.startsWith('.'))
    .map((d) => ({ d, dir: join(releases, d), mtime: statSync(join(releases, d)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  let kept = 0;
  for (const r of dirs) {
    if (pinned.has(realpathSync(r.dir)) || kept < keep) {
      kept++;
      continue;
    }
    rmSync(r.dir, { recursive: true, force: true });
  }
}

/**
 * Ready means /readyz answers 200 from a process that started after the restart (its /healthz
 * uptime is younger than the restart), and stays ready for a short settle time, so neither the old
 * process still answering nor a new one that crashes right after start counts.
 */
export async function waitForNewProcessReady(
  consoleUrl: string,
  restartedAtMs: number,
  timeoutMs: number,
  settleMs = 2000,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const deadline = Date.now() + timeoutMs;
  let reason = 'no answer';
  let readySince: number | undefined;
  while (Date.now() < deadline) {
    try {
      const health = (await (
        await fetch(`${consoleUrl}/healthz`, { signal: AbortSignal.timeout(2000) })
      ).json()) as {
        uptimeSeconds?: number;
      };
      const startedAt = Date.now() - (health.uptimeSeconds ?? Number.POSITIVE_INFINITY) * 1000;
      if (startedAt < restartedAtMs - 1500) {
        reason = 'the old process is still answering';
        readySince = undefined;
      } else {
        const res = await fetch(`${consoleUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) {
          readySince ??= Date.now();
          if (Date.now() - readySince >= settleMs) return { ok: true };
        } else {
          const body = (await res.json().catch(() => ({}))) as { notReady?: string[] };
          reason = `/readyz answered ${res.status}${body.notReady ? ` (not ready: ${body.notReady.join(', ')})` : ''}`;
          readySince = undefined;
        }
      }
    } catch (err) {
      reason = `console not answering (${(err as Error).cause ? String((err as Error).cause) : (err as Error).message})`;
      readySince = undefined;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { ok: false, reason };
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (b) => hash.update(b))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Orders versions like 1.2.10 > 1.2.9; a pre-release sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core, pre] = v.split(/[-+]/, 2);
    return { nums: core.split('.').map(Number), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++)
    if ((x.nums[i] ?? 0) !== (y.nums[i] ?? 0)) return (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
  if (x.pre === y.pre) return 0;
  if (!x.pre) return 1;
  if (!y.pre) return -1;
  return x.pre < y.pre ? -1 : 1;
}

export function run(
  cmd: string,
  args: string[],
  opts: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out.trim().slice(-500)}`)),
    );
  });
}
