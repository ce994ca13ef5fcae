/**
 * Word error rate of the PocketSphinx recognizer (domain model + general second pass, exactly as the
 * agent builds it) on the round-trip commands spoken by every test voice (71 commands × 6 voices = 426
 * utterances; `--held-out` for the held-out commands), per engine and voice. The round-trip test
 * (test/voice-roundtrip.test.ts) measures two voices per command through the whole agent; this script
 * measures every voice on every command, which steadies the figure when tuning the domain model.
 *   node --import tsx scripts/voice-wer.ts [--held-out] [--errors] [--domain-only]
 * Target (issue 6): the domain model ≤ 10% WER.
 */
import { parseArgs } from 'node:util';
import { decodeAudio } from '../device/audio/decode.js';
import { heldOutCommands, spokenCommands, testVoices, wordErrors } from '../test/voice/commands.js';
import { synthWav } from '../test/voice/device.js';
import { agentAsr } from './voice-asr.js';

const { values } = parseArgs({
  options: {
    'held-out': { type: 'boolean', default: false },
    errors: { type: 'boolean', default: false },
    'domain-only': { type: 'boolean', default: false },
  },
});
const commands = values['held-out'] ? heldOutCommands : spokenCommands;
const asr = agentAsr(values['domain-only']);
const totals = new Map<string, { errors: number; words: number }>();
const add = (key: string, e: { errors: number; words: number }) => {
  const t = totals.get(key) ?? { errors: 0, words: 0 };
  t.errors += e.errors;
  t.words += e.words;
  totals.set(key, t);
};
const signal = new AbortController().signal;
// Command by command, each voice in turn (the decoder adapts from one utterance to the next).
for (const c of commands) {
  for (const v of testVoices) {
    const pcm = await decodeAudio(await synthWav(c.text, v), 'audio/wav', { maxSeconds: 60, maxBytes: 5e6 });
    const heard = await asr.transcribe(pcm, signal);
    const e = wordErrors(c.text, heard.text);
    for (const key of ['all', v.engine, `${v.engine} ${v.voice} ${v.rate} wpm`]) add(key, e);
    if (values.errors && e.errors) console.log(`  ${v.voice}: "${c.text}" → "${heard.text}"`);
  }
}
asr.close?.();
const pct = (t: { errors: number; words: number }) => `${((t.errors / t.words) * 100).toFixed(1)}%`;
console.log(
  `voice WER (${values['held-out'] ? 'held-out' : 'round-trip'} commands × ${testVoices.length} voices, ${commands.length * testVoices.length} utterances; target ≤ 10%):`,
);
for (const [k, t] of totals) console.log(`  ${k.padEnd(24)} ${pct(t)}  (${t.errors}/${t.words} words)`);
process.exit(0);
