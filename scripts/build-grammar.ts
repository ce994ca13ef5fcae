/**
 * Generates the PocketSphinx domain model from the agent's vocabulary (device/voice/vocabulary.ts):
 *   <out>/aide-domain.lm    ARPA trigram LM over the domain corpus
 *   <out>/aide-domain.dict  cmudict trimmed to the domain words (+ medicine names)
 *   <out>/corpus.txt        the generated sentences (for review)
 * The agent also builds it on first start when missing. Run after changing the vocabulary:
 *   node --import tsx scripts/build-grammar.ts [--out models/grammar] [--dict /usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict]
 */
import { parseArgs } from 'node:util';
import { buildGrammar, debianDict } from '../device/voice/grammar.js';

const { values } = parseArgs({
  options: {
    dict: { type: 'string', default: debianDict },
    out: { type: 'string', default: 'models/grammar' },
  },
});
const r = buildGrammar(values.out!, values.dict!);
console.log(
  `build-grammar: ${r.sentences} sentences, ${r.words} words, ${r.pronunciations} pronunciations (${r.british} British variants from espeak-ng), ${r.skipped} sentences skipped (unknown words) → ${values.out}`,
);
