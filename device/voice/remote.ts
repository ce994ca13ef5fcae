import OpenAI, { toFile } from 'openai';
import { AppError, deadlineExceeded, invalidArgument, unavailable } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import type { Readiness } from '../../common/readiness.js';
import { type Breaker, createBreaker } from '../../common/resilience.js';
import { type OpenAiEndpoint, speechEndpoint } from '../agent/cloud/endpoint.js';
import { parseWav, pcmToWav } from '../audio/wav.js';
import type { DeviceConfig } from '../config.js';
import type { AsrEngine, Transcript } from './asr.js';
import type { TtsEngine } from './tts.js';

/**
 * Remote OpenAI-compatible speech engines: `POST /audio/transcriptions` (multipart WAV upload) and
 * `POST /audio/speech` (WAV back), through the `openai` client. They sit in front of the local
 * engines in AIDE_ASR_ENGINES / AIDE_TTS_ENGINES ("remote,pocketsphinx"): each call has its own short
 * deadline, and after two failures in a row a breaker sends every call straight to the local engine
 * for 30 s instead of waiting for the network each time. Readiness (`voice-remote`, optional) and the
 * logs say whether the remote is answering and, when not, why. The text and audio are never logged.
 */

export interface RemoteSpeechSettings {
  endpoint: OpenAiEndpoint;
  asrModel: string;
  ttsModel: string;
  ttsVoice: string;
  timeoutMs: number;
  /** ISO-639-1 language sent with transcriptions (from AIDE_LOCALE). */
  language: string;
}

export interface RemoteDeps {
  log: Logger;
  metrics: Metrics;
  readiness: Readiness;
  /** Shared by the recognizer and the synthesizer: one remote, one health state. */
  breaker?: Breaker;
}

/** Reads the settings; throws `unavailable` naming what is missing, so the engine list skips "remote". */
export function remoteSpeechSettings(c: DeviceConfig): RemoteSpeechSettings {
  const endpoint = speechEndpoint(c);
  if (!endpoint)
    throw unavailable(
      'remote speech needs AIDE_SPEECH_URL, or a device provisioned for the cloud (AIDE_CLOUD_API_URL, AIDE_MQTT_USERNAME, AIDE_MQTT_PASSWORD)',
    );
  return {
    endpoint,
    asrModel: c.AIDE_ASR_REMOTE_MODEL,
    ttsModel: c.AIDE_TTS_REMOTE_MODEL,
    ttsVoice: c.AIDE_TTS_REMOTE_VOICE,
    timeoutMs: c.AIDE_SPEECH_REMOTE_TIMEOUT_MS,
    language: (c.AIDE_LOCALE.split(/[-_]/)[0] ?? 'en').toLowerCase(),
  };
}

/** OpenAI's built-in voices: a person's voice setting is sent only when it is one of these. */
const openAiVoices = new Set([
  'alloy',
  'ash',
  'ballad',
  'coral',
  'echo',
  'fable',
  'nova',
  'onyx',
  'sage',
  'shimmer',
  'verse',
  'marin',
  'cedar',
]);

/** Client errors as our error codes: network, timeout and 5xx/429 are retryable (they trip the breaker). */
export function mapRemoteError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof OpenAI.APIConnectionTimeoutError)
    return deadlineExceeded('the remote speech service did not answer in time', { cause: err });
  if (err instanceof OpenAI.APIUserAbortError)
    return deadlineExceeded('the remote speech call was cancelled', { cause: err });
  if (err instanceof OpenAI.APIConnectionError)
    return unavailable('cannot reach the remote speech service', { cause: err });
  if (err instanceof OpenAI.APIError) {
    const s = err.status ?? 0;
    if (s === 429 || s === 408 || s >= 500)
      return unavailable(`the remote speech service answered ${s}`, { cause: err });
    // 400/401/404...: a setting is wrong (model, key); the local engine answers, the log says which.
    return invalidArgument(`the remote speech service refused the request (${s})`, { cause: err });
  }
  return unavailable(`remote speech error: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/** One client, breaker and readiness entry for both engines. */
function remoteHandle(s: RemoteSpeechSettings, deps: RemoteDeps) {
  const client = new OpenAI({
    baseURL: s.endpoint.baseUrl,
    apiKey: s.endpoint.apiKey,
    maxRetries: 0,
    timeout: s.timeoutMs,
  });
  const origin = new URL(s.endpoint.baseUrl).origin;
  const breaker =
    deps.breaker ??
    createBreaker('remote-speech', { metrics: deps.metrics, failures: 2, halfOpenAfterMs: 30_000 });
  let healthy: boolean | undefined;
  const report = (ok: boolean, what: string, reason?: string) => {
    const detail = ok
      ? `${origin} (${s.endpoint.via}) answering`
      : `${origin} (${s.endpoint.via}) failing, local engines answer: ${what}: ${reason}`;
    deps.readiness.set('voice-remote', { ready: ok, optional: true, detail });
    if (ok !== healthy)
      (ok ? deps.log.info : deps.log.warn).call(
        deps.log,
        { origin, via: s.endpoint.via, what, ...(reason ? { reason } : {}) },
        ok ? 'remote speech answering' : 'remote speech failing, local engines take over',
      );
    healthy = ok;
  };
  deps.readiness.set('voice-remote', {
    ready: true,
    optional: true,
    detail: `${origin} (${s.endpoint.via}) not used yet`,
  });
  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      const out = await breaker.execute(async () => {
        try {
          return await fn();
        } catch (err) {
          throw mapRemoteError(err);
        }
      });
      report(true, what);
      return out;
    } catch (err) {
      report(false, what, (err as Error).message);
      throw err;
    }
  }
  return { client, call };
}

/**
 * The registration used by the voice service: `remote` in AIDE_ASR_ENGINES / AIDE_TTS_ENGINES. Both
 * engines share one client, breaker and readiness entry; settings are read when an engine is loaded.
 */
export function remoteEngines(
  c: DeviceConfig,
  deps: RemoteDeps,
): { asr: () => AsrEngine; tts: () => TtsEngine } {
  let shared: { s: RemoteSpeechSettings; h: ReturnType<typeof remoteHandle> } | undefined;
  const get = () => {
    if (!shared) {
      const s = remoteSpeechSettings(c);
      shared = { s, h: remoteHandle(s, deps) };
    }
    return shared;
  };
  return {
    asr: () => remoteAsr(get().s, get().h),
    tts: () => remoteTts(get().s, get().h),
  };
}

/** Confidence from whatever the server reports (segment avg_logprob, token logprobs), else 0.9 when it heard words. */
export function remoteConfidence(body: Record<string, unknown>, text: string): number {
  if (!text) return 0;
  const segs = body.segments as { avg_logprob?: number; no_speech_prob?: number }[] | undefined;
  if (Array.isArray(segs) && segs.length && segs.every((x) => typeof x.avg_logprob === 'number')) {
    const p = segs.reduce((a, x) => a + Math.exp(x.avg_logprob!) * (1 - (x.no_speech_prob ?? 0)), 0);
    return Math.max(0, Math.min(1, p / segs.length));
  }
  const lps = body.logprobs as { logprob?: number }[] | undefined;
  if (Array.isArray(lps) && lps.length && lps.every((x) => typeof x.logprob === 'number'))
    return Math.exp(lps.reduce((a, x) => a + x.logprob!, 0) / lps.length);
  return 0.9;
}

/** Lower case words, digits and apostrophes, like the local recognizers' output. */
export const normalizeTranscript = (t: string) =>
  t
    .toLowerCase()
    .replace(/(\d)[/](\d)/g, '$1 over $2')
    .replace(/[^a-z0-9'.: ]+/g, ' ')
    .replace(/[.:](?!\d)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

type Handle = ReturnType<typeof remoteHandle>;

function remoteAsr(s: RemoteSpeechSettings, { client, call }: Handle): AsrEngine {
  return {
    name: 'remote',
    async transcribe(pcm, signal): Promise<Transcript> {
      if (!pcm.length) return { text: '', confidence: 0 };
      return call('transcribe', async () => {
        const file = await toFile(pcmToWav(pcm), 'speech.wav', { type: 'audio/wav' });
        const body = (await client.audio.transcriptions.create(
          { file, model: s.asrModel, language: s.language, response_format: 'json' },
          { signal },
        )) as unknown as Record<string, unknown>;
        if (typeof body?.text !== 'string')
          throw unavailable('the remote speech service sent a transcription without text');
        const text = normalizeTranscript(body.text);
        return { text, confidence: remoteConfidence(body, text) };
      });
    },
  };
}

function remoteTts(s: RemoteSpeechSettings, { client, call }: Handle): TtsEngine {
  return {
    name: 'remote',
    synthesize(text, opts, signal) {
      return call('synthesize', async () => {
        const voice = opts.voice && openAiVoices.has(opts.voice) ? opts.voice : s.ttsVoice;
        const res = await client.audio.speech.create(
          {
            model: s.ttsModel,
            voice,
            input: text,
            response_format: 'wav',
            // OpenAI's speed is 0.25..4 around its natural pace (~175 words a minute).
            speed: Math.max(0.25, Math.min(4, Math.round((opts.rate / 175) * 100) / 100)),
          },
          { signal },
        );
        const wav = parseWav(Buffer.from(await res.arrayBuffer()));
        if (!wav?.pcm.length) throw unavailable('the remote speech service sent no 16-bit WAV audio');
        if (wav.channels !== 1) {
          const mono = new Int16Array(Math.floor(wav.pcm.length / wav.channels));
          for (let i = 0; i < mono.length; i++) mono[i] = wav.pcm[i * wav.channels]!;
          return { pcm: mono, sampleRate: wav.sampleRate };
        }
        return { pcm: wav.pcm, sampleRate: wav.sampleRate };
      });
    },
  };
}
