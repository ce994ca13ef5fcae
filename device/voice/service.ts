import { join, resolve } from 'node:path';
import { invalidArgument, unavailable } from '../../common/errors.js';
import type { ActionRecord, Agent } from '../agent/turn.js';
import { durationMs, pcmToWav } from '../audio/wav.js';
import type { DeviceContext } from '../context.js';
import { activeModelDir } from '../models/store.js';
import { getSetting, setSetting } from '../store/settings.js';
import { type AsrEngine, createPocketSphinxAsr, createSherpaAsr, debianGeneralModel } from './asr.js';
import { describeSlots, firstThatWorks, loadEngines } from './engines.js';
import { ensureGrammar } from './grammar.js';
import {
  createEspeakTts,
  createFliteTts,
  createSherpaTts,
  type Speech,
  splitSentences,
  type TtsEngine,
} from './tts.js';

export interface Heard {
  text: string;
  confidence: number;
  engine: string;
  durationMs: number;
  /** True when the recognizer was too unsure: the text is not passed to the agent. */
  rejected: boolean;
}

export interface VoicePrefs {
  /** Silence that ends this person's utterances (adapted as they speak). */
  silenceMs?: number;
  voice?: string;
  rate?: number;
}

/** A place spoken audio goes: the speaker, a browser session, a file. */
export interface AudioSink {
  id: string;
  /** Called per sentence; resolves when the sink has taken it (played or sent). */
  play(speech: Speech, meta: { text: string; emergency: boolean }, signal: AbortSignal): Promise<void>;
}

export interface TurnOutcome {
  transcript: Heard;
  reply: string;
  actions: ActionRecord[];
  emergency: boolean;
}

export interface Voice {
  transcribe(pcm: Int16Array): Promise<Heard>;
  /** Synthesizes sentence by sentence; yields each as soon as it is ready. */
  synthesize(
    text: string,
    prefs?: VoicePrefs & { personId?: string },
    signal?: AbortSignal,
  ): AsyncGenerator<Speech & { text: string; engine: string }>;
  /** Whole reply as one WAV (for POST /api/voice/speak and /turn). */
  synthesizeWav(
    text: string,
    prefs?: VoicePrefs & { personId?: string },
  ): Promise<{ wav: Buffer; engine: string }>;
  /** Recognized text → the agent's turn (rejected transcripts get a "say again" without calling it). */
  respond(heard: Heard, opts?: { personId?: string; signal?: AbortSignal }): Promise<TurnOutcome>;
  /**
   * The device's spoken output path (reminders use it): speaks on every attached sink. Emergency
   * speech is never interrupted; other speech stops when `interrupt()` is called (barge-in).
   */
  speak(text: string, opts?: { personId?: string; emergency?: boolean }): Promise<void>;
  attachSink(sink: AudioSink): () => void;
  /** Stops non-emergency playback on all sinks. */
  interrupt(): void;
  engines(): { asr?: string; tts?: string };
  /** The person's stored voice settings (voice, rate, silenceMs). */
  personPrefs(personId: string): VoicePrefs;
  /** Remembers a setting for the person (e.g. adapted end-of-speech silence). */
  setPersonPrefs(personId: string, patch: VoicePrefs): void;
  /** Stops the engines' long-running processes. */
  close(): void;
}

const sayAgain = "Sorry, I didn't catch that. Could you say it again?";

export function createVoice(ctx: DeviceContext, deps: { agent?: () => Agent | undefined } = {}): Voice {
  const { config: c, log, metrics } = ctx;
  const modelsDir = resolve(c.AIDE_MODELS_DIR);
  const list = (s: string) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const sherpaDir = (configured: string | undefined, task: 'asr' | 'tts') => {
    const dir = configured ? resolve(configured) : activeModelDir(modelsDir, task);
    if (!dir) throw unavailable(`no ${task} model installed (aide models fetch, then aide models use)`);
    return dir;
  };
  const asrSlots = loadEngines<AsrEngine>(
    list(c.AIDE_ASR_ENGINES),
    {
      sherpa: () => createSherpaAsr(sherpaDir(c.AIDE_ASR_MODEL, 'asr')),
      pocketsphinx: () =>
        createPocketSphinxAsr({
          domain: ensureGrammar([join(modelsDir, 'grammar'), join(resolve(c.AIDE_DATA_DIR), 'grammar')]),
          general: debianGeneralModel(),
          acceptConfidence: c.AIDE_ASR_ACCEPT_CONFIDENCE,
        }),
    },
    log,
    'asr',
  );
  const ttsSlots = loadEngines<TtsEngine>(
    list(c.AIDE_TTS_ENGINES),
    {
      sherpa: () => createSherpaTts(sherpaDir(c.AIDE_TTS_MODEL, 'tts')),
      espeak: () => createEspeakTts(c.AIDE_TTS_VOICE),
      flite: () => createFliteTts(),
    },
    log,
    'tts',
  );
  const asrState = describeSlots(asrSlots);
  const ttsState = describeSlots(ttsSlots);
  ctx.readiness.set('voice', {
    ready: Boolean(asrState.active && ttsState.active),
    detail: `asr: ${asrState.detail}; tts: ${ttsState.detail}`,
  });
  log.info({ asr: asrState.active ?? 'none', tts: ttsState.active ?? 'none' }, 'voice engines loaded');

  const rtf = metrics.histogram('aide_voice_real_time_factor', 'Engine processing time / audio duration', [
    'engine',
    'task',
  ]);
  const turns = metrics.counter('aide_voice_turns_total', 'Spoken turns', ['outcome']);
  const sinks = new Map<string, AudioSink>();
  let playback = new AbortController();

  const storedPrefs = (personId: string): VoicePrefs => {
    try {
      return JSON.parse(getSetting(ctx.db, `voice:${personId}`) ?? '{}') as VoicePrefs;
    } catch {
      return {};
    }
  };
  const prefsFor = (
    personId: string | undefined,
    given: VoicePrefs = {},
  ): Required<Pick<VoicePrefs, 'rate'>> & VoicePrefs => {
    const stored = personId ? storedPrefs(personId) : {};
    return { voice: given.voice ?? stored.voice, rate: given.rate ?? stored.rate ?? c.AIDE_TTS_RATE };
  };

  async function* synthesize(
    text: string,
    prefs: VoicePrefs & { personId?: string } = {},
    signal?: AbortSignal,
  ) {
    const opts = prefsFor(prefs.personId, prefs);
    for (const sentence of splitSentences(text)) {
      if (signal?.aborted) return;
      const t0 = performance.now();
      const { value, engine } = await firstThatWorks(
        ttsSlots,
        c.AIDE_TTS_TIMEOUT_MS,
        'synthesize',
        (e, s) => e.synthesize(sentence, opts, s),
        { log, metrics },
      );
      const seconds = value.pcm.length / value.sampleRate;
      if (seconds > 0) rtf.observe({ engine, task: 'tts' }, (performance.now() - t0) / 1000 / seconds);
      yield { ...value, text: sentence, engine };
    }
  }

  const voice: Voice = {
    async transcribe(pcm) {
      const t0 = performance.now();
      const { value, engine } = await firstThatWorks(
        asrSlots,
        c.AIDE_ASR_TIMEOUT_MS,
        'transcribe',
        (e, s) => e.transcribe(pcm, s),
        { log, metrics },
      );
      const ms = durationMs(pcm);
      if (ms > 0) rtf.observe({ engine, task: 'asr' }, (performance.now() - t0) / ms);
      const rejected = !value.text || value.confidence < c.AIDE_ASR_REJECT_CONFIDENCE;
      return {
        text: value.text,
        confidence: Number(value.confidence.toFixed(3)),
        engine,
        durationMs: ms,
        rejected,
      };
    },

    synthesize,

    async synthesizeWav(text, prefs) {
      if (!text.trim())
        throw invalidArgument('text must not be empty', {
          details: [{ field: 'text', rule: 'required', message: 'text must not be empty' }],
        });
      const parts: Int16Array[] = [];
      let rate = 0;
      let engine = '';
      for await (const s of synthesize(text, prefs)) {
        // Engines differ in sample rate; a fallback mid-reply is rare, keep the first rate.
        if (!rate) rate = s.sampleRate;
        engine ||= s.engine;
        parts.push(s.sampleRate === rate ? s.pcm : resampleLinear(s.pcm, s.sampleRate, rate));
        parts.push(new Int16Array(Math.round(rate * 0.25)));
      }
      const all = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
      let off = 0;
      for (const p of parts) {
        all.set(p, off);
        off += p.length;
      }
      return { wav: pcmToWav(all, rate || 16000), engine };
    },

    async respond(heard, opts = {}) {
      if (heard.rejected) {
        turns.inc({ outcome: 'rejected' });
        return { transcript: heard, reply: sayAgain, actions: [], emergency: false };
      }
      const agent = deps.agent?.();
      if (!agent) throw unavailable('the agent is not running, so spoken turns cannot be answered');
      const result = await agent.runTurn({
        text: heard.text,
        personId: opts.personId,
        source: 'voice',
        signal: opts.signal,
      });
      turns.inc({ outcome: result.emergency ? 'emergency' : 'answered' });
      return {
        transcript: heard,
        reply: result.reply.text,
        actions: result.actions,
        emergency: result.emergency,
      };
    },

    async speak(text, opts = {}) {
      const signal = opts.emergency ? new AbortController().signal : playback.signal;
      for await (const s of synthesize(text, { personId: opts.personId }, signal)) {
        if (signal.aborted) return;
        await Promise.all(
          [...sinks.values()].map((sink) =>
            sink
              .play(s, { text: s.text, emergency: Boolean(opts.emergency) }, signal)
              .catch((err) =>
                log.warn({ sink: sink.id, reason: (err as Error).message }, 'audio sink failed'),
              ),
          ),
        );
      }
    },

    attachSink(sink) {
      sinks.set(sink.id, sink);
      return () => void sinks.delete(sink.id);
    },

    interrupt() {
      playback.abort();
      playback = new AbortController();
    },

    engines: () => ({ asr: asrState.active, tts: ttsState.active }),

    close() {
      for (const s of asrSlots) s.engine?.close?.();
    },

    personPrefs: (personId) => storedPrefs(personId),

    setPersonPrefs(personId, patch) {
      setSetting(
        ctx.db,
        ctx.clock,
        `voice:${personId}`,
        JSON.stringify({ ...storedPrefs(personId), ...patch }),
      );
    },
  };
  return voice;
}

/** Linear resampling, good enough to join sentences from engines with different rates. */
export function resampleLinear(pcm: Int16Array, from: number, to: number): Int16Array {
  if (from === to) return pcm;
  const out = new Int16Array(Math.round((pcm.length * to) / from));
  for (let i = 0; i < out.length; i++) {
    const x = (i * from) / to;
    const i0 = Math.floor(x);
    const a = pcm[i0] ?? 0;
    const b = pcm[i0 + 1] ?? a;
    out[i] = Math.round(a + (b - a) * (x - i0));
  }
  return out;
}
