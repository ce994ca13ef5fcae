/**
 * Emergency recall through speech: each emergency phrasing is spoken by every test voice, recognized by
 * PocketSphinx exactly as the agent builds it (domain model, general second pass) and checked with the
 * agent's emergency detection (device/agent/safety.ts), which runs before either agent engine. Prints
 * how many were detected, per engine and phrasing, and what was heard when one was missed.
 *   node --import tsx scripts/voice-emergency.ts [--errors] [--domain-only]
 */
import { parseArgs } from 'node:util';
import { detectEmergency } from '../device/agent/safety.js';
import { decodeAudio } from '../device/audio/decode.js';
import { emergencyPhrasings, testVoices } from '../test/voice/commands.js';
import { synthWav } from '../test/voice/device.js';
import { agentAsr } from './voice-asr.js';

const { values } = parseArgs({
  options: {
    errors: { type: 'boolean', default: false },
    'domain-only': { type: 'boolean', default: false },
  },
});
const asr = agentAsr(values['domain-only']);
const signal = new AbortController().signal;
const hits = new Map<string, { detected: number; said: number }>();
const count = (key: string, detected: boolean) => {
  const t = hits.get(key) ?? { detected: 0, said: 0 };
  t.said++;
  if (detected) t.detected++;
  hits.set(key, t);
};
// Phrasing by phrasing, each voice in turn (the decoder adapts from one utterance to the next).
for (const text of emergencyPhrasings) {
  for (const v of testVoices) {
    const pcm = await decodeAudio(await synthWav(text, v), 'audio/wav', { maxSeconds: 60, maxBytes: 5e6 });
    const heard = await asr.transcribe(pcm, signal);
    const detected = Boolean(heard.text && detectEmergency(heard.text));
    for (const key of ['all', v.engine, `"${text}"`]) count(key, detected);
    if (values.errors && !detected)
      console.log(
        `  missed, ${v.engine} ${v.voice}: "${text}" → "${heard.text}" (${heard.confidence.toFixed(2)})`,
      );
  }
}
asr.close?.();
console.log(
  `emergency recall (${emergencyPhrasings.length} phrasings × ${testVoices.length} voices), detected as emergencies:`,
);
for (const [k, t] of hits) console.log(`  ${k.padEnd(36)} ${t.detected}/${t.said}`);
process.exit(0);
