import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { unavailable } from '../../common/errors.js';
import { pcmToFloat, SAMPLE_RATE } from '../audio/wav.js';
import { cleanTranscript, createSherpaStreamingAsr, planSherpaAsr } from './sherpa-layout.js';
import { createSphinxStream, type UtteranceStream } from './sphinx-stream.js';

/** What a recognizer heard. `confidence` is 0..1 (engines without one report 0.9 when they hear words). */
export interface Transcript {
  text: string;
  confidence: number;
  /** Which pass produced it (PocketSphinx: the domain model or the general model). */
  pass?: 'domain' | 'general';
}

/** One speech recognizer. Each engine turns 16 kHz mono PCM into text. */
export interface AsrEngine {
  name: string;
  transcribe(pcm: Int16Array, signal: AbortSignal): Promise<Transcript>;
  /** Optional streaming: decodes while the person speaks, so the end of speech only finalizes. */
  begin?(onPartial?: (text: string) => void): UtteranceStream;
  /** Optional: loads lazily loaded models now (a talk session is starting). */
  warm?(): void;
  close?(): void;
}

const require = createRequire(import.meta.url);
/**
 * Decoder flags of the domain pass (one-shot and streaming), measured on the voice round-trip set
 * spoken by all six test voices (396 utterances, scripts in the test's comments): a heavier language
 * weight (-lw 10) and beams wider than the defaults (1e-48/7e-29/1e-48) recover words the synthetic
 * and accented voices put at the edge of the acoustic model: WER 11.3% → 10.1% for ~10% more CPU
 * (real-time factor ~0.06 on this machine). Noise removal off: the utterances arrive endpointed.
 * Tried without gain on the 396 utterances: -lw 6–14, -wip, -pip, -fillprob, -silprob, -topn 8, -dither,
 * -fwdflatlw/-bestpathlw 10, LM order 4 or discounts 0.1–0.7 (arpa.ts). -vad_prespeech 40 helped the
 * one-shot decoder (9.9% → 9.3%) but broke the stream: with its -vad_postspeech 80 it fills the 1.2 s
 * silence sphinx-stream.ts puts between utterances, which then merge. Flags must not repeat
 * sphinx-stream.ts's (pocketsphinx refuses a repeated flag).
 */
export const domainSphinxArgs = [
  '-lw',
  '10',
  '-remove_noise',
  'no',
  '-beam',
  '1e-80',
  '-wbeam',
  '1e-60',
  '-pbeam',
  '1e-80',
];
const fillers = /^(<s>|<\/s>|<sil>|\[.*\]|\+\+.*\+\+)$/;

export interface SphinxModel {
  lm: string;
  dict: string;
  /** Acoustic model folder (default: Debian's en-us). */
  hmm?: string;
  /** Extra decoder flags (language weight, noise removal...). */
  args?: string[];
}

/** Hypothesis lines plus `word start end posterior` lines, possibly for several segments. */
export function parseSphinxOutput(out: string): Transcript {
  const words: string[] = [];
  const probs: number[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\S+) (\d+\.\d+) (\d+\.\d+) (\d+\.\d+)$/.exec(line.trim());
    if (!m) continue;
    const w = m[1]!.replace(/\(\d+\)$/, '');
    if (fillers.test(w)) continue;
    words.push(w);
    probs.push(Number(m[4]));
  }
  if (!words.length) return { text: '', confidence: 0 };
  return { text: words.join(' '), confidence: probs.reduce((a, b) => a + b, 0) / probs.length };
}

/** Share of words two transcripts have in common: 1 - word edit distance / the longer length. */
export function wordAgreement(a: string, b: string): number {
  const x = a.split(' ').filter(Boolean);
  const y = b.split(' ').filter(Boolean);
  if (!x.length || !y.length) return 0;
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++)
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    prev = row;
  }
  return 1 - prev[y.length]! / Math.max(x.length, y.length);
}

/**
 * Second-pass rule: the general model's transcript wins when it is clearly more confident. When the
 * two models (one free to hear any English, one held to the domain) heard the same words (≥ 75%
 * agreement), that agreement is evidence the domain posterior alone undervalues: the domain
 * transcript's confidence moves halfway towards 1 in proportion to the agreement. Measured on the
 * round trip: correctly heard short commands ("help i have fallen", "i can't breathe") scored
 * 0.41–0.44 and were rejected; out-of-domain speech, which the domain model bends into domain words,
 * does not agree with the general pass and stays low.
 */
export function combinePasses(
  domain: Transcript,
  general: Transcript,
): Transcript & { pass: 'domain' | 'general' } {
  if (general.text && general.confidence > domain.confidence + 0.1) return { ...general, pass: 'general' };
  const agree = wordAgreement(domain.text, general.text);
  const confidence =
    agree >= 0.75 ? domain.confidence + ((1 - domain.confidence) * agree) / 2 : domain.confidence;
  return { ...domain, confidence, pass: 'domain' };
}

export interface SphinxOptions {
  domain: SphinxModel;
  /** The general model for the second pass (Debian's en-us LM + full dictionary). */
  general?: SphinxModel;
  /** Domain results at or above this confidence are taken without a second pass. */
  acceptConfidence: number;
}

/**
 * PocketSphinx with the generated domain LM first; when the domain pass is unsure, the general model
 * gets a second pass (combinePasses). The caller rejects what stays unsure.
 */
export function createPocketSphinxAsr(opts: SphinxOptions): AsrEngine {
  for (const f of [opts.domain.lm, opts.domain.dict]) {
    if (!existsSync(f))
      throw unavailable(`pocketsphinx domain model missing: ${f} (run scripts/build-grammar.ts)`);
  }
  const domainDecoder = createSphinxStream(opts.domain, domainSphinxArgs);
  // The general pass runs at a lower priority so it never slows the domain pass on a single core, and
  // exits after 5 idle minutes (its ~60-100 MB come back; reloading takes about a second).
  const generalDecoder = opts.general
    ? createSphinxStream(opts.general, [], { nice: 5, idleExitMs: 5 * 60_000 })
    : undefined;
  domainDecoder.warm();
  // The general model is large (a second or more of CPU to load): loaded when a talk session starts
  // (warm), when an utterance starts (streamed), or for the first unsure whole-file utterance.
  const secondPass = async (
    domain: Transcript,
    general: () => Promise<Transcript>,
  ): Promise<Transcript & { pass: 'domain' | 'general' }> => {
    const first = { ...domain, pass: 'domain' as const };
    if (first.confidence >= opts.acceptConfidence || !generalDecoder) return first;
    return combinePasses(first, await general());
  };
  return {
    name: 'pocketsphinx',
    async transcribe(pcm, signal) {
      const domain = await domainDecoder.transcribe(pcm, signal);
      return secondPass(domain, () => generalDecoder!.transcribe(pcm, signal));
    },
    begin(onPartial) {
      const d = domainDecoder.begin(onPartial);
      // Streamed into the general model too, so its pass is ready with the domain's (a decoder that
      // exited when idle starts again now and loads while the person speaks).
      const g = generalDecoder?.begin();
      return {
        push(pcm) {
          d.push(pcm);
          g?.push(pcm);
        },
        async finish(signal, samples) {
          const general = g?.finish(signal, samples);
          general?.catch(() => {});
          const domain = await d.finish(signal, samples);
          return secondPass(domain, () => general!);
        },
        cancel() {
          d.cancel();
          g?.cancel();
        },
      };
    },
    warm() {
      generalDecoder?.warm();
    },
    close() {
      domainDecoder.close();
      generalDecoder?.close();
    },
  };
}

export const debianGeneralModel = (): SphinxModel | undefined => {
  const base = '/usr/share/pocketsphinx/model/en-us';
  const m = { lm: join(base, 'en-us.lm.bin'), dict: join(base, 'cmudict-en-us.dict') };
  return existsSync(m.lm) && existsSync(m.dict) ? m : undefined;
};

/**
 * sherpa-onnx recognizer from a model folder (Whisper, SenseVoice, offline or streaming transducer
 * layouts, recognized by their file names: see sherpa-layout.ts). Throws unavailable naming the missing file.
 */
export function createSherpaAsr(dir: string): AsrEngine {
  if (!existsSync(dir)) throw unavailable(`sherpa-onnx ASR model folder not found: ${dir}`);
  // File layouts of the released archives (Whisper, SenseVoice, offline or streaming transducers).
  const plan = planSherpaAsr(dir);
  if (plan.mode === 'online') return createSherpaStreamingAsr(plan.modelConfig);
  const { modelConfig } = plan;
  const sherpa = require('sherpa-onnx-node');
  const recognizer = new sherpa.OfflineRecognizer({
    featConfig: { sampleRate: SAMPLE_RATE, featureDim: 80 },
    modelConfig,
  });
  return {
    name: 'sherpa',
    async transcribe(pcm) {
      const stream = recognizer.createStream();
      stream.acceptWaveform({ samples: pcmToFloat(pcm), sampleRate: SAMPLE_RATE });
      const result = await recognizer.decodeAsync(stream);
      const text = cleanTranscript(result.text);
      return { text, confidence: text ? 0.9 : 0 };
    },
  };
}
