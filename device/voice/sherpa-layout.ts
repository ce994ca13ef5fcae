import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { unavailable } from '../../common/errors.js';
import { pcmToFloat, SAMPLE_RATE } from '../audio/wav.js';
import type { AsrEngine, Transcript } from './asr.js';
import type { UtteranceStream } from './sphinx-stream.js';

/**
 * Which sherpa-onnx recognizer a model folder needs, from the file names of k2-fsa/sherpa-onnx's
 * released archives (asr-models release; checked against its docs and examples):
 * - Whisper: `tiny.en-encoder.int8.onnx`, `tiny.en-decoder.int8.onnx`, `tiny.en-tokens.txt`
 *   (sherpa-onnx-whisper-tiny.en) → OfflineRecognizer `whisper` (English-only models take only 'en').
 * - Streaming zipformer: `encoder-epoch-99-avg-1-chunk-16-left-128(.int8).onnx`, `decoder-…`, `joiner-…`,
 *   `tokens.txt` (sherpa-onnx-streaming-zipformer-en-2023-06-26) → OnlineRecognizer `transducer`.
 * - Offline zipformer / NeMo transducers: `encoder-epoch-99-avg-1(.int8).onnx` or `encoder(.int8).onnx`,
 *   with decoder and joiner → OfflineRecognizer `transducer`.
 * - SenseVoice: `model(.int8).onnx`, `tokens.txt` (sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17)
 *   → OfflineRecognizer `senseVoice`.
 * int8 files are preferred (smaller, faster on a Pi). Missing pieces throw `unavailable` naming them.
 */
export type SherpaAsrPlan = {
  mode: 'online' | 'offline';
  family: 'whisper' | 'transducer' | 'sense-voice';
  modelConfig: Record<string, unknown>;
};

export function planSherpaAsr(dir: string, files: string[] = readdirSync(dir)): SherpaAsrPlan {
  const onnx = files.filter((f) => f.endsWith('.onnx')).sort();
  const path = (f: string) => join(dir, f);
  // Prefer the int8 file of a role when both are there.
  const role = (re: RegExp) => {
    const all = onnx.filter((f) => re.test(f));
    return all.find((f) => f.endsWith('.int8.onnx')) ?? all[0];
  };
  const base = { numThreads: 1, provider: 'cpu', debug: 0 };

  const whisperTokens = files.find((f) => /-tokens\.txt$/.test(f));
  const wEnc = role(/^[a-z0-9.-]+-encoder(\.int8)?\.onnx$/);
  const wDec = role(/^[a-z0-9.-]+-decoder(\.int8)?\.onnx$/);
  if (whisperTokens && wEnc && wDec)
    return {
      mode: 'offline',
      family: 'whisper',
      modelConfig: {
        ...base,
        tokens: path(whisperTokens),
        whisper: { encoder: path(wEnc), decoder: path(wDec), language: 'en', task: 'transcribe' },
      },
    };

  const tokens = files.includes('tokens.txt') ? path('tokens.txt') : undefined;
  // Some archives hold several variants (…-chunk-16-left-64 and …-left-128): decoder and joiner must be
  // the encoder's twins.
  const encoder = role(/^encoder([-.].*)?\.onnx$/);
  const twin = (r: 'decoder' | 'joiner') => {
    const same = encoder?.replace(/^encoder/, r);
    const plain = same?.replace(/\.int8\.onnx$/, '.onnx');
    return [same, plain].find((f) => f && onnx.includes(f)) ?? role(new RegExp(`^${r}([-.].*)?\\.onnx$`));
  };
  const decoder = twin('decoder');
  const joiner = twin('joiner');
  if (encoder || decoder || joiner) {
    const missing = [
      !encoder && 'encoder*.onnx',
      !decoder && 'decoder*.onnx',
      !joiner && 'joiner*.onnx',
      !tokens && 'tokens.txt',
    ].filter(Boolean);
    if (missing.length)
      throw unavailable(`sherpa-onnx transducer model in ${dir} lacks ${missing.join(', ')}`);
    const streaming = /-chunk-\d+/.test(encoder!) || /streaming/i.test(basename(dir));
    return {
      mode: streaming ? 'online' : 'offline',
      family: 'transducer',
      modelConfig: {
        ...base,
        tokens,
        transducer: { encoder: path(encoder!), decoder: path(decoder!), joiner: path(joiner!) },
      },
    };
  }

  const single = role(/^model(\.int8)?\.onnx$/);
  if (single && tokens)
    return {
      mode: 'offline',
      family: 'sense-voice',
      modelConfig: {
        ...base,
        tokens,
        senseVoice: { model: path(single), language: 'en', useInverseTextNormalization: 0 },
      },
    };
  throw unavailable(
    `sherpa-onnx ASR model in ${dir}: no Whisper (*-encoder/*-decoder/*-tokens.txt), transducer (encoder/decoder/joiner + tokens.txt) or SenseVoice (model.onnx + tokens.txt) files`,
  );
}

const require = createRequire(import.meta.url);

/** Lower-case words, digits and apostrophes (zipformer models answer in capitals). */
export const cleanTranscript = (t: unknown) =>
  String(t ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/**
 * A streaming zipformer through sherpa-onnx's OnlineRecognizer: audio is decoded while the person
 * speaks (begin → push), so the end of speech only flushes the last chunk. `transcribe` decodes a whole
 * utterance the same way. 0.4 s of tail padding lets the model emit its last words (as upstream does).
 */
export function createSherpaStreamingAsr(modelConfig: Record<string, unknown>): AsrEngine {
  for (const p of Object.values(modelConfig.transducer as Record<string, string>))
    if (!existsSync(p)) throw unavailable(`sherpa-onnx model file not found: ${p}`);
  const sherpa = require('sherpa-onnx-node');
  const recognizer = new sherpa.OnlineRecognizer({
    featConfig: { sampleRate: SAMPLE_RATE, featureDim: 80 },
    modelConfig,
    decodingMethod: 'greedy_search',
    // Our own VAD ends utterances (longer pauses for older speakers); sherpa's endpointing stays off.
    enableEndpoint: 0,
  });
  const tail = new Float32Array(Math.round(SAMPLE_RATE * 0.4));

  const open = (onPartial?: (text: string) => void) => {
    const stream = recognizer.createStream();
    let last = '';
    const drain = () => {
      while (recognizer.isReady(stream)) recognizer.decode(stream);
      const text = cleanTranscript(recognizer.getResult(stream).text);
      if (text !== last) {
        last = text;
        if (text) onPartial?.(text);
      }
      return text;
    };
    return {
      push(pcm: Int16Array) {
        stream.acceptWaveform({ samples: pcmToFloat(pcm), sampleRate: SAMPLE_RATE });
        drain();
      },
      end(): Transcript {
        stream.acceptWaveform({ samples: tail, sampleRate: SAMPLE_RATE });
        stream.inputFinished();
        const text = drain();
        return { text, confidence: text ? 0.9 : 0 };
      },
    };
  };

  return {
    name: 'sherpa',
    async transcribe(pcm) {
      const s = open();
      s.push(pcm);
      return s.end();
    },
    begin(onPartial): UtteranceStream {
      const s = open(onPartial);
      let done = false;
      return {
        push: (pcm) => {
          if (!done) s.push(pcm);
        },
        async finish() {
          done = true;
          return s.end();
        },
        cancel() {
          done = true;
        },
      };
    },
  };
}
