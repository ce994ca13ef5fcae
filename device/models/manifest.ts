import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { fromZodError, invalidArgument, notFound } from '../../common/errors.js';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');

export const manifestSchema = z.object({
  version: z.literal(1),
  models: z.array(
    z.object({
      id: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,63}$/, 'must be 2-64 lower-case letters, digits, . _ -'),
      task: z.enum(['vad', 'wake', 'wake-features', 'asr', 'tts']),
      engine: z.enum(['onnxruntime', 'sherpa-onnx']),
      language: z.string(),
      licence: z.string().min(1),
      nonCommercial: z.boolean().default(false),
      sourceUrl: z.string().url(),
      source: z.union([
        z.object({ npm: z.object({ package: z.string(), path: z.string().default('') }) }),
        z.object({
          url: z.string().url(),
          archive: z.enum(['tar.bz2', 'tar.gz']).optional(),
          sha256: sha256.optional(),
          size: z.number().int().positive().optional(),
        }),
      ]),
      files: z
        .array(
          z.object({
            name: z.string().regex(/^[^/\\]+$/, 'must be a plain file name'),
            size: z.number().int().positive().optional(),
            sha256: sha256.optional(),
          }),
        )
        .min(1),
      checksumNote: z.string().optional(),
      default: z.boolean().default(false),
    }),
  ),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ModelEntry = Manifest['models'][number];
export type ModelTask = ModelEntry['task'];

export function loadManifest(path: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw invalidArgument(`models manifest ${path}: cannot be read as JSON (${(err as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw fromZodError(parsed.error, 'manifest');
  const ids = new Set<string>();
  for (const m of parsed.data.models) {
    if (ids.has(m.id)) throw invalidArgument(`models manifest: id ${m.id} appears twice`);
    ids.add(m.id);
  }
  return parsed.data;
}

export function findModel(manifest: Manifest, id: string): ModelEntry {
  const m = manifest.models.find((x) => x.id === id);
  if (!m)
    throw notFound(
      `model ${id} is not in the manifest (known: ${manifest.models.map((x) => x.id).join(', ')})`,
    );
  return m;
}
