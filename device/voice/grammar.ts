import { spawnSync } from 'node:child_process';
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

/** espeak-ng's English phoneme mnemonics (`espeak-ng -x`) → CMU (ARPAbet) phones. */
const espeakPhones: Record<string, string> = {
  p: 'P',
  b: 'B',
  t: 'T',
  d: 'D',
  k: 'K',
  g: 'G',
  f: 'F',
  v: 'V',
  T: 'TH',
  D: 'DH',
  s: 'S',
  z: 'Z',
  S: 'SH',
  Z: 'ZH',
  h: 'HH',
  m: 'M',
  n: 'N',
  N: 'NG',
  l: 'L',
  r: 'R',
  j: 'Y',
  w: 'W',
  tS: 'CH',
  dZ: 'JH',
  't#': 'T',
  t2: 'T',
  'd#': 'D',
  'n-': 'N',
  'l-': 'L',
  x: 'K',
  '?': 'T',
  // A linking r is only sounded before a vowel: a word said on its own (non-rhotic) leaves it out.
  'r-': '',
  a: 'AE',
  'a#': 'AH',
  aa: 'AA',
  'A:': 'AA',
  aI: 'AY',
  aU: 'AW',
  '@': 'AH',
  '@-': 'AH',
  '@2': 'AH',
  '@5': 'AH',
  '@L': 'AH L',
  '3': 'AH',
  '3:': 'ER',
  e: 'EH',
  E: 'EH',
  eI: 'EY',
  i: 'IY',
  'i:': 'IY',
  I: 'IH',
  'I#': 'IH',
  I2: 'IH',
  '0': 'AA',
  O: 'AO',
  'O:': 'AO',
  O2: 'AO',
  OI: 'OY',
  oU: 'OW',
  'u:': 'UW',
  u: 'UW',
  U: 'UH',
  V: 'AH',
  // r-coloured vowels, non-rhotic: "are" AA, "morning" M AO N IH NG, "care" K EH.
  'A@': 'AA',
  'e@': 'EH',
  'i@': 'IH AH',
  'i@3': 'IH AH',
  'U@': 'UH AH',
  'O@': 'AO',
  'o@': 'AO',
  '0@': 'AO',
  'aI@': 'AY AH',
  'aU@': 'AW AH',
  'u@': 'UH AH',
  aI3: 'AY AH',
  aU3: 'AW AH',
};

/**
 * British (non-rhotic) pronunciations of `words` from espeak-ng's en-gb rules, in CMU phones. cmudict
 * is American: "are" AA R, "pressure" ... SH ER; a British speaker (and espeak-ng's en-gb voice) says
 * AA, ... SH AH, and the domain pass mistook them (measured: WER on en-gb speech 53% → 40%). Returns
 * an empty map when espeak-ng is not installed or its output does not line up with the words.
 */
export function britishPronunciations(words: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const r = spawnSync('espeak-ng', ['-v', 'en-gb', '-q', '-x', '--sep= '], {
    input: words.map((w) => `${w}.\n`).join(''),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0 || typeof r.stdout !== 'string') return out;
  const lines = r.stdout.split('\n').filter((l) => l.trim());
  if (lines.length !== words.length) return out;
  words.forEach((w, i) => {
    const phones: string[] = [];
    for (const raw of lines[i]!.trim().split(/\s+/)) {
      const tok = raw.replace(/^[',=]+/, '').replace(/;+$/, '');
      if (!tok || tok.startsWith('_')) continue;
      const cmu = espeakPhones[tok];
      if (cmu === undefined) return; // a phoneme we do not map: no variant rather than a wrong one
      if (cmu) phones.push(cmu);
    }
    if (phones.length) out.set(w, phones.join(' '));
  });
  return out;
}

/**
 * Builds the PocketSphinx domain model from the agent's vocabulary: an ARPA trigram LM over the
 * generated corpus and cmudict trimmed to the domain words (plus medicine names), each word also with
 * its British pronunciation from espeak-ng when that differs. Files are written
 * through a rename so a reader never sees half a model.
 */
export function buildGrammar(
  outDir: string,
  dictPath = debianDict,
): { sentences: number; words: number; pronunciations: number; british: number; skipped: number } {
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
  // Every corpus word gets its British pronunciation from espeak-ng; for a word cmudict lacks (a
  // medicine name from the agent's phrases) that is its only one rather than leaving its sentences out.
  const all = domainCorpus();
  const british = britishPronunciations(domainWords(all));
  const pron = (w: string) => [
    ...(medicines[w] ?? []),
    ...(extraPronunciations[w] ?? []),
    ...(cmu.get(w) ?? []),
  ];
  // Sentences with a word nobody can pronounce are left out (and named) rather than failing the build.
  const corpus = all.filter((s) => s.split(' ').every((w) => pron(w).length || british.has(w)));
  const words = domainWords(corpus);
  const dict: string[] = [];
  let variants = 0;
  for (const w of words) {
    const list = [...new Set(pron(w))];
    const gb = british.get(w);
    if (gb && !list.includes(gb)) {
      list.push(gb);
      variants++;
    }
    for (const [i, p] of list.entries()) dict.push(`${i ? `${w}(${i + 1})` : w} ${p}`);
  }
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
  return {
    sentences: corpus.length,
    words: words.length,
    pronunciations: dict.length,
    british: variants,
    skipped,
  };
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
