import { createRequire } from 'node:module';
import { unavailable } from '../../common/errors.js';

const require = createRequire(import.meta.url);

/** Makes a detector for one audio stream; `push` returns the highest wake score in the pushed audio. */
export type NewWake = () => { push(pcm: Int16Array): Promise<number> };
type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;

const CHUNK = 1280; // 80 ms at 16 kHz: one embedding step (8 mel frames)
const MEL_CONTEXT = 160 * 3;
const EMBED_WINDOW = 76;

/**
 * openWakeWord run with our own code on onnxruntime-node: melspectrogram → speech embedding (76 mel
 * frames, step 8) → the wake-phrase classifier over the last 16 embeddings. Files are verified against
 * the models manifest by the caller before they are loaded.
 */
export async function loadWakeWord(files: {
  melspectrogram: string;
  embedding: string;
  classifier: string;
}): Promise<NewWake> {
  const ort: Ort = require('onnxruntime-node');
  const open = async (path: string): Promise<Session> => {
    try {
      return await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    } catch (err) {
      throw unavailable(`wake-word model ${path} could not load: ${(err as Error).message}`);
    }
  };
  const [mel, emb, cls] = await Promise.all([
    open(files.melspectrogram),
    open(files.embedding),
    open(files.classifier),
  ]);
  const window =
    Number(
      cls.inputMetadata?.[0] && 'shape' in cls.inputMetadata[0]
        ? (cls.inputMetadata[0].shape as number[])[1]
        : 16,
    ) || 16;

  /** A detector for one audio stream; `push` returns the highest score seen in the pushed audio. */
  return () => {
    let raw = new Float32Array(MEL_CONTEXT); // silence as context for the first chunk
    let pending = 0;
    const melFrames: Float32Array[] = [];
    const embeddings: Float32Array[] = Array.from({ length: window }, () => new Float32Array(96));
    return {
      async push(pcm: Int16Array): Promise<number> {
        // openWakeWord's melspectrogram takes int16-scaled float samples.
        const next = new Float32Array(raw.length + pcm.length);
        next.set(raw);
        for (let i = 0; i < pcm.length; i++) next[raw.length + i] = pcm[i]!;
        raw = next.subarray(Math.max(0, next.length - (CHUNK * 4 + MEL_CONTEXT)));
        pending += pcm.length;
        let best = 0;
        while (pending >= CHUNK) {
          const end = raw.length - (pending - CHUNK);
          pending -= CHUNK;
          const input = raw.slice(end - CHUNK - MEL_CONTEXT, end);
          const out = await mel.run({
            [mel.inputNames[0]!]: new ort.Tensor('float32', input, [1, input.length]),
          });
          const data = out[mel.outputNames[0]!]!.data as Float32Array;
          const frames = data.length / 32;
          for (let f = Math.max(0, frames - 8); f < frames; f++)
            melFrames.push(data.slice(f * 32, (f + 1) * 32).map((v) => v / 10 + 2));
          while (melFrames.length > EMBED_WINDOW) melFrames.shift();
          if (melFrames.length < EMBED_WINDOW) continue;
          const flat = new Float32Array(EMBED_WINDOW * 32);
          for (const [i, f] of melFrames.entries()) flat.set(f, i * 32);
          const e = await emb.run({
            [emb.inputNames[0]!]: new ort.Tensor('float32', flat, [1, EMBED_WINDOW, 32, 1]),
          });
          embeddings.shift();
          embeddings.push(new Float32Array(e[emb.outputNames[0]!]!.data as Float32Array));
          const x = new Float32Array(window * 96);
          for (const [i, v] of embeddings.entries()) x.set(v, i * 96);
          const s = await cls.run({ [cls.inputNames[0]!]: new ort.Tensor('float32', x, [1, window, 96]) });
          best = Math.max(best, (s[cls.outputNames[0]!]!.data as Float32Array)[0]!);
        }
        return best;
      },
    };
  };
}
