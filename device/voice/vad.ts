import { createRequire } from 'node:module';
import { unavailable } from '../../common/errors.js';
import { concatPcm, pcmToFloat } from '../audio/wav.js';

const require = createRequire(import.meta.url);
type Ort = typeof import('onnxruntime-node');

export const VAD_WINDOW = 512; // 32 ms at 16 kHz (Silero v5 window)
const CONTEXT = 64;

/** Speech probability per 32 ms window. */
export interface Vad {
  name: string;
  probability(window: Float32Array): Promise<number>;
  reset(): void;
}

/**
 * Silero VAD v5 run with onnxruntime-node: loads the model once and returns a factory of per-stream
 * detectors (each keeps its own recurrent state). The caller passes a file already verified against
 * the models manifest; a file that fails to load is an error here, not a dead process.
 */
export async function loadSileroVad(modelPath: string): Promise<() => Vad> {
  const ort: Ort = require('onnxruntime-node');
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (err) {
    throw unavailable(`silero VAD could not load ${modelPath}: ${(err as Error).message}`);
  }
  if (!session.inputNames.includes('state'))
    throw unavailable(`silero VAD ${modelPath}: not a v5 model (no "state" input)`);
  const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), [1]);
  return () => {
    let state = new Float32Array(2 * 128);
    const input = new Float32Array(CONTEXT + VAD_WINDOW);
    return {
      name: 'silero',
      async probability(window) {
        input.copyWithin(0, input.length - CONTEXT);
        input.set(window.subarray(0, VAD_WINDOW), CONTEXT);
        const out = await session.run({
          input: new ort.Tensor('float32', input.slice(), [1, input.length]),
          state: new ort.Tensor('float32', state, [2, 1, 128]),
          sr,
        });
        state = new Float32Array(out[session.outputNames[1]!]!.data as Float32Array);
        return (out[session.outputNames[0]!]!.data as Float32Array)[0]!;
      },
      reset() {
        state = new Float32Array(2 * 128);
        input.fill(0);
      },
    };
  };
}

/** Energy-based stand-in used only when no VAD model can be loaded (readiness says so). */
export function createEnergyVad(thresholdDbfs = -40): Vad {
  return {
    name: 'energy',
    async probability(w) {
      let s = 0;
      for (let i = 0; i < w.length; i++) s += w[i]! * w[i]!;
      const db = 10 * Math.log10(s / w.length + 1e-12);
      return db > thresholdDbfs ? 0.9 : 0.1;
    },
    reset() {},
  };
}

export interface EndpointerOptions {
  threshold: number;
  /** Silence that ends an utterance. */
  silenceMs: number;
  /** Shorter blips are not speech. */
  minSpeechMs?: number;
  /** Audio kept before the detected start. */
  preRollMs?: number;
  maxUtteranceMs?: number;
  /**
   * The utterance's audio as it is found (for recognizers that decode while the person speaks):
   * `first` with the pre-roll and the windows that started it, then each following window.
   */
  onUtteranceAudio?: (pcm: Int16Array, first: boolean) => void;
}

export type EndpointEvent =
  | { type: 'speech_start'; atSample: number }
  | { type: 'speech_end'; pcm: Int16Array; endedAtSample: number };

/**
 * Turns a stream of 16 kHz PCM into utterances with hysteresis: speech starts after `minSpeechMs` of
 * voiced windows and ends after `silenceMs` without. Chunks of any size are re-windowed to 32 ms.
 */
export function createEndpointer(vad: Vad, opts: EndpointerOptions) {
  const win = VAD_WINDOW;
  const msPerWin = (win / 16000) * 1000;
  const minSpeechWins = Math.max(1, Math.round((opts.minSpeechMs ?? 160) / msPerWin));
  let silenceWins = Math.max(1, Math.round(opts.silenceMs / msPerWin));
  const preRollWins = Math.round((opts.preRollMs ?? 300) / msPerWin);
  const maxWins = Math.round((opts.maxUtteranceMs ?? 60_000) / msPerWin);
  let pending = new Int16Array(0);
  let history: Int16Array[] = [];
  let utterance: Int16Array[] = [];
  let speaking = false;
  let voiced = 0;
  let silent = 0;
  let processed = 0;

  return {
    get speaking() {
      return speaking;
    },
    get silenceMs() {
      return silenceWins * msPerWin;
    },
    /** Per-person endpointing: how much silence ends an utterance from now on. */
    setSilenceMs(ms: number) {
      silenceWins = Math.max(1, Math.round(ms / msPerWin));
    },
    async push(chunk: Int16Array): Promise<EndpointEvent[]> {
      const events: EndpointEvent[] = [];
      const all = concatPcm([pending, chunk]);
      let off = 0;
      for (; off + win <= all.length; off += win) {
        const w = all.slice(off, off + win);
        const p = await vad.probability(pcmToFloat(w));
        processed += win;
        const isSpeech = p >= opts.threshold;
        if (!speaking) {
          history.push(w);
          if (history.length > preRollWins + minSpeechWins) history.shift();
          voiced = isSpeech ? voiced + 1 : 0;
          if (voiced >= minSpeechWins) {
            speaking = true;
            silent = 0;
            utterance = history;
            history = [];
            opts.onUtteranceAudio?.(concatPcm(utterance), true);
            events.push({ type: 'speech_start', atSample: processed - voiced * win });
          }
        } else {
          utterance.push(w);
          opts.onUtteranceAudio?.(w, false);
          silent = isSpeech ? 0 : silent + 1;
          if (silent >= silenceWins || utterance.length >= maxWins) {
            speaking = false;
            voiced = 0;
            const pcm = concatPcm(utterance.slice(0, utterance.length - Math.max(0, silent - 8)));
            utterance = [];
            events.push({ type: 'speech_end', pcm, endedAtSample: processed - silent * win });
          }
        }
      }
      pending = all.slice(off);
      return events;
    },
    /**
     * Audio that arrived before the push-to-talk button was released: inside a running utterance it is
     * speech by the person's own say, so it is appended without running the VAD (the release does not
     * wait for the detector to catch up); outside one it goes through `push`.
     */
    async append(chunk: Int16Array): Promise<EndpointEvent[]> {
      if (!speaking) return this.push(chunk);
      const all = concatPcm([pending, chunk]);
      let off = 0;
      for (; off + win <= all.length; off += win) {
        const w = all.slice(off, off + win);
        processed += win;
        utterance.push(w);
        opts.onUtteranceAudio?.(w, false);
      }
      silent = 0;
      pending = all.slice(off);
      return [];
    },
    /** Ends a running utterance now (push-to-talk release, end of stream). */
    flush(): EndpointEvent[] {
      if (!speaking) return [];
      speaking = false;
      voiced = 0;
      const pcm = concatPcm(utterance);
      utterance = [];
      return [{ type: 'speech_end', pcm, endedAtSample: processed }];
    },
  };
}
