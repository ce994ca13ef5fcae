import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unavailable } from '../../common/errors.js';
import { pcmToWav, SAMPLE_RATE } from '../audio/wav.js';
import { createSphinxStream } from './sphinx-stream.js';

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
  close?(): void;
}

const require = createRequire(import.meta.url);
/** Measured on the voice round-trip set: a heavier language weight helps the domain model. */
const defaultSphinxArgs = ['-lw', '10', '-remove_noise', 'no'];
const fillers = /^(<s>|<\/s>|<sil>|\[.*\]|\+\+.*\+\+)$/;

export interface SphinxModel {
  lm: string;
  dict: string;
  /** Acoustic model folder (default: Debian's en-us). */
  hmm?: string;
  /** Extra decoder flags (language weight, noise removal...). */
  args?: string[];
}

/** Runs pocketsphinx_continuous on one utterance; confidence is the mean word posterior. */
export async function runPocketSphinx(
  pcm: Int16Array,
  model: SphinxModel,
  signal: AbortSignal,
): Promise<Transcript> {
  const dir = await mkdtemp(join(tmpdir(), 'aide-ps-'));
  const wav = join(dir, 'u.wav');
  try {
    await writeFile(wav, pcmToWav(pcm));
    const args = [
      '-infile',
      wav,
      '-lm',
      model.lm,
      '-dict',
      model.dict,
      '-time',
      'yes',
      '-logfn',
      '/dev/null',
      ...defaultSphinxArgs,
    ];
    if (model.hmm) args.push('-hmm', model.hmm);
    if (model.args) args.push(...model.args);
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn('pocketsphinx_continuous', args, { stdio: ['ignore', 'pipe', 'ignore'], signal });
      let s = '';
      p.stdout.on('data', (d: Buffer) => void (s += d.toString()));
      p.on('error', (e) => reject(unavailable(`pocketsphinx could not run: ${e.message}`)));
      p.on('close', (code) =>
        code === 0 ? resolve(s) : reject(unavailable(`pocketsphinx exited with ${code}`)),
      );
    });
    return parseSphinxOutput(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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

export interface SphinxOptions {
  domain: SphinxModel;
  /** The general model for the second pass (Debian's en-us LM + full dictionary). */
  general?: SphinxModel;
  /** Domain results at or above this confidence are taken without a second pass. */
  acceptConfidence: number;
}

/**
 * PocketSphinx with the generated domain LM first; when the domain pass is unsure, the general model
 * gets a second pass and the more confident of the two wins. The caller rejects what stays unsure.
 */
export function createPocketSphinxAsr(opts: SphinxOptions): AsrEngine {
  for (const f of [opts.domain.lm, opts.domain.dict]) {
    if (!existsSync(f))
      throw unavailable(`pocketsphinx domain model missing: ${f} (run scripts/build-grammar.ts)`);
  }
  const domainDecoder = createSphinxStream(opts.domain, defaultSphinxArgs);
  const generalDecoder = opts.general ? createSphinxStream(opts.general, []) : undefined;
  domainDecoder.warm();
  // The general model is large (seconds of CPU to load, ~100 MB): loaded on the first unsure utterance.
  return {
    name: 'pocketsphinx',
    async transcribe(pcm, signal) {
      const domain = { ...(await domainDecoder.transcribe(pcm, signal)), pass: 'domain' as const };
      if (domain.confidence >= opts.acceptConfidence || !generalDecoder) return domain;
      const general = { ...(await generalDecoder.transcribe(pcm, signal)), pass: 'general' as const };
      return general.confidence > domain.confidence + 0.1 && general.text ? general : domain;
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
 * sherpa-onnx offline recognizer from a model folder (SenseVoice, Whisper or transducer layouts,
 * recognized by their file names). Throws unavailable naming the missing file.
 */
export function createSherpaAsr(dir: string): AsrEngine {
  if (!existsSync(dir)) throw unavailable(`sherpa-onnx ASR model folder not found: ${dir}`);
  const f = (name: string) => join(dir, name);
  const pickFile = (...names: string[]) => names.map(f).find((p) => existsSync(p));
  const tokens = pickFile('tokens.txt', 'tiny.en-tokens.txt', 'base.en-tokens.txt');
  if (!tokens) throw unavailable(`sherpa-onnx ASR model in ${dir} has no tokens.txt`);
  const modelConfig: Record<string, unknown> = { tokens, numThreads: 1, provider: 'cpu', debug: 0 };
  const senseVoice = pickFile('model.int8.onnx', 'model.onnx');
  const encoder = pickFile(
    'encoder.int8.onnx',
    'encoder.onnx',
    'tiny.en-encoder.int8.onnx',
    'base.en-encoder.int8.onnx',
  );
  const decoder = pickFile(
    'decoder.int8.onnx',
    'decoder.onnx',
    'tiny.en-decoder.int8.onnx',
    'base.en-decoder.int8.onnx',
  );
  const joiner = pickFile('joiner.int8.onnx', 'joiner.onnx');
  if (encoder && decoder && joiner) modelConfig.transducer = { encoder, decoder, joiner };
  else if (encoder && decoder) modelConfig.whisper = { encoder, decoder, language: 'en', task: 'transcribe' };
  else if (senseVoice)
    modelConfig.senseVoice = { model: senseVoice, language: 'en', useInverseTextNormalization: 0 };
  else
    throw unavailable(`sherpa-onnx ASR model in ${dir}: no model.onnx, encoder/decoder(/joiner) files found`);
  const sherpa = require('sherpa-onnx-node');
  const recognizer = new sherpa.OfflineRecognizer({
    featConfig: { sampleRate: SAMPLE_RATE, featureDim: 80 },
    modelConfig,
  });
  return {
    name: 'sherpa',
    async transcribe(pcm) {
      const stream = recognizer.createStream();
      const samples = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i]! / 32768;
      stream.acceptWaveform({ samples, sampleRate: SAMPLE_RATE });
      const result = await recognizer.decodeAsync(stream);
      const text = String(result.text ?? '')
        .toLowerCase()
        .replace(/[^a-z0-9' ]+/g, ' ')
        .replace(/\s+/g, ' ')
        .trim();
      return { text, confidence: text ? 0.9 : 0 };
    },
  };
}
