import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unavailable } from '../../common/errors.js';
import { parseWav } from '../audio/wav.js';

export interface SpeechOptions {
  /** Engine-specific voice name (espeak-ng: en-gb, en-us...; flite: slt, kal, awb, rms; sherpa: speaker id). */
  voice?: string;
  /** Speaking rate in words per minute (older listeners: slower than the usual 175). */
  rate: number;
}

export interface Speech {
  pcm: Int16Array;
  sampleRate: number;
}

/** One speech synthesizer. */
export interface TtsEngine {
  name: string;
  synthesize(text: string, opts: SpeechOptions, signal: AbortSignal): Promise<Speech>;
  /** The voice names this engine can speak with here (lower case), to check a chosen voice. */
  voices?(): string[];
}

/** Scales speech to `percent` of its synthesized level (100: unchanged, the same array). */
export function scaleVolume(pcm: Int16Array, percent: number): Int16Array {
  if (percent >= 100) return pcm;
  const gain = Math.max(0, percent) / 100;
  const out = new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = Math.round(pcm[i]! * gain);
  return out;
}

/** Runs a listing command once, on first use (synchronous: voice checks run inside a store transaction). */
function listOnce(list: () => string[]): () => string[] {
  let cached: string[] | undefined;
  return () => {
    if (!cached) {
      try {
        cached = list();
      } catch {
        return []; // the engine's program is missing: nothing installed (asked again next time)
      }
    }
    return cached;
  };
}

/** espeak-ng's installed voices, by language (en-gb, en-us…; MBROLA voices left out: they need separate voice data). */
function espeakVoices(): string[] {
  const rows = execFileSync('espeak-ng', ['--voices'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 5000,
  })
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((c) => c.length >= 5 && !c[4]!.startsWith('mb/'));
  return [...new Set(rows.map((c) => c[1]!.toLowerCase()))];
}

const require = createRequire(import.meta.url);

function run(cmd: string, args: string[], input: string | undefined, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], signal });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.stdin.on('error', () => {});
    p.on('error', (e) => reject(unavailable(`${cmd} could not run: ${e.message}`)));
    p.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(out))
        : reject(unavailable(`${cmd} exited with ${code}: ${err.slice(0, 120)}`)),
    );
    p.stdin.end(input ?? '');
  });
}

const wavOrFail = (name: string, buf: Buffer): Speech => {
  const w = parseWav(buf);
  if (!w?.pcm.length) throw unavailable(`${name} produced no audio`);
  return { pcm: w.pcm, sampleRate: w.sampleRate };
};

/** espeak-ng from Debian: text on stdin, WAV on stdout. */
export function createEspeakTts(defaultVoice = 'en-gb'): TtsEngine {
  return {
    name: 'espeak',
    async synthesize(text, opts, signal) {
      const voice = opts.voice && /^[a-z0-9+_-]{2,40}$/i.test(opts.voice) ? opts.voice : defaultVoice;
      const buf = await run(
        'espeak-ng',
        ['-v', voice, '-s', String(Math.round(opts.rate)), '--stdin', '--stdout'],
        text,
        signal,
      );
      return wavOrFail('espeak-ng', buf);
    },
    voices: listOnce(espeakVoices),
  };
}

const fliteVoices = ['slt', 'kal', 'kal16', 'awb', 'rms', 'awb_time'];

/** flite from Debian: rate through duration_stretch (175 wpm is its natural pace). */
export function createFliteTts(defaultVoice = 'slt'): TtsEngine {
  return {
    name: 'flite',
    async synthesize(text, opts, signal) {
      const voice = opts.voice && fliteVoices.includes(opts.voice) ? opts.voice : defaultVoice;
      const dir = await mkdtemp(join(tmpdir(), 'aide-flite-'));
      try {
        const out = join(dir, 'o.wav');
        const stretch = (175 / Math.max(60, opts.rate)).toFixed(2);
        await run(
          'flite',
          ['-voice', voice, '--setf', `duration_stretch=${stretch}`, '-t', text, '-o', out],
          undefined,
          signal,
        );
        return wavOrFail('flite', await readFile(out));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    voices: listOnce(() => {
      const out = execFileSync('flite', ['-lv'], { encoding: 'utf8', timeout: 5000 });
      const listed = out.replace(/^.*:/s, '').trim().split(/\s+/);
      return fliteVoices.filter((v) => listed.includes(v));
    }),
  };
}

/** sherpa-onnx voices (VITS/Piper, or Kokoro when voices.bin is present) from a model folder. */
export function createSherpaTts(dir: string): TtsEngine {
  if (!existsSync(dir)) throw unavailable(`sherpa-onnx TTS model folder not found: ${dir}`);
  const f = (n: string) => join(dir, n);
  const model = [
    'model.onnx',
    'model.int8.onnx',
    ...readdirSync(dir)
      .filter((n) => n.endsWith('.onnx'))
      .sort(),
  ]
    .map(f)
    .find(existsSync);
  if (!model || !existsSync(f('tokens.txt')))
    throw unavailable(`sherpa-onnx TTS model in ${dir} needs model.onnx and tokens.txt`);
  const dataDir = existsSync(f('espeak-ng-data')) ? f('espeak-ng-data') : '';
  const modelConfig: Record<string, unknown> = existsSync(f('voices.bin'))
    ? { kokoro: { model, voices: f('voices.bin'), tokens: f('tokens.txt'), dataDir } }
    : { vits: { model, tokens: f('tokens.txt'), dataDir } };
  const sherpa = require('sherpa-onnx-node');
  const tts = new sherpa.OfflineTts({
    model: { ...modelConfig, numThreads: 1, provider: 'cpu', debug: 0 },
    maxNumSentences: 1,
  });
  return {
    name: 'sherpa',
    async synthesize(text, opts) {
      const sid = Number.parseInt(opts.voice ?? '0', 10) || 0;
      const audio = await tts.generateAsync({ text, sid, speed: opts.rate / 175 });
      const f32 = audio.samples as Float32Array;
      const pcm = new Int16Array(f32.length);
      for (let i = 0; i < f32.length; i++)
        pcm[i] = Math.max(-32768, Math.min(32767, Math.round(f32[i]! * 32767)));
      return { pcm, sampleRate: audio.sampleRate as number };
    },
    // Speaker ids of a multi-speaker model.
    voices: () => Array.from({ length: Math.max(1, Number(tts.numSpeakers) || 1) }, (_, i) => String(i)),
  };
}

/** Splits a reply into sentences so the first can play while the rest is synthesized. */
export function splitSentences(text: string): string[] {
  return (text.match(/[^.!?;\n]+[.!?;]*/g) ?? []).map((s) => s.trim()).filter((s) => /[a-z0-9]/i.test(s));
}
