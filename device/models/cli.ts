import { resolve } from 'node:path';
import { AppError } from '../../common/errors.js';
import { findModel, loadManifest } from './manifest.js';
import { fetchModel, listModels, manifestPath, rollbackActive, useModel, verifyModelSync } from './store.js';

export const modelsUsage = `aide models list                 models in the manifest: task, licence, installed, active, checksum source
aide models fetch [id...|all]    download/copy, verify and install atomically (default: the default model of each task)
aide models verify [id...]       check installed files against the manifest and lock (exit 1 on any problem)
aide models use <id>             make a verified model the active one for its task (previous set kept)
aide models rollback             restore the model set from before the last use`;

/** `aide models …`: exit code 0 when everything asked for is fine, 1 otherwise, 2 on bad usage. */
export async function modelsCommand(
  root: string,
  args: string[],
  out: (line: string) => void = console.log,
): Promise<number> {
  const dir = resolve(root);
  const [sub, ...ids] = args;
  const manifest = loadManifest(manifestPath(dir));
  try {
    switch (sub) {
      case 'list':
      case undefined: {
        for (const m of listModels(dir)) {
          out(
            `${m.active ? '*' : ' '} ${m.id.padEnd(28)} ${m.task.padEnd(13)} ${m.engine.padEnd(11)} ${m.installed ? 'installed' : 'missing  '} checksum:${m.checksum.padEnd(8)} ${m.nonCommercial ? 'NON-COMMERCIAL ' : ''}${m.licence}`,
          );
        }
        return 0;
      }
      case 'fetch': {
        const wanted =
          ids.length === 0
            ? manifest.models.filter((m) => m.default).map((m) => m.id)
            : ids[0] === 'all'
              ? manifest.models.map((m) => m.id)
              : ids;
        let failed = 0;
        for (const id of wanted) {
          try {
            const entry = findModel(manifest, id);
            if (entry.nonCommercial) out(`${id}: licence ${entry.licence}`);
            await fetchModel(dir, id, { log: out });
          } catch (err) {
            failed++;
            out(`${id}: FAILED: ${(err as Error).message}`);
          }
        }
        return failed ? 1 : 0;
      }
      case 'verify': {
        const wanted = ids.length
          ? ids
          : listModels(dir)
              .filter((m) => m.installed)
              .map((m) => m.id);
        let failed = 0;
        for (const id of wanted) {
          const v = verifyModelSync(dir, findModel(manifest, id), { allowPackage: true });
          out(`${id}: ${v.ok ? 'ok' : `FAILED: ${v.problems.join('; ')}`}`);
          if (!v.ok) failed++;
        }
        return failed ? 1 : 0;
      }
      case 'use': {
        if (!ids[0]) {
          out('aide models use: give a model id (aide models list)');
          return 2;
        }
        const active = await useModel(dir, ids[0]);
        out(`active models: ${JSON.stringify(active)} (restart the agent to load them)`);
        return 0;
      }
      case 'rollback': {
        const active = await rollbackActive(dir);
        out(`active models restored: ${JSON.stringify(active)} (restart the agent to load them)`);
        return 0;
      }
      default:
        out(modelsUsage);
        return 2;
    }
  } catch (err) {
    if (err instanceof AppError) {
      out(`aide models ${sub}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
