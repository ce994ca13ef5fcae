import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unavailable } from '../../common/errors.js';
import { buildArpa } from './arpa.js';
import { domainCorpus, domainWords, extraPronunciations, medicines } from './vocabulary.js';

export const debianDict = '/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict';

export interface GrammarFiles {
  lm: string;
  dict: string;
  corpus: string;
}

export const grammarFiles = (dir: string): GrammarFiles => ({
  lm: join(dir, 'aide-domain.lm'),
  dict: join(dir, 'aide-domain.dict'),
  corpus: join(dir, 'corpus.txt'),
});

/**
 * Builds the PocketSphinx domain model from the agent's vocabulary: an ARPA trigram LM over the
 * generated corpus and cmudict trimmed to the domain words (plus medicine names). Files are written
 * through a rename so a reader never sees half a model.
 */
export function buildGrammar(
  outDir: string,
  dictPath = debianDict,
): { sentences: number; words: number; pronunciations: number; skipped: number } {
  if (!existsSync(dictPath))
    throw unavailable(`pronunciation dictionary not found: ${dictPath} (apt-get install pocketsphinx-en-us)`);
  const cmu = new Map<string, string[]>();
  for (const line of readFileSync(dictPath, 'utf8').split('\n')) {
    const m = /^(\S+?)(\(\d+\))?\s+(.+)$/.exec(line.trim());
    if (!m) continue;
    const list = cmu.get(m[1]!) ?? [];
    list.push(m[3]!.trim());
    cmu.set(m[1]!, list);
  }
  const pron = (w: string) => [
    ...(medicines[w] ?? []),
    ...(extraPronunciations[w] ?? []),
    ...(cmu.get(w) ?? []),
  ];
  // Sentences with a word nobody can pronounce are left out (and named) rather than failing the build.
  const all = domainCorpus();
  const corpus = all.filter((s) => s.split(' ').every((w) => pron(w).length));
  const words = domainWords(corpus);
  const dict: string[] = [];
  for (const w of words) pron(w).forEach((p, i) => dict.push(`${i ? `${w}(${i + 1})` : w} ${p}`));
  const skipped = all.length - corpus.length;
  mkdirSync(outDir, { recursive: true });
  const f = grammarFiles(outDir);
  const put = (path: string, text: string) => {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  };
  put(f.dict, `${dict.join('\n')}\n`);
  put(f.lm, buildArpa(corpus));
  // Last: the full corpus (what the model was built from) marks the set complete and current.
  put(f.corpus, `${all.join('\n')}\n`);
  return { sentences: corpus.length, words: words.length, pronunciations: dict.length, skipped };
}

/** The domain model folder, generated on first use when missing (first writable of `dirs`). */
export function ensureGrammar(dirs: string[]): GrammarFiles {
  // Rebuilt when the vocabulary (or the agent's phrases) changed since the files were generated.
  const want = `${domainCorpus().join('\n')}\n`;
  const current = (dir: string) => {
    const f = grammarFiles(dir);
    return (
      existsSync(f.lm) &&
      existsSync(f.dict) &&
      existsSync(f.corpus) &&
      readFileSync(f.corpus, 'utf8') === want
    );
  };
  for (const dir of dirs) if (current(dir)) return grammarFiles(dir);
  let last: unknown;
  for (const dir of dirs) {
    try {
      buildGrammar(dir);
      return grammarFiles(dir);
    } catch (err) {
      last = err;
    }
  }
  throw unavailable(`pocketsphinx domain model could not be built: ${(last as Error)?.message}`);
}
